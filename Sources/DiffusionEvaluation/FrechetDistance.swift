import DiffusionNeural

/// The mean and covariance of a set of feature vectors: the Gaussian that FID fits to it.
public struct GaussianStatistics: Sendable, Equatable {
    /// The mean `μ` (`D` values).
    public var mean: [Double]
    /// The covariance `C`, row-major `D × D`.
    public var covariance: [Double]

    /// `D`, the dimension of the features.
    public var dimension: Int { mean.count }

    /// Statistics given directly, for example precomputed for a data set.
    ///
    /// - Precondition: `covariance.count == mean.count²`.
    public init(mean: [Double], covariance: [Double]) {
        precondition(covariance.count == mean.count * mean.count,
                     "GaussianStatistics: a covariance of \(covariance.count) values does not fit a mean of \(mean.count)")
        self.mean = mean
        self.covariance = covariance
    }

    /// The sample mean and the unbiased sample covariance (divided by `n − 1`, as FID and
    /// `numpy.cov` compute it) of `n ≥ 2` feature vectors stored one after another
    /// (batch-major `n × D`, row-major).
    public init(samples: [Double], dimension: Int) {
        precondition(dimension > 0 && samples.count % dimension == 0,
                     "GaussianStatistics: \(samples.count) values are not whole vectors of \(dimension)")
        let (mean, covariance) = Metrics.moments(samples, dimension: dimension)
        self.init(mean: mean, covariance: covariance)
    }

    /// The statistics of `n ≥ 2` feature vectors of equal length; see ``init(samples:dimension:)``.
    public init(samples: [[Double]]) {
        precondition(samples.count >= 2, "GaussianStatistics: need at least two samples")
        let d = samples[0].count
        precondition(samples.allSatisfy { $0.count == d }, "GaussianStatistics: feature vectors differ in length")
        self.init(samples: samples.flatMap { $0 }, dimension: d)
    }
}

/// The Fréchet distance between two feature distributions, each summarized by a Gaussian: the
/// recipe of the Fréchet Inception Distance, computed on whatever features the caller supplies
/// (``FeatureClassifier`` provides ours).
///
/// For Gaussians `N(μ₁, C₁)` and `N(μ₂, C₂)` the squared 2-Wasserstein (Fréchet) distance is
///
/// ```
/// FD = ‖μ₁ − μ₂‖² + tr(C₁ + C₂ − 2 (C₁^{½} C₂ C₁^{½})^{½})
/// ```
///
/// (Dowson & Landau 1982), which FID reports without a final square root. The trace of the
/// cross term is `Σᵢ √λᵢ` over the eigenvalues `λᵢ` of the symmetric positive semi-definite
/// matrix `C₁^{½} C₂ C₁^{½}` (the same as those of `C₁ C₂`, whose square root the reference
/// implementations take with `scipy.linalg.sqrtm`). Here both square roots come from symmetric
/// eigen-decompositions (``SymmetricEigen``), with eigenvalues below zero — round-off for
/// covariances — clamped at 0, so singular covariances (fewer samples than dimensions) need no
/// regularizing offset. The result is clamped at 0 as well.
///
/// Complexity: two eigen-decompositions and two matrix products of size `D`, about `20 D³`
/// operations.
///
/// - Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter, *GANs Trained by a Two Time-Scale
///   Update Rule Converge to a Local Nash Equilibrium*, NeurIPS 2017,
///   <https://arxiv.org/abs/1706.08500> (FID).
/// - Dowson & Landau, *The Fréchet distance between multivariate normal distributions*,
///   J. Multivariate Analysis 12(3), 1982.
public enum FrechetDistance {
    /// The Fréchet distance between two Gaussians (symmetric in its arguments up to round-off).
    ///
    /// - Precondition: both have the same dimension.
    public static func between(_ a: GaussianStatistics, _ b: GaussianStatistics) -> Double {
        let d = a.dimension
        precondition(b.dimension == d, "FrechetDistance: dimensions \(d) and \(b.dimension) differ")
        var meanTerm = 0.0
        for j in 0..<d { meanTerm += (a.mean[j] - b.mean[j]) * (a.mean[j] - b.mean[j]) }
        let root = SymmetricMatrix.squareRoot(a.covariance, dimension: d)
        let product = SymmetricMatrix.multiply(SymmetricMatrix.multiply(root, b.covariance, dimension: d), root, dimension: d)
        let lambdas = SymmetricEigen.eigenvalues(of: SymmetricMatrix.symmetrized(product, dimension: d), dimension: d)
        var crossTrace = 0.0
        for lambda in lambdas { crossTrace += max(lambda, 0).squareRoot() }
        var trace = 0.0
        for i in 0..<d { trace += a.covariance[i * d + i] + b.covariance[i * d + i] }
        return max(meanTerm + trace - 2 * crossTrace, 0)
    }

    /// The Fréchet distance between the Gaussians fitted to two feature sets (`n ≥ 2` vectors
    /// each, of one length), with covariances divided by `n − 1` as in FID.
    public static func between(_ a: [[Double]], _ b: [[Double]]) -> Double {
        between(GaussianStatistics(samples: a), GaussianStatistics(samples: b))
    }

    /// The Fréchet distance between two feature sets stored batch-major (`n × D`, row-major).
    public static func between(_ a: [Double], _ b: [Double], dimension: Int) -> Double {
        between(GaussianStatistics(samples: a, dimension: dimension), GaussianStatistics(samples: b, dimension: dimension))
    }
}
