/// A model of a mean-reverting diffusion (``MeanRevertingSchedule``): a function of the noisy batch,
/// the condition `μ` (the degraded image each sample reverts to) and the noise level.
///
/// `μ` is an argument of every call, not a property: one model restores any degraded input.
public protocol MeanRevertingModel: Sendable {
    /// The shape of one sample (and of one `μ`).
    var sampleShape: [Int] { get }
    /// What ``predict(_:mean:at:into:)`` writes.
    var parameterization: MeanRevertingParameterization { get }
    /// `σ_∞` of the schedule the model was trained on (the velocity target depends on it).
    var sigmaInfinity: Double { get }
    /// A short description for reports.
    var name: String { get }
    /// Writes the model's prediction for the batch `x` with conditions `mu` (same shape) at `level`.
    func predict(_ x: SampleTensor, mean mu: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws
}

/// What a mean-reverting model predicts (the MR Sampler's `fit_target`), for
/// `x = μ + α(x₀ − μ) + σε` (Li et al. 2024, Sec. 3.3 and the official `convert_model_output`):
/// ```
/// noise     ε
/// data      x₀
/// velocity  v = σ_∞·α·ε − (σ/σ_∞)(x₀ − μ),  so  x₀ = α·x − (σ/σ_∞)·v + (1 − α)·μ
///                                              ε  = (α·v + (σ/σ_∞)(x − μ))/σ_∞
/// ```
public enum MeanRevertingParameterization: String, Sendable, CaseIterable {
    case noise, data, velocity

    /// `(c_x, c_m, c_μ)` with `x̂₀ = c_x·x + c_m·m + c_μ·μ` for the model output `m`.
    public func dataCoefficients(at level: NoiseLevel, sigmaInfinity s: Double) -> (Double, Double, Double) {
        let a = level.alpha, sigma = level.sigma
        switch self {
        case .noise: return (1 / a, -sigma / a, -(1 - a) / a)
        case .data: return (0, 1, 0)
        case .velocity: return (a, -sigma / s, 1 - a)
        }
    }

    /// `(c_x, c_m, c_μ)` with `ε̂ = c_x·x + c_m·m + c_μ·μ` for the model output `m`.
    public func noiseCoefficients(at level: NoiseLevel, sigmaInfinity s: Double) -> (Double, Double, Double) {
        let a = level.alpha, sigma = level.sigma
        switch self {
        case .noise: return (0, 1, 0)
        case .data: return (1 / sigma, -a / sigma, -(1 - a) / sigma)
        case .velocity: return (sigma / (s * s), a / s, -sigma / (s * s))
        }
    }
}
