/// Ancestral sampling with the DDPM posterior (Ho et al. 2020, "Denoising Diffusion Probabilistic
/// Models", Eq. 6–7), for any schedule: from level `t` to the next level `s`, with
/// `σ²_{t|s} = σ_t² − (α_t/α_s)²·σ_s²` the forward variance between them,
/// ```
/// x_s = (α_s·σ²_{t|s}/σ_t²)·x̂₀ + ((α_t/α_s)·σ_s²/σ_t²)·x_t + std·z
/// std² = σ_s²·σ²_{t|s}/σ_t²   (fixedSmall, the posterior variance β̃)
///      = σ²_{t|s}              (fixedLarge, β_t)
/// ```
/// As diffusers' `DDPMScheduler`, noise is drawn whenever the current timestep is above 0 (also on
/// a last step whose variance is 0). `fixedSmall` equals DDIM with `η = 1`. NFE per step: 1.
public struct DDPM: Solver {
    /// The posterior variance of a step, as diffusers' `variance_type`.
    public enum Variance: String, Sendable { case fixedSmall = "fixed_small", fixedLarge = "fixed_large" }

    public var variance: Variance

    public init(variance: Variance = .fixedSmall) { self.variance = variance }

    public var name: String { "ddpm" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let t = context.grid[step], s = context.grid[step + 1]
        try context.predict(x, at: t, step: step, into: &state.first, needs: .data)
        let ratio = t.alpha / s.alpha
        let forward = Swift.max(t.sigma * t.sigma - ratio * ratio * s.sigma * s.sigma, 0)
        let dataCoefficient = s.alpha * forward / (t.sigma * t.sigma)
        let sampleCoefficient = ratio * s.sigma * s.sigma / (t.sigma * t.sigma)
        let std: Double
        switch variance {
        case .fixedSmall: std = Swift.max(s.sigma * s.sigma * forward / (t.sigma * t.sigma), 1e-20).squareRoot()
        case .fixedLarge: std = forward.squareRoot()
        }
        if t.t > 0 {
            try context.drawNoise(&state.z, step: step, from: t.sigma / t.alpha, to: s.isClean ? 0 : s.sigma / s.alpha, for: name)
            x.update(scale: sampleCoefficient, (dataCoefficient, state.first.data), (std, state.z))
        } else {
            x.update(scale: sampleCoefficient, (dataCoefficient, state.first.data))
        }
    }
}
