/// Feynman–Kac steering (Singhal et al. 2025, "A General Framework for Inference-time Scaling and
/// Steering of Diffusion Models"): `K` particles per sample follow the sampler's stochastic
/// transitions and are resampled by potentials `G_t` built from the rewards `r_t = r(x̂₀(x_t))`:
/// ```
/// difference:  log G_t = λ·(r_t − r_{t+1})        max: λ·max_{s≥t} r_s        sum: λ·Σ_{s≥t} r_s
/// final:       log G_0 = λ·r(x₀) − Σ_{t>0} log G_t            (along the particle's lineage)
/// ```
/// so the product of potentials along every lineage is `exp(λ·r(x₀))`, and a sample drawn from its
/// particles in proportion to their final weights follows `p(x₀)·exp(λ·r(x₀))` as `K` grows.
/// Resampling is multinomial every `resampleEvery` steps; `selection = .best` returns the particle
/// of highest reward instead (best-of-K along the steered paths).
public struct FeynmanKacSteering: ParticleSteering {
    /// How FK steering turns the rewards along a particle's path into its weight (the paper's potentials).
    public enum Potential: String, Sendable, CaseIterable { case difference, max, sum }
    /// How a sample's final particle is picked: drawn in proportion to the weights, or the best reward.
    public enum Selection: String, Sendable, CaseIterable { case sample, best }

    public let particles: Int
    public let reward: any Reward
    /// The tilt `λ`.
    public let scale: Double
    public let potential: Potential
    public let resampleEvery: Int
    public let selection: Selection

    public init(particles: Int, reward: any Reward, scale: Double, potential: Potential = .difference,
                resampleEvery: Int = 1, selection: Selection = .sample) throws {
        guard particles >= 1 else { throw SamplingError.invalidConfiguration("steering needs at least 1 particle, got \(particles)") }
        guard scale.isFinite else { throw SamplingError.invalidConfiguration("the reward scale must be finite, got \(scale)") }
        guard resampleEvery >= 1 else { throw SamplingError.invalidConfiguration("resampling interval must be at least 1 step, got \(resampleEvery)") }
        self.particles = particles
        self.reward = reward
        self.scale = scale
        self.potential = potential
        self.resampleEvery = resampleEvery
        self.selection = selection
    }

    public var sharesInitialSample: Bool { false }

    public func resample(after step: Int, rewards: [Double], weights: inout ParticleWeights, draws: CategoricalDraws) -> [Int]? {
        for i in rewards.indices {
            let r = rewards[i], first = step == 0
            let logG: Double
            switch potential {
            case .difference: logG = scale * (r - (first ? 0 : weights.running[i])); weights.running[i] = r
            case .max: weights.running[i] = first ? r : Swift.max(weights.running[i], r); logG = scale * weights.running[i]
            case .sum: weights.running[i] = (first ? 0 : weights.running[i]) + r; logG = scale * weights.running[i]
            }
            weights.log[i] += logG
            weights.applied[i] += logG
        }
        guard particles > 1, (step + 1) % resampleEvery == 0 else { return nil }
        let ancestors = (0..<(rewards.count / particles)).flatMap { group in
            let first = group * particles
            return draws.draw(weights.log[first..<(first + particles)], count: particles, group: group, step: step).map { first + $0 }
        }
        weights = weights.resampled(ancestors)
        return ancestors
    }

    public func select(rewards: [Double], weights: ParticleWeights, draws: CategoricalDraws) -> [Int] {
        (0..<(rewards.count / particles)).map { group in
            let range = (group * particles)..<((group + 1) * particles)
            switch selection {
            case .best:
                return range.max { rewards[$0] < rewards[$1] || (rewards[$0] == rewards[$1] && $0 > $1) }! - range.lowerBound
            case .sample:
                let final = range.map { weights.log[$0] + scale * rewards[$0] - weights.applied[$0] }
                return particles == 1 ? 0 : draws.draw(final[...], group: group, step: Int(UInt32.max))[0]
            }
        }
    }
}
