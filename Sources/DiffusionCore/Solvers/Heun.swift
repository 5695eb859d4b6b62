/// Heun's second-order method on the probability-flow ODE (Karras et al. 2022, "Elucidating the
/// Design Space of Diffusion-Based Generative Models", Algorithm 1, deterministic).
///
/// In the schedule's ``ODEFrame`` (see ``Euler``), with `d = ε̂ + a′·x̂₀`:
/// ```
/// x̄  = (s′/s)·x + s′·(τ′ − τ)·d(x, τ)                    Euler predictor
/// x′ = (s′/s)·x + s′·(τ′ − τ)·(d(x, τ) + d(x̄, τ′))/2      trapezoidal corrector
/// ```
/// The step to `σ = 0` is a plain Euler step (it returns `x̂₀`), as in Algorithm 1.
/// NFE per step: 2, except 1 on a final step to `σ = 0`. Second order.
/// Matches k-diffusion's `sample_heun` and diffusers' `HeunDiscreteScheduler`.
public struct Heun: Solver {
    /// Karras et al.'s stochastic churn (Algorithm 2), off by default.
    public var churn: Churn?

    public init(churn: Churn? = nil) { self.churn = churn }

    public var name: String { "heun" }
    public var order: Int { 2 }
    public func evaluations(on grid: TimeGrid) -> Int { 2 * grid.steps - (grid.endsClean ? 1 : 0) }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState {
        StageState(like: x, stages: 2, noise: churn != nil)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        guard let from = try state.begin(step, x: &x, context: context, churn: churn) else { return }
        try Self.complete(&x, from: from, to: context.grid[step + 1], state: &state, step: step, context: context)
    }

    /// The step from `from` to `to` (not `σ = 0`) once `state.first` holds the prediction at `x`:
    /// the Euler predictor, the model at its end and the trapezoidal corrector.
    static func complete(_ x: inout SampleTensor, from: NoiseLevel, to: NoiseLevel, state: inout StageState, step: Int,
                         context: SolverContext) throws {
        FrameStep.euler(into: &state.stage, from: x, levels: (from, to), frame: context.frame, prediction: state.first)
        try context.predict(state.stage, at: to, step: step, into: &state.second, needs: FrameStep.needs(to: to, frame: context.frame))
        let frame = context.frame
        let ratio = frame.scale(to) / frame.scale(from)
        let h = 0.5 * frame.scale(to) * (frame.tau(to) - frame.tau(from))
        let slope = frame.dataSlope
        if slope == 0 {
            x.update(scale: ratio, (h, state.first.noise), (h, state.second.noise))
        } else {
            x.update(scale: ratio, (h, state.first.noise), (h, state.second.noise),
                     (h * slope, state.first.data), (h * slope, state.second.data))
        }
    }
}
