import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse tune`: tune sampling to the model for each NFE budget and write one file that
/// `diffuse sample --tuned` and `diffuse compare --tuned` use.
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Tune solvers and step schedules to the model for each NFE and write them to one file.",
        discussion: """
        For each --nfe budget: measures the standard solvers x spacings on --count tuning samples (--seed), a GITS-style step \
        schedule, an evolutionary search over time steps and UniPC's per-step decisions (order, data or noise prediction, \
        corrector) within the time budget, DC-Solver's compensation ratios and DPM-Solver-v3 with statistics estimated from the \
        model. The finalists are ranked on --validation-count validation samples; a tuned finalist replaces the best untuned \
        configuration only when it beats it there beyond chance (--confidence), and by the RMSE over --rare-draw-count \
        further draws too. The choice is reported next to the best \
        untuned configuration on --holdout-count held-out samples (--holdout-seed), which no stage sees. Every error is the \
        RMSE to the ground-truth ODE solution. Use the result with `diffuse sample --tuned FILE --nfe N` or \
        `diffuse compare --tuned FILE`.
        """
    )

    @OptionGroup var source: ModelOptions

    @Option(help: "Comma-separated NFE budgets.")
    var nfe: String = "5,10"

    @Option(parsing: .unconditional, help: "Tuning samples.")
    var count: Int = 64

    @Option(parsing: .unconditional, help: "Validation samples the finalists are ranked on (default: 512 on an exact model, --count on a network). More samples rank more reliably: a few samples that change mode dominate an RMSE.")
    var validationCount: Int?

    @Option(parsing: .unconditional, help: "Further draws a tuned choice must also beat the best untuned configuration on by the RMSE, beyond chance; only the 128 on which the two differ most get a ground truth (default: 32768 on an exact model, 0 on a network). A schedule that sends one draw in a few thousand to another mode loses there; 0 leaves the check out.")
    var rareDrawCount: Int?

    @Option(parsing: .unconditional, help: "Confidence with which a tuned configuration must beat the best untuned one on the validation samples (paired bootstrap interval of their RMSE ratio below 1) to be chosen; 0 chooses the least validation RMSE.")
    var confidence: Double = 0.9

    @Option(parsing: .unconditional, help: "Held-out samples the result is reported on.")
    var holdoutCount: Int = 64

    @Option(parsing: .unconditional, help: "Wall-clock budget in seconds for the searches, shared by the NFE budgets.")
    var budgetSeconds: Double = 120

    @Option(parsing: .unconditional, help: "Generations of the evolutionary search (it also stops at the time budget).")
    var generations: Int = 30

    @Option(parsing: .unconditional, help: "Population of the evolutionary search.")
    var population: Int = 50

    @Option(parsing: .unconditional, help: "Steps of the fine logSNR grid time steps are placed on.")
    var fineSteps: Int = 200

    @Flag(inversion: .prefixedNo, help: "Estimate DPM-Solver-v3's model statistics and tune it too; they are written next to the output as NAME.ems.safetensors (usable with `diffuse sample --solver dpm_solver_v3 --statistics`). Default: on where the schedule has a finite log-SNR at its start (not on flow schedules).")
    var statistics: Bool?

    @Option(parsing: .unconditional, help: "Lambda intervals of the statistics grid.")
    var statisticsIntervals: Int = 200

    @Option(parsing: .unconditional, help: "Data samples the statistics are estimated from (mixture samples, or for a network ground-truth samples of noise of their own).")
    var statisticsSamples: Int = 64

    @Option(parsing: .unconditional, help: "Tolerance of the ground-truth solver (default 1e-7 for mixtures, 1e-5 for networks).")
    var tolerance: Double?

    @Flag(help: "Do not read or write the ground-truth cache.")
    var noCache = false

    @OptionGroup var noiseSets: SearchOptions

    func run() throws {
        try noiseSets.check()
        let output = noiseSets.output ?? "tuned.json"
        try OutputKind.checkDirectory(of: output)
        guard (1...100_000).contains(count) else { throw CLIError("--count must be between 1 and 100000, got \(count)") }
        if let rareDrawCount, !(0...1_000_000).contains(rareDrawCount) {
            throw CLIError("--rare-draw-count must be between 0 and 1000000, got \(rareDrawCount)")
        }
        if let validationCount, !(1...1_000_000).contains(validationCount) {
            throw CLIError("--validation-count must be between 1 and 1000000, got \(validationCount)")
        }
        guard confidence >= 0, confidence < 1 else { throw CLIError("--confidence must lie in [0, 1), got \(confidence)") }
        guard (1...100_000).contains(holdoutCount) else { throw CLIError("--holdout-count must be between 1 and 100000, got \(holdoutCount)") }
        guard budgetSeconds.isFinite, budgetSeconds >= 0, budgetSeconds <= 1e6 else {
            throw CLIError("--budget-seconds must be a number of seconds from 0 to 1000000, got \(budgetSeconds)")
        }
        guard (0...10_000).contains(generations) else { throw CLIError("--generations must be between 0 and 10000, got \(generations)") }
        guard (1...10_000).contains(population) else { throw CLIError("--population must be between 1 and 10000, got \(population)") }
        guard (2...2000).contains(fineSteps) else { throw CLIError("--fine-steps must be between 2 and 2000, got \(fineSteps)") }
        guard (10...5000).contains(statisticsIntervals) else { throw CLIError("--statistics-intervals must be between 10 and 5000, got \(statisticsIntervals)") }
        guard (2...100_000).contains(statisticsSamples) else { throw CLIError("--statistics-samples must be between 2 and 100000, got \(statisticsSamples)") }
        let budgets = try SearchOptions.budgets(nfe, in: 1...fineSteps, bound: "--fine-steps (\(fineSteps))")
        let resolved = try source.resolve()
        let (model, schedule) = (resolved.model, resolved.schedule)
        let tolerance = self.tolerance ?? GroundTruth.defaultTolerance(for: model)
        guard tolerance > 0, tolerance < 1 else { throw CLIError("--tolerance must lie in (0, 1), got \(tolerance)") }
        var search = EvolutionarySearch()
        search.generations = generations
        search.population = population
        var settings = Tuner.Settings(budgets: budgets, tuningSamples: count, seed: noiseSets.seed, holdoutSamples: holdoutCount,
                                      holdoutSeed: noiseSets.holdoutSeed, tolerance: tolerance, budgetSeconds: budgetSeconds,
                                      search: search, fineSteps: fineSteps, stepsOffset: resolved.config?.stepsOffset ?? 0)
        let stored = Tuner.teacherValues(settings, dimension: resolved.dimension)
        guard stored <= 250_000_000 else {
            throw CLIError("tune keeps a teacher trajectory of \(stored) floats in memory (2 × samples × \(resolved.dimension) values × (--fine-steps + 1)), more than 250 million; use fewer fine steps")
        }
        let outputURL = URL(fileURLWithPath: output)
        let statisticsName = outputURL.deletingPathExtension().lastPathComponent + ".ems.safetensors"

        settings.validationSamples = validationCount ?? Tuner.defaultValidationSamples(for: model, tuningSamples: count)
        settings.rareDrawSamples = rareDrawCount ?? Tuner.defaultRareDrawSamples(for: model)
        settings.replacementConfidence = confidence > 0 ? confidence : nil
        let statistics = self.statistics ?? Tuner.statisticsApply(to: schedule)
        if self.statistics == nil && !statistics {
            print("note: DPM-Solver-v3 is not tuned: its statistics need a finite log-SNR at the start of '\(schedule.name)'")
        }
        if statistics {
            settings.statisticsFile = statisticsName
            settings.statisticsIntervals = statisticsIntervals
            settings.statisticsSamples = statisticsSamples
        }
        let tuner = Tuner(model: model, schedule: schedule, settings: settings,
                          cacheDirectory: noCache ? nil : GroundTruth.defaultCacheDirectory)
        print("tuning \(model.name) on \(schedule.name): \(count) tuning samples (seed \(noiseSets.seed)), \(settings.validationSamples ?? count) validation samples (seed \(tuner.validationSeed)), \(holdoutCount) held-out samples (seed \(noiseSets.holdoutSeed)), budget \(budgetSeconds) s")
        let file = try tuner.run { print($0) }
        print("On held-out noise (seed \(noiseSets.holdoutSeed), \(holdoutCount) samples; finalists were ranked on validation noise, seed \(tuner.validationSeed)):")
        print("NFE  tuned (held-out RMSE)  best untuned (held-out RMSE)  ratio  method")
        for c in file.configurations {
            print(String(format: "%3d  %.4e             %.4e (%@)  %.2f  %@", c.nfe, c.heldOutRMSE ?? .nan, c.untunedHeldOutRMSE ?? .nan,
                         c.untunedLabel, c.heldOutRatio ?? .nan, c.method))
        }
        if let estimated = tuner.statistics {
            let url = outputURL.deletingLastPathComponent().appendingPathComponent(statisticsName)
            try estimated.write(to: url)
            print("wrote DPM-Solver-v3 statistics \(url.path)")
        }
        try AtomicFile.write(try file.encoded(), to: outputURL)
        print(String(format: "tuned in %.1f s; wrote %@ (figures on held-out noise, seed %llu)", file.seconds, output, noiseSets.holdoutSeed))
    }
}
