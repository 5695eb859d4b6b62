import Foundation

/// How a categorical distribution is sampled: the Gumbel-max trick,
/// `argmax_v (log p_v + g_v)`, `g_v = −log(−log u_v)`, `u_v ~ U(0, 1)` (Gumbel 1954; Maddison
/// et al. 2014).
///
/// ``float64`` draws `u` with 53 bits and computes in Double: the draw follows `p` to within
/// rounding. ``float32`` reproduces what a float32 pipeline does (`torch.rand` then
/// `−log(−log(u))` in float32): `u = k·2⁻²⁴` with 24 random bits, so `−log u ≥ 2⁻²⁴` and the Gumbel
/// noise is cut off at `−log(2⁻²⁴) ≈ 16.6` and coarsely quantized below that. Tokens whose
/// log-probability is more than about 14 below the leader's are then drawn too rarely or never,
/// which lowers the effective temperature and the token entropy (Zheng et al. 2024, "Masked
/// Diffusion Models are Secretly Time-Agnostic Masked Models and Exploit Inaccurate Categorical
/// Sampling"). Kept for study; ``float64`` is the default.
public enum CategoricalPrecision: String, Sendable, Equatable, CaseIterable {
    case float64
    case float32

    /// One draw from `probabilities[range]` (non-negative, summing to 1): the index within the range.
    public func draw(_ probabilities: [Double], _ range: Range<Int>, random: inout DiscreteRandom) -> Int {
        var best = 0
        switch self {
        case .float64:
            var top = -Double.infinity
            for (i, p) in probabilities[range].enumerated() {
                let u = random.uniform()
                guard p > 0 else { continue }
                let score = log(p) - log(-log(u))
                if score > top { (top, best) = (score, i) }
            }
        case .float32:
            var top = -Float.infinity
            for (i, p) in probabilities[range].enumerated() {
                let g = Self.gumbel32(random.word())
                guard p > 0 else { continue }
                let score = logf(Float(p)) + g
                if score > top { (top, best) = (score, i) }
            }
        }
        return best
    }

    /// The float32 Gumbel noise of 32 random bits: `u = (bits >> 8)·2⁻²⁴` (as `torch.rand`), then
    /// `−log(−log u)` in float32; `u = 0` gives `−∞`.
    public static func gumbel32(_ bits: UInt32) -> Float {
        let u = Float(bits >> 8) * 0x1p-24
        return -logf(-logf(u))
    }
}
