import RealModule

/// A mean-reverting model that is exact: clean data `x₀` from a ``GaussianMixture``, so the
/// posterior mean `E[x₀ | x_t, μ]` is closed form at every level.
///
/// From `x_t = μ + α(x₀ − μ) + σε`, the shifted sample `x̃ = x_t − (1 − α)μ = α·x₀ + σε` is an
/// ordinary noisy observation of `x₀` at `(α, σ)`, so `E[x₀ | x_t, μ]` is the denoiser of the
/// clean data's mixture at `x̃`. Noise and velocity predictions follow from `x̂₀` by
/// ``MeanRevertingParameterization``. Computed in `Double` per sample.
///
/// The clean data are either the mixture itself, whatever `μ` (`degradationSigma == nil`), or, as
/// a restoration model, the mixture's posterior given the degraded input `μ = x₀ + s·n`
/// (``degradationSigma`` `= s`, `n` standard normal), again a mixture:
/// ```
/// wₖ ∝ wₖ·N(μ; mₖ, sₖ² + s²),   mₖ + sₖ²/(sₖ² + s²)·(μ − mₖ),   sₖ²s²/(sₖ² + s²)
/// ```
public struct MeanRevertingMixture: MeanRevertingModel, Equatable {
    /// The distribution of the clean data (before conditioning on `μ`).
    public let mixture: GaussianMixture
    public let parameterization: MeanRevertingParameterization
    public let sigmaInfinity: Double
    /// The noise of the degradation `μ = x₀ + s·n` the clean data are conditioned on; `nil` for
    /// clean data independent of `μ`.
    public let degradationSigma: Double?

    public init(mixture: GaussianMixture, parameterization: MeanRevertingParameterization = .noise, sigmaInfinity: Double,
                degradationSigma: Double? = nil) {
        self.mixture = mixture
        self.parameterization = parameterization
        self.sigmaInfinity = sigmaInfinity
        self.degradationSigma = degradationSigma
    }

    public var sampleShape: [Int] { mixture.sampleShape }
    public var name: String { "mean-reverting \(mixture.name) (\(parameterization.rawValue))" }

    /// `E[x₀ | x, μ]` in `Double` for `x` and `mu` batch-major.
    public func predictData(_ x: [Double], mean mu: [Double], at level: NoiseLevel) -> [Double] {
        let shifted = zip(x, mu).map { $0 - (1 - level.alpha) * $1 }
        guard let degradationSigma else { return mixture.predictData(shifted, batch: x.count / mixture.dimension, at: level) }
        let d = mixture.dimension
        var out: [Double] = []
        out.reserveCapacity(x.count)
        for b in 0..<x.count / d {
            let posterior = mixture.posterior(given: Array(mu[b * d..<(b + 1) * d]), noise: degradationSigma)
            out += posterior.predictData(Array(shifted[b * d..<(b + 1) * d]), batch: 1, at: level)
        }
        return out
    }

    public func predict(_ x: SampleTensor, mean mu: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        guard x.sampleCount == mixture.dimension else { throw SamplingError.shapeMismatch(expected: sampleShape, got: x.sampleShape) }
        guard mu.shape == x.shape else { throw SamplingError.shapeMismatch(expected: x.shape, got: mu.shape) }
        let xs = x.scalars.map(Double.init), ms = mu.scalars.map(Double.init)
        let data = predictData(xs, mean: ms, at: level)
        let a = level.alpha, sigma = level.sigma, s = sigmaInfinity
        for i in data.indices {
            let noise = (xs[i] - ms[i] - a * (data[i] - ms[i])) / sigma
            let value: Double
            switch parameterization {
            case .data: value = data[i]
            case .noise: value = noise
            case .velocity: value = s * a * noise - sigma / s * (data[i] - ms[i])
            }
            output.scalars[i] = Float(value)
        }
    }
}

extension GaussianMixture {
    /// The distribution of `x₀` given the observation `y = x₀ + s·n` of one sample, `n` standard normal:
    /// the components' posteriors, weighted by how well each explains `y`.
    public func posterior(given y: [Double], noise s: Double) -> GaussianMixture {
        let d = dimension, k = componentCount, s2 = s * s
        var logWeights = [Double](repeating: 0, count: k)
        var means = self.means, stds = self.stds
        for c in 0..<k {
            var logW = Double.log(weights[c])
            for j in 0..<d {
                let i = c * d + j, v = stds[i] * stds[i] + s2, r = y[j] - means[i]
                logW -= 0.5 * (Double.log(v) + r * r / v)
                means[i] += stds[i] * stds[i] / v * r
                stds[i] = (stds[i] * stds[i] * s2 / v).squareRoot()
            }
            logWeights[c] = logW
        }
        let best = logWeights.max() ?? 0
        return GaussianMixture(literalWeights: logWeights.map { Double.exp($0 - best) }, means: means, stds: stds,
                               sampleShape: sampleShape, labels: labels, name: name + " | observation")
    }
}
