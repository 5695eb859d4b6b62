/// Adaptive projected guidance (Sadat et al. 2024, "Eliminating Oversaturation and Artifacts of
/// High Guidance Scales in Diffusion Models", Algorithm 1), as diffusers' `AdaptiveProjectedGuidance`
/// computes it, per sample over all its values:
/// ```
/// Δ  = ε_c − ε_u;   Δ ← Δ + β·Δ_prev          (momentum β, the running average kept)
/// Δ ← Δ·min(1, r/‖Δ‖)                         (norm threshold r > 0)
/// Δ∥ = (Δ·ε̂_c) ε̂_c,  Δ⊥ = Δ − Δ∥               (ε̂_c = ε_c/‖ε_c‖, in Double)
/// ε  = ε_u + w·(Δ⊥ + η·Δ∥)
/// ```
/// The parallel part is what oversaturates at high scales; down-weighting it (η < 1) and bounding
/// the update keeps the benefit of strong guidance. At `w = 1` it is the conditional model, as in
/// diffusers. The momentum advances once per guided evaluation.
public final class AdaptiveProjectedGuidance: GuidanceCombination, @unchecked Sendable {
    public let eta: Double
    public let normThreshold: Double
    public let momentum: Double?
    private var average: [Float]?

    public init(eta: Double = 1, normThreshold: Double = 0, momentum: Double? = nil) throws {
        guard eta.isFinite else { throw ModelError("APG eta must be finite, got \(eta)") }
        guard normThreshold.isFinite, normThreshold >= 0 else { throw ModelError("APG norm threshold must be >= 0, got \(normThreshold)") }
        if let momentum, !momentum.isFinite { throw ModelError("APG momentum must be finite, got \(momentum)") }
        self.eta = eta
        self.normThreshold = normThreshold
        self.momentum = momentum
    }

    public func combine(conditional: SampleTensor, unconditional: SampleTensor, scale: Double, into output: inout SampleTensor) {
        guard abs(scale - 1) > 1e-9 * Swift.max(1, abs(scale)) else { output.assign(conditional); return }
        var diff = zip(conditional.scalars, unconditional.scalars).map { $0 - $1 }
        if let momentum {
            if let previous = average { for i in diff.indices { diff[i] += Float(momentum) * previous[i] } }
            average = diff
        }
        let per = conditional.sampleCount
        for b in 0..<conditional.batchSize {
            let range = (b * per)..<((b + 1) * per)
            if normThreshold > 0 {
                let norm = range.reduce(Float(0)) { $0 + diff[$1] * diff[$1] }.squareRoot()
                let factor = Swift.min(1, Float(normThreshold) / norm)
                for i in range { diff[i] *= factor }
            }
            let condNorm = range.reduce(0.0) { $0 + Double(conditional.scalars[$1]) * Double(conditional.scalars[$1]) }.squareRoot()
            let unit = range.map { Double(conditional.scalars[$0]) / Swift.max(condNorm, 1e-12) }
            let dot = range.enumerated().reduce(0.0) { $0 + Double(diff[$1.element]) * unit[$1.offset] }
            for (k, i) in range.enumerated() {
                let parallel = Float(dot * unit[k]), orthogonal = Float(Double(diff[i]) - dot * unit[k])
                output.scalars[i] = unconditional.scalars[i] + Float(scale) * (orthogonal + Float(eta) * parallel)
            }
        }
    }
}
