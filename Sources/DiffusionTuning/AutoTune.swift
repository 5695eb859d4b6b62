import Foundation
import DiffusionCore
import DiffusionEvaluation

/// The bounded tuning `diffuse sample` runs before sampling when `AutoTuning` says so: the
/// ``Tuner`` cut down to fit a time bound of seconds, and its `diffuse-tuned/1` file cached by
/// the model's fingerprint, schedule and budget.
///
/// The search is small so that it ends within the bound: the solvers of the default rule's class
/// of schedule (`RecommendedConfiguration/rule`) and the peers' configurations
/// (``untunedSolvers``, ``untunedSpacings``) on 32 tuning draws; a short step search on a coarse
/// grid, seeded with them; DC-Solver's ratios; the finalists ranked on 512 validation draws. A
/// searched configuration replaces the best untuned one only when it beats it beyond chance
/// (``Tuner/Settings/replacementConfidence``), and the result replaces the best single peer
/// configurations (`RecommendedConfiguration/bestSinglePeers(forNFE:schedule:)`, the
/// ``Tuner/Settings/anchors``) only when it beats each by the median per-draw error and the RMSE,
/// the RMSE also over 32768 further draws (``Tuner/Settings/rareDrawSamples``): a user who tunes
/// should not lose to the configuration they would have picked anyway.
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
        h.add("auto-tune/3"); h.add([fingerprint]); h.add(schedule.name); h.add(schedule.frame.rawValue); h.add([Int64(nfe)])
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
    /// trajectories, which grow with the budget, and the rare-draw check (``Tuner/Settings/rareDrawSamples``).
    public func fixedSeconds(evaluationSeconds: Double) -> Double {
        let baseline = Double(untunedSolvers.count * untunedSpacings.count * nfe * settings.tuningSamples) / Double(groundTruthDraws)
        // The rare-draw check, twice: both runs on all its draws, and the flagged draws' ground truth.
        let draws = (settings.validationSamples ?? settings.tuningSamples) + settings.rareDrawSamples
        let rareDraws = settings.rareDrawSamples == 0 ? 0
            : 2 * Double(2 * nfe * draws + 2 * 500 * settings.rareDrawGroundTruths) / Double(groundTruthDraws)
        return evaluationSeconds * (Double(1500 + 10 * nfe) + baseline + rareDraws)
    }

    /// The standard solvers ranked before the search: the default rule's for this class of
    /// schedule, the peers' (``RecommendedConfiguration/peerSolvers``), DEIS and iPNDM. With the
    /// peers' own step rules among ``untunedSpacings``, the configuration a user would pick from
    /// diffusers or k-diffusion is always measured, so the result is at least the best of them up
    /// to the validation draws' chance.
    public var untunedSolvers: [String] {
        let entries = RecommendedConfiguration.rule[RecommendedConfiguration.ScheduleClass(schedule)] ?? RecommendedConfiguration.table
        var solvers: [String] = []
        for name in entries.map(\.solver) + RecommendedConfiguration.peerSolvers + ["deis", "ipndm"] where !solvers.contains(name) {
            solvers.append(name)
        }
        return solvers
    }

    /// The rule's spacing, the peers' (``RecommendedConfiguration/peerSpacings``) as they run on
    /// this schedule, log-SNR and time-uniform steps.
    public var untunedSpacings: [StepSpacing] {
        let rule = RecommendedConfiguration.choice(forNFE: nfe, schedule: schedule)
        var spacings: [StepSpacing] = []
        for spacing in [rule.spacing] + RecommendedConfiguration.peerSpacings + [.logSNR, .timeUniform] {
            let placed = RecommendedConfiguration.spacing(spacing, on: schedule)
            if !spacings.contains(placed) { spacings.append(placed) }
        }
        return spacings
    }

    /// The tuner's settings for this bound: 40% of it for the searches, the rest for the ground
    /// truth, the baseline, the fits and the validation.
    public var settings: Tuner.Settings {
        var search = EvolutionarySearch()
        search.population = 16
        search.generations = 30
        var s = Tuner.Settings(budgets: [nfe], tuningSamples: 32, seed: 0, holdoutSamples: 16, holdoutSeed: 1,
                               tolerance: GroundTruth.defaultTolerance(for: model), budgetSeconds: 0.4 * seconds, search: search,
                               fineSteps: Swift.max(64, 2 * nfe), untunedSolvers: untunedSolvers, untunedSpacings: untunedSpacings)
        s.validationSamples = 512
        s.rareDrawSamples = Tuner.defaultRareDrawSamples(for: model)
        s.anchors = RecommendedConfiguration.bestSinglePeers(forNFE: nfe, schedule: schedule)
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
