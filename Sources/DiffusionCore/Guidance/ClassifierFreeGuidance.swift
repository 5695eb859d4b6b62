/// A model that can be conditioned on a class label.
public protocol ConditionalDiffusionModel: DiffusionModel {
    /// The number of classes; labels are `0..<classCount`.
    var classCount: Int { get }
    /// The prediction conditioned on `classLabel`, or unconditional for `nil`.
    func predict(_ x: SampleTensor, at level: NoiseLevel, classLabel: Int?, into output: inout SampleTensor) throws
}

extension GaussianMixture: ConditionalDiffusionModel {}

/// Classifier-free guidance (Ho & Salimans 2022), with the guidance rescale of Lin et al. 2024
/// ("Common Diffusion Noise Schedules and Sample Steps are Flawed", Eq. 15–16).
///
/// On noise predictions, with `w` the guidance scale:
/// ```
/// ε_cfg = ε_u + w·(ε_c − ε_u)
/// ε     = φ·ε_cfg·std(ε_c)/std(ε_cfg) + (1 − φ)·ε_cfg        (rescale φ; std per sample)
/// ```
/// `w = 1` is the conditional model, `w = 0` the unconditional one. The standard deviations are
/// unbiased, over all dimensions of a sample, as in diffusers' `rescale_noise_cfg`. Each guided
/// evaluation runs the model twice (a pipeline would batch the two); the sampling run counts it as
/// one evaluation of the guided model.
public struct ClassifierFreeGuidance: DiffusionModel {
    public let base: any ConditionalDiffusionModel
    public let classLabel: Int
    public let scale: Double
    public let rescale: Double
    /// Guide only at these noise levels (``GuidanceInterval``); elsewhere the conditional model.
    public var interval: GuidanceInterval?
    /// A rule that replaces the linear combination (``AdaptiveProjectedGuidance``, ``CFGZeroStar``).
    public var combination: (any GuidanceCombination)?

    public init(base: any ConditionalDiffusionModel, classLabel: Int, scale: Double, rescale: Double = 0) throws {
        guard (0..<base.classCount).contains(classLabel) else {
            throw ModelError("class \(classLabel) is not a label of model '\(base.name)'" +
                             (base.classCount == 0 ? " (it has no labels)" : " (labels 0...\(base.classCount - 1))"))
        }
        guard scale.isFinite else { throw ModelError("guidance scale must be finite, got \(scale)") }
        guard rescale.isFinite, (0...1).contains(rescale) else { throw ModelError("guidance rescale must lie in [0, 1], got \(rescale)") }
        self.base = base
        self.classLabel = classLabel
        self.scale = scale
        self.rescale = rescale
    }

    public var sampleShape: [Int] { base.sampleShape }
    /// `ε`, or the flow velocity of a flow-velocity model guided by the plain linear rule
    /// (``guidesInModelOutput``).
    public var parameterization: Parameterization { guidesInModelOutput ? .flowVelocity : .noise }

    /// Whether the guidance combines the model's own outputs: a flow-velocity model with the plain
    /// rule (no ``combination``, no ``rescale``). `ε̂` is affine in the output with coefficients the
    /// two predictions share, so `v_u + w·(v_c − v_u)` is the same guidance as in `ε`; it stays
    /// usable at pure noise (`t = 1`, `α = 0`), where `ε̂ = x` leaves `x̂₀` undetermined.
    public var guidesInModelOutput: Bool { base.parameterization == .flowVelocity && combination == nil && rescale == 0 }
    public var name: String { "\(base.name) class \(classLabel), guidance \(scale)" }

    public func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        var unconditional = SampleTensor(zeros: x.shape)
        try predict(x, at: level, into: &output, unconditional: &unconditional)
    }

    /// The guided `ε` into `output` and the unconditional `ε_u` into `unconditional` (for CFG++).
    public func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor, unconditional: inout SampleTensor) throws {
        var conditional = SampleTensor(zeros: x.shape)
        try base.predict(x, at: level, classLabel: nil, into: &unconditional)
        try base.predict(x, at: level, classLabel: classLabel, into: &conditional)
        if guidesInModelOutput {
            if let interval, !interval.contains(level) {
                output.assign(conditional)
                unconditional.assign(conditional)
            } else {
                output.set((1 - scale, unconditional), (scale, conditional))
            }
            return
        }
        // Both to ε: ε = c₃·x + c₄·m.
        let (_, _, c3, c4) = base.parameterization.coefficients(at: level)
        unconditional.update(scale: c4, (c3, x))
        conditional.update(scale: c4, (c3, x))
        if let interval, !interval.contains(level) {
            output.assign(conditional)
            unconditional.assign(conditional)
            return
        }
        if let combination {
            combination.combine(conditional: conditional, unconditional: unconditional, scale: scale, into: &output)
        } else {
            output.set((1 - scale, unconditional), (scale, conditional))
        }
        guard rescale > 0 else { return }
        let per = x.sampleCount
        for b in 0..<x.batchSize {
            let range = (b * per)..<((b + 1) * per)
            let ratio = Self.standardDeviation(conditional.scalars[range]) / Self.standardDeviation(output.scalars[range])
            let factor = Float(rescale * ratio + (1 - rescale))
            for i in range { output.scalars[i] *= factor }
        }
    }

    /// The unbiased standard deviation (torch's default), in `Double`.
    static func standardDeviation(_ values: ArraySlice<Float>) -> Double {
        let n = Double(values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / n
        let sumSquares = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
        return (sumSquares / Swift.max(n - 1, 1)).squareRoot()
    }
}
