import Foundation
import DiffusionSolvers

/// The mixture the discrete tests sample: K = 3, L = 6, V = 4, positions dependent through the
/// component, every probability between 0.05 and 0.6 (so chi-square cells are well filled).
enum DiscreteFixtures {
    static let weights = [0.45, 0.35, 0.2]

    static func probs() -> [Double] {
        var probs: [Double] = []
        for k in 0..<3 {
            for l in 0..<6 {
                let raw = (0..<4).map { v in v == (l + k) % 4 ? 8.0 : Double(1 + (3 * v + 2 * l + k) % 3) }
                let total = raw.reduce(0, +)
                probs += raw.map { $0 / total }
            }
        }
        return probs
    }

    static func mixture() throws -> CategoricalMixture {
        try CategoricalMixture(name: "test-3x6x4", weights: weights, probs: probs(), length: 6, vocabularySize: 4)
    }
}
