import RealModule
import DiffusionCore

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

    /// A percentile bootstrap interval for the ratio of two configurations' RMSEs on the same
    /// draws, `√(Σ aᵢ²/Σ bᵢ²)` for per-sample errors `a` and `b` (``SamplerComparison/Result/sampleErrors``):
    /// `resamples` times the draws are drawn again with replacement, the same indices for both
    /// (the pairing keeps what the draws share out of the spread), and the central `confidence`
    /// share of the resampled ratios is returned. At low NFE the RMSE is made by the few samples
    /// that end in another mode than the ground truth, so ratios on a few hundred draws are
    /// uncertain by tens of percent; this says by how much.
    ///
    /// With `weights`, the ratio is `√(Σ wᵢaᵢ²/Σ wᵢbᵢ²)`; with `strata` (index ranges that tile
    /// the draws), each stratum is drawn again within itself, as many draws as it has (a stratified
    /// estimate whose strata were sampled apart).
    ///
    /// - Precondition: `a` and `b` have the same, non-zero count; `weights`, when given, too;
    ///   `resamples` ≥ 1; `0 < confidence < 1`.
    public static func bootstrapRatioInterval(_ a: [Double], _ b: [Double], weights: [Double]? = nil, strata: [Range<Int>]? = nil,
                                              resamples: Int = 2000, confidence: Double = 0.9, seed: UInt64 = 0) -> ClosedRange<Double> {
        precondition(a.count == b.count && !a.isEmpty && (weights?.count ?? a.count) == a.count && resamples >= 1 && confidence > 0 && confidence < 1)
        let w = weights ?? [Double](repeating: 1, count: a.count)
        let a2 = a.indices.map { w[$0] * a[$0] * a[$0] }, b2 = b.indices.map { w[$0] * b[$0] * b[$0] }
        let groups = (strata ?? [a.indices]).filter { !$0.isEmpty }
        var rng = SplitMix64(seed: seed)
        var ratios: [Double] = []
        ratios.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var sa = 0.0, sb = 0.0
            for group in groups {
                for _ in group {
                    let i = group.lowerBound + rng.below(group.count)
                    sa += a2[i]; sb += b2[i]
                }
            }
            ratios.append(sb > 0 ? (sa / sb).squareRoot() : sa > 0 ? .infinity : 1)
        }
        ratios.sort()
        let tail = (1 - confidence) / 2
        let lo = Int((tail * Double(resamples - 1)).rounded()), hi = Int(((1 - tail) * Double(resamples - 1)).rounded())
        return ratios[lo]...ratios[hi]
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

    /// The Fréchet distance between Gaussians with these moments (covariances row-major `D × D`),
    /// as FID reports it (the squared 2-Wasserstein distance); see ``FrechetDistance``, which
    /// computes it.
    public static func frechetDistance(mean1: [Double], covariance1: [Double], mean2: [Double], covariance2: [Double]) -> Double {
        FrechetDistance.between(GaussianStatistics(mean: mean1, covariance: covariance1),
                                GaussianStatistics(mean: mean2, covariance: covariance2))
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
