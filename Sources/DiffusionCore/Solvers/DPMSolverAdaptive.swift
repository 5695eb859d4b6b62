import RealModule

/// DPM-Solver-12 and DPM-Solver-23 with adaptive step size (Lu et al. 2022, "DPM-Solver: A Fast ODE
/// Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps", NeurIPS, Sec. 3.4 and
/// Algorithm 5), as k-diffusion's `sample_dpm_adaptive` runs it.
///
/// Each attempt from `t = −log σ` to `t′ = min(t_end, t + h)` computes a lower- and a higher-order
/// DPM-Solver step (`DPMSolverStages`) that share their evaluations:
/// ```
/// order 3:  y_low = DPM-Solver-2 (r₁ = 1/3),  y_high = DPM-Solver-3 (r₁ = 1/3, r₂ = 2/3)   3 NFE
/// order 2:  y_low = DPM-Solver-1,             y_high = DPM-Solver-2 (r₁ = 1/2)             2 NFE
/// δ = max(atol, rtol·max(|y_low|, |y_prev|))       (element-wise; y_prev the last accepted y_low)
/// E = ‖(y_low − y_high)/δ‖₂ / √(number of elements of the whole batch)
/// ```
/// and hands `E` to the step-size controller (``StepSizeController``, k-diffusion's
/// `PIDStepSizeController`): the attempt is accepted when the limited factor is at least
/// `acceptSafety`, then `y ← y_high`; either way `h ← h·factor`. The loop ends when
/// `t ≥ t_end − 10⁻⁵`. As in k-diffusion, every attempt re-evaluates the model at its start, so a
/// rejected attempt costs `order` evaluations, and one step size serves the whole batch.
/// `y` is the VE-frame sample (`x/α`; `x` for flow), the one k-diffusion measures the tolerances in.
///
/// ## In the step-by-step protocol
/// Like ``DPMSolverFast`` it integrates between the grid's first level and its last nonzero level
/// (k-diffusion's `sigma_max` and `sigma_min`) and ignores the levels between: step 0 runs the whole
/// adaptive integration; when the grid ends at `σ = 0` the last step returns `x̂₀` at `σ_min` (one
/// more evaluation; k-diffusion refuses `σ_min = 0`, ComfyUI stops at `σ_min`). The number of
/// evaluations is known only afterwards: ``evaluations(on:)`` returns the upper bound
/// ``maximumEvaluations`` (plus the denoising one), past which a run throws rather than loop on,
/// and the state reports the accepted and rejected attempts.
///
/// The embedded pair has orders 2 and 3 (1 and 2 for `order = 2`); the controller keeps the
/// estimated local error near the tolerances, so the endpoint error follows `rtol`/`atol`, with fewer
/// evaluations for looser tolerances.
/// Matches k-diffusion's `sample_dpm_adaptive` (`eta = 0`) on the grid `[σ_max, σ_min]`. VP
/// schedules run in the VE frame; rectified flow in the flow frame with `σ = t`, as ComfyUI runs it.
public struct DPMSolverAdaptive: WholeIntervalSolver {
    /// k-diffusion's `PIDStepSizeController` (after Söderlind 2003, "Digital filters in adaptive
    /// time-stepping", with the arctangent limiter of Söderlind & Wang 2006).
    /// ```
    /// ε_n = 1/(E_n + 10⁻⁸)
    /// factor = 1 + atan(ε_n^{β₁}·ε_{n−1}^{β₂}·ε_{n−2}^{β₃} − 1)
    /// β₁ = (k_P + k_I + k_D)/order,  β₂ = −(k_P + 2k_D)/order,  β₃ = k_D/order
    /// ```
    /// `ε_{n−1}, ε_{n−2}` are the last accepted values (all three start at the first `ε`).
    public struct StepSizeController: Sendable {
        public var proportional: Double
        public var integral: Double
        public var derivative: Double
        public var acceptSafety: Double
        /// The current step size in `t = −log σ`.
        public private(set) var stepSize: Double
        private var order: Double
        private var history: (Double, Double)?

        public init(initialStep: Double = 0.05, proportional: Double = 0, integral: Double = 1, derivative: Double = 0,
                    acceptSafety: Double = 0.81, order: Int = 3) {
            self.stepSize = abs(initialStep)
            self.proportional = proportional
            self.integral = integral
            self.derivative = derivative
            self.acceptSafety = acceptSafety
            self.order = Double(order)
        }

        /// Scales the step size by the factor for `error` and says whether to accept the attempt.
        public mutating func propose(error: Double) -> Bool {
            let inverse = 1 / (error + 1e-8)
            let (previous, older) = history ?? (inverse, inverse)
            let b1 = (proportional + integral + derivative) / order
            let b2 = -(proportional + 2 * derivative) / order
            let b3 = derivative / order
            var factor = Double.pow(inverse, b1) * Double.pow(previous, b2) * Double.pow(older, b3)
            factor = 1 + Double.atan(factor - 1)
            let accept = factor >= acceptSafety
            history = accept ? (inverse, previous) : (previous, older)
            stepSize *= factor
            return accept
        }
    }

    /// What the solver keeps between steps (explicit solver state).
    public struct State: WholeIntervalState {
        var stages: DPMSolverStages
        var low: SampleTensor
        var high: SampleTensor
        var previous: SampleTensor
        /// Accepted attempts of the last integration.
        public internal(set) var acceptedSteps = 0
        /// Rejected attempts of the last integration.
        public internal(set) var rejectedSteps = 0
        /// The clean estimate at the start of the latest attempt (written when the run shows
        /// previews, for flow schedules, and on the final denoising step).
        public var denoised: SampleTensor { stages.first.data }
    }

    /// 3 (DPM-Solver-23, the default) or 2 (DPM-Solver-12).
    public let order: Int
    /// `rtol`, relative to the sample's magnitude (k-diffusion: 0.05).
    public let relativeTolerance: Double
    /// `atol`, in the units of the VE-frame sample (k-diffusion: 0.0078, about 1/128).
    public let absoluteTolerance: Double
    /// The controller as it starts a run (`h_init` 0.05, `k_I` 1, accept safety 0.81).
    public let controller: StepSizeController
    /// The most model evaluations one integration may use before it throws.
    public let maximumEvaluations: Int

    /// - Parameters:
    ///   - order: 3 or 2.
    ///   - relativeTolerance: k-diffusion's `rtol`.
    ///   - absoluteTolerance: k-diffusion's `atol`.
    ///   - initialStep: k-diffusion's `h_init`.
    ///   - proportional: k-diffusion's `pcoeff`.
    ///   - integral: k-diffusion's `icoeff`.
    ///   - derivative: k-diffusion's `dcoeff`.
    ///   - acceptSafety: k-diffusion's `accept_safety`.
    ///   - maximumEvaluations: a cap that turns a tolerance the model cannot meet into an error.
    public init(order: Int = 3, relativeTolerance: Double = 0.05, absoluteTolerance: Double = 0.0078,
                initialStep: Double = 0.05, proportional: Double = 0, integral: Double = 1, derivative: Double = 0,
                acceptSafety: Double = 0.81, maximumEvaluations: Int = 10_000) {
        precondition(order == 2 || order == 3, "dpm_adaptive order must be 2 or 3, got \(order)")
        self.order = order
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.controller = StepSizeController(initialStep: initialStep, proportional: proportional, integral: integral,
                                             derivative: derivative, acceptSafety: acceptSafety, order: order)
        self.maximumEvaluations = maximumEvaluations
    }

    public var name: String { "dpm_adaptive" }

    /// An upper bound: ``maximumEvaluations`` for the integration, plus one for a final step to
    /// `σ = 0` (exactly 1 for a grid `[σ_max, 0]`).
    public func evaluations(on grid: TimeGrid) -> Int {
        DPMSolverStages.endIndex(of: grid) == 0 ? 1 : maximumEvaluations + (grid.endsClean ? 1 : 0)
    }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(stages: DPMSolverStages(like: x), low: SampleTensor(zeros: x.shape), high: SampleTensor(zeros: x.shape),
              previous: SampleTensor(zeros: x.shape))
    }

    func integrate(_ x: inout SampleTensor, from start: NoiseLevel, to end: NoiseLevel, state: inout State,
                           context: SolverContext) throws {
        let frame = context.frame
        let tEnd = KDiffusionFrame.logSigmaTime(end, frame: frame)
        var s = KDiffusionFrame.logSigmaTime(start, frame: frame)
        var current = start
        var controller = self.controller
        state.previous.assign(x)
        var previousScale = frame.scale(start)
        state.acceptedSteps = 0
        state.rejectedSteps = 0
        var used = 0
        while s < tEnd - 1e-5 {
            guard used + order <= maximumEvaluations else {
                throw SamplingError.invalidConfiguration(
                    "dpm_adaptive did not reach sigma_min within \(maximumEvaluations) model evaluations (rtol \(relativeTolerance), atol \(absoluteTolerance))")
            }
            let t = Swift.min(tEnd, s + controller.stepSize)
            let next = t == tEnd ? end : KDiffusionFrame.level(logSigmaTime: t, context: context)
            let interval = DPMSolverStages.Interval(from: current, to: next, frame: frame)
            try state.stages.evaluateStart(x, at: current, step: 0, context: context)
            if order == 2 {
                state.stages.firstOrder(into: &state.low, from: x, interval)
                try state.stages.evaluateFirstStage(x, interval, r1: 0.5, step: 0, context: context)
                state.stages.secondOrder(into: &state.high, from: x, interval, r1: 0.5)
            } else {
                try state.stages.evaluateFirstStage(x, interval, r1: 1.0 / 3, step: 0, context: context)
                state.stages.secondOrder(into: &state.low, from: x, interval, r1: 1.0 / 3)
                try state.stages.evaluateSecondStage(x, interval, r1: 1.0 / 3, r2: 2.0 / 3, step: 0, context: context)
                state.stages.thirdOrder(into: &state.high, from: x, interval, r2: 2.0 / 3)
            }
            used += order
            let scale = frame.scale(next)
            let error = Self.errorNorm(low: state.low, high: state.high, scale: scale, previous: state.previous,
                                       previousScale: previousScale, rtol: relativeTolerance, atol: absoluteTolerance)
            if controller.propose(error: error) {
                swap(&state.previous, &state.low)
                previousScale = scale
                swap(&x, &state.high)
                s = t
                current = next
                state.acceptedSteps += 1
            } else {
                state.rejectedSteps += 1
            }
        }
        // Stopping within 1e-5 of t_end leaves y where it is; relabel it at `end` in model coordinates.
        if current != end { x.scale(by: frame.scale(end) / frame.scale(current)) }
    }

    /// k-diffusion's `‖(y_low − y_high)/δ‖₂ / √n` with `δ = max(atol, rtol·max(|y_low|, |y_prev|))`,
    /// in the VE-frame coordinates `y = x/s`.
    static func errorNorm(low: SampleTensor, high: SampleTensor, scale: Double, previous: SampleTensor,
                          previousScale: Double, rtol: Double, atol: Double) -> Double {
        let inverse = 1 / scale, previousInverse = 1 / previousScale
        var sum = 0.0
        low.scalars.withUnsafeBufferPointer { l in
            high.scalars.withUnsafeBufferPointer { h in
                previous.scalars.withUnsafeBufferPointer { p in
                    for i in 0..<l.count {
                        let a = Double(l[i]) * inverse, b = Double(h[i]) * inverse, c = Double(p[i]) * previousInverse
                        let delta = Swift.max(atol, rtol * Swift.max(abs(a), abs(c)))
                        let r = (a - b) / delta
                        sum += r * r
                    }
                }
            }
        }
        return (sum / Double(low.count)).squareRoot()
    }
}
