/// CTM's γ-sampling (Kim et al. 2024, "Consistency Trajectory Models", Algorithm 1) for a model
/// that jumps (``FlowMapModel``), over a grid `t₀ > t₁ > … > t_N`, in the VE frame (`τ = σ/α`):
/// ```
/// τ′ = √(1 − γ²)·τₙ₊₁
/// x′ = G(x, tₙ, t′)                               (jump along the ODE to the earlier time)
/// y  = x′/α′ + √(τₙ₊₁² − τ′²)·z,   xₙ₊₁ = αₙ₊₁·y   (forward noise back to tₙ₊₁)
/// ```
/// γ = 0 follows the ODE deterministically; γ = 1 jumps to data every step and renoises, which is
/// consistency models' multistep sampling. With an exact flow map every γ leaves the marginals
/// unchanged: the jump transports `p_{tₙ}` to `p_{t′}`, and the forward noise takes `p_{t′}` to
/// `p_{tₙ₊₁}`. NFE per step: 1 jump.
public struct ConsistencyTrajectorySampler: Sendable {
    public var gamma: Double

    public init(gamma: Double) throws {
        guard gamma >= 0, gamma <= 1 else { throw SamplingError.invalidConfiguration("CTM's gamma must lie in [0, 1], got \(gamma)") }
        self.gamma = gamma
    }

    public var name: String { "ctm" }

    /// Samples from `x` at `grid[0]` along `grid`; `noise` gives the fresh draws (one per step with γ > 0 that does not end at σ = 0).
    public func sample(_ model: any FlowMapModel, schedule: any NoiseSchedule, grid: TimeGrid, from x: SampleTensor,
                       noise: (any NoiseSource)?) throws -> SampleTensor {
        var x = x, jumped = SampleTensor(zeros: x.shape), z = SampleTensor(zeros: x.shape)
        for step in 0..<grid.steps {
            let from = grid[step], to = grid[step + 1]
            let tau = to.isClean ? 0 : to.sigma / to.alpha
            let earlier = (1 - gamma * gamma).squareRoot() * tau
            let target = to.isClean || gamma == 0 ? to : schedule.level(sigma: earlier)
            try model.jump(x, from: from, to: target, into: &jumped)
            let std = (Swift.max(tau * tau - earlier * earlier, 0)).squareRoot()
            guard std > 0 else { x = jumped; continue }
            guard let noise else { throw SamplingError.invalidConfiguration("ctm with gamma > 0 needs a noise source (a seed or recorded step noise)") }
            try noise.fill(&z, step: step, from: from.sigma / from.alpha, to: tau)
            x.set((to.alpha / target.alpha, jumped), (to.alpha * std, z))
        }
        return x
    }
}
