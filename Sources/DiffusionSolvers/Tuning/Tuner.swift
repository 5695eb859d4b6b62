import Foundation

/// Tunes sampling to one model: for each NFE budget it measures the standard configurations, then
/// searches time steps and per-step solver decisions, and keeps what is best on tuning noise,
/// reporting it next to the best untuned configuration on held-out noise.
///
/// For each budget, in order, within the time budget:
/// 1. every untuned solver × spacing of ``Settings`` on the tuning samples (the baseline);
/// 2. a GITS-style step schedule (``TrajectoryStepSearch``), from a fine teacher run once;
/// 3. an evolutionary search (``EvolutionarySearch``) over time steps and UniPC's per-step
///    decisions, seeded with the best grids of steps 1 and 2;
/// 4. DC-Solver's compensation ratios (``DynamicCompensationFit``) on the best grids so far;
/// 5. the winner on the tuning samples is measured, with the baseline, on held-out samples.
/// Every error is the RMSE of the endpoints to the ground-truth solution of the probability-flow
/// ODE (``SchedulingObjective``).
public final class Tuner {
    public struct Settings: Sendable {
        public var budgets: [Int]
        public var tuningSamples: Int
        public var seed: UInt64
        public var holdoutSamples: Int
        public var holdoutSeed: UInt64
        public var tolerance: Double
        /// Wall-clock budget for all searches, shared equally by the NFE budgets.
        public var budgetSeconds: Double
        /// The evolutionary search's settings (its seed is replaced by ``seed``).
        public var search: EvolutionarySearch
        /// Steps of the fine grid the searches place time steps on.
        public var fineSteps: Int
        /// The untuned configurations measured first (the baseline).
        public var untunedSolvers: [String]
        public var untunedSpacings: [StepSpacing]
        /// The diffusers `steps_offset` of timestep spacings.
        public var stepsOffset: Int
        /// Tuning samples DC-Solver's ratios are fitted on (the paper uses 10).
        public var compensationSamples: Int = 16

        public init(budgets: [Int], tuningSamples: Int = 64, seed: UInt64 = 0, holdoutSamples: Int = 64, holdoutSeed: UInt64 = 1,
                    tolerance: Double = 1e-7, budgetSeconds: Double = 300, search: EvolutionarySearch = EvolutionarySearch(),
                    fineSteps: Int = 200,
                    untunedSolvers: [String] = ["dpmpp_2m", "dpmpp_3m", "uni_pc", "uni_pc_bh2", "deis", "ipndm", "dpmpp_3s_diffusers"],
                    untunedSpacings: [StepSpacing] = [.karras(rho: 7), .logSNR, .timeUniform, .timeQuadratic],
                    stepsOffset: Int = 0) {
            self.budgets = budgets; self.tuningSamples = tuningSamples; self.seed = seed
            self.holdoutSamples = holdoutSamples; self.holdoutSeed = holdoutSeed; self.tolerance = tolerance
            self.budgetSeconds = budgetSeconds; self.search = search; self.fineSteps = fineSteps
            self.untunedSolvers = untunedSolvers; self.untunedSpacings = untunedSpacings; self.stepsOffset = stepsOffset
        }
    }

    public let model: any DiffusionModel
    public let schedule: any NoiseSchedule
    public let settings: Settings
    public let cacheDirectory: URL?

    public init(model: any DiffusionModel, schedule: any NoiseSchedule, settings: Settings,
                cacheDirectory: URL? = GroundTruth.defaultCacheDirectory) {
        self.model = model; self.schedule = schedule; self.settings = settings; self.cacheDirectory = cacheDirectory
    }

    /// A measured configuration: how to build it, and its error on the tuning samples.
    struct Candidate {
        var configuration: TunedConfiguration
        var solver: any Solver
        var grid: TimeGrid
    }

    /// Runs the tuning; `log` receives one line per stage.
    public func run(log: (String) -> Void = { _ in }) throws -> TunedFile {
        let s = settings
        guard !s.budgets.isEmpty, s.budgets.allSatisfy({ $0 >= 1 }) else {
            throw SamplingError.invalidConfiguration("tune: NFE budgets must be positive")
        }
        guard s.seed != s.holdoutSeed else {
            throw SamplingError.invalidConfiguration("tune: the tuning and held-out seeds must differ")
        }
        guard s.tuningSamples >= 1, s.holdoutSamples >= 1 else {
            throw SamplingError.invalidConfiguration("tune: tuning and held-out sample counts must be positive")
        }
        guard s.budgetSeconds.isFinite, s.budgetSeconds >= 0 else {
            throw SamplingError.invalidConfiguration("tune: the time budget must be a non-negative number of seconds")
        }
        let started = ContinuousClock.now
        let groundTruth = GroundTruth(tolerance: s.tolerance, cacheDirectory: cacheDirectory)
        let tuningNoise = SeededNoise(seed: s.seed).initialNoise(shape: [s.tuningSamples] + model.sampleShape)
        let heldOutNoise = SeededNoise(seed: s.holdoutSeed).initialNoise(shape: [s.holdoutSamples] + model.sampleShape)
        let objective = SchedulingObjective(model: model, schedule: schedule, noise: tuningNoise, groundTruth: groundTruth)
        let heldOut = SchedulingObjective(model: model, schedule: schedule, noise: heldOutNoise, groundTruth: groundTruth)

        let fineGrid = try StepSchedule(spacing: .logSNR, steps: s.fineSteps, final: .zero, stepsOffset: s.stepsOffset).grid(on: schedule)
        let teacher = try TrajectoryStepSearch(fineSteps: s.fineSteps).costs(model: model, schedule: schedule, noise: tuningNoise,
                                                                              stepsOffset: s.stepsOffset)
        log("teacher for the step search: DPM-Solver++(2M), \(s.fineSteps) logsnr steps, \(teacher.evaluations) evaluations")
        var configurations: [TunedConfiguration] = []
        for (position, nfe) in s.budgets.enumerated() {
            // 1. The untuned baseline.
            var untuned: [(label: String, rmse: Double, grid: TimeGrid, solver: any Solver)] = []
            for name in s.untunedSolvers {
                let solver = try SolverCatalog.solver(named: name)
                for spacing in s.untunedSpacings {
                    let make = { (steps: Int) in
                        try StepSchedule(spacing: spacing, steps: steps, final: .zero, stepsOffset: s.stepsOffset).grid(on: self.schedule)
                    }
                    guard let (_, grid) = try? solver.steps(forBudget: nfe, grid: make),
                          let rmse = try? objective.error(solver, grid: grid) else { continue }
                    untuned.append(("\(name) \(spacing.name)", rmse, grid, solver))
                }
            }
            untuned.sort { $0.rmse < $1.rmse }
            guard let baseline = untuned.first else {
                throw SamplingError.invalidConfiguration("tune: no untuned configuration runs within \(nfe) model evaluations")
            }
            log(String(format: "NFE %d: best untuned %@ RMSE %.4e (of %d configurations)", nfe, baseline.label, baseline.rmse, untuned.count))
            var best = TunedConfiguration(nfe: nfe, solver: baseline.solver.name, sigmas: baseline.grid.levels.map { schedule.displaySigma($0) },
                                          method: "untuned: \(baseline.label)", tuningRMSE: baseline.rmse,
                                          untunedLabel: baseline.label, untunedTuningRMSE: baseline.rmse)
            var bestSolver: any Solver = baseline.solver
            var bestGrid = baseline.grid

            // 2. Seeds for the search: the best untuned grids with nfe steps, and the GITS path.
            var seeds: [SolverSchedule] = []
            var seen = Set<[Double]>()
            for candidate in untuned where candidate.grid.steps == nfe && seeds.count < 6 {
                let sigmas = candidate.grid.levels.map { schedule.displaySigma($0) }
                guard seen.insert(sigmas).inserted else { continue }
                for variant in [UniPC.Variant.bh1, .bh2] {
                    seeds.append(SolverSchedule(grid: candidate.grid, schedule: schedule, variant: variant))
                }
            }
            if nfe <= s.fineSteps, let gits = try? teacher.grid(steps: nfe) {
                let schedule = SolverSchedule(grid: gits, schedule: schedule, variant: .bh1)
                seeds.append(schedule)
                if let rmse = try? objective.error(schedule) {
                    log(String(format: "NFE %d: GITS step schedule with UniPC RMSE %.4e", nfe, rmse))
                }
            }

            // 3. The evolutionary search, in this budget's share of the remaining time.
            let remaining = s.budgetSeconds - (ContinuousClock.now - started).seconds
            let share = Swift.max(remaining, 0) / Double(s.budgets.count - position)
            var search = s.search
            search.seed = s.seed &+ UInt64(nfe)
            if nfe <= s.fineSteps {
                let result = try search.search(fineGrid: fineGrid, schedule: schedule, steps: nfe, seeds: seeds,
                                               score: { try objective.error($0) },
                                               deadline: ContinuousClock.now + .milliseconds(Int64(share * 1000)))
                log(String(format: "NFE %d: evolutionary search, %d candidates in %d generations%@: RMSE %.4e (seeds %.4e) — %@",
                           nfe, result.evaluated, result.generations, result.stoppedByDeadline ? " (time budget reached)" : "",
                           result.score, result.seedScore, result.best.summary))
                if result.score < best.tuningRMSE {
                    best = TunedConfiguration(nfe: nfe, solver: "solver_schedule", sigmas: result.best.sigmas, decisions: result.best,
                                              method: "evolutionary search over time steps and UniPC decisions",
                                              tuningRMSE: result.score, untunedLabel: baseline.label, untunedTuningRMSE: baseline.rmse)
                    bestSolver = try result.best.solver()
                    bestGrid = try result.best.grid(on: schedule)
                }
            }

            // 4. DC-Solver: compensation ratios fitted against the ground-truth trajectory on the
            //    best grid so far and on the best untuned one (UniPC bh2-2, the reference's
            //    setting, and bh1-3).
            var dcGrids = [(bestGrid, best.solver == "solver_schedule" ? "the searched grid" : "the \(baseline.label) grid")]
            if let other = untuned.first(where: { $0.grid.steps == nfe }), other.grid != bestGrid { dcGrids.append((other.grid, "the \(other.label) grid")) }
            let dcNoise = SampleTensor(shape: [Swift.min(s.compensationSamples, s.tuningSamples)] + model.sampleShape,
                                       scalars: Array(tuningNoise.scalars.prefix(Swift.min(s.compensationSamples, s.tuningSamples) * tuningNoise.sampleCount)))
            for (grid, gridLabel) in dcGrids where grid.steps == nfe && grid.steps >= 3 {
                let trajectory = try DynamicCompensationFit.groundTruth(model: model, schedule: schedule, grid: grid, noise: dcNoise,
                                                                        tolerance: s.tolerance)
                for (variant, order) in [(UniPC.Variant.bh2, 2), (.bh1, 3)] {
                    let base = DCSolver(variant: variant, order: order)
                    guard let fit = try? DynamicCompensationFit().fit(model: model, schedule: schedule, grid: grid, solver: base,
                                                                        noise: dcNoise, groundTruth: trajectory) else { continue }
                    var fitted = base
                    fitted.ratios = fit.ratios
                    let rmse = try objective.error(fitted, grid: grid)
                    log(String(format: "NFE %d: DC-Solver (UniPC %@-%d) ratios %@ fitted on %d samples: RMSE %.4e", nfe, variant.rawValue, order,
                               fit.ratios.map { String(format: "%.3f", $0) }.joined(separator: ","), dcNoise.batchSize, rmse))
                    if rmse < best.tuningRMSE {
                        best = TunedConfiguration(nfe: nfe, solver: "dc_solver", sigmas: grid.levels.map { schedule.displaySigma($0) },
                                                  ratios: fit.ratios, variant: variant, order: order,
                                                  method: "DC-Solver ratios (UniPC \(variant.rawValue), order \(order)) on \(gridLabel)",
                                                  tuningRMSE: rmse, untunedLabel: baseline.label, untunedTuningRMSE: baseline.rmse)
                        bestSolver = fitted
                        bestGrid = grid
                    }
                }
            }

            // 5. Held-out figures.
            best.heldOutRMSE = try heldOut.error(bestSolver, grid: bestGrid)
            best.untunedHeldOutRMSE = try heldOut.error(baseline.solver, grid: baseline.grid)
            log(String(format: "NFE %d: tuned %@ — held-out RMSE %.4e vs untuned %@ %.4e (ratio %.2f)", nfe, best.method,
                       best.heldOutRMSE!, baseline.label, best.untunedHeldOutRMSE!, best.heldOutRMSE! / best.untunedHeldOutRMSE!))
            configurations.append(best)
        }
        return TunedFile(model: model.name, modelFingerprint: (model as? any Fingerprinted)?.fingerprint ?? nil, schedule: schedule.name,
                         tuningSeed: s.seed, tuningSamples: s.tuningSamples, holdoutSeed: s.holdoutSeed, holdoutSamples: s.holdoutSamples,
                         tolerance: s.tolerance, seconds: (ContinuousClock.now - started).seconds, budgetSeconds: s.budgetSeconds,
                         configurations: configurations)
    }
}

extension TunedConfiguration {
    /// The solver this configuration runs (statistics files are read relative to `directory`).
    public func makeSolver(relativeTo directory: URL? = nil) throws -> any Solver {
        if let decisions { return try decisions.solver() }
        switch solver {
        case "dc_solver":
            let dc = DCSolver(variant: variant ?? .bh2, order: order ?? 2, ratios: ratios ?? [])
            try dc.validate()
            return dc
        default:
            return try SolverCatalog.solver(named: solver, options: .init(order: order))
        }
    }
}
