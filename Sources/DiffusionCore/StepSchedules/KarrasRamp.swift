import RealModule

/// A Karras ramp whose points have been moved: the step placement of the project's recommended
/// configurations (``RecommendedConfiguration``), found by search the way Align Your Steps
/// (Sabour et al. 2024) found its published levels.
///
/// Karras et al. (2022, Eq. 5) place `n` levels at equal steps of the ramp coordinate
/// `r ∈ [0, 1]`:
/// ```
/// σᵢ = (σ_max^{1/ρ} + rᵢ·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,   rᵢ = i/(n−1)
/// ```
/// A `KarrasRamp` keeps the formula and replaces the equal `rᵢ` with ``points``: searched
/// fractions, increasing from 0 (σ_max). The last may stay below 1, so the run jumps to σ = 0 from
/// above the schedule's σ_min (a run that ends at the smallest sigma, ``FinalNoise/minimum``, still
/// ends at σ_min). Because the fractions are relative to the schedule's own range, a
/// ramp means the same placement on any schedule, as `karras` does. For another number of levels
/// the fractions are interpolated linearly in `i/(n−1)` (AYS interpolates its levels in log σ).
public struct KarrasRamp: Sendable, Equatable, Hashable {
    /// The command-line name (`searched-5`, …).
    public var name: String
    public var rho: Double
    /// The fractions of the ramp for ``points``.count levels, increasing, starting at 0.
    public var points: [Double]

    /// - Throws: ``ScheduleError`` unless there are at least two points, increasing strictly from
    ///   0 to at most 1, and `rho` is positive.
    public init(name: String, rho: Double = 7, points: [Double]) throws {
        guard points.count >= 2, points.first == 0, zip(points, points.dropFirst()).allSatisfy({ $0 < $1 }), (points.last ?? 2) <= 1 else {
            throw ScheduleError("ramp '\(name)': points must increase strictly from 0 to at most 1, got \(points)")
        }
        guard rho.isFinite && rho > 0 else { throw ScheduleError("ramp '\(name)': rho must be positive, got \(rho)") }
        self.name = name; self.rho = rho; self.points = points
    }

    /// The fractions for `count` levels: ``points`` when the count matches, otherwise their linear
    /// interpolation at `i/(count−1)`.
    public func fractions(count: Int) -> [Double] {
        guard count != points.count else { return points }
        guard count > 1 else { return [0] }
        let last = Double(points.count - 1)
        return (0..<count).map { i in
            let x = Double(i) / Double(count - 1) * last
            let k = Swift.min(Int(x), points.count - 2)
            let f = x - Double(k)
            return points[k] + f * (points[k + 1] - points[k])
        }
    }

    /// The sigma at fraction `r` of the ramp from `hi` to `lo`.
    public static func sigma(at r: Double, hi: Double, lo: Double, rho: Double = 7) -> Double {
        let a = Double.pow(hi, 1 / rho), b = Double.pow(lo, 1 / rho)
        return .pow(a + r * (b - a), rho)
    }

    /// The fraction of the ramp from `hi` to `lo` at which `sigma` lies (the inverse of
    /// ``sigma(at:hi:lo:rho:)``).
    public static func fraction(sigma: Double, hi: Double, lo: Double, rho: Double = 7) -> Double {
        let a = Double.pow(hi, 1 / rho), b = Double.pow(lo, 1 / rho)
        return (Double.pow(sigma, 1 / rho) - a) / (b - a)
    }
}

extension KarrasRamp {
    /// A ramp from literal points that `KarrasRampTests` checks with the throwing initializer.
    init(literal name: String, points: [Double]) {
        self.name = name; self.rho = 7; self.points = points
    }

    /// `searched-5`: five levels for UniPC-bh2 at 5 NFE; the run jumps to σ = 0 from a quarter of
    /// the ramp above σ_min.
    public static let searched5 = KarrasRamp(literal: "searched-5", points: [0, 0.2764, 0.4422, 0.5477, 0.7337])

    /// `searched-20`: nineteen levels for PLMS at 20 NFE (its warm-up step takes two evaluations),
    /// short in the middle of the ramp and long at both ends.
    public static let searched20 = KarrasRamp(literal: "searched-20", points: [
        0, 0.1304, 0.2475, 0.3278, 0.3913, 0.4448, 0.4916, 0.5318, 0.5652, 0.6020,
        0.6321, 0.6622, 0.6957, 0.7291, 0.7625, 0.8060, 0.8662, 0.9331, 1,
    ])

    /// `usf-10`: the time steps of the 10-NFE UniPC solver schedule, nearly Karras' own ten levels.
    public static let usf10 = KarrasRamp(literal: "usf-10", points: [
        0, 0.1104, 0.2207, 0.3344, 0.4448, 0.5418, 0.6656, 0.7793, 0.8896, 0.9799,
    ])

    /// `usf-5`: the time steps of the 5-NFE UniPC solver schedule, close to `searched-5`.
    public static let usf5 = KarrasRamp(literal: "usf-5", points: [0, 0.2475, 0.4615, 0.5619, 0.7391])

    /// The searched placements of the recommended configurations, found by `diffuse-benchmarks
    /// --search-default`; how, and what they measure, is in `docs/DEFAULT-CONFIGURATION.md`.
    public static let searched: [KarrasRamp] = [searched5, searched20, usf10, usf5]
}
