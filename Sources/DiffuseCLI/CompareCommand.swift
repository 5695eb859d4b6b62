import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse compare`: every solver × step schedule × NFE from the same noise, measured against the
/// ground-truth solution of the probability-flow ODE.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare solvers and step schedules at equal NFE against the ground-truth ODE solution.",
        discussion: """
        For the same initial noise it runs every solver x schedule x NFE, and a tight-tolerance reference solution of the \
        probability-flow ODE (cached on disk), and reports per configuration the RMSE of the endpoints to the ground truth, \
        the median per-sample error, for mixtures the share of samples ending in the same component as the ground truth, \
        distances of the samples to the model's data distribution, the NFE used and the wall time. Writes results.json and \
        error-vs-nfe.svg / .png to --output-dir.
        """
    )

    @OptionGroup var source: ModelOptions

    @Option(help: "Comma-separated solver names; 'default' is the recommended configuration for each NFE (what `diffuse sample` runs without --solver), whatever --schedules says.")
    var solvers: String = "euler,heun,dpmpp_2m,dpmpp_3m,uni_pc_bh2,deis"

    @Option(help: "Comma-separated step schedules.")
    var schedules: String = "karras,logsnr"

    @Option(help: "Comma-separated NFE budgets.")
    var nfe: String = "5,10,20"

    @Option(parsing: .unconditional, help: "Number of samples (default 64).")
    var count: Int?

    @Option(parsing: .unconditional, help: "Random seed for the initial noise (default 0; with --tuned, the file's held-out seed).")
    var seed: UInt64?

    @Option(help: "DPM-Solver-v3's model statistics for dpm_solver_v3 (.safetensors, written by `diffuse tune --statistics`).")
    var statistics: String?

    @Option(help: "A file written by `diffuse tune`: its configurations are compared too, on noise that tuning did not see.")
    var tuned: String?

    @Option(help: "Standard-normal initial noise [B, D] (.npy) instead of --count/--seed.")
    var initialNoise: String?

    @Option(parsing: .unconditional, help: "Smallest noise level of continuous spacings (default: the schedule's own).")
    var sigmaMin: Double?

    @Option(parsing: .unconditional, help: "Largest noise level (default: the schedule's own).")
    var sigmaMax: Double?

    @Option(parsing: .unconditional, help: "Relative and absolute tolerance of the ground-truth solver (default 1e-7 for mixtures, 1e-5 for networks, whose float32 outputs limit the attainable accuracy).")
    var tolerance: Double?

    @Option(help: "A feature classifier (.safetensors with data statistics) for the Fréchet distance of the samples to the data; built-in networks bring their own.")
    var classifier: String?

    @Flag(help: "Do not read or write the ground-truth cache.")
    var noCache = false

    @Option(help: "Comma-separated times the named solvers step in: native, flow, sigma (as `diffuse sample --time`); each non-native time adds its own rows, its schedule labelled with the time.")
    var times: String = "native"

    @Option(help: "WINDOW,CUTOFF for the ts_ddim and ts_dpm_solver rows (as `diffuse sample --time-shift`); their rows are labelled with it.")
    var timeShift: String?

    @Option(help: "Directory for results.json and the plots.")
    var outputDir: String = "compare-results"

    /// The solvers `--time-shift` applies to.
    static let timeShifting: Set = ["ts_ddim", "ts_dpm_solver"]

    func run() throws {
        let resolved = try source.resolve()
        let (model, schedule, config) = (resolved.model, resolved.schedule, resolved.config)
        let solverNames = try list(solvers, flag: "--solvers")
        let shift = try timeShift.map { try TimeShift(parsing: $0) }
        if shift != nil, !solverNames.contains(where: Self.timeShifting.contains) {
            throw CLIError("--time-shift sets the window and cutoff of ts_ddim and ts_dpm_solver; --solvers names neither")
        }
        for name in solverNames where name != "default" && SolverCatalog.entry(named: name) == nil {
            throw CLIError("unknown solver '\(name)' (known: \(SolverCatalog.names.joined(separator: ", ")))")
        }
        let spacings = try list(schedules, flag: "--schedules").map { name -> StepSpacing in
            guard let s = StepSpacing(name: name) else {
                throw CLIError("unknown step schedule '\(name)' (known: \(StepSpacing.names.joined(separator: ", ")))")
            }
            return s
        }
        let budgets = try list(nfe, flag: "--nfe").map { text -> Int in
            guard let n = Int(text), n >= 1, n <= 10_000 else { throw CLIError("--nfe: '\(text)' is not a whole number from 1 to 10000") }
            return n
        }
        let timeFrames = try list(times, flag: "--times").map { try SamplingResolver.time(named: $0, flag: "--times") }
        let tolerance = self.tolerance ?? GroundTruth.defaultTolerance(for: model)
        guard tolerance > 0, tolerance < 1 else { throw CLIError("--tolerance must lie in (0, 1), got \(tolerance)") }
        let featureClassifier = try classifier.map { try FeatureClassifier(contentsOf: URL(fileURLWithPath: $0)) }
            ?? (try BuiltInModels.classifier(for: source.model))
        if let featureClassifier, featureClassifier.inputCount != resolved.dimension {
            throw CLIError("classifier '\(featureClassifier.name)' takes \(featureClassifier.inputCount) values per sample; the model's samples have \(resolved.dimension)")
        }
        let modelStatistics = try statistics.map { try SampleCommand.statistics($0, for: model) }
        let directory = URL(fileURLWithPath: outputDir)
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CLIError("cannot create output directory '\(outputDir)'")
        }
        let tunedFile = try tuned.map { path -> TunedFile in
            let file = try TunedFile(contentsOf: URL(fileURLWithPath: path))
            try file.check(model: model, schedule: schedule)
            return file
        }
        let seed = self.seed ?? tunedFile?.holdoutSeed ?? 0
        if let tunedFile, let tuned, initialNoise == nil, seed == tunedFile.tuningSeed {
            throw CLIError("--seed \(seed) is the seed '\(tuned)' was tuned on; compare on other noise (another --seed or --initial-noise)")
        }
        let noise = try NoiseInput.tensor(path: initialNoise, count: count, defaultCount: 64, seed: seed, model: model)

        let started = ContinuousClock.now
        let comparison = SamplerComparison(model: model, schedule: schedule, noise: noise,
                                           groundTruth: GroundTruth(tolerance: tolerance, cacheDirectory: noCache ? nil : GroundTruth.defaultCacheDirectory),
                                           sigmaMin: sigmaMin, sigmaMax: sigmaMax, stepsOffset: config?.stepsOffset ?? 0)
        comparison.classifier = featureClassifier
        // The same model stepped in other times (SamplingResolver.schedule); the ODE and its ground truth are the model's.
        let timedComparisons: [(ODEFrame?, SamplerComparison)] = timeFrames.map { time in
            let timed = SamplingResolver.schedule(schedule, time: time)
            guard timed is ReframedSchedule else { return (nil, comparison) }
            let c = SamplerComparison(model: model, schedule: timed, noise: noise,
                                      groundTruth: GroundTruth(tolerance: tolerance, cacheDirectory: noCache ? nil : GroundTruth.defaultCacheDirectory),
                                      sigmaMin: sigmaMin, sigmaMax: sigmaMax, stepsOffset: config?.stepsOffset ?? 0)
            c.classifier = featureClassifier
            return (time, c)
        }
        var results: [SamplerComparison.Result] = []
        var skipped: [String] = []
        var defaults: [String] = []
        for name in solverNames {
            if name == "default" {
                for budget in budgets {
                    let label = RecommendedConfiguration.recommendation(forNFE: budget, model: model, schedule: schedule).recommendation.label
                    do {
                        var (r, used) = try comparison.runRecommended(nfe: budget)
                        (r.solver, r.schedule) = ("default", "recommended")
                        results.append(r)
                        defaults.append("default at NFE \(budget): \(used.label)")
                    } catch {
                        skipped.append("default NFE \(budget) (\(label)): \(error)")
                    }
                }
                if let tuning = (model as? any TunedDiffusionModel)?.tuning, initialNoise == nil, seed == tuning.file.tuningSeed {
                    defaults.append("note: the model's \(ModelTuning.fileName) was tuned on seed \(seed), the seed of these samples; "
                                    + "use another --seed for held-out figures")
                }
                continue
            }
            for (time, timed) in timedComparisons {
                let suffix = time.map { $0 == .rectifiedFlow ? " in flow time" : " in sigma time" } ?? ""
                for spacing in spacings {
                    for budget in budgets {
                        do {
                            var options = SolverCatalog.Options(statistics: modelStatistics)
                            if Self.timeShifting.contains(name) { options.timeShift = shift }
                            var r = try timed.run(.init(solver: name, spacing: spacing, nfe: budget, options: options))
                            r.schedule += suffix
                            if let text = timeShift, Self.timeShifting.contains(name) { r.solver += " \(text)" }
                            results.append(r)
                        } catch {
                            skipped.append("\(name) \(spacing.name)\(suffix) NFE \(budget): \(error)")
                        }
                    }
                }
            }
        }
        if let tunedFile, let tuned {
            let directory = URL(fileURLWithPath: tuned).deletingLastPathComponent()
            for c in tunedFile.configurations {
                do {
                    let (solver, grid) = try c.prepared(on: schedule, relativeTo: directory)
                    results.append(try Self.run(solver, on: grid, comparison: comparison, nfe: c.nfe))
                } catch {
                    skipped.append("tuned NFE \(c.nfe): \(error)")
                }
            }
        }
        let seconds = (ContinuousClock.now - started).seconds
        print(CompareReport.table(results))
        if let tunedFile, let tuned {
            print("tuned rows: '\(tuned)', tuned on \(tunedFile.tuningSamples) samples of seed \(tunedFile.tuningSeed); "
                  + (initialNoise.map { "these samples come from '\($0)'" } ?? "these samples use seed \(seed)") + " (held out)")
        }
        for line in defaults { print(line) }
        for line in skipped { print("skipped: \(line)") }
        let allComparisons = [comparison] + timedComparisons.filter { $0.0 != nil }.map(\.1)
        for (_, r) in allComparisons.flatMap({ $0.references }).sorted(by: { $0.key < $1.key }) {
            print(String(format: "ground truth: %d evaluations, error estimate %.2e, %@, %.2f s", r.evaluations, r.errorEstimate,
                         r.cached ? "from cache" : "computed", r.seconds) +
                  (r.frechetToData.map { String(format: ", its FD to the data %.4g", $0) } ?? "") +
                  (r.featureFrechetToData.map { String(format: ", its feature FD to the data %.4g", $0) } ?? ""))
        }
        print(String(format: "%d configurations in %.2f s", results.count, seconds))
        try CompareReport.write(results: results, references: allComparisons.flatMap { $0.references.values }, model: model, schedule: schedule,
                                samples: noise.batchSize, seconds: seconds, skipped: skipped, to: directory)
        print("wrote \(directory.appendingPathComponent("results.json").path), error-vs-nfe.svg, error-vs-nfe.png")
    }

    private static func run<S: Solver>(_ solver: S, on grid: TimeGrid, comparison: SamplerComparison, nfe: Int) throws
        -> SamplerComparison.Result {
        try comparison.run(solver, grid: grid, name: "tuned", scheduleName: "tuned", nfeBudget: nfe)
    }

    private func list(_ text: String, flag: String) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw CLIError("\(flag) needs at least one value") }
        return items
    }
}
