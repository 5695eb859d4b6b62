import Foundation

/// One tuned configuration for an NFE budget: a solver, its time steps, and whatever it was fitted
/// with — the unit `diffuse tune` writes and `diffuse sample --tuned` / `diffuse compare --tuned`
/// read.
public struct TunedConfiguration: Sendable, Codable, Equatable {
    /// The evaluation budget the configuration was tuned for (and uses exactly).
    public var nfe: Int
    /// What kind of solver it is: `solver_schedule` (UniPC with searched per-step decisions),
    /// `dc_solver`, `dpm_solver_v3` or a catalog solver name.
    public var solver: String
    /// The noise levels as display sigmas, largest first; a last 0 denoises fully.
    public var sigmas: [Double]
    /// The per-step decisions of a solver schedule.
    public var decisions: SolverSchedule?
    /// DC-Solver's compensation ratios, one per step.
    public var ratios: [Double]?
    /// The UniPC variant and order under DC-Solver's compensation, or the order of DPM-Solver-v3
    /// or a catalog solver.
    public var variant: UniPC.Variant?
    public var order: Int?
    /// DPM-Solver-v3's pseudo-order predictor.
    public var predictorPseudo: Bool?
    /// DPM-Solver-v3's statistics file, relative to the tuned file.
    public var statistics: String?
    /// How the configuration was found, for the report.
    public var method: String
    /// Its RMSE to the ground truth on the tuning samples.
    public var tuningRMSE: Double
    /// Its RMSE on the validation samples the finalists were ranked on (neither tuning nor held out).
    public var validationRMSE: Double?
    /// The best untuned configuration (the untuned finalist with the least validation error), and
    /// its RMSE on the tuning samples.
    public var untunedLabel: String
    public var untunedTuningRMSE: Double
    /// Both again on held-out samples (never used while tuning).
    public var heldOutRMSE: Double?
    public var untunedHeldOutRMSE: Double?

    /// The prefix of ``method`` for a standard configuration the tuner kept.
    static let keptPrefix = "untuned: "

    /// For a standard solver × spacing the tuner kept (no candidate beat it), its label, such as
    /// `ipndm logsnr`; `nil` for a tuned configuration.
    public var keptStandardLabel: String? {
        method.hasPrefix(Self.keptPrefix) ? String(method.dropFirst(Self.keptPrefix.count)) : nil
    }

    /// What a run of this configuration is called: the kept standard configuration's label, or
    /// `tuned` and the solver kind (`tuned dc_solver`).
    public var runLabel: String { keptStandardLabel ?? "tuned \(solver)" }

    enum CodingKeys: String, CodingKey {
        case nfe, solver, sigmas, decisions, ratios, variant, order, statistics, method
        case predictorPseudo = "predictor_pseudo", validationRMSE = "validation_rmse"
        case tuningRMSE = "tuning_rmse", untunedLabel = "untuned_label", untunedTuningRMSE = "untuned_tuning_rmse"
        case heldOutRMSE = "held_out_rmse", untunedHeldOutRMSE = "untuned_held_out_rmse"
    }

    public init(nfe: Int, solver: String, sigmas: [Double], decisions: SolverSchedule? = nil, ratios: [Double]? = nil,
                variant: UniPC.Variant? = nil, order: Int? = nil, statistics: String? = nil, method: String, tuningRMSE: Double,
                untunedLabel: String, untunedTuningRMSE: Double) {
        self.nfe = nfe; self.solver = solver; self.sigmas = sigmas; self.decisions = decisions; self.ratios = ratios
        self.variant = variant; self.order = order
        self.statistics = statistics; self.method = method; self.tuningRMSE = tuningRMSE
        self.untunedLabel = untunedLabel; self.untunedTuningRMSE = untunedTuningRMSE
    }

    /// The solver this configuration runs and its grid on `schedule` (DPM-Solver-v3's levels on its
    /// statistics' grid); a statistics file is read relative to `directory`.
    ///
    /// - Throws: also when the solver needs more than ``nfe`` evaluations on the grid (an edited or
    ///   foreign file), so no caller runs a configuration over its budget.
    public func prepared(on schedule: any NoiseSchedule, relativeTo directory: URL? = nil) throws -> (solver: any Solver, grid: TimeGrid) {
        let solver: any Solver
        if let decisions {
            solver = try decisions.solver()
        } else {
            switch self.solver {
            case "dc_solver":
                let dc = DCSolver(variant: variant ?? .bh2, solverOrder: order ?? 2, ratios: ratios ?? [])
                try dc.validate()
                solver = dc
            case "dpm_solver_v3":
                guard let statistics else {
                    throw SamplingError.invalidConfiguration("the tuned dpm_solver_v3 configuration for \(nfe) NFE names no statistics file")
                }
                let url = directory.map { $0.appendingPathComponent(statistics) } ?? URL(fileURLWithPath: statistics)
                let loaded: ModelStatistics
                do { loaded = try ModelStatistics(contentsOf: url) } catch {
                    throw SamplingError.invalidConfiguration("cannot read the statistics '\(url.path)' of the tuned file: \(error)")
                }
                solver = DPMSolverV3(statistics: loaded, solverOrder: order ?? 3, predictorPseudo: predictorPseudo ?? false)
            default:
                solver = try SolverCatalog.solver(named: self.solver, options: .init(order: order))
            }
        }
        let grid = try solver.adaptedGrid(try StepSchedule.grid(sigmas: sigmas, on: schedule), schedule: schedule)
        guard solver.evaluations(on: grid) <= nfe else {
            throw SamplingError.invalidConfiguration("the tuned configuration for \(nfe) NFE needs \(solver.evaluations(on: grid)) evaluations")
        }
        return (solver, grid)
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

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "bad value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: return "\(error)"
        }
    }
}
