import DiffusionSolvers
import Foundation

/// The default configuration on the model zoo (``ModelZoo``): per model and budget, the error to
/// the ground truth of what the resolver picks without `--solver`, of every peer configuration
/// (``BenchmarkModels/peerSolvers`` on Karras, `linspace` and `trailing` steps; the timestep rules
/// run on continuous-time schedules as ``RecommendedConfiguration/spacing(_:on:)`` says), and of the candidates a rule chooses from.
///
/// The best single peer configuration is the peer configuration, one for all models, with the
/// smallest geometric-mean ratio to the best peer picked afterwards for each model. A rule gives
/// each ``RecommendedConfiguration/ScheduleClass`` and budget one configuration (``rule(on:nfe:)``).
/// The reported figures are leave-one-family-out: the best single peer and the rule are chosen on
/// the other families and measured on the held-out one, against that peer and against the best
/// peer picked afterwards.
///
/// With `--tuner-seconds S`, the tuner as `diffuse tune` runs it with its defaults (all three
/// budgets at once, searches bounded by S seconds) is measured on every model too (``tuned(_:budgets:seconds:comparison:)``).
///
/// Usage: `swift run -c release diffuse-benchmarks --zoo [--per-family 3] [--draws 64] [--seed 2512]
/// [--tuner-seconds S] [--scores FILE] [--only NAME,...]`; the report goes to standard output
/// (`docs/ZOO.md`), and with `--scores` every configuration's median per-draw error and RMSE per
/// model and budget to FILE (JSON). `--only` measures the models whose names contain one of the
/// given strings and prints their figures against the anchors instead of the report.
struct ZooBenchmark {
    func progress(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    let root: URL
    var seed: UInt64 = 2512
    var perFamily = 3
    var draws = 64
    let budgets = [5, 10, 20]
    static let candidateSolvers = ["uni_pc_bh2", "uni_pc", "dpmpp_2m", "dpmpp_3m", "ipndm", "deis",
                                   "res_multistep", "gradient_estimation", "ipndm_v", "heunpp2", "deis_comfy", "exp_heun_2_x0"]
    /// ComfyUI's stochastic samplers without their fresh noise (η = 0, or `s_noise` 0 for
    /// ER-SDE), which makes them solvers of the probability-flow ODE that the zoo measures against.
    /// Restart is left out: its jumps back up add noise by design.
    static let deterministicForms: [(solver: String, options: SolverCatalog.Options)] = [
        ("sa_solver_pece", .init(eta: 0)), ("seeds_2", .init(eta: 0)), ("seeds_3", .init(eta: 0)), ("er_sde", .init(sNoise: 0))]
    static let candidateSpacings: [StepSpacing] = [.trailing, .timeUniform, .logSNR, .karras(rho: 7)]
    static let peerSpacings = RecommendedConfiguration.peerSpacings
    /// The label of the old table's choice among the candidates.
    static let tableLabel = "table"
    static let defaultLabel = "default"
    /// What `diffuse sample` runs on a mixture without `tuned.json`: ``AutoTune`` within
    /// ``autoTuneSeconds``, on its own draws (seeds 0 and 1), then its choice on the zoo's draws.
    static let autoLabel = "auto"
    static let autoTuneSeconds = 10.0
    /// The tuner with `diffuse tune`'s defaults, when `--tuner-seconds` is given.
    static let tunerLabel = "tuner"

    let arguments: [String]
    var tunerSeconds: Int?
    var only: [String]?

    init(root: URL, arguments: [String]) throws {
        self.root = root
        self.arguments = arguments
        func value(_ flag: String) throws -> Int? {
            guard let i = arguments.firstIndex(of: flag) else { return nil }
            guard i + 1 < arguments.count, let v = Int(arguments[i + 1]), v > 0 else {
                throw SamplingError.invalidConfiguration("\(flag) needs a positive integer")
            }
            return v
        }
        perFamily = try value("--per-family") ?? perFamily
        draws = try value("--draws") ?? draws
        seed = try value("--seed").map(UInt64.init) ?? seed
        tunerSeconds = try value("--tuner-seconds")
        if let i = arguments.firstIndex(of: "--only") {
            guard i + 1 < arguments.count else { throw SamplingError.invalidConfiguration("--only needs model names") }
            only = arguments[i + 1].split(separator: ",").map(String.init)
        }
    }

    /// One configuration's errors on one model's draws.
    struct Score { var median: Double; var rmse: Double; var errors: [Double] }

    /// A measured model: its family, class, and scores by budget and label (`P:` peers, `C:` candidates).
    struct Measured {
        var model: ModelZoo.Model
        var scheduleClass: RecommendedConfiguration.ScheduleClass
        var scores: [Int: [String: Score]] = [:]
        var defaultLabel: [Int: String] = [:]
        /// The automatic tuning's wall time and what it chose, by budget.
        var autoSeconds: [Int: Double] = [:]
        var autoChoice: [Int: String] = [:]
        /// The tuner's wall time (all budgets) and what it chose, by budget.
        var tunerSeconds: Double?
        var tunerChoice: [Int: String] = [:]
    }

    /// The spacing a configuration runs with on `schedule` (the timestep rules on continuous-time
    /// schedules as the default rule runs them).
    static func spacing(_ s: StepSpacing, on schedule: any NoiseSchedule) -> StepSpacing {
        RecommendedConfiguration.spacing(s, on: schedule)
    }

    func run() throws {
        let models = try ModelZoo.generate(seed: seed, perFamily: perFamily)
        let cache = BenchmarkModels.groundTruthCache(root: root)
        var measured: [Measured] = []
        // `--only` keeps each model's index, and so its draws, from the whole zoo.
        for (index, model) in models.enumerated() where only.map({ names in names.contains { model.name.contains($0) } }) ?? true {
            let began = ContinuousClock.now
            let comparison = BenchmarkModels.comparison(model.mixture, schedule: model.schedule, seed: seed &+ UInt64(index), count: draws, cache: cache)
            var m = Measured(model: model, scheduleClass: .init(model.schedule))
            var tuned: [Int: (SamplerComparison.Result, String)] = [:]
            if let tunerSeconds {
                let tuneBegan = ContinuousClock.now
                do { tuned = try Self.tuned(model, budgets: budgets, seconds: Double(tunerSeconds), comparison: comparison) } catch {
                    progress("\(model.name): the tuner failed: \(error)")
                }
                m.tunerSeconds = (ContinuousClock.now - tuneBegan).seconds
            }
            for nfe in budgets {
                var scores: [String: Score] = [:]
                func score(_ r: SamplerComparison.Result?) -> Score {
                    guard let r else { return Score(median: .infinity, rmse: .infinity, errors: []) }
                    return Score(median: r.medianError, rmse: r.rmse, errors: r.sampleErrors ?? [])
                }
                func configuration(_ solver: String, _ spacing: StepSpacing) -> Score {
                    score(try? comparison.run(.init(solver: solver, spacing: Self.spacing(spacing, on: model.schedule), nfe: nfe)))
                }
                for solver in BenchmarkModels.peerSolvers { for spacing in Self.peerSpacings {
                    scores["P:\(solver) \(spacing.name)"] = configuration(solver, spacing)
                } }
                for solver in Self.candidateSolvers { for spacing in Self.candidateSpacings {
                    scores["C:\(solver) \(spacing.name)"] = configuration(solver, spacing)
                } }
                for (solver, options) in Self.deterministicForms { for spacing in Self.candidateSpacings {
                    let c = SamplerComparison.Configuration(solver: solver, spacing: Self.spacing(spacing, on: model.schedule), nfe: nfe, options: options)
                    scores["C:\(solver)-ode \(spacing.name)"] = score(try? comparison.run(c))
                } }
                scores["C:" + Self.tableLabel] = score(try? comparison.run(.recommended(nfe: nfe)))
                let recommended = try comparison.runRecommended(nfe: nfe)
                scores[Self.defaultLabel] = score(recommended.result)
                m.defaultLabel[nfe] = recommended.recommendation.label
                let tuneBegan = ContinuousClock.now
                let auto = try? Self.autoTuned(model, nfe: nfe, comparison: comparison)
                m.autoSeconds[nfe] = (ContinuousClock.now - tuneBegan).seconds
                m.autoChoice[nfe] = auto?.1 ?? "failed"
                scores[Self.autoLabel] = score(auto?.0)
                if tunerSeconds != nil {
                    scores[Self.tunerLabel] = score(tuned[nfe]?.0)
                    m.tunerChoice[nfe] = tuned[nfe]?.1 ?? "failed"
                }
                m.scores[nfe] = scores
            }
            measured.append(m)
            progress("\(index + 1)/\(models.count) \(model.name): \(String(format: "%.1f", (ContinuousClock.now - began).seconds)) s")
        }
        if only != nil {
            print(anchorReport(measured))
            return
        }
        print(report(measured))
        if let i = arguments.firstIndex(of: "--scores"), i + 1 < arguments.count {
            // Per model, budget and label: [median, RMSE], for analysis outside the run.
            var rows: [[String: Any]] = []
            for m in measured { for nfe in budgets { for (label, score) in m.scores[nfe]! {
                rows.append(["model": m.model.name, "family": m.model.family, "class": m.scheduleClass.rawValue, "nfe": nfe,
                             "label": label, "median": score.median.isFinite ? score.median : -1, "rmse": score.rmse.isFinite ? score.rmse : -1])
            } } }
            try JSONSerialization.data(withJSONObject: rows).write(to: URL(fileURLWithPath: arguments[i + 1]))
        }
    }

    /// ``AutoTune`` on `model` for `nfe` evaluations, as `diffuse sample` runs it on a mixture
    /// without a cache, then its configuration on `comparison`'s draws; with what it chose.
    static func autoTuned(_ model: ModelZoo.Model, nfe: Int, comparison: SamplerComparison) throws -> (SamplerComparison.Result, String) {
        let url = try AutoTune(model: model.mixture, schedule: model.schedule, nfe: nfe, seconds: autoTuneSeconds).tuned(cacheDirectory: nil)
        defer { try? FileManager.default.removeItem(at: url) }
        let configuration = try TunedFile(contentsOf: url).configuration(nfe: nfe)
        let (solver, grid) = try configuration.prepared(on: model.schedule, relativeTo: url.deletingLastPathComponent())
        return (try comparison.run(solver, grid: grid, name: autoLabel, scheduleName: autoLabel, nfeBudget: nfe), configuration.keptStandardLabel ?? "searched")
    }

    /// The tuner as `diffuse tune` runs it with its defaults (64 tuning draws, seed 0, ranked on
    /// 512 validation draws and checked on 32768 more, 64 held-out draws, seed 1, population 50 for 30 generations, 200 fine
    /// steps, DPM-Solver-v3 statistics where they apply) on all `budgets` at once within `seconds` of search, then
    /// each budget's configuration on `comparison`'s draws; with what it chose.
    static func tuned(_ model: ModelZoo.Model, budgets: [Int], seconds: Double, comparison: SamplerComparison) throws -> [Int: (SamplerComparison.Result, String)] {
        var search = EvolutionarySearch()
        search.population = 50
        search.generations = 30
        var settings = Tuner.Settings(budgets: budgets, tuningSamples: 64, seed: 0, holdoutSamples: 64, holdoutSeed: 1,
                                      tolerance: GroundTruth.defaultTolerance(for: model.mixture), budgetSeconds: seconds,
                                      search: search, fineSteps: 200)
        settings.validationSamples = Tuner.defaultValidationSamples(for: model.mixture, tuningSamples: 64)
        settings.rareDrawSamples = Tuner.defaultRareDrawSamples(for: model.mixture)
        if Tuner.statisticsApply(to: model.schedule) {
            settings.statisticsFile = "zoo-tuned.ems.safetensors"
            settings.statisticsSamples = 64
        }
        let tuner = Tuner(model: model.mixture, schedule: model.schedule, settings: settings, cacheDirectory: nil)
        let file = try tuner.run()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-zoo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        if let name = settings.statisticsFile { try tuner.statistics?.write(to: directory.appendingPathComponent(name)) }
        var out: [Int: (SamplerComparison.Result, String)] = [:]
        for nfe in budgets {
            let configuration = try file.configuration(nfe: nfe)
            let (solver, grid) = try configuration.prepared(on: model.schedule, relativeTo: directory)
            out[nfe] = (try comparison.run(solver, grid: grid, name: tunerLabel, scheduleName: tunerLabel, nfeBudget: nfe), configuration.method)
        }
        return out
    }

    /// `--only`: per model and budget, the default, the automatic tuning, the tuner and the
    /// anchors (`RecommendedConfiguration.bestSinglePeers`) as `median; RMSE`, and the best peer
    /// picked afterwards by each measure.
    func anchorReport(_ measured: [Measured]) -> String {
        var lines: [String] = []
        for m in measured { for nfe in budgets {
            let scores = m.scores[nfe]!
            func show(_ label: String) -> String {
                scores[label].map { String(format: "%@ %.3e; %.3e", label, $0.median, $0.rmse) } ?? "\(label) –"
            }
            // Peers are labelled by their own spacing; anchors by the spacing they run with here.
            let anchors = RecommendedConfiguration.bestSinglePeers(forNFE: nfe, schedule: m.model.schedule).map { anchor in
                Self.peerSpacings.first { Self.spacing($0, on: m.model.schedule) == Self.spacing(anchor.spacing, on: m.model.schedule) }
                    .map { "P:\(anchor.solver) \($0.name)" } ?? "P:\(anchor.solver) \(anchor.spacing.name)"
            }
            let best = Self.postHoc(m, nfe: nfe)
            var shown = [show(Self.defaultLabel), show(Self.autoLabel) + " (\(m.autoChoice[nfe] ?? ""))"]
            if tunerSeconds != nil { shown.append(show(Self.tunerLabel) + " (\(m.tunerChoice[nfe] ?? ""))") }
            lines.append("\(m.model.name) NFE \(nfe): " + (shown + anchors.map(show)).joined(separator: " | ")
                         + String(format: " | best peer afterwards %.3e; %.3e", best.median, best.rmse))
        } }
        return lines.joined(separator: "\n")
    }

    // MARK: choosing

    /// The best peer picked afterwards for `m` at `nfe`: its smallest median and smallest RMSE.
    static func postHoc(_ m: Measured, nfe: Int) -> (median: Double, rmse: Double) {
        let peers = m.scores[nfe]!.filter { $0.key.hasPrefix("P:") }.values
        return (peers.map(\.median).min()!, peers.map(\.rmse).min()!)
    }

    /// The worse of the two ratios (median per-draw error, RMSE) of `label` to `reference`
    /// (a label, or the best peer picked afterwards when `nil`), worst over `models`.
    static func worstRatio(_ label: String, to reference: String?, on models: [Measured], nfe: Int) -> Double {
        models.map { m in
            let s = m.scores[nfe]![label]!
            let r = reference.map { m.scores[nfe]![$0]! }.map { ($0.median, $0.rmse) } ?? postHoc(m, nfe: nfe)
            return Swift.max(s.median / r.0, s.rmse / r.1)
        }.max() ?? .infinity
    }

    /// The geometric mean over `models` of `√(median ratio · RMSE ratio)` of `label` to `reference`
    /// (a label, or the best peer picked afterwards when `nil`).
    static func meanRatio(_ label: String, to reference: String?, on models: [Measured], nfe: Int) -> Double {
        let logs = models.map { m in
            let s = m.scores[nfe]![label]!
            let r = reference.map { m.scores[nfe]![$0]! }.map { ($0.median, $0.rmse) } ?? postHoc(m, nfe: nfe)
            return 0.5 * (log(s.median / r.0) + log(s.rmse / r.1))
        }
        return exp(logs.reduce(0, +) / Double(Swift.max(logs.count, 1)))
    }

    /// The labels other than the default's on `models` at `nfe`, sorted.
    static func labels(on models: [Measured], nfe: Int) -> [String] {
        models[0].scores[nfe]!.keys.filter { $0.hasPrefix("P:") || $0.hasPrefix("C:") }.sorted()
    }

    /// The best single peer configuration on `models`: the smallest geometric-mean ratio to the
    /// best peer picked afterwards for each model.
    static func bestSinglePeer(on models: [Measured], nfe: Int) -> String {
        let peers = labels(on: models, nfe: nfe).filter { $0.hasPrefix("P:") }
        let mean = Dictionary(uniqueKeysWithValues: peers.map { ($0, meanRatio($0, to: nil, on: models, nfe: nfe)) })
        return peers.min { mean[$0]! < mean[$1]! }!
    }

    /// A rule chosen on `training`: per class at `nfe`, among the configurations (candidates and
    /// peers) at most ``margin`` times the best single peer configuration on `training` on each
    /// of the class's models, by both measures, the one with the smallest geometric-mean ratio to
    /// it there. A class without a model in `training` takes the choice over all of them among
    /// the spacings defined on every schedule (not `logsnr`, which needs a finite log-SNR at the
    /// start).
    static func rule(on training: [Measured], nfe: Int) -> [RecommendedConfiguration.ScheduleClass: String] {
        let single = bestSinglePeer(on: training, nfe: nfe)
        func choose(_ include: (String) -> Bool, on models: [Measured]) -> String {
            let allowed = labels(on: models, nfe: nfe).filter { include($0) && worstRatio($0, to: single, on: models, nfe: nfe) <= margin }
            let mean = Dictionary(uniqueKeysWithValues: allowed.map { ($0, meanRatio($0, to: single, on: models, nfe: nfe)) })
            return allowed.min { mean[$0]! < mean[$1]! } ?? single
        }
        let overall = choose({ !$0.contains("logsnr") }, on: training)
        var rule: [RecommendedConfiguration.ScheduleClass: String] = [:]
        for c in RecommendedConfiguration.ScheduleClass.allCases {
            let members = training.filter { $0.scheduleClass == c }
            rule[c] = members.isEmpty ? overall : choose({ _ in true }, on: members)
        }
        return rule
    }

    /// The most a rule's configuration may lose to the best single peer configuration on any
    /// model it is chosen on: a little, for configurations much better on average (held out, 1.0
    /// keeps the worst ratios at 1.00 / 1.08 at 10 NFE but the geometric mean at 0.89; 1.25 gives
    /// 1.00 / 1.20 and 0.58, and above 1.5 the worst ratios grow fast).
    static let margin = 1.25

    // MARK: reporting

    /// The ratio of medians of `a` to `b` with a 90% paired bootstrap interval.
    static func medianRatio(_ a: [Double], _ b: [Double], seed: UInt64) -> String {
        guard a.count == b.count, !a.isEmpty else { return "–" }
        let value = Metrics.median(a) / Metrics.median(b)
        var rng = SplitMix64(seed: seed)
        var ratios: [Double] = []
        for _ in 0..<1000 {
            let idx = (0..<a.count).map { _ in rng.below(a.count) }
            ratios.append(Metrics.median(idx.map { a[$0] }) / Metrics.median(idx.map { b[$0] }))
        }
        ratios.sort()
        return String(format: "%.2f [%.2f–%.2f]", value, ratios[50], ratios[949])
    }

    /// `median-ratio; RMSE-ratio` of `a` to `b`, each with its interval.
    static func ratios(_ a: Score, _ b: Score, seed: UInt64) -> (median: Double, rmse: Double, text: String) {
        let m = a.median / b.median, r = a.rmse / b.rmse
        let text = medianRatio(a.errors, b.errors, seed: seed) + "; "
            + BenchmarkModels.ratioWithInterval(r, errors: a.errors, reference: b.errors, seed: seed)
        return (m, r, text)
    }

    /// The peer with the smallest median (or RMSE) on `m` at `nfe`.
    static func bestPeer(_ m: Measured, nfe: Int, byRMSE: Bool) -> Score {
        m.scores[nfe]!.filter { $0.key.hasPrefix("P:") }.values.min { byRMSE ? $0.rmse < $1.rmse : $0.median < $1.median }!
    }

    func report(_ measured: [Measured]) -> String {
        var out: [String] = []
        var families: [String] = []
        for m in measured where !families.contains(m.model.family) { families.append(m.model.family) }
        out.append("# The default on the model zoo\n")
        out.append("Generated by `swift run -c release diffuse-benchmarks --zoo --per-family \(perFamily) --draws \(draws) --seed \(seed)" + (tunerSeconds.map { " --tuner-seconds \($0)" } ?? "") + "`: "
                   + "\(measured.count) exact Gaussian mixtures (`ModelZoo`) in \(families.count) schedule families, \(draws) draws each, "
                   + "errors to the ground truth (tolerance 1e-7). Ratios are `median per-draw error; RMSE`, each with a 90% paired "
                   + "bootstrap interval over the draws.\n")
        out.append("| model | class | σ̃_max |\n|---|---|---|")
        for m in measured {
            let top = m.model.schedule.level(at: m.model.schedule.timeRange.upperBound)
            out.append("| \(m.model.name) | \(m.scheduleClass.rawValue) | \(String(format: "%.4g", top.sigma / top.alpha)) |")
        }
        var summary: [String] = []
        for nfe in budgets {
            out.append("\n## \(nfe) NFE\n")
            let full = Self.rule(on: measured, nfe: nfe)
            out.append("Rule chosen on all families: " + RecommendedConfiguration.ScheduleClass.allCases
                .map { "\($0.rawValue) → `\(full[$0]!)`" }.joined(separator: ", ")
                + "; best single peer on all families: `\(Self.bestSinglePeer(on: measured, nfe: nfe))`.\n")
            let ranked = Self.labels(on: measured, nfe: nfe).map { ($0, Self.meanRatio($0, to: nil, on: measured, nfe: nfe)) }.sorted { $0.1 < $1.1 }
            out.append("Geometric-mean ratio to the best peer picked afterwards, over all models, the first eight: "
                       + ranked.prefix(8).map { String(format: "`%@` %.2f", $0.0, $0.1) }.joined(separator: ", ") + ".\n")
            out.append("Held out (leave one family out): the rule and the best single peer configuration are chosen on the other families; "
                       + "per family the worst model, and the geometric mean over its models of √(median ratio · RMSE ratio).\n")
            out.append("| family (held out) | rule's pick | best single peer | rule / best single peer: worst | mean | rule / best peer afterwards: worst | default / best single peer: worst | mean | auto-tuned / best single peer: worst | mean | auto-tuned / best peer afterwards: worst |")
            out.append("|---|---|---|---|---|---|---|---|---|---|---|")
            var detail: [String] = ["\n| model | rule / best single peer | rule / best peer afterwards | default / best single peer | default / best peer afterwards | auto-tuned / best single peer | auto-tuned / best peer afterwards | auto-tune s | auto-tune's choice |",
                                    "|---|---|---|---|---|---|---|---|---|"]
            var worst = (ruleMedian: 0.0, ruleRMSE: 0.0, postMedian: 0.0, postRMSE: 0.0, defMedian: 0.0, defRMSE: 0.0)
            var worstAuto = (median: 0.0, rmse: 0.0, postMedian: 0.0, postRMSE: 0.0, seconds: 0.0)
            var autoPost: [Double] = []
            for family in families {
                let training = measured.filter { $0.model.family != family }
                let held = measured.filter { $0.model.family == family }
                let rule = Self.rule(on: training, nfe: nfe)
                let single = Self.bestSinglePeer(on: training, nfe: nfe)
                var f = (ruleMedian: 0.0, ruleRMSE: 0.0, postMedian: 0.0, postRMSE: 0.0, defMedian: 0.0, defRMSE: 0.0)
                var ruleLogs = 0.0, defLogs = 0.0, autoLogs = 0.0
                var fa = (median: 0.0, rmse: 0.0, postMedian: 0.0, postRMSE: 0.0)
                for (i, m) in held.enumerated() {
                    let scores = m.scores[nfe]!
                    let pick = scores[rule[m.scheduleClass]!]!, reference = scores[single]!, def = scores[Self.defaultLabel]!
                    let s = UInt64(nfe * 1000 + i)
                    let r = Self.ratios(pick, reference, seed: s), d = Self.ratios(def, reference, seed: s)
                    let best = Self.postHoc(m, nfe: nfe)
                    let auto = scores[Self.autoLabel]!, a = Self.ratios(auto, reference, seed: s)
                    let aPost = (auto.median / best.median, auto.rmse / best.rmse)
                    fa.median = Swift.max(fa.median, a.median); fa.rmse = Swift.max(fa.rmse, a.rmse)
                    fa.postMedian = Swift.max(fa.postMedian, aPost.0); fa.postRMSE = Swift.max(fa.postRMSE, aPost.1)
                    autoLogs += 0.5 * log(a.median * a.rmse)
                    autoPost.append(Swift.max(aPost.0, aPost.1))
                    worstAuto.seconds = Swift.max(worstAuto.seconds, m.autoSeconds[nfe] ?? 0)
                    let post = (pick.median / best.median, pick.rmse / best.rmse), defPost = (def.median / best.median, def.rmse / best.rmse)
                    f.ruleMedian = Swift.max(f.ruleMedian, r.median); f.ruleRMSE = Swift.max(f.ruleRMSE, r.rmse)
                    f.postMedian = Swift.max(f.postMedian, post.0); f.postRMSE = Swift.max(f.postRMSE, post.1)
                    f.defMedian = Swift.max(f.defMedian, d.median); f.defRMSE = Swift.max(f.defRMSE, d.rmse)
                    ruleLogs += 0.5 * log(r.median * r.rmse); defLogs += 0.5 * log(d.median * d.rmse)
                    detail.append("| \(m.model.name) | \(r.text) | " + String(format: "%.2f; %.2f", post.0, post.1) + " | \(d.text) | "
                                  + String(format: "%.2f; %.2f", defPost.0, defPost.1) + " | \(a.text) | " + String(format: "%.2f; %.2f | %.1f", aPost.0, aPost.1, m.autoSeconds[nfe] ?? 0)
                                  + " | `\(m.autoChoice[nfe] ?? "")` |")
                }
                let n = Double(held.count)
                out.append("| \(family) | `\(rule[held[0].scheduleClass]!)` | `\(single)` | " + String(format: "%.2f; %.2f | %.2f | %.2f; %.2f | %.2f; %.2f | %.2f | %.2f; %.2f | %.2f | %.2f; %.2f |",
                           f.ruleMedian, f.ruleRMSE, exp(ruleLogs / n), f.postMedian, f.postRMSE, f.defMedian, f.defRMSE, exp(defLogs / n),
                           fa.median, fa.rmse, exp(autoLogs / n), fa.postMedian, fa.postRMSE))
                worstAuto.median = Swift.max(worstAuto.median, fa.median); worstAuto.rmse = Swift.max(worstAuto.rmse, fa.rmse)
                worstAuto.postMedian = Swift.max(worstAuto.postMedian, fa.postMedian); worstAuto.postRMSE = Swift.max(worstAuto.postRMSE, fa.postRMSE)
                worst.ruleMedian = Swift.max(worst.ruleMedian, f.ruleMedian); worst.ruleRMSE = Swift.max(worst.ruleRMSE, f.ruleRMSE)
                worst.postMedian = Swift.max(worst.postMedian, f.postMedian); worst.postRMSE = Swift.max(worst.postRMSE, f.postRMSE)
                worst.defMedian = Swift.max(worst.defMedian, f.defMedian); worst.defRMSE = Swift.max(worst.defRMSE, f.defRMSE)
            }
            let line = String(format: "%d NFE: held-out worst ratio of the rule to the best single peer configuration %.2f (median per-draw), %.2f (RMSE); "
                              + "to the best peer picked afterwards %.2f, %.2f. The resolver's default to the best single peer: %.2f, %.2f.",
                              nfe, worst.ruleMedian, worst.ruleRMSE, worst.postMedian, worst.postRMSE, worst.defMedian, worst.defRMSE)
            let autoLine = String(format: "Auto-tuned (what `diffuse sample` runs on a mixture without `tuned.json`) to the best single peer: worst %.2f (median per-draw), %.2f (RMSE); "
                                  + "to the best peer picked afterwards: worst %.2f, %.2f, at most half of it (both measures) on %d of %d models; longest auto-tune %.1f s (bound %.0f s).",
                                  worstAuto.median, worstAuto.rmse, worstAuto.postMedian, worstAuto.postRMSE,
                                  autoPost.filter { $0 <= 0.5 }.count, autoPost.count, worstAuto.seconds, Self.autoTuneSeconds)
            out.append("\n" + line + " The resolver ran: " + Set(measured.compactMap { $0.defaultLabel[nfe] }).sorted().map { "`\($0)`" }.joined(separator: ", ") + ". " + autoLine)
            summary.append("- " + line + " " + autoLine)
            out.append(contentsOf: detail)
        }
        if tunerSeconds != nil {
            let section = tunerReport(measured, families: families)
            out.append(contentsOf: section.lines)
            summary.append(contentsOf: section.summary)
        }
        out.append("\n## Summary\n")
        out.append(contentsOf: summary)
        return out.joined(separator: "\n")
    }

    /// The tuner's section: per model and budget its ratios to the best peer picked afterwards
    /// (each measure against the peer best by it) and to the held-out family's best single peer.
    func tunerReport(_ measured: [Measured], families: [String]) -> (lines: [String], summary: [String]) {
        var lines = ["\n## The tuner (`diffuse tune`)\n",
                     "`diffuse tune` with its defaults (64 tuning, 512 validation, 32768 rare-draw check and 64 held-out draws of its own, population 50 for 30 generations, "
                     + "DPM-Solver-v3 statistics where they apply) on all three budgets at once, its searches bounded by \(tunerSeconds ?? 0) s, then `--tuned` on the zoo's draws. "
                     + "Ratios `median; RMSE` to the best peer picked afterwards (each measure against the peer best by it, chosen on these very draws) "
                     + "and to the best single peer of the other families.\n",
                     "| model | " + budgets.map { "\($0) NFE / best peer afterwards | / best single peer" }.joined(separator: " | ") + " | tuning s | choices |",
                     "|---|" + budgets.map { _ in "---|---|" }.joined() + "---|---|"]
        var post: [Int: [(Double, Double)]] = [:], single: [Int: [(Double, Double)]] = [:]
        for family in families {
            let training = measured.filter { $0.model.family != family }
            let singles = Dictionary(uniqueKeysWithValues: budgets.map { ($0, Self.bestSinglePeer(on: training, nfe: $0)) })
            for m in measured where m.model.family == family {
                var cells: [String] = []
                for nfe in budgets {
                    let t = m.scores[nfe]![Self.tunerLabel]!, best = Self.postHoc(m, nfe: nfe), reference = m.scores[nfe]![singles[nfe]!]!
                    let p = (t.median / best.median, t.rmse / best.rmse), q = (t.median / reference.median, t.rmse / reference.rmse)
                    post[nfe, default: []].append(p); single[nfe, default: []].append(q)
                    cells.append(String(format: "%.2f; %.2f | %.2f; %.2f", p.0, p.1, q.0, q.1))
                }
                // The search's choices by their genome only.
                let choices = budgets.map { (m.tunerChoice[$0] ?? "").replacingOccurrences(of: "evolutionary search (time steps and UniPC decisions): ", with: "search ") }
                lines.append("| \(m.model.name) | " + cells.joined(separator: " | ") + String(format: " | %.1f | ", m.tunerSeconds ?? 0)
                             + choices.map { "`\($0)`" }.joined(separator: ", ") + " |")
            }
        }
        var summary: [String] = []
        for nfe in budgets {
            let p = post[nfe] ?? [], q = single[nfe] ?? []
            func geometric(_ r: [(Double, Double)]) -> Double { exp(r.map { 0.5 * log($0.0 * $0.1) }.reduce(0, +) / Double(Swift.max(r.count, 1))) }
            summary.append(String(format: "- %d NFE, the tuner: at most half of the best peer picked afterwards on %d of %d models by both measures "
                                  + "(%d by the median per-draw error, %d by the RMSE), at or below it on %d; worst %.2f (median per-draw), %.2f (RMSE); "
                                  + "geometric mean %.2f. To the best single peer: at or below on %d of %d, worst %.2f, %.2f, geometric mean %.2f.",
                                  nfe, p.filter { Swift.max($0.0, $0.1) <= 0.5 }.count, p.count, p.filter { $0.0 <= 0.5 }.count, p.filter { $0.1 <= 0.5 }.count,
                                  p.filter { Swift.max($0.0, $0.1) <= 1 }.count,
                                  p.map(\.0).max() ?? 0, p.map(\.1).max() ?? 0, geometric(p),
                                  q.filter { Swift.max($0.0, $0.1) <= 1 }.count, q.count, q.map(\.0).max() ?? 0, q.map(\.1).max() ?? 0, geometric(q)))
        }
        lines.append("")
        lines.append(contentsOf: summary)
        return (lines, summary)
    }
}
