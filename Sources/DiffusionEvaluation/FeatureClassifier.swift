import Foundation
import RealModule
import DiffusionCore
import DiffusionFormats
import DiffusionNeural

/// A small multilayer-perceptron classifier whose penultimate layer serves as the feature
/// space of a Fréchet distance (the FID recipe with our own features instead of Inception's).
///
/// The network, with `SiLU(x) = x · sigmoid(x)` between layers:
///
/// ```
/// features = SiLU(fc2(SiLU(fc1(x))))      fcᵢ(x) = Wᵢ x + bᵢ
/// logits   = fc3(features)
/// ```
///
/// It is read from a safetensors file (as written from PyTorch's `state_dict`) holding `F32`
/// tensors `fc1.weight [H1, D]`, `fc1.bias [H1]`, `fc2.weight [H2, H1]`, `fc2.bias [H2]`,
/// `fc3.weight [K, H2]`, `fc3.bias [K]`; optionally `F64` tensors `data_feature_mean [H2]` and
/// `data_feature_cov [H2, H2]`, the feature statistics of the data set (covariance divided by
/// `n − 1`), for ``frechetDistance(of:)``; and optionally the metadata `input_shape`, the shape
/// of one sample (integers, e.g. `1,8,8` or `[1, 8, 8]`; its product must be `D`).
///
/// Evaluation is in `Double` (from the `Float` weights and samples), one sample per task across
/// the cores, so results do not depend on the thread count.
public struct FeatureClassifier: Sendable {
    /// One affine layer `y = W x + b` with `W` row-major `outputs × inputs`.
    struct Dense: Sendable {
        var weight: [Double]
        var bias: [Double]
        var inputs: Int { weight.count / bias.count }
        var outputs: Int { bias.count }
    }

    /// The file name the classifier was loaded from (used in error messages).
    public let name: String
    /// The shape of one sample (`input_shape` metadata, or `[D]` without it).
    public let inputShape: [Int]
    /// `D`, the number of values in one sample.
    public var inputCount: Int { fc1.inputs }
    /// `H1`, the width of the first hidden layer.
    public var hiddenCount: Int { fc1.outputs }
    /// `H2`, the dimension of the features.
    public var featureCount: Int { fc2.outputs }
    /// `K`, the number of classes (logits).
    public var classCount: Int { fc3.outputs }
    /// The data set's feature statistics, when the file has them.
    public let dataStatistics: GaussianStatistics?
    /// The file's metadata (for example `description`).
    public let metadata: [String: String]

    let fc1: Dense, fc2: Dense, fc3: Dense

    /// Loads a classifier from a safetensors file.
    ///
    /// - Throws: `FileFormatError` for a corrupt file; `ModelError` for a missing tensor, a
    ///   wrong dtype or shape, or a bad `input_shape` — one line naming the file and the tensor.
    public init(contentsOf url: URL) throws {
        try self.init(file: SafetensorsFile(contentsOf: url), name: url.lastPathComponent)
    }

    /// A classifier from a parsed safetensors file; `name` prefixes error messages.
    public init(file: SafetensorsFile, name: String) throws {
        func fail(_ problem: String) -> ModelError { ModelError("\(name): \(problem)") }
        func tensor(_ key: String, _ dtype: SafetensorsFile.DType) throws -> (shape: [Int], values: [Double]) {
            guard let t = file.tensors[key] else { throw fail("missing tensor '\(key)'") }
            guard t.dtype == dtype else { throw fail("tensor '\(key)' has dtype \(t.dtype.rawValue), expected \(dtype.rawValue)") }
            if dtype == .f64 { return try file.float64Tensor(key) }
            let (shape, values) = try file.float32Tensor(key)
            return (shape, values.map(Double.init))
        }
        func layer(_ prefix: String, inputs: Int?, outputsName: String, inputsName: String) throws -> Dense {
            let (wShape, w) = try tensor("\(prefix).weight", .f32)
            let expected = "[\(outputsName), \(inputs.map(String.init) ?? inputsName)]"
            guard wShape.count == 2, wShape[0] > 0, wShape[1] > 0, inputs == nil || wShape[1] == inputs else {
                throw fail("tensor '\(prefix).weight' has shape \(wShape), expected \(expected)")
            }
            let (bShape, b) = try tensor("\(prefix).bias", .f32)
            guard bShape == [wShape[0]] else {
                throw fail("tensor '\(prefix).bias' has shape \(bShape), expected [\(wShape[0])]")
            }
            return Dense(weight: w, bias: b)
        }
        let fc1 = try layer("fc1", inputs: nil, outputsName: "H1", inputsName: "D")
        let fc2 = try layer("fc2", inputs: fc1.outputs, outputsName: "H2", inputsName: "H1")
        let fc3 = try layer("fc3", inputs: fc2.outputs, outputsName: "K", inputsName: "H2")
        (self.fc1, self.fc2, self.fc3) = (fc1, fc2, fc3)
        self.name = name
        metadata = file.metadata

        if let text = file.metadata["input_shape"] {
            let shape = text.split(whereSeparator: { !$0.isNumber && $0 != "-" }).map { Int($0) }
            guard !shape.isEmpty, shape.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw fail("metadata 'input_shape' must be positive integers, got '\(text)'")
            }
            inputShape = shape.map { $0! }
            guard inputShape.reduce(1, *) == fc1.inputs else {
                throw fail("metadata 'input_shape' \(inputShape) does not have the \(fc1.inputs) values of 'fc1.weight'")
            }
        } else {
            inputShape = [fc1.inputs]
        }

        let h2 = fc2.outputs
        switch (file.tensors["data_feature_mean"] != nil, file.tensors["data_feature_cov"] != nil) {
        case (false, false):
            dataStatistics = nil
        case (true, false):
            throw fail("missing tensor 'data_feature_cov' (the file has 'data_feature_mean')")
        case (false, true):
            throw fail("missing tensor 'data_feature_mean' (the file has 'data_feature_cov')")
        case (true, true):
            let (mShape, mean) = try tensor("data_feature_mean", .f64)
            guard mShape == [h2] else { throw fail("tensor 'data_feature_mean' has shape \(mShape), expected [\(h2)]") }
            let (cShape, cov) = try tensor("data_feature_cov", .f64)
            guard cShape == [h2, h2] else { throw fail("tensor 'data_feature_cov' has shape \(cShape), expected [\(h2), \(h2)]") }
            dataStatistics = GaussianStatistics(mean: mean, covariance: cov)
        }
    }

    /// The features `SiLU(fc2(SiLU(fc1(x))))` of each sample: `B` rows of ``featureCount`` values.
    ///
    /// - Throws: `ModelError` when a sample does not hold ``inputCount`` values (any sample
    ///   shape with that many values is accepted, e.g. `[1, 8, 8]` or `[64]`).
    public func features(of samples: SampleTensor) throws -> [[Double]] {
        rows(try evaluate(samples, logits: false).features, featureCount)
    }

    /// The logits `fc3(features)` of each sample: `B` rows of ``classCount`` values.
    public func logits(of samples: SampleTensor) throws -> [[Double]] {
        rows(try evaluate(samples, logits: true).logits, classCount)
    }

    /// The most likely class of each sample (the first on ties).
    public func predictedClasses(of samples: SampleTensor) throws -> [Int] {
        try logits(of: samples).map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) } ?? 0 }
    }

    /// The mean and covariance (divided by `n − 1`) of the samples' features.
    public func featureStatistics(of samples: SampleTensor) throws -> GaussianStatistics {
        guard samples.batchSize >= 2 else { throw ModelError("\(name): feature statistics need at least two samples, got \(samples.batchSize)") }
        return GaussianStatistics(samples: try evaluate(samples, logits: false).features, dimension: featureCount)
    }

    /// The Fréchet distance (``FrechetDistance``) between the samples' features and the data's
    /// feature statistics stored with the classifier.
    ///
    /// - Throws: `ModelError` when the file has no data statistics, there are fewer than two
    ///   samples, or a sample has the wrong size.
    public func frechetDistance(of samples: SampleTensor) throws -> Double {
        guard let data = dataStatistics else {
            throw ModelError("\(name): no data feature statistics ('data_feature_mean', 'data_feature_cov') for a Fréchet distance")
        }
        return FrechetDistance.between(try featureStatistics(of: samples), data)
    }

    /// The Fréchet distance between the features of two sample sets (for example samples against
    /// held-out data).
    public func frechetDistance(of samples: SampleTensor, to reference: SampleTensor) throws -> Double {
        FrechetDistance.between(try featureStatistics(of: samples), try featureStatistics(of: reference))
    }

    // MARK: Evaluation

    private func rows(_ flat: [Double], _ width: Int) -> [[Double]] {
        stride(from: 0, to: flat.count, by: width).map { Array(flat[$0..<($0 + width)]) }
    }

    /// Features (and logits) of every sample, batch-major.
    private func evaluate(_ samples: SampleTensor, logits wantLogits: Bool) throws -> (features: [Double], logits: [Double]) {
        let b = samples.batchSize, d = inputCount
        guard samples.sampleCount == d || b == 0 else {
            throw ModelError("\(name): samples of shape \(samples.sampleShape) have \(samples.sampleCount) values, the classifier takes \(d) (input_shape \(inputShape))")
        }
        let h1 = hiddenCount, h2 = featureCount, k = classCount
        var features = [Double](repeating: 0, count: b * h2)
        var logits = [Double](repeating: 0, count: wantLogits ? b * k : 0)
        let input = samples.scalars
        let (fc1, fc2, fc3) = (self.fc1, self.fc2, self.fc3)
        features.withUnsafeMutableBufferPointer { fb in
            logits.withUnsafeMutableBufferPointer { lb in
                let featuresOut = fb.baseAddress.map(SharedPointer.init), logitsOut = lb.baseAddress.map(SharedPointer.init)
                parallelFor(b, minimumWork: b * (d * h1 + h1 * h2) > 100_000) { n in
                    var x = [Double](repeating: 0, count: d), hidden = [Double](repeating: 0, count: h1)
                    for j in 0..<d { x[j] = Double(input[n * d + j]) }
                    Self.apply(fc1, x, into: &hidden, silu: true)
                    var f = [Double](repeating: 0, count: h2)
                    Self.apply(fc2, hidden, into: &f, silu: true)
                    if let out = featuresOut { for j in 0..<h2 { out.base[n * h2 + j] = f[j] } }
                    if wantLogits, let out = logitsOut {
                        var l = [Double](repeating: 0, count: k)
                        Self.apply(fc3, f, into: &l, silu: false)
                        for j in 0..<k { out.base[n * k + j] = l[j] }
                    }
                }
            }
        }
        return (features, logits)
    }

    /// `y = W x + b`, then `SiLU` elementwise when `silu`.
    private static func apply(_ layer: Dense, _ x: [Double], into y: inout [Double], silu: Bool) {
        let inputs = layer.inputs
        layer.weight.withUnsafeBufferPointer { wb in
            x.withUnsafeBufferPointer { xb in
                guard let w = wb.baseAddress, let xp = xb.baseAddress else { return }
                for o in 0..<layer.outputs {
                    let row = w + o * inputs
                    var s = 0.0
                    for i in 0..<inputs { s += row[i] * xp[i] }
                    s += layer.bias[o]
                    y[o] = silu ? s / (1 + Double.exp(-s)) : s
                }
            }
        }
    }
}

extension BuiltInModels {
    /// The feature classifier trained on the data of the built-in network `name` (for Fréchet
    /// distances to that data), or `nil` for other names.
    /// - Throws: when the shipped file cannot be read.
    public static func classifier(for name: String) throws -> FeatureClassifier? {
        try classifierURL(for: name).map { try FeatureClassifier(contentsOf: $0) }
    }
}
