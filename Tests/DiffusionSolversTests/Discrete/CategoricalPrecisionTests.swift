import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Float64 against float32 Gumbel-max categorical draws.
@Suite("Categorical precision")
struct CategoricalPrecisionTests {
    /// On an ordinary categorical both precisions follow the distribution (chi-square at 0.001 each).
    @Test func bothPrecisionsMatchAnOrdinaryCategorical() throws {
        let p = [0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.015, 0.005]
        for precision in CategoricalPrecision.allCases {
            var random = DiscreteRandom(seed: 11, sample: 0)
            var counts = [Int](repeating: 0, count: p.count)
            for _ in 0..<100_000 { counts[precision.draw(p, 0..<p.count, random: &random)] += 1 }
            #expect(ChiSquare.statistic(counts: counts, probabilities: p) < ChiSquare.critical(df: p.count - 1, level: 0.001), "\(precision)")
        }
    }

    /// A zero-probability class is never drawn, in either precision.
    @Test func zeroProbabilityIsNeverDrawn() {
        let p = [0.5, 0, 0.5, 0]
        for precision in CategoricalPrecision.allCases {
            var random = DiscreteRandom(seed: 12, sample: 3)
            for _ in 0..<10_000 { #expect([0, 2].contains(precision.draw(p, 0..<4, random: &random))) }
        }
    }

    /// The truncation Zheng et al. (2024) describe, computed exactly over all 2^24 float32 uniforms:
    /// the float32 Gumbel noise never exceeds −log(−log(1 − 2⁻²⁴)) ≈ 16.64, and Gumbel-max with it
    /// draws a peaked categorical over a GPT-2-sized vocabulary (one token at 0.999, 50,256 sharing
    /// 0.001) with far less of the tail and a lower entropy than the exact distribution. (Measuring
    /// it by sampling needs about 10^9 draws of the tail's log-probability, beyond a unit test.)
    @Test func float32GumbelTruncatesTheTailAndLowersEntropy() throws {
        let n = 1 << 24
        var noise = [Float](repeating: 0, count: n)
        var monotone = true
        noise.withUnsafeMutableBufferPointer { g in
            for k in 0..<n {
                g[k] = CategoricalPrecision.gumbel32(UInt32(k) << 8)
                if k > 0 && g[k] < g[k - 1] { monotone = false }
            }
        }
        let cap = -log(-log(1 - 0x1p-24))
        #expect(abs(Double(noise[n - 1]) - cap) < 1e-5)
        try #require(monotone, "the float32 noise is monotone in u (its largest value is the last; the sweep below needs it)")
        // Gumbel-max over [p0, m tails of q]: the first class wins when every tail scores at most
        // its score, so P(first) = 2^-24 Σ_k C(k)^m, C(k) = #{k′ : log q + g(k′) ≤ log p0 + g(k)} / 2^24,
        // with the sums in float32 as the draw does them.
        let (p0, m) = (0.999, 50_256)
        let q = (1 - p0) / Double(m)
        let (a, b) = (logf(Float(p0)), logf(Float(q)))
        var below = 0, firstWins = 0.0
        noise.withUnsafeBufferPointer { g in
            for k in 0..<n {
                let score = a + g[k]
                while below < n && b + g[below] <= score { below += 1 }
                firstWins += below == n ? 1 : pow(Double(below) / Double(n), Double(m))
            }
        }
        let tail32 = 1 - firstWins / Double(n)
        func entropy(_ first: Double) -> Double { -first * log(first) - (1 - first) * log((1 - first) / Double(m)) }
        #expect(tail32 < 0.5 * (1 - p0), "the tail keeps \(tail32) of \(1 - p0)")
        #expect(entropy(1 - tail32) < 0.5 * entropy(p0), "entropy \(entropy(1 - tail32)) against exact \(entropy(p0))")
    }
}
