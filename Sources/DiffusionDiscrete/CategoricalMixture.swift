import Foundation
import DiffusionFormats

/// A mixture of product categoricals, `p(x) = Σ_k w_k Π_l π_k[l, x_l]`: the exact model of masked
/// diffusion, as the Gaussian mixture is of continuous diffusion. Given the visible tokens `x_O`,
/// the posterior over components is `P(k | x_O) ∝ w_k Π_{l∈O} π_k[l, x_l]` and each masked
/// position's predictive is `Σ_k P(k | x_O) π_k[l, ·]`, both closed form (computed in log space),
/// so a sampler's output can be judged against the true distribution. The model is time-agnostic.
///
/// Stored as safetensors: `weights [K]` and `probs [K, L, V]` (F64 or F32), metadata
/// `kind: categorical-mixture`.
public struct CategoricalMixture: MaskedDiffusionModel, Equatable {
    public static let kind = "categorical-mixture"
    public let name: String
    public let weights: [Double]
    /// `probs[(k·L + l)·V + v]`.
    public let probs: [Double]
    public let length: Int
    public let vocabularySize: Int
    public var components: Int { weights.count }
    private let logWeights: [Double]
    private let logProbs: [Double]

    /// A checked mixture: shapes consistent, probabilities ≥ 0, each `π_k[l, ·]` and the weights
    /// summing to 1 within 1e-6.
    public init(name: String, weights: [Double], probs: [Double], length: Int, vocabularySize: Int) throws {
        let (k, l, v) = (weights.count, length, vocabularySize)
        guard k >= 1, l >= 1, v >= 1 else { throw DiscreteError("\(name): empty mixture (K = \(k), L = \(l), V = \(v))") }
        guard probs.count == k * l * v else {
            throw DiscreteError("\(name): probs has \(probs.count) values, [K, L, V] = [\(k), \(l), \(v)] needs \(k * l * v)")
        }
        if let bad = weights.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw DiscreteError("\(name): weights[\(bad)] = \(weights[bad]) is not a probability")
        }
        let total = weights.reduce(0, +)
        guard abs(total - 1) <= 1e-6 else { throw DiscreteError("\(name): weights sum to \(total), not 1") }
        if let bad = probs.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw DiscreteError("\(name): probs[\(bad / (l * v)), \(bad / v % l), \(bad % v)] = \(probs[bad]) is not a probability")
        }
        for row in 0..<(k * l) {
            let sum = probs[(row * v)..<((row + 1) * v)].reduce(0, +)
            guard abs(sum - 1) <= 1e-6 else {
                throw DiscreteError("\(name): probs[\(row / l), \(row % l), :] sums to \(sum), not 1")
            }
        }
        self.name = name
        self.weights = weights
        self.probs = probs
        self.length = l
        self.vocabularySize = v
        self.logWeights = weights.map { log($0) }
        self.logProbs = probs.map { log($0) }
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.weights == b.weights && a.probs == b.probs && a.length == b.length && a.vocabularySize == b.vocabularySize
    }

    /// `P(k | visible tokens)`.
    public func posterior(_ sequence: TokenSequence) throws -> [Double] {
        let (l, v) = (length, vocabularySize)
        var logPost = logWeights
        for position in 0..<l where !sequence.isMasked(position) {
            let token = Int(sequence.tokens[position])
            guard token >= 0 && token < v else { throw DiscreteError("\(name): token id \(token) at position \(position) is outside 0...\(v) (V is the mask)") }
            for k in 0..<components { logPost[k] += logProbs[(k * l + position) * v + token] }
        }
        guard let top = logPost.max(), top > -.infinity else {
            throw DiscreteError("\(name): the visible tokens have probability 0 under every component")
        }
        let unnormalized = logPost.map { exp($0 - top) }
        let total = unnormalized.reduce(0, +)
        return unnormalized.map { $0 / total }
    }

    public func predict(_ sequence: TokenSequence, time: Double, into probabilities: inout [Double]) throws {
        let (l, v) = (length, vocabularySize)
        guard sequence.length == l, sequence.vocabularySize == v else {
            throw DiscreteError("\(name): a sequence of \(sequence.length) tokens over \(sequence.vocabularySize) ids, the model has L = \(l), V = \(v)")
        }
        let post = try posterior(sequence)
        for position in 0..<l where sequence.isMasked(position) {
            for token in 0..<v { probabilities[position * v + token] = 0 }
            for k in 0..<components where post[k] > 0 {
                for token in 0..<v { probabilities[position * v + token] += post[k] * probs[(k * l + position) * v + token] }
            }
        }
    }

    /// `log p(x)` of a full sequence, `logsumexp_k (log w_k + Σ_l log π_k[l, x_l])`.
    public func logLikelihood(_ tokens: ArraySlice<Int32>) -> Double {
        let terms = (0..<components).map { k in
            tokens.enumerated().reduce(logWeights[k]) { $0 + logProbs[(k * length + $1.offset) * vocabularySize + Int($1.element)] }
        }
        guard let top = terms.max(), top > -.infinity else { return -.infinity }
        return top + log(terms.reduce(0) { $0 + exp($1 - top) })
    }

    /// The exact marginal of position `l`, `Σ_k w_k π_k[l, ·]`.
    public func marginal(_ position: Int) -> [Double] {
        (0..<vocabularySize).map { token in
            (0..<components).reduce(0) { $0 + weights[$1] * probs[($1 * length + position) * vocabularySize + token] }
        }
    }

    /// The exact joint of positions `a ≠ b`, `[V·V]` row-major in (x_a, x_b).
    public func pair(_ a: Int, _ b: Int) -> [Double] {
        let v = vocabularySize
        var joint = [Double](repeating: 0, count: v * v)
        for k in 0..<components {
            for i in 0..<v {
                let pa = weights[k] * probs[(k * length + a) * v + i]
                for j in 0..<v { joint[i * v + j] += pa * probs[(k * length + b) * v + j] }
            }
        }
        return joint
    }
}

extension CategoricalMixture {
    /// Reads a `kind: categorical-mixture` safetensors file; every problem is one line naming the file.
    public init(contentsOf url: URL) throws {
        let file = try SafetensorsFile(contentsOf: url)
        let name = url.deletingPathExtension().lastPathComponent
        guard file.metadata["kind"] == Self.kind else {
            throw DiscreteError("\(url.lastPathComponent): metadata kind is \(file.metadata["kind"].map { "'\($0)'" } ?? "missing"), expected '\(Self.kind)'")
        }
        func tensor(_ key: String) throws -> (shape: [Int], values: [Double]) {
            guard let t = file.tensors[key] else { throw DiscreteError("\(url.lastPathComponent): no '\(key)' tensor") }
            switch t.dtype {
            case .f64: return try file.float64Tensor(key)
            case .f32: let (shape, values) = try file.float32Tensor(key); return (shape, values.map(Double.init))
            default: throw DiscreteError("\(url.lastPathComponent): '\(key)' is \(t.dtype.rawValue), expected F64 or F32")
            }
        }
        let weights = try tensor("weights"), probs = try tensor("probs")
        guard weights.shape.count == 1 else { throw DiscreteError("\(url.lastPathComponent): weights has shape \(weights.shape), expected [K]") }
        guard probs.shape.count == 3, probs.shape[0] == weights.shape[0] else {
            throw DiscreteError("\(url.lastPathComponent): probs has shape \(probs.shape), expected [K, L, V] with K = \(weights.shape[0])")
        }
        try self.init(name: name, weights: weights.values, probs: probs.values, length: probs.shape[1], vocabularySize: probs.shape[2])
    }

    /// Whether `url` is a safetensors file whose metadata says `kind: categorical-mixture`.
    public static func isCategoricalMixture(_ url: URL) -> Bool {
        (try? SafetensorsFile(contentsOf: url))?.metadata["kind"] == kind
    }

    /// The safetensors form (F64 tensors).
    public func safetensors() -> SafetensorsFile {
        SafetensorsFile(metadata: ["kind": Self.kind, "name": name],
                        tensors: ["weights": SafetensorsFile.float64(weights, shape: [components]),
                                  "probs": SafetensorsFile.float64(probs, shape: [components, length, vocabularySize])])
    }
}
