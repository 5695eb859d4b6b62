import Foundation
import DiffusionCore
import DiffusionEvaluation

/// The bounded tuning `diffuse sample` runs before sampling when `AutoTuning` says so: the
/// ``Tuner`` cut down to fit a time bound of seconds, and its `diffuse-tuned/1` file cached by
/// the model's fingerprint, schedule and budget.
///
/// The search is small so that it ends within the bound: the solvers of the default rule's class
/// of schedule (`RecommendedConfiguration/rule`), DPM-Solver++(2M) and UniPC-bh2, on the rule's
/// spacing and Karras, log-SNR and time-uniform steps, on 32 tuning draws; a short step search on a coarse grid, seeded with
/// them; DC-Solver's ratios; the finalists ranked on 64 validation draws. The rule's own choice
/// is among the untuned configurations, and a searched one replaces the best of them only when it
/// beats it beyond chance (``Tuner/Settings/replacementConfidence``), so the result is at least as
/// good as the default up to that chance.
public struct AutoTune {
    public let model: any DiffusionModel
    public let schedule: any NoiseSchedule
    public let nfe: Int
    /// The wall-clock bound in seconds (`AutoTuning/bound(runSeconds:)`).
    public let seconds: Double

    public init(model: any DiffusionModel, schedule: any NoiseSchedule, nfe: Int, seconds: Double) {
        self.model = model; self.schedule = schedule; self.nfe = nfe; self.seconds = seconds
    }

    /// The cache folder: `$XDG_CACHE_HOME/diffuse/auto-tuned`, or `~/.cache/diffuse/auto-tuned`.
    public static var cacheDirectory: URL? { GroundTruth.userCacheDirectory(named: "auto-tuned") }

    /// The cached file's name: the model's fingerprint, the schedule (its name and noise levels at
    /// a few times), the budget and this search's version; `nil` for a model without a fingerprint.
    public var cacheName: String? {
        guard let fingerprint = (model as? any Fingerprinted)?.fingerprint else { return nil }
        var h = FNV1a()
        h.add("auto-tune/1"); h.add([fingerprint]); h.add(schedule.name); h.add(schedule.frame.rawValue); h.add([Int64(nfe)])
        let (low, high) = (schedule.timeRange.lowerBound, schedule.timeRange.upperBound)
        for f in [0, 0.25, 0.5, 0.75, 1.0] {
            let level = schedule.level(at: low + f * (high - low))
            h.add([level.alpha, level.sigma])
        }
        return "tuned-" + String(h.value, radix: 16) + ".json"
    }

    /// The draws whose ground truth the tuning solves: tuning, validation and held-out noise.
    public var groundTruthDraws: Int { settings.tuningSamples + (settings.validationSamples ?? settings.tuningSamples) + settings.holdoutSamples }

    /// The time the tuning spends outside its searches, from one model evaluation on
    /// ``groundTruthDraws`` draws: the ground-truth solutions of the three noise sets at the
    /// tolerance (a few hundred evaluations each), the step search's teacher and DC-Solver's
    /// trajectories, which grow with the budget.
    public func fixedSeconds(evaluationSeconds: Double) -> Double { evaluationSeconds * Double(1500 + 10 * nfe) }

    /// The tuner's settings for this bound: 40% of it for the searches, the rest for the ground
    /// truth, the baseline, the fits and the validation.
    public var settings: Tuner.Settings {
        let entries = RecommendedConfiguration.rule[RecommendedConfiguration.ScheduleClass(schedule)] ?? RecommendedConfiguration.table
        let rule = RecommendedConfiguration.choice(forNFE: nfe, schedule: schedule)
        var solvers: [String] = []
        for name in entries.map(\.solver) + ["dpmpp_2m", "uni_pc_bh2"] where !solvers.contains(name) { solvers.append(name) }
        var spacings: [StepSpacing] = []
        for spacing in [rule.spacing, .karras(rho: 7), .logSNR, .timeUniform] where !spacings.contains(spacing) { spacings.append(spacing) }
        var search = EvolutionarySearch()
        search.population = 16
        search.generations = 30
        var s = Tuner.Settings(budgets: [nfe], tuningSamples: 32, seed: 0, holdoutSamples: 16, holdoutSeed: 1,
                               tolerance: GroundTruth.defaultTolerance(for: model), budgetSeconds: 0.4 * seconds, search: search,
                               fineSteps: Swift.max(64, 2 * nfe), untunedSolvers: solvers, untunedSpacings: spacings)
        s.validationSamples = 64
        s.compensationSamples = 8
        return s
    }

    /// The cached configuration file when it holds one for this model, schedule and budget. A
    /// cache file that cannot be read or does not fit is not trusted: `note` receives one line
    /// naming it, and ``tuned(cacheDirectory:)`` replaces it.
    public func cached(in cacheDirectory: URL?, note: (String) -> Void) -> URL? {
        guard let url = cacheName.flatMap({ cacheDirectory?.appendingPathComponent($0) }),
              FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let file = try TunedFile(contentsOf: url)
            try file.check(model: model, schedule: schedule)
            _ = try file.configuration(nfe: nfe)
            return url
        } catch {
            note("note: ignoring the auto-tune cache \(url.path) (\(error)); tuning again")
            return nil
        }
    }

    /// Runs the tuning and writes its file to the cache (to a temporary file when there is no
    /// cache to keep it in); returns where it is, for `--tuned`.
    public func tuned(cacheDirectory: URL?) throws -> URL {
        let data = try Tuner(model: model, schedule: schedule, settings: settings).run().encoded()
        if let url = cacheName.flatMap({ cacheDirectory?.appendingPathComponent($0) }), let directory = cacheDirectory {
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            if (try? data.write(to: url, options: .atomic)) != nil { return url }
        }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-auto-tuned-\(UUID().uuidString).json")
        try data.write(to: temporary, options: .atomic)
        return temporary
    }
}
