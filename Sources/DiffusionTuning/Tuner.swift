import Foundation
import DiffusionCore
import DiffusionEvaluation

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
///    statistics estimated from the model (`ModelStatistics`) on the searched grid and the best
///    untuned one;
/// 5. the finalists (the three best untuned configurations, the search's best candidates, the
///    fitted solvers) are ranked on validation noise, which tuning never saw. A tuned finalist
///    replaces the best untuned configuration only when it beats it there beyond chance: the
///    paired bootstrap interval of its validation RMSE over the untuned one's
///    (``Settings/replacementConfidence``) lies below 1 (`choose(validationRMSE:sampleErrors:isUntuned:confidence:seed:)`).
///    With ``Settings/anchors`` (automatic tuning's best single peer configurations), the choice
///    must also be at or below each anchor there by both the median per-draw error and the RMSE,
///    or another finalist that is, or else an anchor, is run instead. With
///    ``Settings/rareDrawSamples``, a tuned choice must also beat the anchors (without anchors,
///    the best untuned configuration) by the RMSE over that many further draws (``RareDrawCheck``).
///    The choice is measured, next to the best untuned configuration, on held-out noise.
/// Every error is the RMSE of the endpoints to the ground-truth solution of the probability-flow
/// ODE (``SchedulingObjective``).
public final class Tuner {
    /// What a tuning run does: the NFE budgets, the tuning, validation and held-out noise, the
    /// time budget and the configurations searched and fitted.
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
        /// Standard configurations the choice must match or beat on the validation samples, each
        /// by both the median per-draw error and the RMSE; otherwise the finalist that does (an
        /// anchor itself when it beats the others) with the least product of the two is chosen,
        /// and without one the first anchor (the best single peer configuration). They stand for what the user would run without
        /// tuning, and are ranked with the untuned configurations whether or not they are among
        /// ``untunedSolvers`` × ``untunedSpacings``.
        public var anchors: [StandardConfiguration] = []
        /// Draws besides the validation ones on which a tuned choice is checked against the
        /// configurations it must beat (the anchors, or the best untuned one without anchors),
        /// by the RMSE over all of them (``RareDrawCheck``): a schedule that sends one draw in a
        /// thousand to another mixture component loses the RMSE there, and validation draws
        /// rarely show it. Only ``rareDrawGroundTruths`` of them get a ground truth. 0 leaves
        /// the check out.
        public var rareDrawSamples: Int = 0
        public var rareDrawGroundTruths: Int = 128
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

        /// Refuses settings no run can use, before any work.
        func validate() throws {
            guard !budgets.isEmpty, budgets.allSatisfy({ $0 >= 1 }) else {
                throw SamplingError.invalidConfiguration("tune: NFE budgets must be positive")
            }
            guard seed != holdoutSeed else {
                throw SamplingError.invalidConfiguration("tune: the tuning and held-out seeds must differ")
            }
            guard tuningSamples >= 1, holdoutSamples >= 1, (validationSamples ?? 1) >= 1, rareDrawSamples >= 0, rareDrawGroundTruths >= 1 else {
                throw SamplingError.invalidConfiguration("tune: tuning and held-out sample counts must be positive")
            }
            guard budgetSeconds.isFinite, budgetSeconds >= 0 else {
                throw SamplingError.invalidConfiguration("tune: the time budget must be a non-negative number of seconds")
            }
            if let c = replacementConfidence, !(c > 0 && c < 1) {
                throw SamplingError.invalidConfiguration("tune: the replacement confidence must lie in (0, 1), got \(c)")
            }
        }

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

    /// The spacing of the fine grid the searches place time steps on: uniform in log-SNR, or
    /// uniform in time on a schedule that starts at pure noise (rectified flow at `t = 1`, where
    /// `λ = −∞` leaves log-SNR spacing without a first point).
    public var fineSpacing: StepSpacing { Self.startsAtPureNoise(schedule) ? .timeUniform : .logSNR }

    /// ``Settings/compensationSpacing``, with log-SNR replaced by time-uniform spacing as for
    /// ``fineSpacing`` on a schedule that starts at pure noise.
    public var compensationSpacing: StepSpacing {
        settings.compensationSpacing == .logSNR && Self.startsAtPureNoise(schedule) ? .timeUniform : settings.compensationSpacing
    }

    /// Whether DPM-Solver-v3's statistics can be estimated on `schedule`: they are tabulated in
    /// log-SNR from the schedule's start, which must then be finite (not on flow schedules).
    public static func statisticsApply(to schedule: any NoiseSchedule) -> Bool { !startsAtPureNoise(schedule) }

    /// The validation draws finalists are ranked on unless the user says: 512 on an exact model,
    /// whose ground truth is cheap (a few draws that change mode dominate an RMSE, and 64 let
    /// lucky finalists through), the tuning draws' count on a network, whose every ground-truth
    /// draw costs hundreds of forward passes.
    public static func defaultValidationSamples(for model: any DiffusionModel, tuningSamples: Int) -> Int {
        model is any PreciseDenoising ? Swift.max(tuningSamples, 512) : tuningSamples
    }

    /// The extra draws a tuned choice is checked on unless the user says (``Settings/rareDrawSamples``):
    /// 32768 on an exact model (a component change once in a few thousand draws shows there a few
    /// times), none on a network, whose every ground-truth draw costs hundreds of forward passes.
    public static func defaultRareDrawSamples(for model: any DiffusionModel) -> Int {
        model is any PreciseDenoising ? 32768 : 0
    }

    /// Whether the schedule's log-SNR is infinite at its largest time (pure noise, `α = 0`).
    static func startsAtPureNoise(_ schedule: any NoiseSchedule) -> Bool {
        !schedule.lambda(at: schedule.timeRange.upperBound).isFinite
    }

    /// A finalist: its configuration, solver and grid, and whether it is a standard (untuned)
    /// configuration.
    struct Candidate {
        var configuration: TunedConfiguration
        var solver: any Solver
        var grid: TimeGrid
        var isUntuned = false
        /// Whether it is one of ``Settings/anchors``.
        var isAnchor = false
    }

    /// The most tuning samples the GITS teacher runs on (its trajectory is kept in memory).
    public static let teacherSamples = 64

    /// The floats the step search's teacher trajectory keeps in memory for `settings` on a model
    /// with `dimension` values per sample (``TrajectoryStepSearch/storedValues(samples:dimension:)``).
    public static func teacherValues(_ settings: Settings, dimension: Int) -> Int {
        TrajectoryStepSearch(fineSteps: settings.fineSteps).storedValues(samples: Swift.min(settings.tuningSamples, teacherSamples),
                                                                         dimension: dimension)
    }

    /// DPM-Solver-v3's statistics, when the run estimated them (written by the caller to
    /// ``Settings/statisticsFile``, which the tuned configurations name).
    public private(set) var statistics: ModelStatistics?

    /// Runs the tuning; `log` receives one line per stage.
    ///
    /// Per budget, the stages in order: `Baseline`, `StepSearch`, `Search`, `Fits`,
    /// `Selection`; each returns its finalists (the step search returns seeds for the search).
    public func run(log: (String) -> Void = { _ in }) throws -> TunedFile {
        try settings.validate()
        if settings.statisticsFile != nil && settings.statisticsIntervals >= 1 && Self.startsAtPureNoise(schedule) {
            throw SamplingError.invalidConfiguration("tune: DPM-Solver-v3's statistics need a finite log-SNR at the schedule's start, "
                                                     + "which '\(schedule.name)' (pure noise at its largest time) has not; leave them out (--no-statistics)")
        }
        let started = ContinuousClock.now
        return try withoutActuallyEscaping(log) { log in
            let context = try TuningContext(tuner: self, log: log)
            let stepSearch = try StepSearch(context: context)
            if settings.statisticsFile != nil && settings.statisticsIntervals >= 1 {
                statistics = try estimateStatistics(tuning: context.objective, fineGrid: context.fineGrid, log: log)
            }
            var configurations: [TunedConfiguration] = []
            var compensationSamples: [CascadePolynomialRegression.Sample] = []
            for (position, nfe) in settings.budgets.enumerated() {
                let budgetStarted = ContinuousClock.now
                let remaining = settings.budgetSeconds - (budgetStarted - started).seconds
                // Most of this budget's share of the time goes to the search; the rest to the fits and the validation.
                let share = Swift.max(remaining, 0) / Double(settings.budgets.count - position)
                let baseline = try Baseline(context: context, nfe: nfe)
                let seeds = stepSearch.seeds(nfe: nfe, baseline: baseline)
                let search = try Search(context: context, nfe: nfe, seeds: seeds, baseline: baseline,
                                        deadline: budgetStarted + .milliseconds(Int64(0.8 * share * 1000)))
                let fits = try Fits(context: context, nfe: nfe, searchedGrid: search.searchedGrid, baseline: baseline, statistics: statistics)
                if let sample = fits.compensationSample { compensationSamples.append(sample) }
                let finalists = baseline.finalists + search.finalists + fits.finalists
                configurations.append(try Selection(context: context, nfe: nfe, finalists: finalists).chosen)
            }
            var file = TunedFile(model: model.name, modelFingerprint: (model as? any Fingerprinted)?.fingerprint ?? nil, schedule: schedule.name,
                                 tuningSeed: settings.seed, tuningSamples: settings.tuningSamples, holdoutSeed: settings.holdoutSeed,
                                 holdoutSamples: settings.holdoutSamples, tolerance: settings.tolerance,
                                 seconds: (ContinuousClock.now - started).seconds, budgetSeconds: settings.budgetSeconds,
                                 configurations: configurations)
            file.compensation = Fits.compensationRule(compensationSamples, spacing: compensationSpacing, log: log)
            file.seconds = (ContinuousClock.now - started).seconds
            return file
        }
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
    package static func choose(validationRMSE: [Double], sampleErrors: [[Double]], isUntuned: [Bool], confidence: Double?, seed: UInt64)
        -> (chosen: Int, reference: Int, interval: ClosedRange<Double>?, rejected: (index: Int, interval: ClosedRange<Double>)?) {
        let order = validationRMSE.indices.sorted { validationRMSE[$0] != validationRMSE[$1] ? validationRMSE[$0] < validationRMSE[$1] : $0 < $1 }
        // Without an untuned finalist, a confidence, or an untuned finalist that ran: the least RMSE.
        guard let reference = order.first(where: { isUntuned[$0] }) else { return (order[0], order[0], nil, nil) }
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

    /// The choice kept against ``Settings/anchors`` among `count` finalists (indices): `chosen`
    /// when it is at or below every anchor (`atOrBelow`); otherwise the finalist that is (an
    /// anchor itself when it is at or below the others) with the least finite `product`
    /// (median · RMSE), and without one the first anchor. Where two anchors trade the median
    /// against the RMSE, only a finalist at or below both is at or below whichever of them the
    /// user would have picked; without one, the first anchor is the best single peer
    /// configuration itself, which a user who picks one configuration for every model runs.
    package static func guarded(chosen: Int, anchors: [Int], count: Int, atOrBelow: (Int, Int) -> Bool, product: (Int) -> Double) -> Int {
        func beatsAll(_ i: Int) -> Bool { anchors.allSatisfy { $0 == i || atOrBelow(i, $0) } }
        guard !anchors.isEmpty, !beatsAll(chosen) else { return chosen }
        let dominating = (0..<count).filter { product($0).isFinite && beatsAll($0) }
        return dominating.min { product($0) < product($1) } ?? anchors[0]
    }

    /// The seed of the validation noise the finalists are ranked on: neither the tuning nor the
    /// held-out seed.
    public var validationSeed: UInt64 {
        var v = settings.seed &+ 0x9E37_79B9_7F4A_7C15
        while v == settings.holdoutSeed || v == settings.seed { v &+= 1 }
        return v
    }

    /// The seed of the rare-draw check's extra noise: none of the other seeds.
    public var rareDrawSeed: UInt64 {
        var v = settings.seed &+ 0x94D0_49BB_1331_11EB
        while [settings.seed, settings.holdoutSeed, validationSeed].contains(v) { v &+= 1 }
        return v
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
            while [settings.seed, settings.holdoutSeed, validationSeed, rareDrawSeed].contains(seed) { seed &+= 1 }
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
