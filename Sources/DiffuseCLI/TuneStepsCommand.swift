import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse tune-steps`: a step schedule searched on the model's own trajectories (GITS-style
/// dynamic programming over a fine grid), reported against a standard spacing on held-out noise.
struct TuneStepsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune-steps",
        abstract: "Search the step schedule for each NFE on the model's own trajectories (GITS-style) and compare it on held-out noise.",
        discussion: """
        A DPM-Solver++(2M) teacher on a fine grid (--fine-steps, uniform in log-SNR) runs from --count samples of --seed; \
        dynamic programming picks, for each NFE, the path through the fine grid whose summed one-step DDIM error against \
        the teacher is least. The solver then runs on that grid and on --baseline from --holdout-seed, and both are \
        measured against the ground-truth ODE solution. Use a result with `diffuse sample --sigmas ...` (printed).
        """
    )

    @OptionGroup var source: ModelOptions

    @Option(help: "The solver the schedule is for.")
    var solver: String = "ddim"

    @Option(help: "Comma-separated NFE budgets.")
    var nfe: String = "5,10"

    @Option(help: "The spacing the result is compared with.")
    var baseline: String = "karras"

    @Option(parsing: .unconditional, help: "Steps of the fine teacher grid.")
    var fineSteps: Int = 100

    @Option(parsing: .unconditional, help: "Tuning samples.")
    var count: Int = 64

    @OptionGroup var noiseSets: SearchOptions

    @Option(parsing: .unconditional, help: "Tolerance of the ground-truth solver (default 1e-7 for mixtures, 1e-5 for networks).")
    var tolerance: Double?

    func run() throws {
        try noiseSets.check()
        guard (1...100_000).contains(count) else { throw CLIError("--count must be between 1 and 100000, got \(count)") }
        guard (2...2000).contains(fineSteps) else { throw CLIError("--fine-steps must be between 2 and 2000, got \(fineSteps)") }
        guard SolverCatalog.entry(named: solver) != nil else {
            throw CLIError("unknown solver '\(solver)' (known: \(SolverCatalog.names.joined(separator: ", ")))")
        }
        guard let baselineSpacing = StepSpacing(name: baseline) else {
            throw CLIError("unknown step schedule '\(baseline)' (known: \(StepSpacing.names.joined(separator: ", ")))")
        }
        let budgets = try SearchOptions.budgets(nfe, in: 1...fineSteps, bound: "--fine-steps (\(fineSteps))")
        let resolved = try source.resolve()
        let (model, schedule) = (resolved.model, resolved.schedule)
        let offset = resolved.config?.stepsOffset ?? 0
        let tolerance = self.tolerance ?? GroundTruth.defaultTolerance(for: model)
        guard tolerance > 0, tolerance < 1 else { throw CLIError("--tolerance must lie in (0, 1), got \(tolerance)") }
        let shape = [count] + model.sampleShape
        let search = TrajectoryStepSearch(fineSteps: fineSteps)
        let stored = search.storedValues(samples: count, dimension: resolved.dimension)
        guard stored <= 250_000_000 else {
            throw CLIError("tune-steps keeps the teacher trajectory in memory: 2 × --count × \(resolved.dimension) values × (--fine-steps + 1) = \(stored) floats exceeds 250 million; use fewer samples or fine steps")
        }
        let comparison = SamplerComparison(model: model, schedule: schedule, noise: SeededNoise(seed: noiseSets.holdoutSeed).initialNoise(shape: shape),
                                           groundTruth: GroundTruth(tolerance: tolerance), stepsOffset: offset)
        comparison.measuresDistances = false
        let (teacherEvaluations, rows) = try search.compare(solver: solver, baseline: baselineSpacing, budgets: budgets, model: model,
                                                            schedule: schedule, tuningNoise: SeededNoise(seed: noiseSets.seed).initialNoise(shape: shape),
                                                            comparison: comparison, stepsOffset: offset)
        print("teacher: DPM-Solver++(2M), \(fineSteps) logsnr steps, \(teacherEvaluations) evaluations on \(count) tuning samples (seed \(noiseSets.seed))")
        print("model \(model.name), \(solver); RMSE to the ground truth on \(count) held-out samples (seed \(noiseSets.holdoutSeed))")
        print("NFE  steps  searched      \(baseline.padding(toLength: 12, withPad: " ", startingAt: 0))  ratio")
        for r in rows {
            print(String(format: "%3d  %5d  %.4e  %.4e  %.2f", r.nfe, r.steps, r.heldOutRMSE, r.baselineRMSE, r.ratio))
        }
        for r in rows {
            print("NFE \(r.nfe): --sigmas " + r.sigmas.map { String(format: "%.6g", $0) }.joined(separator: ","))
        }
        try noiseSets.write(rows)
    }
}
