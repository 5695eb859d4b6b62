import Foundation

/// The tuned configurations a model folder carries: a `tuned.json` next to the network's weights,
/// written by `diffuse tune --output FOLDER/tuned.json`.
///
/// Without a named solver, a model that carries one samples with its configuration for the budget
/// (``SamplingResolver``), because the best step placement depends on the model: Align Your Steps
/// publishes levels per model (Sabour et al. 2024), GITS and DMN search them per model (Chen et al.
/// 2024; Xue et al. 2024). What that gains on the shipped networks, which carry theirs, is in
/// `docs/DEFAULT-CONFIGURATION.md`.
public struct ModelTuning: Sendable {
    /// The file name a model folder's tuned configurations have.
    public static let fileName = "tuned.json"

    public var file: TunedFile
    /// The folder the file's relative paths (DPM-Solver-v3 statistics) are read from.
    public var directory: URL

    public init(file: TunedFile, directory: URL) {
        self.file = file; self.directory = directory
    }

    /// The folder's `tuned.json`, or `nil` when it has none.
    ///
    /// - Throws: a one-line error naming the file when it exists but is not a tuned file.
    public init?(directory: URL) throws {
        let url = directory.appendingPathComponent(Self.fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        self.init(file: try TunedFile(contentsOf: url), directory: directory)
    }

    /// The configuration for exactly `nfe` evaluations, or `nil` when the file has none for that
    /// budget.
    ///
    /// - Throws: when the file was tuned for other weights or skip scales, or on another schedule
    ///   (``TunedFile/check(model:schedule:)``): its steps would not be tuned for what runs.
    public func configuration(nfe: Int, model: any DiffusionModel, schedule: any NoiseSchedule) throws -> TunedConfiguration? {
        try file.check(model: model, schedule: schedule)
        return file.configurations.first { $0.nfe == nfe }
    }
}

/// A model that may carry its own tuned configurations (``ModelTuning``).
public protocol TunedDiffusionModel: DiffusionModel {
    var tuning: ModelTuning? { get }
}
