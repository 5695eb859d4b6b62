import RealModule

/// Measures of how far sampled endpoints are from the ground truth and from the data distribution.
///
/// All take samples batch-major (`B × D`, row-major) in `Double`.
public enum Metrics {
    /// The root-mean-square error over all elements: `√(Σ (a − b)² / (B·D))`.
    public static func rmse(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "rmse: sizes differ or are empty")
        var s = 0.0
        for i in a.indices { s += (a[i] - b[i]) * (a[i] - b[i]) }
        return (s / Double(a.count)).squareRoot()
    }

    /// The Euclidean error of each sample: `‖aᵦ − bᵦ‖₂`.
    public static func perSampleErrors(_ a: [Double], _ b: [Double], dimension d: Int) -> [Double] {
        precondition(a.count == b.count && d > 0 && a.count % d == 0)
        return (0..<(a.count / d)).map { n in
            var s = 0.0
            for j in 0..<d { let e = a[n * d + j] - b[n * d + j]; s += e * e }
            return s.squareRoot()
        }
    }

    /// The median of `values` (mean of the middle two for an even count).
    public static func median(_ values: [Double]) -> Double {
        precondition(!values.isEmpty)
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }

    /// The sample mean (`D`) and covariance (`D × D`, divided by `B − 1`) of `B` samples.
    public static func moments(_ x: [Double], dimension d: Int) -> (mean: [Double], covariance: [Double]) {
        let n = x.count / d
        precondition(n >= 2, "moments: need at least two samples")
        var mean = [Double](repeating: 0, count: d)
        for b in 0..<n { for j in 0..<d { mean[j] += x[b * d + j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        var cov = [Double](repeating: 0, count: d * d)
        for b in 0..<n {
            for i in 0..<d {
                let ci = x[b * d + i] - mean[i]
                for j in i..<d { cov[i * d + j] += ci * (x[b * d + j] - mean[j]) }
            }
        }
        for i in 0..<d { for j in i..<d { cov[i * d + j] /= Double(n - 1); cov[j * d + i] = cov[i * d + j] } }
        return (mean, cov)
    }

    /// The Fréchet (2-Wasserstein) distance between Gaussians with these moments, as in FID
    /// (Heusel et al. 2017): `‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁^{½} Σ₂ Σ₁^{½})^{½})`. Returns the
    /// squared distance, as FID reports it.
    public static func frechetDistance(mean1: [Double], covariance1: [Double], mean2: [Double], covariance2: [Double]) -> Double {
        let d = mean1.count
        var meanTerm = 0.0
        for j in 0..<d { meanTerm += (mean1[j] - mean2[j]) * (mean1[j] - mean2[j]) }
        let root1 = SymmetricMatrix.squareRoot(covariance1, dimension: d)
        let product = SymmetricMatrix.multiply(SymmetricMatrix.multiply(root1, covariance2, d), root1, d)
        let cross = SymmetricMatrix.squareRoot(product, dimension: d)
        var trace = 0.0
        for i in 0..<d { trace += covariance1[i * d + i] + covariance2[i * d + i] - 2 * cross[i * d + i] }
        return Swift.max(meanTerm + trace, 0)
    }

    /// The share of samples whose most responsible mixture component (at the data, `σ = 0`) is
    /// the same in `a` and in `b`.
    public static func modeAgreement(_ a: [Double], _ b: [Double], mixture: GaussianMixture) -> Double {
        let d = mixture.dimension, n = a.count / d
        var same = 0
        for s in 0..<n where mixture.component(of: Array(a[(s * d)..<((s + 1) * d)])) ==
                              mixture.component(of: Array(b[(s * d)..<((s + 1) * d)])) {
            same += 1
        }
        return Double(same) / Double(n)
    }

    /// The sliced 2-Wasserstein distance between two equally sized sample sets, averaged over
    /// `projections` random unit directions (seeded): exact 1-D optimal transport per direction.
    public static func slicedWasserstein(_ a: [Double], _ b: [Double], dimension d: Int, projections: Int = 64, seed: UInt64 = 0) -> Double {
        precondition(a.count == b.count && a.count % d == 0)
        let n = a.count / d
        var directions = SampleTensor(zeros: [projections, d])
        try? SeededNoise(seed: seed).fill(&directions, step: 0)
        var total = 0.0
        for p in 0..<projections {
            var v = (0..<d).map { Double(directions.scalars[p * d + $0]) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / norm }
            var pa = (0..<n).map { s in (0..<d).reduce(0.0) { $0 + a[s * d + $1] * v[$1] } }
            var pb = (0..<n).map { s in (0..<d).reduce(0.0) { $0 + b[s * d + $1] * v[$1] } }
            pa.sort(); pb.sort()
            total += zip(pa, pb).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(n)
        }
        return (total / Double(projections)).squareRoot()
    }
}

extension GaussianMixture {
    /// The component with the largest responsibility for the clean point `x` (σ = 0).
    public func component(of x: [Double]) -> Int {
        let d = dimension
        var best = -Double.infinity, index = 0
        for c in 0..<componentCount where weights[c] > 0 {
            var logp = Double.log(weights[c])
            for j in 0..<d {
                let sd = stds[c * d + j]
                let z = (x[j] - means[c * d + j]) / sd
                logp -= 0.5 * z * z + Double.log(sd)
            }
            if logp > best { best = logp; index = c }
        }
        return index
    }
}

/// Small dense symmetric-matrix routines (row-major `D × D`) for moment-based distances.
enum SymmetricMatrix {
    static func multiply(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
        var c = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for k in 0..<d where a[i * d + k] != 0 { let aik = a[i * d + k]; for j in 0..<d { c[i * d + j] += aik * b[k * d + j] } } }
        return c
    }

    /// Eigenvalues and eigenvectors (columns of `vectors`) by cyclic Jacobi rotations.
    static func eigen(_ m: [Double], dimension d: Int) -> (values: [Double], vectors: [Double]) {
        var a = m
        var v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<d { for j in (i + 1)..<d { off += a[i * d + j] * a[i * d + j] } }
            if off < 1e-30 { break }
            for p in 0..<d {
                for q in (p + 1)..<d {
                    let apq = a[p * d + q]
                    if abs(apq) < 1e-300 { continue }
                    let theta = (a[q * d + q] - a[p * d + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<d {
                        let akp = a[k * d + p], akq = a[k * d + q]
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d {
                        let apk = a[p * d + k], aqk = a[q * d + k]
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                    for k in 0..<d {
                        let vkp = v[k * d + p], vkq = v[k * d + q]
                        v[k * d + p] = c * vkp - s * vkq
                        v[k * d + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<d).map { a[$0 * d + $0] }, v)
    }

    /// The symmetric positive semi-definite square root (negative round-off eigenvalues → 0).
    static func squareRoot(_ m: [Double], dimension d: Int) -> [Double] {
        // Symmetrize the input first: products like Σ₁^{½}Σ₂Σ₁^{½} are symmetric only up to round-off.
        var sym = m
        for i in 0..<d { for j in 0..<d { sym[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]) } }
        let (values, vectors) = eigen(sym, dimension: d)
        var r = [Double](repeating: 0, count: d * d)
        for k in 0..<d {
            let s = Swift.max(values[k], 0).squareRoot()
            if s == 0 { continue }
            for i in 0..<d { let vik = vectors[i * d + k] * s; for j in 0..<d { r[i * d + j] += vik * vectors[j * d + k] } }
        }
        return r
    }
}
