import Foundation
import DiffusionCore
import DiffusionEvaluation

/// The stages of ``Tuner/run(log:)``, one type each. Every stage measures on the context's tuning
/// noise and hands its finalists to ``Tuner/Selection``, which alone looks at validation and
/// held-out noise.
extension Tuner {
    /// What the stages of one run share: the model and settings, the three noise sets and their
    /// objectives, the fine grid the searches place steps on, and the log.
    struct TuningContext {
        let model: any DiffusionModel
        let schedule: any NoiseSchedule
        let settings: Settings
        let validationSeed: UInt64
        let tuningNoise: SampleTensor
        /// Errors on tuning, validation and held-out noise.
        let objective: SchedulingObjective
        let validation: SchedulingObjective
        let heldOut: SchedulingObjective
        /// The check of a tuned choice on draws besides the validation ones; `nil` without them.
        let rareDraws: RareDrawCheck?
        /// `fineSteps` steps of ``Tuner/fineSpacing``: the points searched time steps are placed on.
        let fineGrid: TimeGrid
        let fineSpacing: StepSpacing
        /// ``Tuner/compensationSpacing``.
        let compensationSpacing: StepSpacing
        let log: (String) -> Void

        init(tuner: Tuner, log: @escaping (String) -> Void) throws {
            let s = tuner.settings
            model = tuner.model; schedule = tuner.schedule; settings = s; validationSeed = tuner.validationSeed; self.log = log
            let groundTruth = GroundTruth(tolerance: s.tolerance, cacheDirectory: tuner.cacheDirectory)
            func objective(seed: UInt64, count: Int) -> (SampleTensor, SchedulingObjective) {
                let noise = SeededNoise(seed: seed).initialNoise(shape: [count] + tuner.model.sampleShape)
                return (noise, SchedulingObjective(model: tuner.model, schedule: tuner.schedule, noise: noise, groundTruth: groundTruth))
            }
            (tuningNoise, self.objective) = objective(seed: s.seed, count: s.tuningSamples)
            validation = objective(seed: validationSeed, count: s.validationSamples ?? s.tuningSamples).1
            heldOut = objective(seed: s.holdoutSeed, count: s.holdoutSamples).1
            rareDraws = s.rareDrawSamples == 0 ? nil : RareDrawCheck(
                model: tuner.model, schedule: tuner.schedule, validation: validation,
                extra: SeededNoise(seed: tuner.rareDrawSeed).initialNoise(shape: [s.rareDrawSamples] + tuner.model.sampleShape),
                flagged: s.rareDrawGroundTruths)
            fineGrid = try StepSchedule(spacing: tuner.fineSpacing, steps: s.fineSteps, final: .zero, stepsOffset: s.stepsOffset).grid(on: tuner.schedule)
            fineSpacing = tuner.fineSpacing
            compensationSpacing = tuner.compensationSpacing
        }

        /// A grid's levels as display sigmas, as tuned files store them.
        func sigmas(_ grid: TimeGrid) -> [Double] { grid.levels.map { schedule.displaySigma($0) } }
    }

    /// Stage 1: every standard solver × spacing of ``Settings`` on the tuning samples; the three
    /// best are finalists.
    struct Baseline {
        struct Measured {
            var standard: StandardConfiguration
            var rmse: Double
            var grid: TimeGrid
            var solver: any Solver
        }

        /// Every configuration that runs within the budget, least RMSE first.
        let measured: [Measured]
        let finalists: [Candidate]
        var best: Measured { measured[0] }

        init(context: TuningContext, nfe: Int) throws {
            let s = context.settings
            var measured: [Measured] = []
            var pairs = s.untunedSolvers.flatMap { name in s.untunedSpacings.map { StandardConfiguration(solver: name, spacing: $0) } }
            for anchor in s.anchors where !pairs.contains(anchor) { pairs.append(anchor) }
            for pair in pairs {
                let solver = try SolverCatalog.solver(named: pair.solver)
                let make = { (steps: Int) in
                    try StepSchedule(spacing: pair.spacing, steps: steps, final: .zero, stepsOffset: s.stepsOffset).grid(on: context.schedule)
                }
                guard let (_, grid) = try? solver.steps(forBudget: nfe, grid: make),
                      let rmse = try? context.objective.error(solver, grid: grid) else { continue }
                measured.append(Measured(standard: pair, rmse: rmse, grid: grid, solver: solver))
            }
            measured.sort { $0.rmse < $1.rmse }
            guard let best = measured.first else {
                throw SamplingError.invalidConfiguration("tune: no untuned configuration runs within \(nfe) model evaluations")
            }
            context.log(String(format: "NFE %d: best untuned %@ RMSE %.4e (of %d configurations)", nfe, best.standard.label, best.rmse, measured.count))
            self.measured = measured
            var kept = Array(measured.prefix(3))
            for anchor in measured where s.anchors.contains(anchor.standard) && !kept.contains(where: { $0.standard == anchor.standard }) {
                kept.append(anchor)
            }
            finalists = kept.map { m in
                Candidate(configuration: TunedConfiguration(nfe: nfe, kind: .catalog(name: m.standard.solver, order: nil), sigmas: context.sigmas(m.grid),
                                                            provenance: .kept(m.standard), tuningRMSE: m.rmse, untuned: m.standard,
                                                            untunedTuningRMSE: m.rmse),
                          solver: m.solver, grid: m.grid, isUntuned: true, isAnchor: s.anchors.contains(m.standard))
            }
        }
    }

    /// Stage 2: a GITS-style step schedule from a fine DPM-Solver++(2M) teacher run once for all
    /// budgets; with the best standard grids it seeds the evolutionary search, which is how it
    /// reaches the finalists.
    struct StepSearch {
        let context: TuningContext
        let teacher: TrajectoryStepSearch.Costs

        init(context: TuningContext) throws {
            let s = context.settings
            let count = Swift.min(s.tuningSamples, Tuner.teacherSamples)
            teacher = try TrajectoryStepSearch(fineSteps: s.fineSteps, fineSpacing: context.fineSpacing).costs(model: context.model, schedule: context.schedule,
                                                                             noise: context.tuningNoise.firstSamples(count),
                                                                             stepsOffset: s.stepsOffset)
            self.context = context
            context.log("teacher for the GITS step search: DPM-Solver++(2M), \(s.fineSteps) \(context.fineSpacing.name) steps on \(count) tuning samples, \(teacher.evaluations) evaluations")
        }

        /// The search's seeds: UniPC bh1 and bh2 on the best standard grids with `nfe` steps (at
        /// most three distinct grids), then UniPC on the GITS grid.
        func seeds(nfe: Int, baseline: Baseline) -> [SolverSchedule] {
            var seeds: [SolverSchedule] = []
            var seen = Set<[Double]>()
            for candidate in baseline.measured where candidate.grid.steps == nfe && seeds.count < 6 {
                guard seen.insert(context.sigmas(candidate.grid)).inserted else { continue }
                for variant in [UniPC.Variant.bh1, .bh2] {
                    seeds.append(SolverSchedule(grid: candidate.grid, schedule: context.schedule, variant: variant))
                }
            }
            if nfe <= context.settings.fineSteps, let gits = try? teacher.grid(steps: nfe) {
                let gitsSchedule = SolverSchedule(grid: gits, schedule: context.schedule, variant: .bh1)
                seeds.append(gitsSchedule)
                if let rmse = try? context.objective.error(gitsSchedule) {
                    context.log(String(format: "NFE %d: GITS step schedule with UniPC RMSE %.4e", nfe, rmse))
                }
            }
            return seeds
        }
    }

    /// Stage 3: the evolutionary search over time steps and UniPC's per-step decisions, until
    /// `deadline`. Its best candidates and each generation's leader are finalists: ranked on
    /// validation noise, the sequence of leaders shows where fitting the tuning samples stops
    /// generalizing.
    struct Search {
        let finalists: [Candidate]
        /// The best candidate's grid, which the fits also run on; `nil` when the budget exceeds the fine grid.
        let searchedGrid: TimeGrid?

        init(context: TuningContext, nfe: Int, seeds: [SolverSchedule], baseline: Baseline, deadline: ContinuousClock.Instant) throws {
            let s = context.settings
            guard nfe <= s.fineSteps else { finalists = []; searchedGrid = nil; return }
            var search = s.search
            search.seed = s.seed &+ UInt64(nfe)
            var leaders: [(SolverSchedule, Double)] = []
            let result = try search.search(fineGrid: context.fineGrid, schedule: context.schedule, steps: nfe, seeds: seeds,
                                           score: { try context.objective.error($0) }, deadline: deadline,
                                           progress: { _, score, leader in if leaders.last?.0 != leader { leaders.append((leader, score)) } })
            context.log(String(format: "NFE %d: evolutionary search, %d candidates in %d generations%@: RMSE %.4e (seeds %.4e) — %@",
                               nfe, result.evaluated, result.generations, result.stoppedByDeadline ? " (time budget reached)" : "",
                               result.score, result.seedScore, result.best.summary))
            let schedules = Array(zip(result.top, result.topScores)) + leaders.filter { !result.top.contains($0.0) }
            finalists = try schedules.map { schedule, score in
                Candidate(configuration: TunedConfiguration(
                    nfe: nfe, kind: .solverSchedule(schedule.decisions), sigmas: schedule.sigmas,
                    provenance: .tuned(method: "evolutionary search (time steps and UniPC decisions): \(schedule.summary)"), tuningRMSE: score,
                    untuned: baseline.best.standard, untunedTuningRMSE: baseline.best.rmse),
                    solver: try schedule.solver(), grid: try schedule.grid(on: context.schedule))
            }
            searchedGrid = try result.best.grid(on: context.schedule)
        }
    }

    /// Stage 4: solvers fitted to the model on the searched grid, the best standard grid with
    /// `nfe` steps and the compensation spacing's grid: DC-Solver's ratios
    /// (``DynamicCompensationFit``) and DPM-Solver-v3 with the run's statistics.
    struct Fits {
        private(set) var finalists: [Candidate] = []
        /// The bh2 ratios on the compensation spacing's grid, for the rule at other budgets.
        private(set) var compensationSample: CascadePolynomialRegression.Sample?

        init(context: TuningContext, nfe: Int, searchedGrid: TimeGrid?, baseline: Baseline, statistics: ModelStatistics?) throws {
            let s = context.settings
            var grids: [(TimeGrid, String)] = []
            if let searchedGrid { grids.append((searchedGrid, "the searched grid")) }
            if let u = baseline.measured.first(where: { $0.grid.steps == nfe }) { grids.append((u.grid, "the \(u.standard.label) grid")) }
            let ruleGrid = try StepSchedule(spacing: context.compensationSpacing, steps: nfe, final: .zero, stepsOffset: s.stepsOffset).grid(on: context.schedule)
            if !grids.contains(where: { $0.0 == ruleGrid }) { grids.append((ruleGrid, "the \(context.compensationSpacing.name) grid")) }
            let compensated = try Self.compensated(grids: grids, nfe: nfe, context: context, baseline: baseline)
            finalists += compensated
            for fit in compensated where fit.grid == ruleGrid {
                guard case let .dcSolver(.bh2, _, ratios) = fit.configuration.kind else { continue }
                compensationSample = .init(steps: nfe, guidance: 0, ratios: ratios)
                break
            }
            if let statistics, let file = s.statisticsFile {
                finalists += Self.dpmSolverV3(grids: grids, nfe: nfe, statistics: statistics, file: file, context: context, baseline: baseline)
            }
        }

        /// DC-Solver's ratios fitted on each of `grids` for two UniPC bases (bh2 order 2, the
        /// reference's setting, and bh1 order 3), on the first ``Settings/compensationSamples``
        /// tuning samples against their ground-truth trajectory.
        static func compensated(grids: [(TimeGrid, String)], nfe: Int, context: TuningContext, baseline: Baseline) throws -> [Candidate] {
            let count = Swift.min(context.settings.compensationSamples, context.tuningNoise.batchSize)
            let noise = context.tuningNoise.firstSamples(count)
            var out: [Candidate] = []
            for (grid, label) in grids where grid.steps == nfe && nfe >= 3 {
                let trajectory = try DynamicCompensationFit.groundTruth(model: context.model, schedule: context.schedule, grid: grid, noise: noise,
                                                                        tolerance: context.settings.tolerance)
                for (variant, order) in [(UniPC.Variant.bh2, 2), (.bh1, 3)] {
                    let base = DCSolver(variant: variant, solverOrder: order)
                    guard let fit = try? DynamicCompensationFit().fit(model: context.model, schedule: context.schedule, grid: grid, solver: base,
                                                                        noise: noise, groundTruth: trajectory) else { continue }
                    var fitted = base
                    fitted.ratios = fit.ratios
                    guard let rmse = try? context.objective.error(fitted, grid: grid) else { continue }
                    context.log(String(format: "NFE %d: DC-Solver (UniPC %@-%d) on %@, ratios %@ fitted on %d samples: RMSE %.4e", nfe,
                                       variant.rawValue, order, label, fit.ratios.map { String(format: "%.3f", $0) }.joined(separator: ","), count, rmse))
                    let configuration = TunedConfiguration(
                        nfe: nfe, kind: .dcSolver(variant: variant, order: order, ratios: fit.ratios), sigmas: context.sigmas(grid),
                        provenance: .tuned(method: "DC-Solver ratios (UniPC \(variant.rawValue), order \(order)) on \(label)"),
                        tuningRMSE: rmse, untuned: baseline.best.standard, untunedTuningRMSE: baseline.best.rmse)
                    out.append(Candidate(configuration: configuration, solver: fitted, grid: grid))
                }
            }
            return out
        }

        /// DPM-Solver-v3 of orders 2 and 3 on each of `grids` snapped to the statistics' λ grid
        /// (the pseudo-order predictor at order 3 for 5 NFE or fewer).
        static func dpmSolverV3(grids: [(TimeGrid, String)], nfe: Int, statistics: ModelStatistics, file: String, context: TuningContext,
                                baseline: Baseline) -> [Candidate] {
            var out: [Candidate] = []
            for (grid, label) in grids {
                guard let snapped = try? statistics.snapped(grid, schedule: context.schedule) else { continue }
                for order in [2, 3] {
                    let pseudo = nfe <= 5 && order == 3
                    let solver = DPMSolverV3(statistics: statistics, solverOrder: order, predictorPseudo: pseudo)
                    guard let rmse = try? context.objective.error(solver, grid: snapped) else { continue }
                    context.log(String(format: "NFE %d: DPM-Solver-v3 order %d%@ on %@: RMSE %.4e", nfe, order, pseudo ? " (pseudo)" : "", label, rmse))
                    let configuration = TunedConfiguration(
                        nfe: nfe, kind: .dpmSolverV3(statistics: file, order: order, predictorPseudo: pseudo), sigmas: context.sigmas(snapped),
                        provenance: .tuned(method: "DPM-Solver-v3 order \(order) on \(label)"), tuningRMSE: rmse,
                        untuned: baseline.best.standard, untunedTuningRMSE: baseline.best.rmse)
                    out.append(Candidate(configuration: configuration, solver: solver, grid: snapped))
                }
            }
            return out
        }

        /// DC-Solver's ratios at other budgets: cascade polynomial regression in the step position
        /// (up to cubic, the reference's degree) and the step count (up to quadratic), at the
        /// highest degrees the fitted ratios determine; `nil` without fitted ratios.
        static func compensationRule(_ samples: [CascadePolynomialRegression.Sample], spacing: StepSpacing,
                                     log: (String) -> Void) -> CompensationRule? {
            let distinct = Set(samples.map(\.steps)).count
            let degrees = (1...3).reversed().flatMap { p in (0...Swift.max(Swift.min(distinct - 1, 2), 0)).reversed().map { (p, $0) } }
            guard distinct >= 1, let regression = degrees.lazy.compactMap({ (p, n) in
                try? CascadePolynomialRegression.fit(samples, positionDegree: p, guidanceDegree: 0, stepsDegree: n)
            }).first else { return nil }
            log("DC-Solver ratios for other budgets: cascade polynomial regression on \(spacing.name) grids fitted at NFE \(samples.map { String($0.steps) }.joined(separator: ", "))")
            return CompensationRule(spacing: spacing.name, variant: .bh2, order: 2, fittedSteps: samples.map(\.steps), regression: regression)
        }
    }

    /// Stage 5: the finalists ranked on validation noise
    /// (``Tuner/choose(validationRMSE:sampleErrors:isUntuned:confidence:seed:)``); the choice and
    /// the best standard configuration are then measured on held-out noise.
    struct Selection {
        let chosen: TunedConfiguration

        init(context: TuningContext, nfe: Int, finalists candidates: [Candidate]) throws {
            let s = context.settings
            var finalists = candidates
            var sampleErrors: [[Double]] = []
            for i in finalists.indices {
                let result = try? context.validation.result(finalists[i].solver, grid: finalists[i].grid)
                finalists[i].configuration.validationRMSE = result.map(\.rmse).flatMap { $0.isFinite ? $0 : nil } ?? .infinity
                sampleErrors.append(result?.sampleErrors ?? [])
            }
            func validationError(_ c: Candidate) -> Double { c.configuration.validationRMSE ?? .infinity }
            let choice = Tuner.choose(validationRMSE: finalists.map(validationError), sampleErrors: sampleErrors,
                                      isUntuned: finalists.map(\.isUntuned), confidence: s.replacementConfidence, seed: s.seed &+ UInt64(nfe))
            var chosenIndex = choice.chosen
            let anchors = finalists.indices.filter { finalists[$0].isAnchor && !sampleErrors[$0].isEmpty }
            let medians = sampleErrors.map { $0.isEmpty ? Double.infinity : Metrics.median($0) }, rmses = finalists.map(validationError)
            // At or below by both measures on the same draws. (Asking the RMSE's gain to be beyond
            // chance as well sends more choices back to an anchor, and between anchors that trade
            // the median for the RMSE that loses one measure beyond chance: docs/DEFAULT-CONFIGURATION.md.)
            func atOrBelow(_ i: Int, _ j: Int) -> Bool {
                medians[i] <= medians[j] && rmses[i] <= rmses[j] && sampleErrors[i].count == sampleErrors[j].count
            }
            // A finalist that loses the rare-draw check is out; after `rareDrawAttempts` losses, so are the rest.
            // Falling back is safe with one anchor, or one at or below the others; where the anchors trade the
            // median for the RMSE, the anchor kept loses to another by one measure for sure.
            let fallbackIsSafe = anchors.contains { a in anchors.allSatisfy { $0 == a || atOrBelow(a, $0) } }
                || anchors.isEmpty
            var excluded = Set<Int>()
            let rareDrawAttempts = 3
            while true {
                let guarded = Tuner.guarded(chosen: chosenIndex, anchors: anchors, count: finalists.count,
                                            atOrBelow: { !excluded.contains($0) && atOrBelow($0, $1) }, product: { medians[$0] * rmses[$0] })
                if guarded != chosenIndex, let failed = anchors.first(where: { $0 != chosenIndex && !atOrBelow(chosenIndex, $0) }) {
                    context.log(String(format: "NFE %d: %@ does not beat %@ on validation noise by both the median error and the RMSE; %@ is chosen",
                                       nfe, finalists[chosenIndex].configuration.method, finalists[failed].configuration.method,
                                       finalists[guarded].configuration.method))
                }
                chosenIndex = guarded
                // Without anchors a tuned choice answers to the best untuned configuration.
                let rivals = anchors.isEmpty ? (finalists[chosenIndex].isUntuned ? [] : [choice.reference]) : anchors
                guard let check = context.rareDraws, !finalists[chosenIndex].isAnchor, !excluded.contains(chosenIndex),
                      let lost = try Self.rareDrawLoss(chosenIndex, rivals: rivals, strictly: fallbackIsSafe, finalists: finalists, check: check,
                                                       context: context, nfe: nfe)
                else { break }
                excluded.insert(chosenIndex)
                if anchors.isEmpty || excluded.count >= rareDrawAttempts {
                    chosenIndex = anchors.isEmpty ? lost : Tuner.guarded(chosen: chosenIndex, anchors: anchors, count: finalists.count,
                                                                         atOrBelow: { finalists[$0].isAnchor && atOrBelow($0, $1) },
                                                                         product: { medians[$0] * rmses[$0] })
                    break
                }
            }
            let winner = finalists[chosenIndex], reference = finalists[choice.reference]
            if let rejected = choice.rejected {
                context.log(String(format: "NFE %d: the best tuned finalist, %@ (validation RMSE %.4e, %.3f [%.3f–%.3f] of the untuned one), is not better beyond chance; the untuned configuration is kept",
                                   nfe, finalists[rejected.index].configuration.method, validationError(finalists[rejected.index]),
                                   validationError(finalists[rejected.index]) / validationError(reference), rejected.interval.lowerBound,
                                   rejected.interval.upperBound))
            }
            var chosen = winner.configuration
            chosen.untuned = reference.configuration.untuned
            chosen.untunedTuningRMSE = reference.configuration.tuningRMSE
            let heldOut = try context.heldOut.error(winner.solver, grid: winner.grid)
            let untunedHeldOut = try context.heldOut.error(reference.solver, grid: reference.grid)
            chosen.heldOutRMSE = heldOut
            chosen.untunedHeldOutRMSE = untunedHeldOut
            let beyondChance = chosenIndex != choice.chosen ? "" : choice.interval.map {
                String(format: " (ratio %.3f, interval %.3f–%.3f)", validationError(winner) / validationError(reference), $0.lowerBound, $0.upperBound)
            } ?? ""
            context.log(String(format: "NFE %d: chosen on validation noise (seed %llu): %@ — validation RMSE %.4e vs untuned %@ %.4e%@",
                               nfe, context.validationSeed, chosen.method, validationError(winner), chosen.untunedLabel, validationError(reference),
                               beyondChance))
            context.log(String(format: "NFE %d: held-out RMSE %.4e vs untuned %.4e (ratio %.2f)", nfe, heldOut, untunedHeldOut, heldOut / untunedHeldOut))
            self.chosen = chosen
        }

        /// The first of `rivals` finalist `i` does not beat by the RMSE over the rare-draw check's
        /// validation and extra draws, logged; `nil` when it beats each. `strictly` asks for a win
        /// beyond chance (the paired bootstrap interval of the ratio, at
        /// ``Settings/replacementConfidence`` or 90%, below 1), else a ratio of at most 1. The draws
        /// that change component are rare, so where two configurations trade them evenly the ratio
        /// is chance, and when falling back costs nothing the configuration the user would have run
        /// is kept.
        static func rareDrawLoss(_ i: Int, rivals: [Int], strictly: Bool, finalists: [Candidate], check: RareDrawCheck,
                                 context: TuningContext, nfe: Int) throws -> Int? {
            for rival in rivals where rival != i {
                // The check outlives a budget's finalists: its keys name the budget too.
                func run(_ j: Int) -> RareDrawCheck.Run { (nfe << 20 | j, finalists[j].solver, finalists[j].grid) }
                let errors = try check.errors(run(i), run(rival))
                let (rmse, rivalRMSE) = errors.rmse
                let interval = errors.ratioInterval(confidence: context.settings.replacementConfidence ?? 0.9, seed: context.settings.seed &+ UInt64(nfe))
                context.log(String(format: "NFE %d: %@ against %@ over %d validation and %d further draws: RMSE %.4e vs %.4e (ratio interval %.3f–%.3f)",
                                   nfe, finalists[i].configuration.method, finalists[rival].configuration.method,
                                   check.validation.comparison.noise.batchSize, check.extra.batchSize,
                                   rmse, rivalRMSE, interval.lowerBound, interval.upperBound))
                if strictly ? !(interval.upperBound < 1) : !(rmse <= rivalRMSE) { return rival }
            }
            return nil
        }
    }
}
