/// Minority guidance by the gradient of the minority score (Um et al. 2024, "Don't Play Favorites:
/// Minority Guidance for Diffusion Models"; its classifier-free, self-guided form): the model's own
/// Tweedie reconstruction error after re-noising the clean estimate to a level `s`,
/// ```
/// L(x_t) = ‖x̂₀(x_t) − sg[x̂₀(α_s·x̂₀(x_t) + σ_s·ε)]‖² / D
/// ```
/// is high where the sample lies in a low-density region (its reconstruction is pulled toward the
/// likelier data), and its gradient is added to the score with weight `w`. Since
/// `x̂₀ = (x + σ²·∇log p)/α`, the guided clean estimate is
/// ```
/// x̂₀′ = x̂₀ + w·(σ_t²/α_t)·∇_{x_t} L,     ∇_{x_t} L = (∂x̂₀/∂x_t)ᵀ · 2(x̂₀ − x̂₀_rec)/D
/// ```
/// with the vector–Jacobian product from the model's ``DenoiserPullback`` (exact for a mixture, a
/// central-difference Jacobian for a network: `2D + 1` more evaluations per call). The
/// reconstruction is held fixed (stop-gradient), as in the paper. One draw `ε` (from `seed`) serves
/// every sample and step, so a sample's guidance does not depend on its place in the batch.
///
/// Every solver runs on it: it is a model whose prediction is the guided `x̂₀` (the plain `x̂₀` at
/// pure noise, `α = 0`, where the score term has no finite weight).
public struct MinorityGuidance: DiffusionModel {
    public let pullback: any DenoiserPullback
    /// `w`; 0 is the plain model.
    public let scale: Double
    /// The level `s` the clean estimate is re-noised to.
    public let level: NoiseLevel
    public let seed: UInt64

    /// - Throws: `ModelError` for a scale that is not finite or a level that is clean or not finite.
    public init(pullback: any DenoiserPullback, scale: Double, level: NoiseLevel, seed: UInt64 = 0) throws {
        guard scale.isFinite else { throw ModelError("minority guidance: the scale must be finite, got \(scale)") }
        guard !level.isClean, level.sigma.isFinite, level.alpha > 0 else {
            throw ModelError("minority guidance: the re-noising level must be above 0, got \(level)")
        }
        self.pullback = pullback
        self.scale = scale
        self.level = level
        self.seed = seed
    }

    public var sampleShape: [Int] { pullback.sampleShape }
    public var parameterization: Parameterization { .data }
    public var name: String { "\(pullback.name) + minority guidance \(scale)" }

    /// Model evaluations one ``predict(_:at:into:)`` costs per sample.
    public var evaluationsPerCall: Int { 2 + pullback.evaluationsPerPullback }

    /// `∇_{x_t} L` and `x̂₀` for the batch (`Double`, batch-major).
    public func minorityGradient(_ x: [Double], batch: Int, at t: NoiseLevel) throws -> (data: [Double], gradient: [Double]) {
        let d = x.count / max(batch, 1)
        let data = try pullback.denoise(x, batch: batch, at: t)
        let epsilon = SeededNoise(seed: seed).initialNoise(shape: [1, d]).scalars
        var noised = data
        for i in noised.indices { noised[i] = level.alpha * data[i] + level.sigma * Double(epsilon[i % d]) }
        let reconstruction = try pullback.denoise(noised, batch: batch, at: level)
        let cotangent = zip(data, reconstruction).map { 2 * ($0 - $1) / Double(d) }
        return (data, try pullback.pullback(x, batch: batch, at: t, cotangent: cotangent).input)
    }

    public func predict(_ x: SampleTensor, at t: NoiseLevel, into output: inout SampleTensor) throws {
        guard !t.isClean else { throw ModelError("minority guidance: the model is not evaluated at σ = 0") }
        let (data, gradient) = try minorityGradient(x.scalars.map(Double.init), batch: x.batchSize, at: t)
        // At pure noise (α = 0) the score term has no finite weight: the plain estimate.
        let factor = t.alpha > 0 ? scale * t.sigma * t.sigma / t.alpha : 0
        for i in output.scalars.indices { output.scalars[i] = Float(data[i] + factor * gradient[i]) }
    }
}
