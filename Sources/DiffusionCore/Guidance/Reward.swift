/// A reward on clean estimates, which inference-time steering tilts the sampled distribution
/// toward: `p(x₀)·exp(λ·r(x₀))`.
///
/// Steering evaluates a reward on the model's Tweedie estimate `x̂₀ = E[x₀ | x_t]` at every
/// noise level (Singhal et al. 2025; Li et al. 2024), so a reward needs no gradient and no
/// knowledge of the noise level. Conform a type to this protocol to steer with one's own reward.
public protocol Reward: Sendable {
    /// A short description for reports, for example `linear:w.npy`.
    var name: String { get }
    /// The reward of each sample of `data` (a batch of clean estimates), conditioned on the
    /// class label the run samples, if any.
    func rewards(of data: SampleTensor, label: Int?) throws -> [Double]
}

/// The linear reward `r(x₀) = w·x₀`: the simplest reward, and the one whose tilted Gaussian
/// mixture is known in closed form (``GaussianMixture/tilted(by:scale:)``).
public struct LinearReward: Reward, Equatable {
    /// The direction `w`, one value per dimension of a sample.
    public let weights: [Double]
    public let name: String

    /// - Throws: ``ModelError`` when `weights` is empty or holds NaN or infinity.
    public init(weights: [Double], name: String = "linear") throws {
        guard !weights.isEmpty else { throw ModelError("linear reward: the weight vector is empty") }
        guard weights.allSatisfy(\.isFinite) else { throw ModelError("linear reward: the weights contain NaN or Inf") }
        self.weights = weights
        self.name = name
    }

    public func rewards(of data: SampleTensor, label: Int?) throws -> [Double] {
        guard data.sampleCount == weights.count else {
            throw ModelError("\(name): w has \(weights.count) values, but a sample has \(data.sampleCount)")
        }
        return (0..<data.batchSize).map { b in
            zip(data.sample(b), weights).reduce(0.0) { $0 + Double($1.0) * $1.1 }
        }
    }
}
