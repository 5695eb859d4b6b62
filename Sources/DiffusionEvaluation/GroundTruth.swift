import Foundation
import DiffusionCore
import DiffusionFormats

/// Ground-truth endpoints of the probability-flow ODE (``ReferenceSolver``), cached on disk by
/// model, schedule, levels, initial state and tolerance, so repeated comparisons pay once.
///
/// The cache holds one safetensors file per key, `gt-<hex>.safetensors`, with the endpoint and the
/// solver's statistics as metadata. A model that is not `Fingerprinted` is never cached.
public struct GroundTruth: Sendable {
    public var solver: ReferenceSolver
    public var cacheDirectory: URL?

    public init(tolerance: Double = 1e-7, cacheDirectory: URL? = GroundTruth.defaultCacheDirectory) {
        self.solver = ReferenceSolver(relativeTolerance: tolerance, absoluteTolerance: tolerance)
        self.cacheDirectory = cacheDirectory
    }

    /// The tolerance to solve `model` to: 1e-7 for a model evaluated in `Double` (``PreciseDenoising``,
    /// the mixtures), 1e-5 for a network, whose float32 outputs limit the attainable accuracy.
    public static func defaultTolerance(for model: any DiffusionModel) -> Double {
        model is any PreciseDenoising ? 1e-7 : 1e-5
    }

    /// `$XDG_CACHE_HOME/diffuse/ground-truth`, or `~/.cache/diffuse/ground-truth`.
    public static var defaultCacheDirectory: URL? { userCacheDirectory(named: "ground-truth") }

    /// `$XDG_CACHE_HOME/diffuse/NAME`, or `~/.cache/diffuse/NAME`; `nil` without either variable.
    public static func userCacheDirectory(named name: String) -> URL? {
        let env = ProcessInfo.processInfo.environment
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("diffuse/" + name)
        }
        guard let home = env["HOME"], !home.isEmpty else { return nil }
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/diffuse/" + name)
    }

    /// The cache key, or `nil` when the model has no fingerprint.
    public func key(model: any DiffusionModel, schedule: any NoiseSchedule, x: SampleTensor, from: NoiseLevel, to: NoiseLevel) -> UInt64? {
        guard let f = (model as? any Fingerprinted)?.fingerprint ?? nil else { return nil }
        var h = FNV1a()
        h.add([f]); h.add(schedule.name); h.add(schedule.frame.rawValue)
        h.add([from.t, from.alpha, from.sigma, to.t, to.alpha, to.sigma])
        h.add([solver.relativeTolerance, solver.absoluteTolerance])
        h.add(x.shape); h.add(x.scalars)
        return h.value
    }

    /// The solution from `x` at `from` to `to`, from the cache when present.
    /// - Returns: the solution and whether it came from the cache.
    public func solve(model: any DiffusionModel, schedule: any NoiseSchedule, x: SampleTensor,
                      from: NoiseLevel, to: NoiseLevel) throws -> (solution: ReferenceSolver.Solution, cached: Bool) {
        let key = key(model: model, schedule: schedule, x: x, from: from, to: to)
        let file = key.flatMap { k in cacheDirectory?.appendingPathComponent("gt-" + String(k, radix: 16) + ".safetensors") }
        if let file, let cached = try? Self.read(file, shape: x.shape) { return (cached, true) }
        let solution = try solver.solve(model: model, schedule: schedule, x: x, from: from, to: to)
        if let file, let directory = cacheDirectory {
            // A cache that cannot be written is not an error: the result is still returned.
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try? Self.write(solution, to: file)
        }
        return (solution, false)
    }

    static func write(_ s: ReferenceSolver.Solution, to url: URL) throws {
        let file = SafetensorsFile(
            metadata: ["evaluations": String(s.evaluations), "accepted": String(s.acceptedSteps),
                       "rejected": String(s.rejectedSteps), "error_estimate": String(s.errorEstimate)],
            tensors: ["endpoint": SafetensorsFile.float64(s.endpoint, shape: s.shape)])
        try file.write(to: url)
    }

    static func read(_ url: URL, shape: [Int]) throws -> ReferenceSolver.Solution? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let file = try SafetensorsFile(contentsOf: url)
        let (s, values) = try file.float64Tensor("endpoint")
        guard s == shape, let evaluations = file.metadata["evaluations"].flatMap({ Int($0) }),
              let accepted = file.metadata["accepted"].flatMap({ Int($0) }), let rejected = file.metadata["rejected"].flatMap({ Int($0) }),
              let estimate = file.metadata["error_estimate"].flatMap({ Double($0) }) else { return nil }
        return ReferenceSolver.Solution(endpoint: values, shape: shape, evaluations: evaluations, acceptedSteps: accepted,
                                        rejectedSteps: rejected, errorEstimate: estimate)
    }
}
