/// Latent consistency models' multistep sampling (Luo et al. 2023, "Latent Consistency Models",
/// Algorithm 3; diffusers' `LCMScheduler`): at each level the consistency function with LCM's
/// boundary-condition scalings, then fresh noise to the next level:
/// ```
/// f  = c_skip(t)·x + c_out(t)·x̂₀,   c_skip = σ_d²/((k·t)² + σ_d²),   c_out = k·t/√((k·t)² + σ_d²)
/// x′ = α′·f + σ′·z,   z ~ N(0, I)          (the step to σ = 0 returns f)
/// ```
/// `t` is the model's time input (the training timestep on a discrete schedule), `k` LCM's
/// `timestep_scaling` (10) and `σ_d = 0.5`; the scalings make `f(x, 0) = x`. A distilled model
/// jumps to `x̂₀` from any level, so every step starts afresh; LCM's own time steps are
/// ``StepSpacing/lcm(originalSteps:)``. NFE per step: 1.
public struct LCM: Solver {
    public var timestepScaling: Double
    public static let sigmaData = 0.5

    public init(timestepScaling: Double = 10) { self.timestepScaling = timestepScaling }

    public var name: String { "lcm" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }

    /// `(c_skip, c_out)` at the model's time input `t`.
    public func scalings(at t: Double) -> (skip: Double, out: Double) {
        let scaled = t * timestepScaling, d2 = Self.sigmaData * Self.sigmaData
        return (d2 / (scaled * scaled + d2), scaled / (scaled * scaled + d2).squareRoot())
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let from = context.grid[step], to = context.grid[step + 1]
        try context.predict(x, at: from, step: step, into: &state.first, needs: .data)
        let (skip, out) = scalings(at: from.t)
        guard !to.isClean else { x.update(scale: skip, (out, state.first.data)); return }
        try context.drawNoise(&state.z, step: step, from: from.sigma / from.alpha, to: to.sigma / to.alpha, for: name)
        x.update(scale: to.alpha * skip, (to.alpha * out, state.first.data), (to.sigma, state.z))
    }
}
