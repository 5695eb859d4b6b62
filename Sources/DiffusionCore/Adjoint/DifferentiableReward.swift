/// A reward with a gradient, for gradient steps through a sampling run (``AdjointDPM``,
/// ``NoiseOptimization``): `r(x₀)` and `∂r/∂x₀` per sample, in `Double`.
public protocol DifferentiableReward: Reward {
    /// The reward of each of `batch` samples (`x₀`, batch-major) and its gradient `∂r/∂x₀`
    /// (`batch × D`), for the class `label` the run samples, if any.
    func rewardsAndGradients(of data: [Double], batch: Int, label: Int?) throws -> (rewards: [Double], gradients: [Double])
}

extension LinearReward: DifferentiableReward {
    /// `r = w·x₀`, `∂r/∂x₀ = w`.
    public func rewardsAndGradients(of data: [Double], batch: Int, label: Int?) throws -> (rewards: [Double], gradients: [Double]) {
        let d = weights.count
        guard data.count == batch * d else { throw ModelError("\(name): w has \(d) values, but a sample has \(data.count / Swift.max(batch, 1))") }
        let rewards = (0..<batch).map { b in (0..<d).reduce(0.0) { $0 + data[b * d + $1] * weights[$1] } }
        return (rewards, (0..<batch).flatMap { _ in weights })
    }
}
