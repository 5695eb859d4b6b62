import RealModule

extension GaussianMixture {
    /// `x̂₀` and the vector–Jacobian product `uᵀ ∂x̂₀/∂x` per sample, exactly, in `Double`; with
    /// `classLabel` for the mixture restricted to that class's components.
    ///
    /// With responsibilities `rₖ`, posterior means `mₖ = μₖ + gₖ(x − αμₖ)`, gains `gₖ = α sₖ²/vₖ`,
    /// `aₖ = −(x − αμₖ)/vₖ` and `ā = Σₖ rₖaₖ` (so `∂rₖ/∂xⱼ = rₖ(aₖⱼ − āⱼ)`), the Jacobian is
    /// `J = diag(Σₖ rₖgₖ) + Σₖ rₖ mₖ (aₖ − ā)ᵀ`, hence
    /// ```
    /// (uᵀJ)ⱼ = uⱼ Σₖ rₖgₖⱼ + Σₖ rₖ (u·mₖ) aₖⱼ − (u·x̂₀) āⱼ
    /// ```
    /// `O(K·D)` per sample, without forming `J`.
    public func pullback(_ x: [Double], batch: Int, at level: NoiseLevel, cotangent u: [Double],
                         classLabel: Int? = nil) throws -> (data: [Double], vjp: [Double]) {
        let d = dimension, k = componentCount, a = level.alpha
        guard x.count == batch * d, u.count == batch * d else {
            throw SamplingError.invalidConfiguration("mixture pullback: \(x.count) and \(u.count) values for \(batch) samples of \(d)")
        }
        var mask: [Bool]?
        if let classLabel {
            guard let labels, labels.contains(classLabel) else {
                throw ModelError("class \(classLabel) is not a label of model '\(name)'")
            }
            mask = labels.map { $0 == classLabel }
        }
        let (invV, gain, offset) = levelTables(alpha: a, sigmaSquared: level.sigma * level.sigma, mask: mask)
        var data = [Double](repeating: 0, count: batch * d)
        var vjp = [Double](repeating: 0, count: batch * d)
        var r = [Double](repeating: 0, count: k)
        var m = [Double](repeating: 0, count: k * d)
        var uDotM = [Double](repeating: 0, count: k)
        for b in 0..<batch {
            let base = b * d
            responsibilities(of: x, sample: b, alpha: a, invV: invV, offset: offset, into: &r)
            var uDotData = 0.0
            for c in 0..<k {
                var dot = 0.0
                for j in 0..<d {
                    let mu = means[c * d + j]
                    let mean = mu + gain[c * d + j] * (x[base + j] - a * mu)
                    m[c * d + j] = mean
                    dot += u[base + j] * mean
                    data[base + j] += r[c] * mean
                }
                uDotM[c] = dot
                uDotData += r[c] * dot
            }
            for j in 0..<d {
                var gainSum = 0.0, aBar = 0.0, weighted = 0.0
                for c in 0..<k where r[c] > 0 {
                    let ak = -(x[base + j] - a * means[c * d + j]) * invV[c * d + j]
                    gainSum += r[c] * gain[c * d + j]
                    aBar += r[c] * ak
                    weighted += r[c] * uDotM[c] * ak
                }
                vjp[base + j] = u[base + j] * gainSum + weighted - uDotData * aBar
            }
        }
        return (data, vjp)
    }

    /// The responsibilities `rₖ ∝ wₖ·N(x; αμₖ, diag(vₖ))` of sample `b` of `x`, normalized in log
    /// space, from ``levelTables(alpha:sigmaSquared:mask:)``'s `1/vₖ` and offsets.
    func responsibilities(of x: [Double], sample b: Int, alpha a: Double, invV: [Double], offset: [Double], into r: inout [Double]) {
        let d = dimension
        var best = -Double.infinity
        for c in 0..<componentCount {
            if offset[c] == -.infinity { r[c] = -.infinity; continue }
            var q = 0.0
            for j in 0..<d {
                let e = x[b * d + j] - a * means[c * d + j]
                q += e * e * invV[c * d + j]
            }
            r[c] = offset[c] - 0.5 * q
            best = Swift.max(best, r[c])
        }
        var norm = 0.0
        for c in 0..<componentCount { r[c] = Double.exp(r[c] - best); norm += r[c] }
        for c in 0..<componentCount { r[c] /= norm }
    }
}
