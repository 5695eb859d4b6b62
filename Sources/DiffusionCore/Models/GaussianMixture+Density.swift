import RealModule

extension GaussianMixture {
    /// The exact log-density `log pₜ(x)` of the mixture's marginal at `level` (the clean data
    /// `log p₀` by default), in nats:
    /// ```
    /// pₜ(x) = Σₖ wₖ · N(x; α·μₖ, diag(α²sₖ² + σ²))
    /// ```
    /// summed in log space (log-sum-exp), so it stays finite far in the tails.
    public func logDensity(at point: [Double], level: NoiseLevel? = nil) -> Double {
        let d = dimension
        precondition(point.count == d, "logDensity: \(point.count) values for a \(d)-dimensional mixture")
        let a = level?.alpha ?? 1, s = level?.sigma ?? 0
        let (invV, _, offset) = levelTables(alpha: a, sigmaSquared: s * s, mask: nil)
        var terms = [Double](repeating: -.infinity, count: componentCount)
        for c in 0..<componentCount where offset[c] > -.infinity {
            var q = 0.0
            for j in 0..<d {
                let r = point[j] - a * means[c * d + j]
                q += r * r * invV[c * d + j]
            }
            terms[c] = offset[c] - 0.5 * q
        }
        let best = terms.max() ?? -.infinity
        guard best > -.infinity else { return -.infinity }
        let sum = terms.reduce(0) { $0 + Double.exp($1 - best) }
        return best + Double.log(sum) - 0.5 * Double(d) * Double.log(2 * .pi)
    }

    /// `x̂₀` and the exact trace of its Jacobian `tr(∂x̂₀/∂x)` per sample, in `Double`: with
    /// responsibilities `rₖ`, posterior means `mₖ = μₖ + gₖ(x − αμₖ)`, gains `gₖ = α sₖ²/vₖ` and
    /// `aₖ = −(x − αμₖ)/vₖ` (so `∂rₖ/∂xⱼ = rₖ(aₖⱼ − āⱼ)`, `ā = Σₖ rₖaₖ`),
    /// ```
    /// tr J = Σⱼ [ Σₖ rₖ gₖⱼ + Σₖ rₖ mₖⱼ aₖⱼ − x̂₀ⱼ āⱼ ]
    /// ```
    public func predictDataAndTrace(_ x: [Double], batch: Int, at level: NoiseLevel) -> (data: [Double], trace: [Double]) {
        let d = dimension, k = componentCount, a = level.alpha
        let (invV, gain, offset) = levelTables(alpha: a, sigmaSquared: level.sigma * level.sigma, mask: nil)
        var data = [Double](repeating: 0, count: batch * d)
        var trace = [Double](repeating: 0, count: batch)
        var r = [Double](repeating: 0, count: k)
        for b in 0..<batch {
            responsibilities(of: x, sample: b, alpha: a, invV: invV, offset: offset, into: &r)
            var tr = 0.0
            for j in 0..<d {
                let xj = x[b * d + j]
                var mean = 0.0, aBar = 0.0, gainTerm = 0.0, cross = 0.0
                for c in 0..<k where r[c] > 0 {
                    let mu = means[c * d + j]
                    let m = mu + gain[c * d + j] * (xj - a * mu)
                    let ak = -(xj - a * mu) * invV[c * d + j]
                    mean += r[c] * m
                    aBar += r[c] * ak
                    gainTerm += r[c] * gain[c * d + j]
                    cross += r[c] * m * ak
                }
                data[b * d + j] = mean
                tr += gainTerm + cross - mean * aBar
            }
            trace[b] = tr
        }
        return (data, trace)
    }
}
