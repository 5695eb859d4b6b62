import Foundation
import RealModule
import DiffusionFormats

/// The empirical model statistics (EMS) of DPM-Solver-v3: per-dimension functions `l_λ`, `s_λ`,
/// `b_λ` on a grid uniform in the half log-SNR `λ`.
///
/// Zheng et al. 2023, "DPM-Solver-v3: Improved Diffusion ODE Solver with Empirical Model
/// Statistics" (NeurIPS), Sec. 3.1–3.2. With `N_θ = σ·ε_θ − l·x` and `f_θ = N_θ/α`:
/// ```
/// l_λ = argmin_l E‖∇ₓN_θ‖²_F       (diagonal l: E[diag(σ·∂ε_θ/∂x)])
/// (s_λ, b_λ) = argmin E‖f_θ⁽¹⁾ − s·f_θ − b‖²   (f⁽¹⁾ = d f_θ/dλ along the ODE)
/// ```
/// Point `i` of the `N + 1` grid points sits at `λ_i = λ_start + i·(λ_end − λ_start)/N`; point 0
/// is the noisiest, as in the official code (`l.npz`/`sb.npz`, row 0 at `t_start`). Values are
/// stored row-major as `[N + 1, D]`, `D` the number of values in one sample.
///
/// With `l = 1, s = 0, b = 0` (``degenerate(lambdaStart:lambdaEnd:intervals:dimension:)``) the
/// solver is DPM-Solver++ (data prediction).
///
/// File format: safetensors with F64 tensors `l`, `s`, `b` of shape `[N + 1, D]` (F32 is accepted
/// on reading) and metadata `format = dpm-solver-v3-ems`, `lambda_start`, `lambda_end`,
/// `grid_points` (`N + 1`), and optionally `samples` (the number of data samples used), `model`
/// and `schedule` (names of what the statistics were estimated on).
public struct ModelStatistics: Sendable, Equatable {
    /// `λ` of grid point 0 (the noisiest).
    public let lambdaStart: Double
    /// `λ` of grid point `N` (the cleanest).
    public let lambdaEnd: Double
    /// `N`, the number of grid intervals (`N + 1` points).
    public let intervals: Int
    /// `D`, the number of values per sample.
    public let dimension: Int
    /// `l_λ`, `[N + 1, D]` row-major.
    public let l: [Double]
    /// `s_λ`, `[N + 1, D]` row-major.
    public let s: [Double]
    /// `b_λ`, `[N + 1, D]` row-major.
    public let b: [Double]
    /// The name of the model the statistics were estimated for.
    public var modelName: String?
    /// The name of the noise schedule they were estimated on.
    public var scheduleName: String?
    /// The number of data samples `K` the estimate averaged over.
    public var sampleCount: Int?

    /// The number of grid points, `N + 1`.
    public var pointCount: Int { intervals + 1 }
    /// The grid spacing in `λ`.
    public var spacing: Double { (lambdaEnd - lambdaStart) / Double(intervals) }

    /// Statistics from their values.
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` (one line) when the `λ` range is not finite
    ///   and increasing, the arrays differ in size or do not hold at least two rows of `dimension`
    ///   values, or a value is not finite.
    public init(lambdaStart: Double, lambdaEnd: Double, dimension: Int, l: [Double], s: [Double], b: [Double],
                modelName: String? = nil, scheduleName: String? = nil, sampleCount: Int? = nil) throws {
        func fail(_ message: String) -> SamplingError { .invalidConfiguration("model statistics: " + message) }
        guard lambdaStart.isFinite, lambdaEnd.isFinite, lambdaStart < lambdaEnd else {
            throw fail("the lambda range [\(lambdaStart), \(lambdaEnd)] must be finite and increasing")
        }
        guard dimension > 0 else { throw fail("dimension must be positive, got \(dimension)") }
        guard l.count == s.count, l.count == b.count else {
            throw fail("l, s and b have \(l.count), \(s.count) and \(b.count) values; they must match")
        }
        guard l.count % dimension == 0, l.count / dimension >= 2 else {
            throw fail("\(l.count) values do not form at least two rows of \(dimension)")
        }
        for (name, values) in [("l", l), ("s", s), ("b", b)] {
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw fail("\(name) is not finite at grid point \(bad / dimension), dimension \(bad % dimension)")
            }
        }
        self.lambdaStart = lambdaStart
        self.lambdaEnd = lambdaEnd
        self.dimension = dimension
        self.intervals = l.count / dimension - 1
        self.l = l
        self.s = s
        self.b = b
        self.modelName = modelName
        self.scheduleName = scheduleName
        self.sampleCount = sampleCount
    }

    /// `l = 1`, `s = 0`, `b = 0`: with these DPM-Solver-v3 is DPM-Solver++ (up to the trapezoid
    /// rule the solver integrates `e^λ` with).
    public static func degenerate(lambdaStart: Double, lambdaEnd: Double, intervals: Int, dimension: Int) throws -> ModelStatistics {
        guard intervals >= 1, dimension >= 1, (intervals + 1).multipliedReportingOverflow(by: dimension).overflow == false else {
            throw SamplingError.invalidConfiguration("model statistics: need at least one interval and one dimension, got \(intervals) and \(dimension)")
        }
        let count = (intervals + 1) * dimension
        return try ModelStatistics(lambdaStart: lambdaStart, lambdaEnd: lambdaEnd, dimension: dimension,
                                   l: [Double](repeating: 1, count: count), s: [Double](repeating: 0, count: count),
                                   b: [Double](repeating: 0, count: count), modelName: "degenerate")
    }

    /// `λ` of grid point `index`.
    public func lambda(atIndex index: Int) -> Double {
        index == intervals ? lambdaEnd : lambdaStart + Double(index) * spacing
    }

    /// The fractional grid position of `lambda` (0 at ``lambdaStart``, `N` at ``lambdaEnd``).
    public func position(of lambda: Double) -> Double {
        Double(intervals) * (lambda - lambdaStart) / (lambdaEnd - lambdaStart)
    }

    /// The noise level of grid point `index` on `schedule` (its time from `t(λ)`).
    public func level(atIndex index: Int, schedule: any NoiseSchedule) -> NoiseLevel {
        schedule.level(at: schedule.time(lambda: lambda(atIndex: index)))
    }

    /// `grid` with every level moved to the nearest statistics grid point, as the official code
    /// does (`convert_to_indexes`: `round(N·(λ − λ_start)/(λ_end − λ_start))`, then back through
    /// `t(λ)`). A final clean level (`σ = 0`) is kept.
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` when a level lies outside the statistics
    ///   range by more than half a grid spacing, or when two levels snap to the same grid point
    ///   (the statistics grid is too coarse for that many steps).
    public func snapped(_ grid: TimeGrid, schedule: any NoiseSchedule) throws -> TimeGrid {
        var indices: [Int] = []
        for (i, level) in grid.levels.enumerated() {
            if level.isClean && i == grid.levels.count - 1 { break }
            let position = position(of: level.lambda)
            guard position.isFinite, position >= -0.5, position <= Double(intervals) + 0.5 else {
                throw SamplingError.invalidConfiguration(
                    "dpm_solver_v3: level \(i) (t = \(level.t), lambda = \(level.lambda)) lies outside the statistics range lambda ∈ [\(lambdaStart), \(lambdaEnd)]")
            }
            let index = Swift.min(Swift.max(Int(position.rounded()), 0), intervals)
            if let previous = indices.last, index == previous {
                throw SamplingError.invalidConfiguration(
                    "dpm_solver_v3: levels \(i - 1) and \(i) snap to the same statistics point \(index) of \(intervals); use fewer steps or statistics with more grid points")
            }
            indices.append(index)
        }
        return try self.grid(indices: indices, schedule: schedule, endingClean: grid.endsClean)
    }

    /// The grid through statistics points `indices` (increasing), optionally followed by the clean level.
    public func grid(indices: [Int], schedule: any NoiseSchedule, endingClean: Bool = false) throws -> TimeGrid {
        for index in indices where !(0...intervals).contains(index) {
            throw SamplingError.invalidConfiguration("dpm_solver_v3: statistics point \(index) is outside 0...\(intervals)")
        }
        var levels = indices.map { level(atIndex: $0, schedule: schedule) }
        if endingClean { levels.append(schedule.cleanLevel) }
        do {
            return try TimeGrid(levels: levels)
        } catch let error as ScheduleError {
            throw SamplingError.invalidConfiguration("dpm_solver_v3: \(error.description)")
        }
    }

    /// Checks that the statistics fit `model`'s samples.
    public func check(model: any DiffusionModel) throws {
        let d = model.sampleShape.reduce(1, *)
        guard d == dimension else {
            throw SamplingError.invalidConfiguration(
                "model statistics have \(dimension) values per sample, but \(model.name) has \(d) (shape \(model.sampleShape))")
        }
    }
}

// MARK: - Files

extension ModelStatistics {
    /// The value of the `format` metadata entry.
    public static let formatName = "dpm-solver-v3-ems"

    private static func error(_ problem: String) -> FileFormatError { .invalid("model statistics", problem) }

    /// The statistics as a safetensors file.
    public var file: SafetensorsFile {
        var metadata = ["format": Self.formatName, "lambda_start": String(lambdaStart), "lambda_end": String(lambdaEnd),
                        "grid_points": String(pointCount)]
        if let modelName { metadata["model"] = modelName }
        if let scheduleName { metadata["schedule"] = scheduleName }
        if let sampleCount { metadata["samples"] = String(sampleCount) }
        let shape = [pointCount, dimension]
        return SafetensorsFile(metadata: metadata, tensors: ["l": SafetensorsFile.float64(l, shape: shape),
                                                            "s": SafetensorsFile.float64(s, shape: shape),
                                                            "b": SafetensorsFile.float64(b, shape: shape)])
    }

    public func write(to url: URL) throws { try file.write(to: url) }

    public init(contentsOf url: URL) throws { try self.init(file: SafetensorsFile(contentsOf: url)) }

    /// Reads statistics from a parsed file.
    ///
    /// - Throws: `FileFormatError` (one line, prefixed `model statistics:`) for a missing or
    ///   unparsable `lambda_start`/`lambda_end`, a missing tensor, tensors of different shapes or of
    ///   rank below 2, a `grid_points` entry that disagrees with the tensors, or a non-finite value.
    public init(file: SafetensorsFile) throws {
        func number(_ key: String) throws -> Double {
            guard let text = file.metadata[key] else { throw Self.error("metadata has no '\(key)'") }
            guard let value = Double(text), value.isFinite else { throw Self.error("metadata '\(key)' = '\(text)' is not a finite number") }
            return value
        }
        let start = try number("lambda_start"), end = try number("lambda_end")
        guard start < end else { throw Self.error("lambda_start \(start) is not below lambda_end \(end)") }
        func values(_ name: String) throws -> (shape: [Int], values: [Double]) {
            guard let tensor = file.tensors[name] else { throw Self.error("missing tensor '\(name)'") }
            switch tensor.dtype {
            case .f64: return try file.float64Tensor(name)
            case .f32:
                let (shape, v) = try file.float32Tensor(name)
                return (shape, v.map(Double.init))
            default: throw Self.error("tensor '\(name)' has dtype \(tensor.dtype.rawValue), expected F64 or F32")
            }
        }
        let (lShape, l) = try values("l"), (sShape, s) = try values("s"), (bShape, b) = try values("b")
        guard lShape.count >= 2 else { throw Self.error("tensor 'l' has shape \(lShape), expected [grid points, values per sample]") }
        guard sShape == lShape, bShape == lShape else {
            throw Self.error("tensors have shapes l \(lShape), s \(sShape), b \(bShape); they must match")
        }
        guard lShape[0] >= 2 else { throw Self.error("tensor 'l' has \(lShape[0]) grid points, need at least 2") }
        if let text = file.metadata["grid_points"] {
            guard Int(text) == lShape[0] else { throw Self.error("metadata grid_points = '\(text)' but the tensors have \(lShape[0]) rows") }
        }
        let dimension = lShape.dropFirst().reduce(1, *)
        for (name, v) in [("l", l), ("s", s), ("b", b)] {
            if let bad = v.firstIndex(where: { !$0.isFinite }) {
                throw Self.error("tensor '\(name)' is not finite at grid point \(bad / max(dimension, 1)), dimension \(bad % max(dimension, 1))")
            }
        }
        do {
            try self.init(lambdaStart: start, lambdaEnd: end, dimension: dimension, l: l, s: s, b: b,
                          modelName: file.metadata["model"], scheduleName: file.metadata["schedule"],
                          sampleCount: file.metadata["samples"].flatMap { Int($0) })
        } catch let error as SamplingError {
            throw Self.error(error.description)
        }
    }
}
