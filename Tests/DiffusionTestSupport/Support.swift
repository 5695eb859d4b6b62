import Foundation
import DiffusionSolvers

/// Where the committed fixtures live (written by the scripts under `tools/`).
public enum Fixtures {
    public static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DiffusionSolversTests/Fixtures")

    public static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Parses a JSON fixture into Foundation objects.
    public static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
    }
}

/// Numeric comparisons for tests.
public enum Compare {
    /// `‖a − b‖₂ / ‖b‖₂`.
    public static func relativeRMS(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "relativeRMS: \(a.count) vs \(b.count) values")
        var num = 0.0, den = 0.0
        for i in a.indices { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i] }
        return (num / max(den, .leastNormalMagnitude)).squareRoot()
    }

    public static func relativeRMS(_ a: SampleTensor, _ b: [Double]) -> Double {
        relativeRMS(a.scalars.map(Double.init), b)
    }

    /// The RMS of `a − b` over all elements.
    public static func rms(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0
        for i in a.indices { num += (a[i] - b[i]) * (a[i] - b[i]) }
        return (num / Double(a.count)).squareRoot()
    }

    /// The least-squares slope of `log y` against `log x`.
    public static func logLogSlope(x: [Double], y: [Double]) -> Double {
        let lx = x.map { Foundation.log($0) }, ly = y.map { Foundation.log($0) }
        let mx = lx.reduce(0, +) / Double(lx.count), my = ly.reduce(0, +) / Double(ly.count)
        var sxy = 0.0, sxx = 0.0
        for i in lx.indices { sxy += (lx[i] - mx) * (ly[i] - my); sxx += (lx[i] - mx) * (lx[i] - mx) }
        return sxy / sxx
    }
}

/// Small models built in code for tests.
public enum TestModels {
    /// A 2-D mixture with well separated, unequal components.
    public static func mixture2D() -> GaussianMixture {
        try! GaussianMixture(weights: [0.5, 0.3, 0.2],
                             means: [-1.0, 0.5, 1.2, 0.8, 0.3, -1.1],
                             stds: [0.3, 0.2, 0.25, 0.35, 0.4, 0.15])
    }

    /// A single Gaussian, whose probability-flow ODE is linear and solvable in closed form.
    public static func singleGaussian(mean: [Double], std: [Double]) -> GaussianMixture {
        try! GaussianMixture(weights: [1], means: mean, stds: std)
    }

    /// Deterministic standard-normal draws of the given shape.
    public static func noise(_ shape: [Int], seed: UInt64 = 1) -> SampleTensor {
        SeededNoise(seed: seed).initialNoise(shape: shape)
    }
}
