/// A mean-reverting model that is exact: clean data `x₀` from a ``GaussianMixture``, so the
/// posterior mean `E[x₀ | x_t, μ]` is closed form at every level.
///
/// From `x_t = μ + α(x₀ − μ) + σε`, the shifted sample `x̃ = x_t − (1 − α)μ = α·x₀ + σε` is an
/// ordinary noisy observation of `x₀` at `(α, σ)`, so `E[x₀ | x_t, μ]` is the mixture's own
/// denoiser at `x̃` (no per-sample change of the mixture). Noise and velocity predictions follow
/// from `x̂₀` by ``MeanRevertingParameterization``. Computed in `Double` per sample.
public struct MeanRevertingMixture: MeanRevertingModel, Equatable {
    /// The distribution of the clean data.
    public let mixture: GaussianMixture
    public let parameterization: MeanRevertingParameterization
    public let sigmaInfinity: Double

    public init(mixture: GaussianMixture, parameterization: MeanRevertingParameterization = .noise, sigmaInfinity: Double) {
        self.mixture = mixture
        self.parameterization = parameterization
        self.sigmaInfinity = sigmaInfinity
    }

    public var sampleShape: [Int] { mixture.sampleShape }
    public var name: String { "mean-reverting \(mixture.name) (\(parameterization.rawValue))" }

    /// `E[x₀ | x, μ]` in `Double` for `x` and `mu` batch-major.
    public func predictData(_ x: [Double], mean mu: [Double], at level: NoiseLevel) -> [Double] {
        let shifted = zip(x, mu).map { $0 - (1 - level.alpha) * $1 }
        return mixture.predictData(shifted, batch: x.count / mixture.dimension, at: level)
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
