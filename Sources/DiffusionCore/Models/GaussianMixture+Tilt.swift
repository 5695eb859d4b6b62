import RealModule

extension GaussianMixture {
    /// The mixture tilted by a linear reward, `p(x)·exp(λ·w·x)` normalized: again a mixture of
    /// axis-aligned Gaussians, with the same spreads and
    /// ```
    /// μₖ′ = μₖ + λ·sₖ²⊙w
    /// wₖ′ ∝ wₖ·exp(λ·w·μₖ + λ²·Σⱼ sₖⱼ²wⱼ²/2)
    /// ```
    /// (complete the square in each component). It is the exact target of reward-tilted sampling
    /// (FK steering, SVDD) with ``LinearReward``, which the steering tests measure against.
    ///
    /// - Throws: ``ModelError`` when `w` does not have one value per dimension, or a value is not finite.
    public func tilted(by w: [Double], scale lambda: Double) throws -> GaussianMixture {
        let d = dimension
        guard w.count == d else { throw ModelError("tilt: w has \(w.count) values, the mixture's samples \(d)") }
        guard w.allSatisfy(\.isFinite), lambda.isFinite else { throw ModelError("tilt: w and the scale must be finite") }
        var newMeans = means
        var logWeights = [Double](repeating: -.infinity, count: componentCount)
        for c in 0..<componentCount {
            var exponent = 0.0
            for j in 0..<d {
                let s2 = stds[c * d + j] * stds[c * d + j]
                newMeans[c * d + j] += lambda * s2 * w[j]
                exponent += lambda * w[j] * means[c * d + j] + 0.5 * lambda * lambda * s2 * w[j] * w[j]
            }
            if weights[c] > 0 { logWeights[c] = Double.log(weights[c]) + exponent }
        }
        let top = logWeights.max() ?? 0
        return try GaussianMixture(weights: logWeights.map { Double.exp($0 - top) }, means: newMeans, stds: stds,
                                   sampleShape: sampleShape, labels: labels, name: "\(name) tilted")
    }
}
