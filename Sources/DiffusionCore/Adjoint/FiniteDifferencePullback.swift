import RealModule

/// The pullback of any model's denoiser by a central-difference Jacobian, for networks (the
/// runtime has no automatic differentiation).
///
/// Per sample, one model call on the `2D` perturbed inputs `x ± hⱼeⱼ` (plus `x` itself) gives
/// every column
/// ```
/// ∂x̂₀/∂xⱼ ≈ (x̂₀(x + hⱼeⱼ) − x̂₀(x − hⱼeⱼ)) / (2hⱼ),    hⱼ = ε^{1/3}·max(1, |xⱼ|)
/// ```
/// (`ε` of `Float`; the divisor is the difference actually representable in `Float`), then
/// `uᵀJ`. Error `O(h²·x̂₀‴) + O(ε·|x̂₀|/h)` per entry. Costs `2D + 1` model evaluations per sample
/// and pullback: cheap for the 64 values of `digits`, not meant for large images.
///
/// For a ``ClassifierFreeGuidance`` model with the plain linear rule (no interval, rescale or
/// combination rule), `uᵀ∂x̂₀/∂w = u·(x̂₀_c − x̂₀_u)` from two more evaluations of its base model.
public struct FiniteDifferencePullback: DenoiserPullback {
    /// The model differentiated (any parameterization; a guided model gives the scale's gradient).
    public let model: any DiffusionModel

    public init(model: any DiffusionModel) { self.model = model }

    public var sampleShape: [Int] { model.sampleShape }
    public var name: String { model.name }
    public var evaluationsPerPullback: Int { 2 * sampleShape.reduce(1, *) + 1 + (linearGuidance == nil ? 0 : 2) }

    /// The guided model when its `x̂₀` is linear in the scale.
    var linearGuidance: ClassifierFreeGuidance? {
        guard let guided = model as? ClassifierFreeGuidance, guided.interval == nil, guided.combination == nil, guided.rescale == 0 else {
            return nil
        }
        return guided
    }

    public func denoise(_ x: [Double], batch: Int, at level: NoiseLevel) throws -> [Double] {
        try Self.data(of: model, x.map { Float($0) }, batch: batch, level: level, classLabel: .none)
    }

    public func pullback(_ x: [Double], batch: Int, at level: NoiseLevel, cotangent u: [Double]) throws -> DenoiserCotangents {
        let d = sampleShape.reduce(1, *)
        guard x.count == batch * d, u.count == batch * d else {
            throw SamplingError.invalidConfiguration("pullback: \(x.count) and \(u.count) values for \(batch) samples of \(d)")
        }
        let h = Double.pow(Double(Float.ulpOfOne), 1.0 / 3)
        let rows = 2 * d + 1
        var result = DenoiserCotangents(data: [Double](repeating: 0, count: batch * d), input: [Double](repeating: 0, count: batch * d))
        // One model call per sample: row 0 is x, rows 1…D are x + hⱼeⱼ, rows D+1…2D are x − hⱼeⱼ.
        for b in 0..<batch {
            var inputs = [Float](repeating: 0, count: rows * d)
            var steps = [Double](repeating: 0, count: d)
            for r in 0..<rows { for j in 0..<d { inputs[r * d + j] = Float(x[b * d + j]) } }
            for j in 0..<d {
                let xj = x[b * d + j], hj = h * Swift.max(1, abs(xj))
                let plus = Float(xj + hj), minus = Float(xj - hj)
                inputs[(1 + j) * d + j] = plus
                inputs[(1 + d + j) * d + j] = minus
                steps[j] = Double(plus) - Double(minus)
            }
            let out = try Self.data(of: model, inputs, batch: rows, level: level, classLabel: .none)
            for i in 0..<d { result.data[b * d + i] = out[i] }
            for j in 0..<d {
                var dot = 0.0
                for i in 0..<d { dot += u[b * d + i] * (out[(1 + j) * d + i] - out[(1 + d + j) * d + i]) }
                result.input[b * d + j] = dot / steps[j]
            }
        }
        if let guided = linearGuidance {
            let xs = x.map { Float($0) }
            let conditional = try Self.data(of: guided.base, xs, batch: batch, level: level, classLabel: .some(guided.classLabel))
            let unconditional = try Self.data(of: guided.base, xs, batch: batch, level: level, classLabel: .some(nil))
            result.guidanceScale = (0..<batch).map { b in
                ((b * d)..<((b + 1) * d)).reduce(0.0) { $0 + u[$1] * (conditional[$1] - unconditional[$1]) }
            }
        }
        return result
    }

    /// `x̂₀` of `batch` inputs: the model's own prediction (`classLabel == .none`) or its
    /// conditional one (`.some(label)`, `.some(nil)` for unconditional), converted from its
    /// parameterization.
    static func data(of model: any DiffusionModel, _ xs: [Float], batch: Int, level: NoiseLevel, classLabel: Int??) throws -> [Double] {
        let input = SampleTensor(shape: [batch] + model.sampleShape, scalars: xs)
        var output = SampleTensor(zeros: input.shape)
        if case let .some(label) = classLabel, let conditional = model as? any ConditionalDiffusionModel {
            try conditional.predict(input, at: level, classLabel: label, into: &output)
        } else {
            try model.predict(input, at: level, into: &output)
        }
        var prediction = ModelPrediction(like: input)
        guard model.parameterization.convert(output: output, at: input, level: level, data: &prediction.data,
                                             noise: &prediction.noise, needs: .data) else {
            throw SamplingError.invalidConfiguration("pullback: model '\(model.name)' produced NaN or Inf at t = \(level.t)")
        }
        return prediction.data.scalars.map { Double($0) }
    }
}
