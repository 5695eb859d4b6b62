extension RecommendedConfiguration {
    /// What the default rule reads of a schedule before sampling: its frame and how wide its noise
    /// range is. `σ̃_max = σ/α` at the schedule's first time (the VE-frame sigma) separates
    /// Stable Diffusion's (14.6), EDM's (80) and DDPM's linear (157) schedules, which spend most
    /// of their steps where the data shows, from the cosine and zero-terminal-SNR ones (10³–10⁴),
    /// whose first steps cross noise levels far above the data's scale; a Karras ramp spaced for
    /// the first kind puts too many steps up there on the second.
    public enum ScheduleClass: String, Sendable, CaseIterable {
        /// VP or VE with `σ̃_max ≤` ``wideThreshold``.
        case narrow
        /// VP or VE with `σ̃_max >` ``wideThreshold``.
        case wide
        /// Rectified flow (`σ̃_max` is infinite at `t = 1`).
        case flow

        /// The `σ̃_max` above which a VP or VE schedule counts as wide.
        public static let wideThreshold = 300.0

        public init(_ schedule: any NoiseSchedule) {
            if schedule.frame == .rectifiedFlow { self = .flow; return }
            let top = schedule.level(at: schedule.timeRange.upperBound)
            self = top.sigma / top.alpha > Self.wideThreshold ? .wide : .narrow
        }
    }

    /// The default rule: for each class of schedule, choices by budget as in ``table`` (the last
    /// entry whose `fromNFE` is at most the budget applies). Chosen on the benchmark's model zoo
    /// (`diffuse-benchmarks --zoo`): per class and budget, among the candidates at most 1.25 times
    /// the best single peer configuration's error on every zoo model of the class, the smallest on
    /// average; on narrow schedules below 8 NFE and on flow from 8 to 14 NFE that is ``table``'s;
    /// the rule, its leave-one-family-out figures and the choice's details are in
    /// `docs/DEFAULT-CONFIGURATION.md`. The budgets 5, 10 and 20 were measured; each entry holds
    /// from the midpoint below its budget.
    public static let rule: [ScheduleClass: [Choice]] = [
        .narrow: Array(table.prefix { $0.fromNFE < 8 }) + [
            Choice(solver: "lms", spacing: .karras(rho: 7), fromNFE: 8),
            Choice(solver: "uni_pc_bh2", spacing: .karras(rho: 7), fromNFE: 15)],
        .wide: [
            Choice(solver: "lms", spacing: .trailing, fromNFE: 1),
            Choice(solver: "deis", spacing: .logSNR, fromNFE: 8),
            Choice(solver: "uni_pc_bh2", spacing: .logSNR, fromNFE: 15)],
        .flow: [Choice(solver: "euler", spacing: .timeUniform, fromNFE: 1)]
            + table.filter { (8..<15).contains($0.fromNFE) } + [
            Choice(solver: "uni_pc", spacing: .karras(rho: 7), fromNFE: 15)],
    ]

    /// The configurations users run today with diffusers and k-diffusion, as our parity-tested
    /// equivalents: these samplers on Karras, `linspace` and `trailing` steps (the timestep rules
    /// as ``spacing(_:on:)`` runs them on continuous-time schedules). The zoo measures the default
    /// against them, and automatic tuning ranks all of them among its untuned configurations.
    public static let peerSolvers = ["dpmpp_2m", "dpmpp_3m", "euler", "heun", "uni_pc", "uni_pc_bh2", "dpm_2", "lms"]
    public static let peerSpacings: [StepSpacing] = [.karras(rho: 7), .linspace, .trailing]

    /// The best single peer configurations on the zoo (the peer configurations with the least
    /// geometric-mean error ratio over all its models) at the measured budgets 5, 10 and 20, each
    /// from the midpoint below it: `euler trailing`; `lms karras` and `uni_pc_bh2 karras`, whose
    /// averages differ by 2% so that either is the best on some choice of families; then
    /// `uni_pc_bh2 karras`. Their spacings are as ``spacing(_:on:)`` runs them on `schedule`.
    /// Automatic tuning keeps one of them unless what it finds beats each of them on validation
    /// noise by both the median per-draw error and the RMSE.
    public static func bestSinglePeers(forNFE nfe: Int, schedule: any NoiseSchedule) -> [StandardConfiguration] {
        let karras = StepSpacing.karras(rho: 7)
        let peers: [(String, StepSpacing)] = nfe < 8 ? [("euler", .trailing)]
            : nfe < 15 ? [("lms", karras), ("uni_pc_bh2", karras)] : [("uni_pc_bh2", karras)]
        return peers.map { StandardConfiguration(solver: $0.0, spacing: Self.spacing($0.1, on: schedule)) }
    }

    /// The default rule's choice for at most `nfe` evaluations on `schedule`, its spacing as
    /// ``spacing(_:on:)`` runs it there.
    public static func choice(forNFE nfe: Int, schedule: any NoiseSchedule) -> Choice {
        let entries = rule[ScheduleClass(schedule)] ?? table
        return placed(entries.last { $0.fromNFE <= nfe } ?? entries[0], on: schedule)
    }

    /// The rule's named solver for `nfe` evaluations on `schedule`, for runs whose steps are set
    /// by hand: a choice with searched decisions gives way to the entry before it.
    public static func namedChoice(forNFE nfe: Int, schedule: any NoiseSchedule) -> Choice {
        let entries = rule[ScheduleClass(schedule)] ?? table
        return placed(entries.last { $0.fromNFE <= nfe && $0.decisions == nil } ?? entries[0], on: schedule)
    }

    private static func placed(_ entry: Choice, on schedule: any NoiseSchedule) -> Choice {
        var choice = entry
        choice.spacing = spacing(entry.spacing, on: schedule)
        choice.scheduleClass = ScheduleClass(schedule)
        return choice
    }

    /// What a diffusers timestep rule (`trailing`, `linspace`, …) means on a continuous-time
    /// schedule, which has no training timesteps: steps uniform in the schedule's own time
    /// (`time-uniform`, diffusers' `linspace` for continuous schedulers) where that time is not
    /// the noise level itself, and Karras' spacing on a VE schedule (α = 1, `t = σ`), where peers
    /// (k-diffusion, diffusers' EDM schedulers) use it and uniform steps in σ would spend nearly
    /// all of them at high noise. Other spacings, and any spacing on a discrete schedule, are
    /// returned as they are.
    public static func spacing(_ spacing: StepSpacing, on schedule: any NoiseSchedule) -> StepSpacing {
        guard spacing.isTimestepRule && schedule.trainingTimesteps == nil else { return spacing }
        let top = schedule.timeRange.upperBound
        return schedule.frame == .varianceExploding && schedule.alpha(at: top) == 1 ? .karras(rho: 7) : .timeUniform
    }
}
