/// Consistency-model multistep sampling (Song et al. 2023, "Consistency Models", Alg. 1; Luo et al.
/// 2023, "Latent Consistency Models", Alg. 3): at each level the consistency function, then fresh
/// noise to the next level, in the model's own coordinates:
/// ```
/// f  = c_skip(t)·x + c_out(t)·x̂₀,   c_skip = σ_d²/((k·t)² + σ_d²),   c_out = k·t/√((k·t)² + σ_d²)
/// x′ = α′·f + σ′·z,   z ~ N(0, I)          (the step to σ = 0 returns f)
/// ```
/// With LCM's boundary-condition scalings (`timestepScaling` k = 10, σ_d = 0.5, `t` the training
/// timestep; they make `f(x, 0) = x`) this is diffusers' `LCMScheduler`, which the resolver runs on
/// discrete schedules; without them (`f = x̂₀`) it is ComfyUI's `sample_lcm` and, on rectified flow,
/// diffusers' `FlowMatchEulerDiscreteScheduler(stochastic_sampling=True)`,
/// `x′ = (1 − σ′)·(x − σ·v) + σ′·z`. A distilled model jumps to `x̂₀` from any level, so every step
/// starts afresh; LCM's own time steps are ``StepSpacing/lcm(originalSteps:)``. NFE per step: 1.
public struct LCM: Solver {
    /// LCM's `timestep_scaling` k of the boundary-condition scalings; `nil` for none (`f = x̂₀`).
    public var timestepScaling: Double?
    public static let sigmaData = 0.5

    public init(timestepScaling: Double? = nil) { self.timestepScaling = timestepScaling }

    public var name: String { "lcm" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }

    /// `(c_skip, c_out)` at the model's time input `t`.
    public func scalings(at t: Double) -> (skip: Double, out: Double) {
        guard let timestepScaling else { return (0, 1) }
        let scaled = t * timestepScaling, d2 = Self.sigmaData * Self.sigmaData
        return (d2 / (scaled * scaled + d2), scaled / (scaled * scaled + d2).squareRoot())
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let from = context.grid[step], to = context.grid[step + 1]
        try context.predict(x, at: from, step: step, into: &state.first, needs: .data)
        let (skip, out) = scalings(at: from.t)
        guard !to.isClean else { x.update(scale: skip, (out, state.first.data)); return }
        try context.drawNoise(&state.z, step: step, from: context.frame.tau(from), to: context.frame.tau(to), for: name)
        x.update(scale: to.alpha * skip, (to.alpha * out, state.first.data), (to.sigma, state.z))
    }
}
