/// A denoiser that can be differentiated: `x̂₀(x)` and the vector–Jacobian product
/// `uᵀ ∂x̂₀/∂x` for a cotangent `u`, and, for a guided model, `uᵀ ∂x̂₀/∂w` for its guidance scale
/// `w`. This is what reverse-mode gradients through a sampling run need (``AdjointDPM``); the
/// runtime has no automatic differentiation, so each model states how it computes the product.
///
/// Values are `Double`, batch-major, `batch × D`.
public protocol DenoiserPullback: Sendable {
    /// The shape of one sample.
    var sampleShape: [Int] { get }
    /// A short description for reports.
    var name: String { get }
    /// Model evaluations per sample that one ``pullback(_:batch:at:cotangent:)`` costs (1 for a
    /// model evaluated once, 0 for a closed form).
    var evaluationsPerPullback: Int { get }
    /// `x̂₀` of `batch` samples at `level`.
    func denoise(_ x: [Double], batch: Int, at level: NoiseLevel) throws -> [Double]
    /// `x̂₀` at `x` and, for the cotangent `u` (one per sample), `uᵀ∂x̂₀/∂x` and, when the
    /// denoiser has a guidance scale, `uᵀ∂x̂₀/∂w` per sample.
    func pullback(_ x: [Double], batch: Int, at level: NoiseLevel, cotangent u: [Double]) throws -> DenoiserCotangents
}

/// What ``DenoiserPullback/pullback(_:batch:at:cotangent:)`` returns.
public struct DenoiserCotangents: Sendable, Equatable {
    /// `x̂₀`, `batch × D`.
    public var data: [Double]
    /// `uᵀ ∂x̂₀/∂x`, `batch × D`.
    public var input: [Double]
    /// `uᵀ ∂x̂₀/∂w` per sample for a guided denoiser, else `nil`.
    public var guidanceScale: [Double]?

    public init(data: [Double], input: [Double], guidanceScale: [Double]? = nil) {
        self.data = data; self.input = input; self.guidanceScale = guidanceScale
    }
}

/// The exact pullback of a ``GaussianMixture``'s denoiser (closed form, `Double`): unconditional,
/// restricted to one class, or classifier-free guided between the two.
///
/// Guidance is linear in `x̂₀` as in ε (``ClassifierFreeGuidance``, since `x̂₀ = (x − σε)/α`):
/// `x̂₀_w = x̂₀_u + w·(x̂₀_c − x̂₀_u)`, so `∂x̂₀_w/∂x = (1 − w)J_u + w·J_c` and
/// `∂x̂₀_w/∂w = x̂₀_c − x̂₀_u`.
public struct MixturePullback: DenoiserPullback {
    /// The mixture whose exact denoiser is differentiated.
    public let mixture: GaussianMixture
    /// The class the mixture is restricted to (or guided toward), `nil` for the whole mixture.
    public let classLabel: Int?
    /// The classifier-free guidance scale `w`; `nil` for the plain (conditional) denoiser.
    public let guidanceScale: Double?

    /// - Throws: `ModelError` when `classLabel` is not a label of the mixture, or a guidance scale
    ///   is given without a class or is not finite.
    public init(mixture: GaussianMixture, classLabel: Int? = nil, guidanceScale: Double? = nil) throws {
        if let classLabel, mixture.labels?.contains(classLabel) != true {
            throw ModelError("class \(classLabel) is not a label of model '\(mixture.name)'")
        }
        if let guidanceScale {
            guard classLabel != nil else { throw ModelError("a guidance scale needs a class label") }
            guard guidanceScale.isFinite else { throw ModelError("guidance scale must be finite, got \(guidanceScale)") }
        }
        self.mixture = mixture; self.classLabel = classLabel; self.guidanceScale = guidanceScale
    }

    public var sampleShape: [Int] { mixture.sampleShape }
    public var name: String { mixture.name }
    public var evaluationsPerPullback: Int { 0 }

    public func denoise(_ x: [Double], batch: Int, at level: NoiseLevel) throws -> [Double] {
        try pullback(x, batch: batch, at: level, cotangent: [Double](repeating: 0, count: x.count)).data
    }

    public func pullback(_ x: [Double], batch: Int, at level: NoiseLevel, cotangent u: [Double]) throws -> DenoiserCotangents {
        guard let w = guidanceScale else {
            let (data, vjp) = try mixture.pullback(x, batch: batch, at: level, cotangent: u, classLabel: classLabel)
            return DenoiserCotangents(data: data, input: vjp)
        }
        let conditional = try mixture.pullback(x, batch: batch, at: level, cotangent: u, classLabel: classLabel)
        let unconditional = try mixture.pullback(x, batch: batch, at: level, cotangent: u)
        let d = mixture.dimension
        var result = DenoiserCotangents(data: x, input: x, guidanceScale: [Double](repeating: 0, count: batch))
        for b in 0..<batch {
            var dw = 0.0
            for i in (b * d)..<((b + 1) * d) {
                let difference = conditional.data[i] - unconditional.data[i]
                result.data[i] = unconditional.data[i] + w * difference
                result.input[i] = (1 - w) * unconditional.vjp[i] + w * conditional.vjp[i]
                dw += u[i] * difference
            }
            result.guidanceScale?[b] = dw
        }
        return result
    }
}
