/// DPM-Solver-fast (Lu et al. 2022, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic
/// Model Sampling in Around 10 Steps", NeurIPS, Sec. 3.4 "DPM-Solver-fast"): singlestep DPM-Solver
/// steps of order 3, 2 and 1, uniform in `t = −log σ`, that spend exactly a given number of model
/// evaluations.
///
/// With a budget of `n` evaluations, `m = ⌊n/3⌋ + 1` steps split `[t_start, t_end]` evenly and
/// take the orders
/// ```
/// n mod 3 = 0:  [3, …, 3, 2, 1]      (m − 2 threes)
/// otherwise:    [3, …, 3, n mod 3]    (m − 1 threes)
/// ```
/// each a noise-prediction DPM-Solver-k step (`DPMSolverStages`; `r₁ = 1/3, r₂ = 2/3` for
/// order 3, `r₁ = 1/2` for order 2), evaluated through `x̂₀` only. Third order: the error falls
/// like about `n^{−3}`; a final step of
/// order 1 or 2 adds a term damped by the small `σ_min` it ends at.
///
/// ## In the step-by-step protocol
/// k-diffusion's `sample_dpm_fast(model, x, sigma_min, sigma_max, n)` does not follow a grid: it
/// integrates from `σ_max` to `σ_min`. Here the run's grid supplies the two endpoints, its first
/// level and its last nonzero level, and the intermediate levels are ignored. The budget is
/// ``budget``, or, when that is `nil`, the grid's step count (minus one when the grid ends at
/// `σ = 0`), so `--steps N` on the command line means `N` model evaluations in all:
/// - Step 0 runs the whole integration (every evaluation but a final denoising one); the other
///   steps do nothing, except
/// - when the grid ends at `σ = 0`, the last step returns `x̂₀` at `σ_min` (one evaluation).
///   ComfyUI instead spends all `N` evaluations on the integration and returns the sample at
///   `σ_min`; k-diffusion itself refuses `σ_min = 0`.
/// - A grid `[σ_max, 0]` has no `σ_min`: its one step returns `x̂₀` at `σ_max`.
///
/// ``evaluations(on:)`` is exact. Matches k-diffusion's `sample_dpm_fast` (`eta = 0`) on the grid
/// `[σ_max, σ_min]` with `budget = n`. VP schedules run in the VE frame; rectified flow in the
/// flow frame with `σ = t`, as ComfyUI runs it on flow models.
public struct DPMSolverFast: WholeIntervalSolver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: WholeIntervalState {
        var stages: DPMSolverStages
        var next: SampleTensor
        /// The clean estimate at the start of the latest DPM-Solver step (written when the run
        /// shows previews, for flow schedules, and on the final denoising step).
        public var denoised: SampleTensor { stages.first.data }
    }

    /// The model evaluations the integration from `σ_max` to `σ_min` spends (k-diffusion's `n`);
    /// `nil` takes it from the grid's step count.
    public let budget: Int?

    /// - Parameter budget: k-diffusion's `n`, at least 1; `nil` (the default) uses the grid's step
    ///   count, less one for a final denoising step when the grid ends at `σ = 0`.
    public init(budget: Int? = nil) { self.budget = budget }

    public var name: String { "dpm_fast" }
    public var order: Int { 3 }

    /// The integration budget on `grid`.
    func integrationBudget(on grid: TimeGrid) -> Int {
        budget ?? (grid.steps - (grid.endsClean ? 1 : 0))
    }

    public func evaluations(on grid: TimeGrid) -> Int {
        let end = DPMSolverStages.endIndex(of: grid)
        if end == 0 { return 1 }
        return integrationBudget(on: grid) + (grid.endsClean ? 1 : 0)
    }

    /// The number of DPM-Solver steps k-diffusion's `dpm_solver_fast` takes for the budget `n`.
    static func stepCount(budget n: Int) -> Int { n / 3 + 1 }

    /// The order of DPM-Solver step `i` for the budget `n` (k-diffusion's `orders[i]`).
    static func order(ofStep i: Int, budget n: Int) -> Int {
        let m = stepCount(budget: n)
        if n % 3 == 0 { return i < m - 2 ? 3 : (i == m - 2 ? 2 : 1) }
        return i < m - 1 ? 3 : n % 3
    }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(stages: DPMSolverStages(like: x), next: SampleTensor(zeros: x.shape))
    }

    func integrate(_ x: inout SampleTensor, from start: NoiseLevel, to end: NoiseLevel, state: inout State,
                           context: SolverContext) throws {
        let n = integrationBudget(on: context.grid)
        guard n >= 1 else {
            throw SamplingError.invalidConfiguration("dpm_fast needs a budget of at least 1 model evaluation, got \(n)")
        }
        let frame = context.frame
        let count = Self.stepCount(budget: n)
        let tStart = KDiffusionFrame.logSigmaTime(start, frame: frame), tEnd = KDiffusionFrame.logSigmaTime(end, frame: frame)
        func level(_ i: Int) -> NoiseLevel {
            if i == 0 { return start }
            if i == count { return end }
            return KDiffusionFrame.level(logSigmaTime: tStart + (tEnd - tStart) * Double(i) / Double(count), context: context)
        }
        var from = start
        for i in 0..<count {
            let to = level(i + 1)
            let interval = DPMSolverStages.Interval(from: from, to: to, frame: frame)
            try state.stages.evaluateStart(x, at: from, step: 0, context: context)
            switch Self.order(ofStep: i, budget: n) {
            case 1:
                state.stages.firstOrder(into: &state.next, from: x, interval)
            case 2:
                try state.stages.evaluateFirstStage(x, interval, r1: 0.5, step: 0, context: context)
                state.stages.secondOrder(into: &state.next, from: x, interval, r1: 0.5)
            default:
                try state.stages.evaluateFirstStage(x, interval, r1: 1.0 / 3, step: 0, context: context)
                try state.stages.evaluateSecondStage(x, interval, r1: 1.0 / 3, r2: 2.0 / 3, step: 0, context: context)
                state.stages.thirdOrder(into: &state.next, from: x, interval, r2: 2.0 / 3)
            }
            swap(&x, &state.next)
            from = to
        }
    }
}
