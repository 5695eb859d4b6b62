/// k-diffusion's `sample_dpm_2`: a second-order sampler inspired by DPM-Solver-2 (Lu et al. 2022,
/// "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps",
/// NeurIPS) and Karras et al. 2022, Algorithm 2 — the explicit midpoint method with the midpoint
/// taken in log sigma.
///
/// In the frame of `KDiffusionFrame` (`σ` = the frame time `τ`, `y = x/s`,
/// `d = (y − x̂₀)/σ`):
/// ```
/// σ_m = exp((log σ + log σ′)/2) = √(σ·σ′)
/// y_m = y + (σ_m − σ)·d(y, σ)
/// y′  = y + (σ′ − σ)·d(y_m, σ_m)
/// ```
/// The step to `σ = 0` is an Euler step, which returns `x̂₀`.
///
/// NFE per step: 2 (1 on the final step to `σ = 0`). Second order.
///
/// Matches k-diffusion's `sample_dpm_2` (deterministic, `s_churn = 0`). VP schedules run in the VE
/// frame; rectified flow in the flow frame with `σ = t`, as ComfyUI runs it on flow models.
public struct DPM2: Solver {
    public init() {}

    public var name: String { "dpm_2" }
    public var order: Int { 2 }
    public func evaluations(on grid: TimeGrid) -> Int { 2 * grid.steps - (grid.endsClean ? 1 : 0) }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState {
        StageState(like: x, stages: 2, noise: false)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let frame = context.frame
        guard let from = try state.begin(step, x: &x, context: context) else { return }
        let to = context.grid[step + 1]
        let mid = KDiffusionFrame.level(tau: (frame.tau(from) * frame.tau(to)).squareRoot(), context: context)
        FrameStep.euler(into: &state.stage, from: x, levels: (from, mid), frame: frame, prediction: state.first)
        try context.predict(state.stage, at: mid, step: step, into: &state.second, needs: FrameStep.needs(to: to, frame: frame))
        FrameStep.euler(&x, from: from, to: to, frame: frame, prediction: state.second)
    }
}
