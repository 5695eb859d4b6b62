/// Consistency-model multistep sampling (Song et al. 2023, "Consistency Models", Alg. 1; Luo et al.
/// 2023, "Latent Consistency Models"; ComfyUI's `sample_lcm`): denoise, then noise the clean
/// estimate afresh to the next level, in the model's own coordinates:
/// ```
/// x′ = α′·x̂₀(x, t) + σ′·z,    z ~ N(0, I)     (x′ = x̂₀ on the step to σ = 0)
/// ```
/// On rectified flow this is diffusers' `FlowMatchEulerDiscreteScheduler(stochastic_sampling=True)`,
/// `x′ = (1 − σ′)·(x − σ·v) + σ′·z`. Every level's marginal is right whenever `x̂₀` is exact in
/// distribution, whatever the schedule, so it needs no frame. NFE per step: 1.
public struct LCM: Solver {
    public init() {}

    public var name: String { "lcm" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let from = context.grid[step], to = context.grid[step + 1]
        try context.predict(x, at: from, step: step, into: &state.first, needs: .data)
        guard !to.isClean else { x.assign(state.first.data); return }
        try context.drawNoise(&state.z, step: step, from: context.frame.tau(from), to: context.frame.tau(to), for: name)
        x.set((to.alpha, state.first.data), (to.sigma, state.z))
    }
}
