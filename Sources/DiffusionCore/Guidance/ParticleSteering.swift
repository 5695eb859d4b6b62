import RealModule

/// A particle method that steers sampling toward `p(x₀)·exp(λ·r(x₀))` by resampling: each of a
/// run's samples owns ``particles`` particles (consecutive in the batch), and after every step
/// the method may replace particles by copies of others of the same sample, judged by the reward
/// of their clean estimates. ``SteeringRun`` drives it around any solver with a ``ParticleState``.
public protocol ParticleSteering: Sendable {
    /// The particles per sample, `K ≥ 1`.
    var particles: Int { get }
    /// The reward whose tilt the method targets.
    var reward: any Reward { get }
    /// Whether a sample's particles start from one initial sample (SVDD's candidates branch from
    /// one state) rather than from independent draws (FK steering).
    var sharesInitialSample: Bool { get }
    /// After step `step`, with the reward of each particle's `x̂₀`: the particle (a batch index)
    /// each particle becomes a copy of, or `nil` to keep them all.
    func resample(after step: Int, rewards: [Double], weights: inout ParticleWeights, draws: CategoricalDraws) -> [Int]?
    /// At the end, with the rewards of the final samples: the particle (an index within its
    /// sample's group) each sample returns.
    func select(rewards: [Double], weights: ParticleWeights, draws: CategoricalDraws) -> [Int]
}

/// What a particle method carries along each particle's lineage (``FeynmanKacSteering``).
public struct ParticleWeights: Sendable, Equatable {
    /// Log importance weights since the last resampling.
    public var log: [Double]
    /// The sum of the log potentials applied along the lineage.
    public var applied: [Double]
    /// The potential's running statistic: the previous reward, the running maximum or sum.
    public var running: [Double]

    public init(count: Int) {
        log = Array(repeating: 0, count: count)
        applied = Array(repeating: 0, count: count)
        running = Array(repeating: 0, count: count)
    }

    /// The weights of the particles `ancestors` after resampling: lineage kept, log weights reset.
    public func resampled(_ ancestors: [Int]) -> ParticleWeights {
        var next = ParticleWeights(count: ancestors.count)
        next.applied = ancestors.map { applied[$0] }
        next.running = ancestors.map { running[$0] }
        return next
    }
}

/// Seeded categorical draws for resampling: the uniform of (`group`, `step`, `index`) is a pure
/// function of the seed, so steering is reproducible whatever the batch split or thread count.
/// Uniforms have 53 bits and probabilities are `Double`.
public struct CategoricalDraws: Sendable {
    private let generator: Philox4x32

    public init(seed: UInt64) { generator = Philox4x32(seed: seed ^ 0x5EED_F00D_C0FF_EE00) }

    /// A uniform draw in `[0, 1)`.
    public func uniform(group: Int, step: Int, index: Int) -> Double {
        let r = generator.block((UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: step),
                                 UInt32(truncatingIfNeeded: group), UInt32(truncatingIfNeeded: group >> 32)))
        return Double((UInt64(r.0) << 32 | UInt64(r.1)) >> 11) * 0x1p-53
    }

    /// `count` indices of `logWeights`, each drawn with probability `softmax(logWeights)`
    /// (multinomial resampling), from the uniforms of `index` 0..<count.
    public func draw(_ logWeights: ArraySlice<Double>, count: Int = 1, group: Int, step: Int) -> [Int] {
        let top = logWeights.max() ?? 0
        var cumulative = [Double](), total = 0.0
        cumulative.reserveCapacity(logWeights.count)
        for w in logWeights {
            total += top == -.infinity ? 1 : Double.exp(w - top)
            cumulative.append(total)
        }
        return (0..<count).map { index in
            let target = uniform(group: group, step: step, index: index) * total
            var low = 0, high = cumulative.count - 1
            while low < high {
                let mid = (low + high) / 2
                if cumulative[mid] > target { high = mid } else { low = mid + 1 }
            }
            return low
        }
    }
}
