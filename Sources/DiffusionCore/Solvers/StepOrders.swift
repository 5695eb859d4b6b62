/// The order a multistep solver uses at each step: one rule for DPM-Solver(++), DEIS, UniPC,
/// SA-Solver, DC-Solver and DPM-Solver-v3.
///
/// Step `i` (0-based) of `n` uses
/// ```
/// p_i = stepOrders[i]                                  when given (explicit per-step orders)
/// p_i = min(solverOrder, i + 1, n − i + allowance)     with lowerOrderFinal (on runs shorter than `belowSteps`)
/// p_i = min(solverOrder, i + 1)                        otherwise
/// ```
/// clamped to `1…solverOrder` and to the `i + 1` outputs a run has made by then (warm-up).
/// diffusers' multistep schedulers lower the order over the last steps because the final
/// low-noise steps are where an extrapolation through old outputs is least stable
/// (`lower_order_final`): `DPMSolverMultistepScheduler` and `DEISMultistepScheduler` do it only
/// below 15 steps; `UniPCMultistepScheduler` and `SASolverScheduler` always, SA-Solver's corrector
/// with an allowance of 2. The solver still caps the result by the history it can use
/// (``MultistepHistory/usable(limit:)``).
public struct StepOrders: Sendable, Equatable {
    /// How the order falls over the last steps.
    public struct FinalSteps: Sendable, Equatable {
        /// Step `i` of `n` uses at most `n − i + allowance`.
        public var allowance: Int
        /// Lower only on runs of fewer steps than this (`nil`: on every run).
        public var belowSteps: Int?

        public init(allowance: Int = 0, belowSteps: Int? = nil) {
            self.allowance = allowance
            self.belowSteps = belowSteps
        }

        /// `DPMSolverMultistepScheduler` and `DEISMultistepScheduler`: on runs of fewer than 15
        /// steps, the last step is first order and the one before at most second order.
        public static let belowFifteenSteps = FinalSteps(belowSteps: 15)
        /// `UniPCMultistepScheduler` and SA-Solver's predictor: step `i` of `n` is at most `n − i`.
        public static let always = FinalSteps()
    }

    /// The largest order (diffusers' `solver_order`).
    public var solverOrder: Int
    /// The rule for the last steps; `nil` keeps `solverOrder` to the end.
    public var finalSteps: FinalSteps?
    /// An explicit order for each step, replacing the rules where given (still at most
    /// `solverOrder` and `i + 1`); steps beyond the array follow the rules.
    public var explicit: [Int]?

    public init(solverOrder: Int, finalSteps: FinalSteps? = nil, explicit: [Int]? = nil) {
        self.solverOrder = solverOrder
        self.finalSteps = finalSteps
        self.explicit = explicit
    }

    /// The order of step `i` of `n`; with `firstOrderLast` the last step is first order (unless
    /// given explicitly), as diffusers does for `euler_at_final` and `final_sigmas_type="zero"`.
    public func order(atStep i: Int, of n: Int, firstOrderLast: Bool = false) -> Int {
        if let explicit, i < explicit.count { return Swift.min(Swift.max(explicit[i], 1), solverOrder, i + 1) }
        var p = Swift.min(solverOrder, i + 1)
        if let finalSteps, n < finalSteps.belowSteps ?? .max { p = Swift.min(p, n - i + finalSteps.allowance) }
        if firstOrderLast && i == n - 1 { p = 1 }
        return Swift.max(p, 1)
    }
}
