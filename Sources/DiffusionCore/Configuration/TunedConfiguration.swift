import Foundation

/// A standard solver × spacing: what the tuner measures first, keeps when nothing beats it, and
/// reports every tuned configuration against.
public struct StandardConfiguration: Sendable, Equatable {
    /// A ``SolverCatalog`` name.
    public var solver: String
    public var spacing: StepSpacing

    public init(solver: String, spacing: StepSpacing) {
        self.solver = solver; self.spacing = spacing
    }

    /// `solver spacing`, e.g. `ipndm logsnr`.
    public var label: String { "\(solver) \(spacing.name)" }

    /// Reads the text a tuned file stores for it (its ``label``); `nil` for anything else.
    init?(fileLabel: String) {
        let words = fileLabel.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard words.count == 2, SolverCatalog.entry(named: words[0]) != nil, let spacing = StepSpacing(name: words[1]) else { return nil }
        self.init(solver: words[0], spacing: spacing)
    }
}

/// One tuned configuration for an NFE budget: what runs (``Kind``) on which time steps, how it was
/// found (``Provenance``), and its errors next to the best standard configuration's — the unit
/// `diffuse tune` writes and `diffuse sample --tuned` / `diffuse compare --tuned` read.
public struct TunedConfiguration: Sendable, Equatable {
    /// What a tuned configuration runs.
    public enum Kind: Sendable, Equatable {
        /// A ``SolverCatalog`` solver, with its order when it was set.
        case catalog(name: String, order: Int?)
        /// UniPC with searched per-step decisions (``SolverSchedule`` on ``TunedConfiguration/sigmas``).
        case solverSchedule(SolverDecisions)
        /// DC-Solver: UniPC `variant` of `order` with fitted compensation ratios, one per step.
        case dcSolver(variant: UniPC.Variant, order: Int, ratios: [Double])
        /// DPM-Solver-v3 with the statistics file `statistics` (relative to the tuned file).
        case dpmSolverV3(statistics: String, order: Int, predictorPseudo: Bool)

        /// The name a tuned file gives the kind: `solver_schedule`, `dc_solver`, `dpm_solver_v3`
        /// or the catalog solver's name.
        public var name: String {
            switch self {
            case let .catalog(name, _): name
            case .solverSchedule: "solver_schedule"
            case .dcSolver: "dc_solver"
            case .dpmSolverV3: "dpm_solver_v3"
            }
        }
    }

    /// How a configuration was found.
    public enum Provenance: Sendable, Equatable {
        /// By a search or a fit; `method` describes it for the report.
        case tuned(method: String)
        /// A standard configuration the tuner kept because no tuned candidate beat it.
        case kept(StandardConfiguration)
    }

    /// The evaluation budget the configuration was tuned for (and uses exactly).
    public var nfe: Int
    public var kind: Kind
    /// The noise levels as display sigmas, largest first; a last 0 denoises fully.
    public var sigmas: [Double]
    public var provenance: Provenance
    /// Its RMSE to the ground truth on the tuning samples.
    public var tuningRMSE: Double
    /// Its RMSE on the validation samples the finalists were ranked on (neither tuning nor held out).
    public var validationRMSE: Double?
    /// The best standard configuration (the untuned finalist with the least validation error), and
    /// its RMSE on the tuning samples.
    public var untuned: StandardConfiguration
    public var untunedTuningRMSE: Double
    /// Both again on held-out samples (never used while tuning).
    public var heldOutRMSE: Double?
    public var untunedHeldOutRMSE: Double?

    public init(nfe: Int, kind: Kind, sigmas: [Double], provenance: Provenance, tuningRMSE: Double,
                untuned: StandardConfiguration, untunedTuningRMSE: Double) {
        self.nfe = nfe; self.kind = kind; self.sigmas = sigmas; self.provenance = provenance; self.tuningRMSE = tuningRMSE
        self.untuned = untuned; self.untunedTuningRMSE = untunedTuningRMSE
    }

    /// The kind's name (``Kind/name``).
    public var solver: String { kind.name }

    /// The searched solver schedule, for the ``Kind/solverSchedule(_:)`` kind.
    public var solverSchedule: SolverSchedule? {
        guard case let .solverSchedule(decisions) = kind else { return nil }
        return SolverSchedule(sigmas: sigmas, decisions: decisions)
    }

    /// How the configuration was found, for the report: the tuned method, or `untuned: ` and the
    /// kept standard configuration's label.
    public var method: String {
        switch provenance {
        case let .tuned(method): method
        case let .kept(standard): Self.keptPrefix + standard.label
        }
    }

    /// Its held-out RMSE over the best standard configuration's, when both were measured.
    public var heldOutRatio: Double? {
        guard let heldOutRMSE, let untunedHeldOutRMSE else { return nil }
        return heldOutRMSE / untunedHeldOutRMSE
    }

    /// The best standard configuration's label, e.g. `dpmpp_2m karras`.
    public var untunedLabel: String { untuned.label }

    /// The prefix of a kept standard configuration's method in a tuned file.
    static let keptPrefix = "untuned: "

    /// For a standard solver × spacing the tuner kept (no candidate beat it), its label, such as
    /// `ipndm logsnr`; `nil` for a tuned configuration.
    public var keptStandardLabel: String? {
        guard case let .kept(standard) = provenance else { return nil }
        return standard.label
    }

    /// What a run of this configuration is called: the kept standard configuration's label, or
    /// `tuned` and the solver kind (`tuned dc_solver`).
    public var runLabel: String { keptStandardLabel ?? "tuned \(solver)" }

    /// The solver this configuration runs and its grid on `schedule` (DPM-Solver-v3's levels on its
    /// statistics' grid); a statistics file is read relative to `directory`.
    ///
    /// - Throws: also when the solver needs more than ``nfe`` evaluations on the grid (an edited or
    ///   foreign file), so no caller runs a configuration over its budget.
    public func prepared(on schedule: any NoiseSchedule, relativeTo directory: URL? = nil) throws -> (solver: any Solver, grid: TimeGrid) {
        let solver: any Solver
        switch kind {
        case let .catalog(name, order):
            solver = try SolverCatalog.solver(named: name, options: .init(order: order))
        case let .solverSchedule(decisions):
            solver = try SolverSchedule(sigmas: sigmas, decisions: decisions).solver()
        case let .dcSolver(variant, order, ratios):
            let dc = DCSolver(variant: variant, solverOrder: order, ratios: ratios)
            try dc.validate()
            solver = dc
        case let .dpmSolverV3(statistics, order, predictorPseudo):
            let url = directory.map { $0.appendingPathComponent(statistics) } ?? URL(fileURLWithPath: statistics)
            let loaded: ModelStatistics
            do { loaded = try ModelStatistics(contentsOf: url) } catch {
                throw SamplingError.invalidConfiguration("cannot read the statistics '\(url.path)' of the tuned file: \(error)")
            }
            solver = DPMSolverV3(statistics: loaded, solverOrder: order, predictorPseudo: predictorPseudo)
        }
        let grid = try solver.adaptedGrid(try StepSchedule.grid(sigmas: sigmas, on: schedule), schedule: schedule)
        guard solver.evaluations(on: grid) <= nfe else {
            throw SamplingError.invalidConfiguration("the tuned configuration for \(nfe) NFE needs \(solver.evaluations(on: grid)) evaluations")
        }
        return (solver, grid)
    }
}

/// The `diffuse-tuned/1` object: `solver` names the kind, whose fields sit next to it (`decisions`
/// for a solver schedule; `ratios`, `variant`, `order` for DC-Solver; `statistics`, `order`,
/// `predictor_pseudo` for DPM-Solver-v3; `order` for a catalog solver), and a kept standard
/// configuration is the `method` `untuned: LABEL`. Files written before the typed value read the
/// same, and files written now read in older versions.
extension TunedConfiguration: Codable {
    enum CodingKeys: String, CodingKey {
        case nfe, solver, sigmas, decisions, ratios, variant, order, statistics, method
        case predictorPseudo = "predictor_pseudo", validationRMSE = "validation_rmse"
        case tuningRMSE = "tuning_rmse", untunedLabel = "untuned_label", untunedTuningRMSE = "untuned_tuning_rmse"
        case heldOutRMSE = "held_out_rmse", untunedHeldOutRMSE = "untuned_held_out_rmse"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nfe = try c.decode(Int.self, forKey: .nfe)
        sigmas = try c.decode([Double].self, forKey: .sigmas)
        let name = try c.decode(String.self, forKey: .solver)
        let order = try c.decodeIfPresent(Int.self, forKey: .order)
        switch name {
        case "solver_schedule":
            let schedule = try c.decode(SolverSchedule.self, forKey: .decisions)
            guard schedule.sigmas == sigmas else {
                throw DecodingError.dataCorruptedError(forKey: .decisions, in: c, debugDescription: "the solver schedule's sigmas differ from the configuration's")
            }
            kind = .solverSchedule(schedule.decisions)
        case "dc_solver":
            kind = .dcSolver(variant: try c.decodeIfPresent(UniPC.Variant.self, forKey: .variant) ?? .bh2, order: order ?? 2,
                             ratios: try c.decodeIfPresent([Double].self, forKey: .ratios) ?? [])
        case "dpm_solver_v3":
            kind = .dpmSolverV3(statistics: try c.decode(String.self, forKey: .statistics), order: order ?? 3,
                                predictorPseudo: try c.decodeIfPresent(Bool.self, forKey: .predictorPseudo) ?? false)
        default:
            guard SolverCatalog.entry(named: name) != nil else {
                throw DecodingError.dataCorruptedError(forKey: .solver, in: c, debugDescription: "unknown solver kind '\(name)'")
            }
            kind = .catalog(name: name, order: order)
        }
        let label = try c.decode(String.self, forKey: .untunedLabel)
        guard let untuned = StandardConfiguration(fileLabel: label) else {
            throw DecodingError.dataCorruptedError(forKey: .untunedLabel, in: c, debugDescription: "not a solver and spacing: '\(label)'")
        }
        self.untuned = untuned
        let method = try c.decode(String.self, forKey: .method)
        if method.hasPrefix(Self.keptPrefix) {
            let keptLabel = String(method.dropFirst(Self.keptPrefix.count))
            guard let kept = StandardConfiguration(fileLabel: keptLabel) else {
                throw DecodingError.dataCorruptedError(forKey: .method, in: c, debugDescription: "not a solver and spacing: '\(keptLabel)'")
            }
            provenance = .kept(kept)
        } else {
            provenance = .tuned(method: method)
        }
        tuningRMSE = try c.decode(Double.self, forKey: .tuningRMSE)
        validationRMSE = try c.decodeIfPresent(Double.self, forKey: .validationRMSE)
        untunedTuningRMSE = try c.decode(Double.self, forKey: .untunedTuningRMSE)
        heldOutRMSE = try c.decodeIfPresent(Double.self, forKey: .heldOutRMSE)
        untunedHeldOutRMSE = try c.decodeIfPresent(Double.self, forKey: .untunedHeldOutRMSE)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(nfe, forKey: .nfe)
        try c.encode(kind.name, forKey: .solver)
        try c.encode(sigmas, forKey: .sigmas)
        switch kind {
        case let .catalog(_, order):
            try c.encodeIfPresent(order, forKey: .order)
        case let .solverSchedule(decisions):
            try c.encode(SolverSchedule(sigmas: sigmas, decisions: decisions), forKey: .decisions)
        case let .dcSolver(variant, order, ratios):
            try c.encode(variant, forKey: .variant)
            try c.encode(order, forKey: .order)
            try c.encode(ratios, forKey: .ratios)
        case let .dpmSolverV3(statistics, order, predictorPseudo):
            try c.encode(statistics, forKey: .statistics)
            try c.encode(order, forKey: .order)
            try c.encode(predictorPseudo, forKey: .predictorPseudo)
        }
        try c.encode(method, forKey: .method)
        try c.encode(tuningRMSE, forKey: .tuningRMSE)
        try c.encodeIfPresent(validationRMSE, forKey: .validationRMSE)
        try c.encode(untuned.label, forKey: .untunedLabel)
        try c.encode(untunedTuningRMSE, forKey: .untunedTuningRMSE)
        try c.encodeIfPresent(heldOutRMSE, forKey: .heldOutRMSE)
        try c.encodeIfPresent(untunedHeldOutRMSE, forKey: .untunedHeldOutRMSE)
    }
}

/// DC-Solver for any step count: ratios fitted at the tuned budgets on one spacing, generalized
/// by cascade polynomial regression (DC-Solver's CPR), for budgets the file has no configuration for.
public struct CompensationRule: Sendable, Codable, Equatable {
    /// The spacing the ratios were fitted on (a ``StepSpacing`` name).
    public var spacing: String
    public var variant: UniPC.Variant
    public var order: Int
    /// The step counts the ratios were fitted at.
    public var fittedSteps: [Int]
    public var regression: CascadePolynomialRegression

    public init(spacing: String, variant: UniPC.Variant, order: Int, fittedSteps: [Int], regression: CascadePolynomialRegression) {
        self.spacing = spacing; self.variant = variant; self.order = order; self.fittedSteps = fittedSteps; self.regression = regression
    }

    enum CodingKeys: String, CodingKey {
        case spacing, variant, order, regression
        case fittedSteps = "fitted_steps"
    }

    /// DC-Solver with the predicted ratios for `steps` steps, on the rule's spacing.
    public func prepared(steps: Int, on schedule: any NoiseSchedule, stepsOffset: Int = 0) throws -> (solver: DCSolver, grid: TimeGrid) {
        guard let spacing = StepSpacing(name: spacing) else {
            throw SamplingError.invalidConfiguration("the tuned file's compensation rule names an unknown spacing '\(self.spacing)'")
        }
        let grid = try StepSchedule(spacing: spacing, steps: steps, final: .zero, stepsOffset: stepsOffset).grid(on: schedule)
        let ratios = try regression.ratios(steps: steps, guidance: 0).map { Swift.min(Swift.max($0, 0.5), 1.5) }
        let solver = DCSolver(variant: variant, solverOrder: order, ratios: ratios)
        try solver.validate()
        return (solver, grid)
    }
}

/// The file `diffuse tune` writes: tuned configurations for one model and schedule, with how they
/// were tuned.
public struct TunedFile: Sendable, Codable, Equatable {
    public static let currentFormat = "diffuse-tuned/1"

    public var format: String
    /// The model's name and fingerprint (hexadecimal; `nil` for a model without one).
    public var model: String
    public var modelFingerprint: String?
    /// The noise schedule's name.
    public var schedule: String
    /// Tuning noise: the seed of its standard-normal draws and the number of samples.
    public var tuningSeed: UInt64
    public var tuningSamples: Int
    /// The seed of the held-out noise the figures are reported on.
    public var holdoutSeed: UInt64
    public var holdoutSamples: Int
    /// Ground-truth tolerance.
    public var tolerance: Double
    /// Wall time of the tuning, and the budget it was given.
    public var seconds: Double
    public var budgetSeconds: Double
    public var configurations: [TunedConfiguration]
    /// DC-Solver ratios for budgets without a configuration (``CompensationRule``).
    public var compensation: CompensationRule?

    enum CodingKeys: String, CodingKey {
        case format, model, schedule, tolerance, seconds, configurations, compensation
        case modelFingerprint = "model_fingerprint", tuningSeed = "tuning_seed", tuningSamples = "tuning_samples"
        case holdoutSeed = "holdout_seed", holdoutSamples = "holdout_samples", budgetSeconds = "budget_seconds"
    }

    public init(model: String, modelFingerprint: UInt64?, schedule: String, tuningSeed: UInt64, tuningSamples: Int, holdoutSeed: UInt64,
                holdoutSamples: Int, tolerance: Double, seconds: Double, budgetSeconds: Double, configurations: [TunedConfiguration]) {
        self.format = Self.currentFormat
        self.model = model; self.modelFingerprint = modelFingerprint.map { String($0, radix: 16) }; self.schedule = schedule
        self.tuningSeed = tuningSeed; self.tuningSamples = tuningSamples; self.holdoutSeed = holdoutSeed
        self.holdoutSamples = holdoutSamples; self.tolerance = tolerance
        self.seconds = seconds; self.budgetSeconds = budgetSeconds; self.configurations = configurations
    }

    /// The configuration tuned for `nfe`.
    public func configuration(nfe: Int) throws -> TunedConfiguration {
        guard let c = configurations.first(where: { $0.nfe == nfe }) else {
            throw SamplingError.invalidConfiguration("the tuned file has no configuration for \(nfe) NFE (tuned: \(configurations.map { String($0.nfe) }.joined(separator: ", ")))")
        }
        return c
    }

    /// Reads a tuned file, checking its format.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SamplingError.invalidConfiguration("cannot read tuned file '\(url.path)'")
        }
        let decoder = JSONDecoder()
        // The format first: a file of another format is refused as such, whatever its fields.
        if let other = (try? decoder.decode(FormatField.self, from: data))?.format, other != Self.currentFormat {
            throw SamplingError.invalidConfiguration("'\(url.path)' has format '\(other)'; expected '\(Self.currentFormat)'")
        }
        do { self = try decoder.decode(TunedFile.self, from: data) } catch {
            throw SamplingError.invalidConfiguration("'\(url.path)' is not a tuned file: \(Self.describe(error))")
        }
        guard format == Self.currentFormat else {
            throw SamplingError.invalidConfiguration("'\(url.path)' has format '\(format)'; expected '\(Self.currentFormat)'")
        }
        guard !configurations.isEmpty else { throw SamplingError.invalidConfiguration("tuned file '\(url.path)' has no configurations") }
    }

    /// The file as pretty, snake-case JSON.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Checks that the file was tuned for `model` on `schedule`: a tuned schedule is specific to
    /// both.
    public func check(model: any DiffusionModel, schedule: any NoiseSchedule) throws {
        let fingerprint = ((model as? any Fingerprinted)?.fingerprint ?? nil).map { String($0, radix: 16) }
        if let expected = modelFingerprint, let fingerprint, expected != fingerprint {
            throw SamplingError.invalidConfiguration("the tuned file was made for model '\(self.model)' (fingerprint \(expected)), not '\(model.name)' (fingerprint \(fingerprint))")
        }
        guard self.schedule == schedule.name else {
            throw SamplingError.invalidConfiguration("the tuned file was made on noise schedule '\(self.schedule)', not '\(schedule.name)'")
        }
    }

    private struct FormatField: Decodable { var format: String }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let context):
            guard !context.codingPath.isEmpty else { return "not valid JSON" }
            let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            let detail = context.debugDescription.split(whereSeparator: \.isNewline).first.map { ": \($0)" } ?? ""
            return "bad value at '\(path)'\(detail)"
        default: return "\(error)"
        }
    }
}
