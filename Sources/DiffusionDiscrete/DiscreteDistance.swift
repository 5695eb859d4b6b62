import Foundation

/// How far samples of a categorical mixture are from it: the total variation `½Σ|p̂ − p|` and
/// the KL divergence `Σ p̂ log(p̂/p)` of the empirical per-position marginals and pairwise joints
/// to the exact ones (averaged over positions and over pairs), and the token entropy
/// `−Σ p̂ log p̂` of the marginals (nats, averaged over positions) beside the exact one, and the
/// samples' mean negative log-likelihood per token under the model, `−log p(x)/L`, whose
/// expectation under exact sampling is the model's entropy per token. Lower entropy or NLL than
/// exact sampling gives is the signature of truncated (float32) Gumbel sampling, the lower
/// temperature that flatters generative perplexity (Zheng et al. 2024).
public struct DiscreteDistance: Sendable, Equatable {
    public var marginalTV: Double
    public var marginalKL: Double
    public var pairTV: Double
    public var pairKL: Double
    public var entropy: Double
    public var exactEntropy: Double
    public var negativeLogLikelihood: Double

    /// `tokens` are `[count, L]` ids of `model`'s vocabulary.
    public init(tokens: [Int32], model: CategoricalMixture) throws {
        let (l, v) = (model.length, model.vocabularySize)
        guard !tokens.isEmpty, tokens.count % l == 0 else { throw DiscreteError("\(tokens.count) tokens are not rows of L = \(l)") }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= v }) {
            throw DiscreteError("token id \(bad) is outside the vocabulary 0..<\(v)")
        }
        self.init(checked: tokens, model: model)
    }

    private init(checked tokens: [Int32], model: CategoricalMixture) {
        let (l, v) = (model.length, model.vocabularySize)
        let count = tokens.count / l
        (marginalTV, marginalKL, entropy, exactEntropy) = (0, 0, 0, 0)
        for a in 0..<l {
            let empirical = Self.frequencies(count: count, cells: v) { Int(tokens[$0 * l + a]) }
            let exact = model.marginal(a)
            marginalTV += Self.totalVariation(empirical, exact) / Double(l)
            marginalKL += Self.kl(empirical, exact) / Double(l)
            entropy += Self.entropy(empirical) / Double(l)
            exactEntropy += Self.entropy(exact) / Double(l)
        }
        negativeLogLikelihood = (0..<count).reduce(0) { $0 - model.logLikelihood(tokens[($1 * l)..<(($1 + 1) * l)]) } / Double(count * l)
        (pairTV, pairKL) = (0, 0)
        let pairs = Double(max(l * (l - 1) / 2, 1))
        for a in 0..<l {
            for b in (a + 1)..<l {
                let empirical = Self.frequencies(count: count, cells: v * v) { Int(tokens[$0 * l + a]) * v + Int(tokens[$0 * l + b]) }
                let exact = model.pair(a, b)
                pairTV += Self.totalVariation(empirical, exact) / pairs
                pairKL += Self.kl(empirical, exact) / pairs
            }
        }
    }

    static func frequencies(count: Int, cells: Int, _ cell: (Int) -> Int) -> [Double] {
        var f = [Double](repeating: 0, count: cells)
        for row in 0..<count { f[cell(row)] += 1 }
        return f.map { $0 / Double(count) }
    }

    public static func totalVariation(_ p: [Double], _ q: [Double]) -> Double { 0.5 * zip(p, q).reduce(0) { $0 + abs($1.0 - $1.1) } }
    /// `KL(p ‖ q)`; infinite where `p` puts mass on a cell `q` gives 0.
    public static func kl(_ p: [Double], _ q: [Double]) -> Double { zip(p, q).reduce(0) { $1.0 > 0 ? $0 + $1.0 * log($1.0 / $1.1) : $0 } }
    public static func entropy(_ p: [Double]) -> Double { p.reduce(0) { $1 > 0 ? $0 - $1 * log($1) : $0 } }
}
