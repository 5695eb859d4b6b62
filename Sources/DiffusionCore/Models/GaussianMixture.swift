import RealModule

/// A mixture of axis-aligned Gaussians, `p(x₀) = Σₖ wₖ·N(x₀; μₖ, diag(sₖ²))`, whose denoiser is
/// known in closed form at every noise level — the ground truth that solvers are tested on.
///
/// For `x = α·x₀ + σ·ε`, component `k` gives `x ~ N(α·μₖ, diag(vₖ))` with `vₖ = α²sₖ² + σ²`, so
/// ```
/// rₖ(x)      ∝ wₖ · N(x; α·μₖ, diag(vₖ))                    (responsibilities, softmax in log space)
/// E[x₀|x,k]  = μₖ + α·sₖ²/vₖ · (x − α·μₖ)
/// x̂₀(x)     = Σₖ rₖ(x) · E[x₀|x,k]
/// ```
/// computed in `Double` per sample. The model's ``parameterization`` is `.data`.
///
/// File format: safetensors with float32 tensors `weights` [K], `means` [K, D], `stds` [K, D],
/// an optional int32 tensor `labels` [K] (the class of each component), and optional metadata
/// `shape` (for example `1,8,8`) giving the shape of one sample.
public struct GaussianMixture: DiffusionModel, Equatable {
    /// Normalized component weights `wₖ`.
    public let weights: [Double]
    /// Component means, `K × D`, row-major.
    public let means: [Double]
    /// Per-dimension standard deviations, `K × D`, row-major.
    public let stds: [Double]
    /// The class of each component, if the mixture is labelled.
    public let labels: [Int]?
    public let sampleShape: [Int]
    public let name: String

    /// The number of components `K`.
    public var componentCount: Int { weights.count }
    /// The dimension `D` of one sample.
    public var dimension: Int { sampleShape.reduce(1, *) }
    public var parameterization: Parameterization { .data }

    /// Creates a mixture; weights are normalized to sum to one.
    ///
    /// - Throws: ``ModelError`` when sizes disagree, a weight is negative or all are zero, a
    ///   standard deviation is not positive, or a value is not finite.
    public init(weights: [Double], means: [Double], stds: [Double], sampleShape: [Int]? = nil,
                labels: [Int]? = nil, name: String = "gaussian-mixture") throws {
        let k = weights.count
        guard k > 0 else { throw ModelError("mixture: needs at least one component") }
        guard means.count % k == 0, means.count > 0 else {
            throw ModelError("mixture: means has \(means.count) values, not a multiple of \(k) components")
        }
        let d = means.count / k
        guard stds.count == means.count else {
            throw ModelError("mixture: stds has \(stds.count) values, expected \(means.count) (K=\(k), D=\(d))")
        }
        let shape = sampleShape ?? [d]
        guard shape.allSatisfy({ $0 > 0 }), shape.reduce(1, *) == d else {
            throw ModelError("mixture: sample shape \(shape) does not hold D=\(d) values")
        }
        guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw ModelError("mixture: weights must be finite and non-negative") }
        let total = weights.reduce(0, +)
        guard total > 0 else { throw ModelError("mixture: weights sum to zero") }
        guard means.allSatisfy(\.isFinite) else { throw ModelError("mixture: means contain NaN or Inf") }
        guard stds.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw ModelError("mixture: stds must be finite and positive") }
        if let labels, labels.count != k {
            throw ModelError("mixture: labels has \(labels.count) entries, expected \(k)")
        }
        self.weights = weights.map { $0 / total }
        self.means = means
        self.stds = stds
        self.labels = labels
        self.sampleShape = shape
        self.name = name
    }

    public func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        try predict(x, at: level, classLabel: nil, into: &output)
    }

    /// The number of classes (one more than the largest label); 0 for an unlabelled mixture.
    public var classCount: Int { labels.map { ($0.max() ?? -1) + 1 } ?? 0 }

    /// The exact conditional denoiser: the mixture restricted to the components labelled
    /// `classLabel` (weights renormalized), or the whole mixture for `nil`.
    public func predict(_ x: SampleTensor, at level: NoiseLevel, classLabel: Int?, into output: inout SampleTensor) throws {
        guard x.sampleCount == dimension else { throw SamplingError.shapeMismatch(expected: sampleShape, got: x.sampleShape) }
        var mask: [Bool]?
        if let classLabel {
            guard let labels, labels.contains(classLabel) else {
                throw ModelError("class \(classLabel) is not a label of model '\(name)'" + (labels == nil ? " (it has no labels)" : " (labels 0...\(classCount - 1))"))
            }
            mask = labels.map { $0 == classLabel }
        }
        x.scalars.withUnsafeBufferPointer { xs in
            output.scalars.withUnsafeMutableBufferPointer { out in
                denoise(xs, into: out.baseAddress!, batch: x.batchSize, at: level, mask: mask)
            }
        }
    }

    /// The clean estimate `x̂₀` in `Double`, for reference solutions: `x` holds `batch` samples.
    public func predictData(_ x: [Double], batch: Int, at level: NoiseLevel) -> [Double] {
        var out = [Double](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xs in
            out.withUnsafeMutableBufferPointer { o in denoise(xs, into: o.baseAddress!, batch: batch, at: level) }
        }
        return out
    }

    private func denoise<In: BinaryFloatingPoint & Sendable, Out: BinaryFloatingPoint & SendableMetatype>(
        _ xBuffer: UnsafeBufferPointer<In>, into outBase: UnsafeMutablePointer<Out>, batch: Int, at level: NoiseLevel,
        mask: [Bool]? = nil
    ) {
        let d = dimension, k = componentCount
        let a = level.alpha
        let (invV, gain, offset) = levelTables(alpha: a, sigmaSquared: level.sigma * level.sigma, mask: mask)
        let means = self.means
        let xs = SharedBuffer(xBuffer), out = SharedPointer(outBase)
        parallelFor(batch, minimumWork: batch * k * d >= 1 << 16) { b in
            let x = xs.buffer
            var logR = [Double](repeating: 0, count: k)
            var best = -Double.infinity
            for c in 0..<k {
                if offset[c] == -.infinity { logR[c] = -.infinity; continue }
                var q = 0.0
                for j in 0..<d {
                    let r = Double(x[b * d + j]) - a * means[c * d + j]
                    q += r * r * invV[c * d + j]
                }
                logR[c] = offset[c] - 0.5 * q
                best = Swift.max(best, logR[c])
            }
            var norm = 0.0
            for c in 0..<k { logR[c] = Double.exp(logR[c] - best); norm += logR[c] }
            var acc = [Double](repeating: 0, count: d)
            for c in 0..<k where logR[c] > 0 {
                let r = logR[c] / norm
                for j in 0..<d {
                    let m = means[c * d + j]
                    acc[j] += r * (m + gain[c * d + j] * (Double(x[b * d + j]) - a * m))
                }
            }
            for j in 0..<d { out.base[b * d + j] = Out(acc[j]) }
        }
    }

    /// Per noise level: `1/vₖ`, the posterior gains `α·sₖ²/vₖ`, and `log wₖ − ½ Σ log vₖ`.
    /// Components outside `mask` get weight zero.
    func levelTables(alpha a: Double, sigmaSquared s2: Double, mask: [Bool]?) -> ([Double], [Double], [Double]) {
        let d = dimension, k = componentCount
        var invV = [Double](repeating: 0, count: k * d)
        var gain = [Double](repeating: 0, count: k * d)
        var offset = [Double](repeating: 0, count: k)
        for c in 0..<k {
            var logDet = 0.0
            for j in 0..<d {
                let sd2 = stds[c * d + j] * stds[c * d + j]
                let v = a * a * sd2 + s2
                invV[c * d + j] = 1 / v
                gain[c * d + j] = a * sd2 / v
                logDet += Double.log(v)
            }
            let included = weights[c] > 0 && mask?[c] != false
            offset[c] = (included ? Double.log(weights[c]) : -.infinity) - 0.5 * logDet
        }
        return (invV, gain, offset)
    }

    /// The exact data density `p(x₀)` at a point (for plots).
    public func density(at point: [Double]) -> Double {
        let d = dimension
        var total = 0.0
        for c in 0..<componentCount {
            var logp = 0.0
            for j in 0..<d {
                let sd = stds[c * d + j]
                let z = (point[j] - means[c * d + j]) / sd
                logp += -0.5 * z * z - Double.log(sd) - 0.5 * Double.log(2 * .pi)
            }
            total += weights[c] * Double.exp(logp)
        }
        return total
    }

    /// The exact mean of the data distribution, `Σ wₖ μₖ`.
    public var mean: [Double] {
        let d = dimension
        var m = [Double](repeating: 0, count: d)
        for c in 0..<componentCount { for j in 0..<d { m[j] += weights[c] * means[c * d + j] } }
        return m
    }

    /// The exact covariance of the data distribution, `D × D` row-major:
    /// `Σ wₖ (diag(sₖ²) + μₖμₖᵀ) − m mᵀ`.
    public var covariance: [Double] {
        let d = dimension, m = mean
        var cov = [Double](repeating: 0, count: d * d)
        for c in 0..<componentCount {
            let w = weights[c]
            for i in 0..<d {
                let mi = means[c * d + i]
                cov[i * d + i] += w * stds[c * d + i] * stds[c * d + i]
                for j in 0..<d { cov[i * d + j] += w * mi * means[c * d + j] }
            }
        }
        for i in 0..<d { for j in 0..<d { cov[i * d + j] -= m[i] * m[j] } }
        return cov
    }
}

/// A problem with a model's definition or file, stated in one line.
public struct ModelError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension GaussianMixture {
    /// A built-in mixture from literal parameters, without the throwing checks of
    /// ``init(weights:means:stds:sampleShape:labels:name:)``; `BuiltInModelsTests` passes each
    /// built-in through them. Weights are normalized as there.
    package init(literalWeights weights: [Double], means: [Double], stds: [Double], sampleShape: [Int], labels: [Int]?, name: String) {
        let total = weights.reduce(0, +)
        self.weights = weights.map { $0 / total }
        self.means = means; self.stds = stds; self.labels = labels; self.sampleShape = sampleShape; self.name = name
    }
}
