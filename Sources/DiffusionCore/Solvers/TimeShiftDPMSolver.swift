/// TS-DPM-Solver: the multistep DPM-Solver-2 of the time-shift paper's DPM-Solver path (Li et al.
/// 2024, official `sampler/dpm_solver_utils.py`: noise prediction, `method='multistep'`, `order=2`,
/// `solver_type='dpm_solver'`, `lower_order_final`), whose target of each step from the second
/// on is, per sample, the shifted time `τ*` of ``TimeShift`` instead of the next grid time `t`.
///
/// Unlike ``TimeShiftDDIM``, the sample then lies at `τ*`: the next model call is made there and
/// `τ*` is the start of the next step and enters its divided difference, as the official code
/// keeps the shifted time in `t_prev_list`. With `s₀`, `s₋₁` each sample's last two levels,
/// `h = λ_τ* − λ_s₀`, `r₀ = (λ_s₀ − λ_s₋₁)/h`, `D₁ = (ε₀ − ε₋₁)/r₀`:
/// ```
/// x′ = (α_τ*/α_s₀)·x − σ_τ*(eʰ − 1)·ε₀ − ½·σ_τ*(eʰ − 1)·D₁
/// ```
/// (first order on the first step and, with fewer than 15 steps, on the last). The rule reads the
/// variance of the sample `x`, as the paper and the DDIM path do; the official DPM-Solver path reads
/// it from the last noise prediction instead, which is not followed here (docs/TIME-SHIFT.md).
///
/// Samples at different levels are evaluated in one model call per distinct level; a step counts
/// as one evaluation of the batch, as the official code's single call with a vector of times.
/// The model's levels depend on the samples, so the run cannot be listed ahead (no
/// ``SolverScheduler``). NFE per step: 1.
public struct TimeShiftDPMSolver: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var newest: ModelPrediction
        var previous: ModelPrediction
        /// The level each sample lies at, where the next model call is made.
        var levels: [NoiseLevel]
        /// The level of each sample's previous model call.
        var previousLevels: [NoiseLevel]
        /// The training time each sample was moved to in the latest step.
        public internal(set) var targetTimes: [Double]
        public var denoised: SampleTensor { newest.data }
    }

    public let shift: TimeShift
    /// The official README's setting for its DPM-Solver example at 5 steps.
    public static let paperDefault = try! TimeShift(window: 30, cutoff: 300)
    private let base = DPMSolverMultistep(prediction: .noise, solverOrder: 2)

    public init(shift: TimeShift = Self.paperDefault) { self.shift = shift }

    public var name: String { "ts_dpm_solver" }
    public var order: Int { 2 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        let start = Array(repeating: grid[0], count: x.batchSize)
        return State(newest: ModelPrediction(like: x), previous: ModelPrediction(like: x), levels: start, previousLevels: start,
                     targetTimes: [])
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let schedule = try TimeShift.requirements(for: x, context: context, solver: name)
        let grid = context.grid, target = grid[step + 1]
        swap(&state.newest, &state.previous)
        context.denoiser.currentStep = step
        try context.denoiser.predict(x, atEach: state.levels, into: &state.newest,
                                     needs: (target.isClean ? PredictionNeeds.data : .noise).union(context.alwaysNeeds))
        let k = Swift.min(base.order(atStep: step, of: grid.steps, endsClean: grid.endsClean), step == 0 ? 1 : 2)
        let targets = (0..<x.batchSize).map { b in
            shift.shiftedLevel(variance: TimeShift.variance(of: x.sample(b)), step: step, target: target, schedule: schedule)
        }
        let size = x.sampleCount
        x.scalars.withUnsafeMutableBufferPointer { out in
            state.newest.noise.scalars.withUnsafeBufferPointer { e0 in
                state.previous.noise.scalars.withUnsafeBufferPointer { e1 in
                    state.newest.data.scalars.withUnsafeBufferPointer { data in
                        for (b, to) in targets.enumerated() {
                            let range = b * size..<(b + 1) * size
                            guard !to.isClean else {
                                for i in range { out[i] = data[i] }
                                continue
                            }
                            let s0 = state.levels[b], h = to.lambda - s0.lambda
                            let first = -to.sigma * Double.expMinusOne(h)
                            let s = Float(to.alpha / s0.alpha)
                            if k == 1 {
                                let c0 = Float(first)
                                for i in range { out[i] = s * out[i] + c0 * e0[i] }
                            } else {
                                let r0 = (s0.lambda - state.previousLevels[b].lambda) / h, d1 = 0.5 * first / r0
                                let c0 = Float(first + d1), c1 = Float(-d1)
                                for i in range { out[i] = s * out[i] + c0 * e0[i] + c1 * e1[i] }
                            }
                        }
                    }
                }
            }
        }
        state.previousLevels = state.levels
        state.levels = targets
        state.targetTimes = targets.map(\.t)
    }
}
