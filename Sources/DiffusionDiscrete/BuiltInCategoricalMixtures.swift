extension CategoricalMixture {
    /// The built-in mixtures, by name.
    public static let builtInNames = ["categorical-8x6"]

    /// A built-in mixture: `categorical-8x6` is K = 3 components over L = 8 positions and V = 6
    /// tokens, each component favouring a different token per position, so positions are
    /// strongly dependent through the component (a test of samplers that reveal several tokens
    /// at once).
    public static func builtIn(named name: String) -> CategoricalMixture? {
        guard name == "categorical-8x6" else { return nil }
        let (k, l, v) = (3, 8, 6)
        var probs: [Double] = []
        for c in 0..<k {
            for position in 0..<l {
                let raw = (0..<v).map { token in token == (position + 2 * c) % v ? 12.0 : Double(1 + (token * 7 + position * 3 + c * 5) % 4) }
                let total = raw.reduce(0, +)
                probs += raw.map { $0 / total }
            }
        }
        return try? CategoricalMixture(name: name, weights: [0.5, 0.3, 0.2], probs: probs, length: l, vocabularySize: v)
    }
}
