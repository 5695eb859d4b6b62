import Foundation

/// Pearson's chi-square test of observed counts against expected probabilities.
public enum ChiSquare {
    /// `Σ (O − E)²/E` over the cells with `E > 0`.
    public static func statistic(counts: [Int], probabilities: [Double]) -> Double {
        let n = Double(counts.reduce(0, +))
        return zip(counts, probabilities).reduce(0) { sum, cell in
            let expected = n * cell.1
            return expected > 0 ? sum + (Double(cell.0) - expected) * (Double(cell.0) - expected) / expected : sum
        }
    }

    /// The upper `level` quantile of chi-square with `df` degrees of freedom (Wilson–Hilferty),
    /// with the normal quantile found by bisection on `erfc`.
    public static func critical(df: Int, level: Double) -> Double {
        var (lo, hi) = (0.0, 10.0)
        for _ in 0..<100 {
            let z = (lo + hi) / 2
            if 0.5 * erfc(z / 2.0.squareRoot()) > level { lo = z } else { hi = z }
        }
        let k = Double(df), z = (lo + hi) / 2
        let c = 1 - 2 / (9 * k) + z * (2 / (9 * k)).squareRoot()
        return k * c * c * c
    }
}
