import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// The empirical model statistics of DPM-Solver-v3: the estimator against closed forms, and the
/// file format.
@Suite("DPM-Solver-v3 model statistics")
struct ModelStatisticsTests {
    static let schedule = ContinuousVPSchedule.linear()
    static let range = schedule.lambda(at: 1)...schedule.lambda(at: 1e-3)

    /// For one Gaussian `N(μ, diag(s²))`, `ε(x) = σ(x − αμ)/(α²s² + σ²)` is linear in `x`, so
    /// ```
    /// l  = σ·∂ε/∂x = σ²/(α²s² + σ²) = 1/(1 + s²e^{2λ})      (any VP/VE schedule)
    /// f  = (σε − l·x)/α = −l·μ                              (constant in x: Var f = 0, so s = 0)
    /// b  = E f' = d f/dλ = −l'·μ = 2l(1 − l)·μ
    /// ```
    /// Hutchinson is exact for a diagonal Jacobian and central differences are exact for a linear
    /// `ε`, so `l` differs from the closed form only by float32 rounding of the model's output
    /// (with a Jacobian step of 0.1: measured 6e-8 absolute, tolerance 1e-6). `b` carries the
    /// estimator's `l'` (finite differences on the grid, then an 11-point moving average) and its
    /// `dε/dλ`, whose inputs `x ± δλ·ẋ` are rounded to float32: an error of about
    /// `6e-8·|x|·|∂ε/∂x|/(2δλ)·σ/α` ≈ 3e-6·σ/α in `f'`, up to 5e-4 at the noisy end where
    /// `σ/α ≈ 150`. Against `−μ·l'` put through the same differences and average, `b` agrees to
    /// 2.0e-4·|μ| (tolerance 5e-4); against the exact `2l(1 − l)μ` the average adds its bias of
    /// about `5Δλ²·|l'''|·|μ|`, and the one-sided ends more, so that comparison skips six points
    /// at each end (measured 5.1e-4·|μ|, tolerance 1.5e-3).
    @Test("a single Gaussian: l, s = 0 and b match their closed forms")
    func singleGaussian() throws {
        let mean = [0.5, -1.0, 2.0], std = [0.3, 1.0, 0.6]
        let model = TestModels.singleGaussian(mean: mean, std: std)
        let k = 256, n = 960
        let data = SampleTensor(shape: [k, 3], scalars: model.samples(count: k, seed: 9).map(Float.init))
        // ε is linear in x, so a large Jacobian step has no truncation error and keeps the float32
        // output's rounding (relative 6e-8·|x̂₀|/(δ·l)) small even where l ≈ 1e-4.
        let options = ModelStatistics.EstimationOptions(jacobianStep: 0.1)
        let stats = try ModelStatistics.estimate(model: model, schedule: Self.schedule, data: data, lambdaRange: Self.range,
                                                 intervals: n, seed: 4, options: options)
        #expect(stats.pointCount == n + 1 && stats.dimension == 3 && stats.sampleCount == k)
        #expect(stats.modelName == model.name && stats.scheduleName == Self.schedule.name)
        func exactL(_ i: Int, _ j: Int) -> Double { 1 / (1 + std[j] * std[j] * Foundation.exp(2 * stats.lambda(atIndex: i))) }
        var lError = 0.0
        for i in 0...n { for j in 0..<3 { lError = max(lError, abs(stats.l[i * 3 + j] - exactL(i, j))) } }
        #expect(lError <= 1e-6, "max |l − closed form| = \(lError)")
        #expect(stats.s.allSatisfy { $0 == 0 }, "Var(f) = 0 must give s = 0")

        // −μ·l' with l' from the same finite differences and moving average, applied to the exact l.
        let h = stats.spacing
        var smoothedError = 0.0, exactError = 0.0
        for i in 0...n {
            for j in 0..<3 {
                func slope(_ m: Int) -> Double {
                    let lo = max(m - 1, 0), hi = min(m + 1, n)
                    return (exactL(hi, j) - exactL(lo, j)) / (Double(hi - lo) * h)
                }
                let lo = max(i - 5, 0), hi = min(i + 5, n)
                let smoothed = (lo...hi).map(slope).reduce(0, +) / Double(hi - lo + 1)
                let b = stats.b[i * 3 + j]
                let e1 = abs(b + mean[j] * smoothed) / abs(mean[j])
                smoothedError = max(smoothedError, e1)
                if i >= 6 && i <= n - 6 {
                    let l = exactL(i, j)
                    exactError = max(exactError, abs(b - 2 * l * (1 - l) * mean[j]) / abs(mean[j]))
                }
            }
        }
        #expect(smoothedError <= 5e-4, "b against −μ·(smoothed finite-difference l'): \(smoothedError)")
        #expect(exactError <= 1.5e-3, "b against 2l(1 − l)μ inside the grid: \(exactError)")
    }

    @Test("the estimate is deterministic for a seed")
    func deterministic() throws {
        let model = TestModels.mixture2D()
        let data = SampleTensor(shape: [16, 2], scalars: model.samples(count: 16, seed: 1).map(Float.init))
        let a = try ModelStatistics.estimate(model: model, schedule: Self.schedule, data: data, lambdaRange: Self.range, intervals: 20, seed: 3)
        let b = try ModelStatistics.estimate(model: model, schedule: Self.schedule, data: data, lambdaRange: Self.range, intervals: 20, seed: 3)
        let c = try ModelStatistics.estimate(model: model, schedule: Self.schedule, data: data, lambdaRange: Self.range, intervals: 20, seed: 4)
        #expect(a == b)
        #expect(a != c)
        #expect(a.s.contains { $0 != 0 }, "a mixture's f varies with x, so s is fitted")
    }

    static func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ems-\(ProcessInfo.processInfo.processIdentifier)-\(name).safetensors")
    }

    static func sample() throws -> ModelStatistics {
        let d = 2, rows = 5
        return try ModelStatistics(lambdaStart: -4.5, lambdaEnd: 3.25, dimension: d,
                                   l: (0..<(rows * d)).map { 1 - 0.01 * Double($0) },
                                   s: (0..<(rows * d)).map { 0.1 * sin(Double($0)) },
                                   b: (0..<(rows * d)).map { 0.2 * cos(Double($0)) },
                                   modelName: "mixture", scheduleName: "vp-linear", sampleCount: 4096)
    }

    @Test("a statistics file round-trips exactly, metadata included")
    func roundTrip() throws {
        let stats = try Self.sample()
        let url = Self.temporaryURL("roundtrip")
        defer { try? FileManager.default.removeItem(at: url) }
        try stats.write(to: url)
        let read = try ModelStatistics(contentsOf: url)
        #expect(read == stats)
        #expect(read.intervals == 4 && read.modelName == "mixture" && read.sampleCount == 4096)
    }

    @Test("malformed files fail with one-line errors")
    func malformed() throws {
        let good = try Self.sample().file
        func expectError(_ file: SafetensorsFile, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try ModelStatistics(file: file)
                Issue.record("expected an error containing \(fragment)", sourceLocation: sourceLocation)
            } catch {
                let text = "\(error)"
                #expect(text.contains(fragment), "\(text)", sourceLocation: sourceLocation)
                #expect(!text.contains("\n"), sourceLocation: sourceLocation)
            }
        }
        var file = good
        file.tensors["s"] = nil
        expectError(file, "missing tensor 's'")
        file = good
        file.tensors["b"] = SafetensorsFile.float64([Double](repeating: 0, count: 12), shape: [6, 2])
        expectError(file, "shapes")
        file = good
        file.tensors["l"] = SafetensorsFile.float64([Double](repeating: 1, count: 5), shape: [5])
        expectError(file, "shape [5]")
        file = good
        var values = [Double](repeating: 1, count: 10)
        values[7] = .nan
        file.tensors["l"] = SafetensorsFile.float64(values, shape: [5, 2])
        expectError(file, "not finite at grid point 3, dimension 1")
        file = good
        file.metadata["lambda_start"] = nil
        expectError(file, "lambda_start")
        file = good
        file.metadata["lambda_end"] = "-9"
        expectError(file, "not below")
        file = good
        file.metadata["grid_points"] = "7"
        expectError(file, "grid_points")
        file = good
        file.tensors["s"] = SafetensorsFile.int32([Int32](repeating: 0, count: 10), shape: [5, 2])
        expectError(file, "dtype I32")
    }

    @Test("statistics for another sample size are refused")
    func dimensionMismatch() throws {
        let stats = try ModelStatistics.degenerate(lambdaStart: -1, lambdaEnd: 1, intervals: 4, dimension: 3)
        #expect(throws: SamplingError.self) { try stats.check(model: TestModels.mixture2D()) }
        try ModelStatistics.degenerate(lambdaStart: -1, lambdaEnd: 1, intervals: 4, dimension: 2).check(model: TestModels.mixture2D())
        #expect(throws: SamplingError.self) {
            try ModelStatistics.estimate(model: TestModels.mixture2D(), schedule: Self.schedule,
                                         data: SampleTensor(zeros: [4, 3]), lambdaRange: Self.range, intervals: 4)
        }
    }
}
