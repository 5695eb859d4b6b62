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
/// 4. DC-Solver's compensation ratios (``DynamicCompensationFit``) and DPM-Solver-v3 with
///    statistics estimated from the model (``ModelStatistics``) on the searched grid and the best
///    untuned one;
/// 5. the finalists (the three best untuned configurations, the search's best candidates, the
///    fitted solvers) are ranked on validation noise, which tuning never saw. A tuned finalist
///    replaces the best untuned configuration only when it beats it there beyond chance: the
///    paired bootstrap interval of its validation RMSE over the untuned one's
///    (``Settings/replacementConfidence``) lies below 1 (``choose(validationRMSE:sampleErrors:isUntuned:confidence:seed:)``).
///    The choice is measured, next to the best untuned configuration, on held-out noise.
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
        /// Validation samples the finalists are ranked on; `nil` for as many as tuning samples. The
        /// error of a few samples that change mixture component dominates an RMSE, so ranking
        /// needs more samples than searching.
        public var validationSamples: Int?
        /// The confidence of the paired bootstrap interval (over validation samples) of a tuned
        /// finalist's RMSE over the best untuned one's, which must lie below 1 for the tuned
        /// finalist to be chosen; `nil` chooses the least validation RMSE. A search that ranks
        /// hundreds of candidates on tuning noise finds some that are only lucky there, and an
        /// advantage of a few percent on validation noise is then often noise too.
        public var replacementConfidence: Double? = 0.9
        /// Tuning samples DC-Solver's ratios are fitted on (the paper uses 10).
        public var compensationSamples: Int = 16
        /// The spacing DC-Solver's ratios are also fitted on at every budget, for the cascade
        /// polynomial regression that predicts them at other step counts.
        public var compensationSpacing: StepSpacing = .logSNR
        /// Where DPM-Solver-v3's statistics will be written, relative to the tuned file; `nil`
        /// leaves DPM-Solver-v3 out.
        public var statisticsFile: String?
        /// λ intervals and data samples of the statistics.
        public var statisticsIntervals: Int = 200
        public var statisticsSamples: Int = 128

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

    /// A finalist: its configuration, solver and grid, and whether it is a standard (untuned)
    /// configuration.
    struct Candidate {
        var configuration: TunedConfiguration
        var solver: any Solver
        var grid: TimeGrid
        var isUntuned = false
    }

    /// The most tuning samples the GITS teacher runs on (its trajectory is kept in memory).
    public static let teacherSamples = 64

    /// DPM-Solver-v3's statistics, when the run estimated them (written by the caller to
    /// ``Settings/statisticsFile``, which the tuned configurations name).
    public private(set) var statistics: ModelStatistics?

    /// Runs the tuning; `log` receives one line per stage.
    public func run(log: (String) -> Void = { _ in }) throws -> TunedFile {
        let s = settings
        guard !s.budgets.isEmpty, s.budgets.allSatisfy({ $0 >= 1 }) else {
            throw SamplingError.invalidConfiguration("tune: NFE budgets must be positive")
        }
        guard s.seed != s.holdoutSeed else {
            throw SamplingError.invalidConfiguration("tune: the tuning and held-out seeds must differ")
        }
        guard s.tuningSamples >= 1, s.holdoutSamples >= 1, (s.validationSamples ?? 1) >= 1 else {
            throw SamplingError.invalidConfiguration("tune: tuning and held-out sample counts must be positive")
        }
        guard s.budgetSeconds.isFinite, s.budgetSeconds >= 0 else {
            throw SamplingError.invalidConfiguration("tune: the time budget must be a non-negative number of seconds")
        }
        if let c = s.replacementConfidence, !(c > 0 && c < 1) {
            throw SamplingError.invalidConfiguration("tune: the replacement confidence must lie in (0, 1), got \(c)")
        }
        let started = ContinuousClock.now
        let groundTruth = GroundTruth(tolerance: s.tolerance, cacheDirectory: cacheDirectory)
        let shape = [s.tuningSamples] + model.sampleShape
        let tuningNoise = SeededNoise(seed: s.seed).initialNoise(shape: shape)
        let validationNoise = SeededNoise(seed: validationSeed).initialNoise(shape: [s.validationSamples ?? s.tuningSamples] + model.sampleShape)
        let heldOutNoise = SeededNoise(seed: s.holdoutSeed).initialNoise(shape: [s.holdoutSamples] + model.sampleShape)
        let objective = SchedulingObjective(model: model, schedule: schedule, noise: tuningNoise, groundTruth: groundTruth)
        let validation = SchedulingObjective(model: model, schedule: schedule, noise: validationNoise, groundTruth: groundTruth)
        let heldOut = SchedulingObjective(model: model, schedule: schedule, noise: heldOutNoise, groundTruth: groundTruth)

        let fineGrid = try StepSchedule(spacing: .logSNR, steps: s.fineSteps, final: .zero, stepsOffset: s.stepsOffset).grid(on: schedule)
        let teacherCount = Swift.min(s.tuningSamples, Self.teacherSamples)
        let teacherNoise = tuningNoise.firstSamples(teacherCount)
        let teacher = try TrajectoryStepSearch(fineSteps: s.fineSteps).costs(model: model, schedule: schedule, noise: teacherNoise,
                                                                              stepsOffset: s.stepsOffset)
        log("teacher for the GITS step search: DPM-Solver++(2M), \(s.fineSteps) logsnr steps on \(teacherCount) tuning samples, \(teacher.evaluations) evaluations")
        if s.statisticsFile != nil && s.statisticsIntervals >= 1 {
            statistics = try estimateStatistics(tuning: objective, fineGrid: fineGrid, log: log)
        }

        var configurations: [TunedConfiguration] = []
        var compensationSamples: [CascadePolynomialRegression.Sample] = []
        for (position, nfe) in s.budgets.enumerated() {
            let budgetStarted = ContinuousClock.now
            let remaining = s.budgetSeconds - (budgetStarted - started).seconds
            let share = Swift.max(remaining, 0) / Double(s.budgets.count - position)
            var finalists: [Candidate] = []
            func sigmas(_ grid: TimeGrid) -> [Double] { grid.levels.map { schedule.displaySigma($0) } }

            // 1. The untuned configurations.
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
            guard let bestUntuned = untuned.first else {
                throw SamplingError.invalidConfiguration("tune: no untuned configuration runs within \(nfe) model evaluations")
            }
            log(String(format: "NFE %d: best untuned %@ RMSE %.4e (of %d configurations)", nfe, bestUntuned.label, bestUntuned.rmse, untuned.count))
            for u in untuned.prefix(3) {
                finalists.append(Candidate(configuration: TunedConfiguration(
                    nfe: nfe, solver: u.solver.name, sigmas: sigmas(u.grid), method: TunedConfiguration.keptPrefix + u.label, tuningRMSE: u.rmse,
                    untunedLabel: u.label, untunedTuningRMSE: u.rmse), solver: u.solver, grid: u.grid, isUntuned: true))
            }

            // 2. Seeds for the search: the best untuned grids with nfe steps, and the GITS path.
            var seeds: [SolverSchedule] = []
            var seen = Set<[Double]>()
            for candidate in untuned where candidate.grid.steps == nfe && seeds.count < 6 {
                guard seen.insert(sigmas(candidate.grid)).inserted else { continue }
                for variant in [UniPC.Variant.bh1, .bh2] {
                    seeds.append(SolverSchedule(grid: candidate.grid, schedule: schedule, variant: variant))
                }
            }
            if nfe <= s.fineSteps, let gits = try? teacher.grid(steps: nfe) {
                let gitsSchedule = SolverSchedule(grid: gits, schedule: schedule, variant: .bh1)
                seeds.append(gitsSchedule)
                if let rmse = try? objective.error(gitsSchedule) {
                    log(String(format: "NFE %d: GITS step schedule with UniPC RMSE %.4e", nfe, rmse))
                }
            }

            // 3. The evolutionary search, in most of this budget's share of the time (the rest is
            //    for the fits below and the validation).
            var searchedGrid: TimeGrid?
            if nfe <= s.fineSteps {
                var search = s.search
                search.seed = s.seed &+ UInt64(nfe)
                // Each generation's leader is a finalist too: ranked on validation noise, the
                // sequence of leaders stops where fitting the tuning samples stops generalizing.
                var leaders: [(SolverSchedule, Double)] = []
                let result = try search.search(fineGrid: fineGrid, schedule: schedule, steps: nfe, seeds: seeds,
                                               score: { try objective.error($0) },
                                               deadline: budgetStarted + .milliseconds(Int64(0.8 * share * 1000)),
                                               progress: { _, score, leader in if leaders.last?.0 != leader { leaders.append((leader, score)) } })
                log(String(format: "NFE %d: evolutionary search, %d candidates in %d generations%@: RMSE %.4e (seeds %.4e) — %@",
                           nfe, result.evaluated, result.generations, result.stoppedByDeadline ? " (time budget reached)" : "",
                           result.score, result.seedScore, result.best.summary))
                var finalistSchedules = Array(zip(result.top, result.topScores))
                finalistSchedules += leaders.filter { !result.top.contains($0.0) }
                for (schedule, score) in finalistSchedules {
                    finalists.append(Candidate(configuration: TunedConfiguration(
                        nfe: nfe, solver: "solver_schedule", sigmas: schedule.sigmas, decisions: schedule,
                        method: "evolutionary search (time steps and UniPC decisions): \(schedule.summary)", tuningRMSE: score,
                        untunedLabel: bestUntuned.label, untunedTuningRMSE: bestUntuned.rmse),
                        solver: try schedule.solver(), grid: try schedule.grid(on: self.schedule)))
                }
                searchedGrid = try result.best.grid(on: schedule)
            }

            // 4. DC-Solver and DPM-Solver-v3 on the searched grid and the best untuned one.
            var grids: [(TimeGrid, String)] = []
            if let searchedGrid { grids.append((searchedGrid, "the searched grid")) }
            if let u = untuned.first(where: { $0.grid.steps == nfe }) { grids.append((u.grid, "the \(u.label) grid")) }
            let ruleGrid = try StepSchedule(spacing: s.compensationSpacing, steps: nfe, final: .zero, stepsOffset: s.stepsOffset).grid(on: schedule)
            if !grids.contains(where: { $0.0 == ruleGrid }) { grids.append((ruleGrid, "the \(s.compensationSpacing.name) grid")) }
            let fits = try compensated(grids: grids, nfe: nfe, tuningNoise: tuningNoise, objective: objective,
                                       untuned: bestUntuned, log: log)
            finalists += fits
            if let rule = fits.first(where: { $0.grid == ruleGrid && $0.configuration.variant == .bh2 }), let ratios = rule.configuration.ratios {
                compensationSamples.append(.init(steps: nfe, guidance: 0, ratios: ratios))
            }
            if let statistics, let file = s.statisticsFile {
                for (grid, label) in grids {
                    guard let snapped = try? statistics.snapped(grid, schedule: schedule) else { continue }
                    for order in [2, 3] {
                        let pseudo = nfe <= 5 && order == 3
                        let solver = DPMSolverV3(statistics: statistics, solverOrder: order, predictorPseudo: pseudo)
                        guard let rmse = try? objective.error(solver, grid: snapped) else { continue }
                        log(String(format: "NFE %d: DPM-Solver-v3 order %d%@ on %@: RMSE %.4e", nfe, order, pseudo ? " (pseudo)" : "", label, rmse))
                        var c = TunedConfiguration(nfe: nfe, solver: "dpm_solver_v3", sigmas: sigmas(snapped), order: order,
                                                   statistics: file, method: "DPM-Solver-v3 order \(order) on \(label)", tuningRMSE: rmse,
                                                   untunedLabel: bestUntuned.label, untunedTuningRMSE: bestUntuned.rmse)
                        c.predictorPseudo = pseudo
                        finalists.append(Candidate(configuration: c, solver: solver, grid: snapped))
                    }
                }
            }

            // 5. The finalists ranked on validation noise; the choice and the best untuned
            //    configuration measured on held-out noise.
            var sampleErrors: [[Double]] = []
            for i in finalists.indices {
                let result = try? validation.result(finalists[i].solver, grid: finalists[i].grid)
                finalists[i].configuration.validationRMSE = result.map(\.rmse).flatMap { $0.isFinite ? $0 : nil } ?? .infinity
                sampleErrors.append(result?.sampleErrors ?? [])
            }
            func validationError(_ c: Candidate) -> Double { c.configuration.validationRMSE ?? .infinity }
            let choice = Self.choose(validationRMSE: finalists.map(validationError), sampleErrors: sampleErrors,
                                     isUntuned: finalists.map(\.isUntuned), confidence: s.replacementConfidence, seed: s.seed &+ UInt64(nfe))
            let winner = finalists[choice.chosen], reference = finalists[choice.reference]
            if let rejected = choice.rejected {
                log(String(format: "NFE %d: the best tuned finalist, %@ (validation RMSE %.4e, %.3f [%.3f–%.3f] of the untuned one), is not better beyond chance; the untuned configuration is kept",
                           nfe, finalists[rejected.index].configuration.method, validationError(finalists[rejected.index]),
                           validationError(finalists[rejected.index]) / validationError(reference), rejected.interval.lowerBound, rejected.interval.upperBound))
            }
            var chosen = winner.configuration
            chosen.untunedLabel = reference.configuration.untunedLabel
            chosen.untunedTuningRMSE = reference.configuration.tuningRMSE
            chosen.heldOutRMSE = try heldOut.error(winner.solver, grid: winner.grid)
            chosen.untunedHeldOutRMSE = try heldOut.error(reference.solver, grid: reference.grid)
            let beyondChance = choice.interval.map {
                String(format: " (ratio %.3f, interval %.3f–%.3f)", validationError(winner) / validationError(reference), $0.lowerBound, $0.upperBound)
            } ?? ""
            log(String(format: "NFE %d: chosen on validation noise (seed %llu): %@ — validation RMSE %.4e vs untuned %@ %.4e%@",
                       nfe, validationSeed, chosen.method, validationError(winner), chosen.untunedLabel, validationError(reference), beyondChance))
            log(String(format: "NFE %d: held-out RMSE %.4e vs untuned %.4e (ratio %.2f)", nfe, chosen.heldOutRMSE!,
                       chosen.untunedHeldOutRMSE!, chosen.heldOutRMSE! / chosen.untunedHeldOutRMSE!))
            configurations.append(chosen)
        }
        var file = TunedFile(model: model.name, modelFingerprint: (model as? any Fingerprinted)?.fingerprint ?? nil, schedule: schedule.name,
                             tuningSeed: s.seed, tuningSamples: s.tuningSamples, holdoutSeed: s.holdoutSeed, holdoutSamples: s.holdoutSamples,
                             tolerance: s.tolerance, seconds: (ContinuousClock.now - started).seconds, budgetSeconds: s.budgetSeconds,
                             configurations: configurations)
        // DC-Solver's ratios at other budgets: CPR in the step position (up to cubic, the
        // reference's degree) and the step count (up to quadratic), as the fitted ratios allow.
        // The highest degrees the fitted ratios determine.
        let distinct = Set(compensationSamples.map(\.steps)).count
        let degrees = (1...3).reversed().flatMap { p in (0...Swift.max(Swift.min(distinct - 1, 2), 0)).reversed().map { (p, $0) } }
        if distinct >= 1, let regression = degrees.lazy.compactMap({ (p, n) in
            try? CascadePolynomialRegression.fit(compensationSamples, positionDegree: p, guidanceDegree: 0, stepsDegree: n)
        }).first {
            file.compensation = CompensationRule(spacing: s.compensationSpacing.name, variant: .bh2, order: 2,
                                                 fittedSteps: compensationSamples.map(\.steps), regression: regression)
            log("DC-Solver ratios for other budgets: cascade polynomial regression on \(s.compensationSpacing.name) grids fitted at NFE \(compensationSamples.map { String($0.steps) }.joined(separator: ", "))")
        }
        file.seconds = (ContinuousClock.now - started).seconds
        return file
    }

    /// Which finalist to choose from their validation errors: the untuned one with the least RMSE
    /// (the reference), unless a tuned one beats it beyond chance.
    ///
    /// Tuned finalists are tried in order of validation RMSE (ties by position); the first whose
    /// paired bootstrap interval of RMSE ratios to the reference
    /// (``Metrics/bootstrapRatioInterval(_:_:resamples:confidence:seed:)`` over `sampleErrors`,
    /// at `confidence`) lies below 1 is chosen. With `confidence == nil`, or when no untuned
    /// finalist ran on the validation samples, the least RMSE is chosen.
    /// - Returns: the chosen index, the reference's, the interval that let a tuned finalist replace
    ///   the reference, and the best tuned finalist with its interval when it was passed over for
    ///   the reference.
    static func choose(validationRMSE: [Double], sampleErrors: [[Double]], isUntuned: [Bool], confidence: Double?, seed: UInt64)
        -> (chosen: Int, reference: Int, interval: ClosedRange<Double>?, rejected: (index: Int, interval: ClosedRange<Double>)?) {
        let order = validationRMSE.indices.sorted { validationRMSE[$0] != validationRMSE[$1] ? validationRMSE[$0] < validationRMSE[$1] : $0 < $1 }
        let reference = order.first { isUntuned[$0] }!
        // Without a confidence, or when no untuned finalist ran, the least RMSE.
        guard let confidence, validationRMSE[reference].isFinite, !sampleErrors[reference].isEmpty else { return (order[0], reference, nil, nil) }
        var rejected: (index: Int, interval: ClosedRange<Double>)?
        for i in order where !isUntuned[i] && validationRMSE[i] < validationRMSE[reference] {
            guard sampleErrors[i].count == sampleErrors[reference].count, !sampleErrors[i].isEmpty else { continue }
            let interval = Metrics.bootstrapRatioInterval(sampleErrors[i], sampleErrors[reference], confidence: confidence, seed: seed)
            if interval.upperBound < 1 { return (i, reference, interval, nil) }
            if rejected == nil { rejected = (i, interval) }
        }
        return (reference, reference, nil, rejected)
    }

    /// The seed of the validation noise the finalists are ranked on: neither the tuning nor the
    /// held-out seed.
    public var validationSeed: UInt64 {
        var v = settings.seed &+ 0x9E37_79B9_7F4A_7C15
        while v == settings.holdoutSeed || v == settings.seed { v &+= 1 }
        return v
    }

    /// DC-Solver's ratios fitted on each of `grids` for two UniPC bases (bh2 order 2, the
    /// reference's setting, and bh1 order 3), on the first ``Settings/compensationSamples`` tuning
    /// samples against their ground-truth trajectory.
    private func compensated(grids: [(TimeGrid, String)], nfe: Int, tuningNoise: SampleTensor, objective: SchedulingObjective,
                             untuned: (label: String, rmse: Double, grid: TimeGrid, solver: any Solver),
                             log: (String) -> Void) throws -> [Candidate] {
        let count = Swift.min(settings.compensationSamples, tuningNoise.batchSize)
        let noise = tuningNoise.firstSamples(count)
        var out: [Candidate] = []
        for (grid, label) in grids where grid.steps == nfe && nfe >= 3 {
            let trajectory = try DynamicCompensationFit.groundTruth(model: model, schedule: schedule, grid: grid, noise: noise,
                                                                    tolerance: settings.tolerance)
            for (variant, order) in [(UniPC.Variant.bh2, 2), (.bh1, 3)] {
                let base = DCSolver(variant: variant, solverOrder: order)
                guard let fit = try? DynamicCompensationFit().fit(model: model, schedule: schedule, grid: grid, solver: base,
                                                                    noise: noise, groundTruth: trajectory) else { continue }
                var fitted = base
                fitted.ratios = fit.ratios
                guard let rmse = try? objective.error(fitted, grid: grid) else { continue }
                log(String(format: "NFE %d: DC-Solver (UniPC %@-%d) on %@, ratios %@ fitted on %d samples: RMSE %.4e", nfe, variant.rawValue,
                           order, label, fit.ratios.map { String(format: "%.3f", $0) }.joined(separator: ","), count, rmse))
                let configuration = TunedConfiguration(
                    nfe: nfe, solver: "dc_solver", sigmas: grid.levels.map { schedule.displaySigma($0) }, ratios: fit.ratios,
                    variant: variant, order: order, method: "DC-Solver ratios (UniPC \(variant.rawValue), order \(order)) on \(label)",
                    tuningRMSE: rmse, untunedLabel: untuned.label, untunedTuningRMSE: untuned.rmse)
                out.append(Candidate(configuration: configuration, solver: fitted, grid: grid))
            }
        }
        return out
    }

    /// DPM-Solver-v3's empirical model statistics between the fine grid's first and last nonzero
    /// levels, from data: the mixture's own samples, or for a network the ground-truth ODE
    /// endpoints of noise of their own (the model's distribution; not the tuning samples, whose
    /// errors would then be in-sample for DPM-Solver-v3, nor the validation or held-out ones).
    private func estimateStatistics(tuning: SchedulingObjective, fineGrid: TimeGrid, log: (String) -> Void) throws -> ModelStatistics {
        let began = ContinuousClock.now
        let count = settings.statisticsSamples
        let data: SampleTensor
        let source: String
        if let mixture = model as? GaussianMixture {
            data = SampleTensor(shape: [count] + model.sampleShape, scalars: mixture.samples(count: count, seed: settings.seed).map(Float.init))
            source = "mixture samples"
        } else {
            var seed = settings.seed &+ 0xD1B5_4A32_D192_ED03
            while [settings.seed, settings.holdoutSeed, validationSeed].contains(seed) { seed &+= 1 }
            let noise = SeededNoise(seed: seed).initialNoise(shape: [count] + model.sampleShape)
            let comparison = SamplerComparison(model: model, schedule: schedule, noise: noise, groundTruth: tuning.comparison.groundTruth)
            comparison.measuresDistances = false
            data = SampleTensor(shape: noise.shape, scalars: try comparison.reference(from: fineGrid[0]).endpoint.map(Float.init))
            source = "ground-truth samples of their own noise (seed \(seed))"
        }
        let last = fineGrid.levels[fineGrid.levels.count - 2]
        let statistics = try ModelStatistics.estimate(model: model, schedule: schedule, data: data, from: fineGrid[0], to: last,
                                                      intervals: settings.statisticsIntervals, seed: settings.seed)
        log(String(format: "DPM-Solver-v3 statistics: %d lambda intervals from %d %@, %.1f s", settings.statisticsIntervals, count, source,
                   (ContinuousClock.now - began).seconds))
        return statistics
    }
}

extension SampleTensor {
    /// The batch's first `count` samples (all of them when it has fewer).
    func firstSamples(_ count: Int) -> SampleTensor {
        let n = Swift.min(count, batchSize)
        return SampleTensor(shape: [n] + sampleShape, scalars: Array(scalars.prefix(n * sampleCount)))
    }
}
