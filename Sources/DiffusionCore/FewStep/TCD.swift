/// Trajectory consistency distillation's strategic stochastic sampling (Zheng et al. 2024,
/// "Trajectory Consistency Distillation", Sec. 4.4; diffusers' `TCDScheduler`, whose `eta` is the
/// paper's γ): from level `t` to the next level `t′`, jump along the trajectory to the earlier time
/// `s = ⌊(1 − γ)·t′⌋`, then add forward noise back up to `t′`:
/// ```
/// x̂_s = α_s·x̂₀ + σ_s·ε̂
/// x′  = (α′/α_s)·x̂_s + √(σ′² − (α′/α_s)²·σ_s²)·z,   z ~ N(0, I)
/// ```
/// γ = 0 is deterministic (`s = t′`, a DDIM step from the model's own jump), γ = 1 jumps to `x̂₀`
/// every step. No noise is added where `s = t′` (the last step of TCD's own grid, which ends at
/// timestep 0), and the step to `σ = 0` returns `x̂₀`. On a discrete schedule `s` is a training
/// timestep, `(1 − γ)·t′` taken in float32 as diffusers computes it. NFE per step: 1.
public struct TCD: Solver {
    public var gamma: Double

    public init(gamma: Double = 0.3) { self.gamma = gamma }

    public var name: String { "tcd" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }

    /// The level `s` the step to `next` jumps to.
    func jumpLevel(to next: NoiseLevel, schedule: any NoiseSchedule) -> NoiseLevel {
        guard gamma > 0, !next.isClean else { return next }
        let s = schedule.trainingTimesteps != nil ? Double((Float(1 - gamma) * Float(next.t)).rounded(.down)) : (1 - gamma) * next.t
        return schedule.level(at: Swift.max(s, schedule.timeRange.lowerBound))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let from = context.grid[step], to = context.grid[step + 1]
        let s = jumpLevel(to: to, schedule: context.denoiser.schedule)
        try context.predict(x, at: from, step: step, into: &state.first, needs: s.isClean ? .data : .both)
        guard !s.isClean else { x.assign(state.first.data); return }
        guard s.t < to.t else { x.set((s.alpha, state.first.data), (s.sigma, state.first.noise)); return }
        let ratio = to.alpha / s.alpha
        let std = Swift.max(to.sigma * to.sigma - ratio * ratio * s.sigma * s.sigma, 0).squareRoot()
        try context.drawNoise(&state.z, step: step, from: from.sigma / from.alpha, to: to.sigma / to.alpha, for: name)
        x.set((ratio * s.alpha, state.first.data), (ratio * s.sigma, state.first.noise), (std, state.z))
    }
}
