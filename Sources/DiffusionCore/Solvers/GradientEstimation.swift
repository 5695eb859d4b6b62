/// The gradient-estimation sampler (Permenter & Yuan 2024, "Interpreting and Improving Diffusion
/// Models from an Optimization Perspective", ICML, Algorithm 2), as ComfyUI's
/// `sample_gradient_estimation` runs it.
///
/// In the frame of `KDiffusionFrame` (`σ` = the frame time `τ`, `y = x/s`, `d = (y − x̂₀)/σ`),
/// the Euler step with the derivative replaced by an extrapolation of the last two:
/// ```
/// y′ = y + (σ′ − σ)·(γ·d_i + (1 − γ)·d_{i−1})        (γ = 2; the first step is Euler)
/// ```
/// the paper's `ε̄ = γ·ε_t + (1 − γ)·ε_{t+1}`, an estimate of the denoiser's gradient that averages
/// out its error. The step to `σ = 0` returns `x̂₀`.
///
/// NFE per step: 1. First order: on equal steps the extrapolated slope exceeds the step's mean
/// slope by `(γ − 3/2)·h·d′`, which vanishes only for Adams–Bashforth's `γ = 3/2`.
public struct GradientEstimation: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: DerivativeHistory
        var coefficients: [Double]
        /// The clean estimate of the latest evaluation (written when the run shows previews, for
        /// flow schedules, and on the step to `σ = 0`).
        public var denoised: SampleTensor { history.denoised }
    }

    /// The extrapolation weight (ComfyUI's `ge_gamma`, the paper's `γ`).
    public let gamma: Double

    public init(gamma: Double = 2) { self.gamma = gamma }

    public var name: String { "gradient_estimation" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: DerivativeHistory(capacity: 2, like: x), coefficients: [0, 0])
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let frame = context.frame
        let from = context.grid[step], to = context.grid[step + 1]
        guard try state.history.begin(step, x: &x, context: context) else { return }
        let k = Swift.min(state.history.count, 2, step + 1)
        let h = frame.scale(to) * (frame.tau(to) - frame.tau(from))
        state.coefficients[0] = k == 2 ? gamma * h : h
        state.coefficients[1] = (1 - gamma) * h
        state.history.combine(into: &x, scale: frame.scale(to) / frame.scale(from), coefficients: state.coefficients, count: k)
    }
}
