/// Soft value-based decoding, the derivative-free SVDD of Li et al. 2024 ("Derivative-Free Guidance
/// in Continuous and Discrete Diffusion Models with Soft Value-Based Decoding"), Algorithm 1 with
/// the posterior-mean value `v(x_t) ≈ r(x̂₀(x_t))`: from one state, a stochastic step proposes `K`
/// candidates, and one is kept with probability
/// ```
/// P(k) = softmax_k(λ·r(x̂₀(x_{t−1}^k)))
/// ```
/// becoming the state all `K` candidates of the next step branch from. `λ = 1/α` of the paper.
public struct SoftValueDecoding: ParticleSteering {
    public let particles: Int
    public let reward: any Reward
    public let scale: Double

    public init(particles: Int, reward: any Reward, scale: Double) throws {
        guard particles >= 1 else { throw SamplingError.invalidConfiguration("steering needs at least 1 particle, got \(particles)") }
        guard scale.isFinite else { throw SamplingError.invalidConfiguration("the reward scale must be finite, got \(scale)") }
        self.particles = particles
        self.reward = reward
        self.scale = scale
    }

    public var sharesInitialSample: Bool { true }

    public func resample(after step: Int, rewards: [Double], weights: inout ParticleWeights, draws: CategoricalDraws) -> [Int]? {
        guard particles > 1 else { return nil }
        let chosen = choose(rewards, step: step, draws: draws)
        return rewards.indices.map { $0 / particles * particles + chosen[$0 / particles] }
    }

    public func select(rewards: [Double], weights: ParticleWeights, draws: CategoricalDraws) -> [Int] {
        particles == 1 ? Array(repeating: 0, count: rewards.count) : choose(rewards, step: Int(UInt32.max), draws: draws)
    }

    /// One candidate per sample, drawn by `softmax(λ·r)` within its group.
    private func choose(_ rewards: [Double], step: Int, draws: CategoricalDraws) -> [Int] {
        (0..<(rewards.count / particles)).map { group in
            let logits = rewards[(group * particles)..<((group + 1) * particles)].map { scale * $0 }
            return draws.draw(logits[...], group: group, step: step)[0]
        }
    }
}
