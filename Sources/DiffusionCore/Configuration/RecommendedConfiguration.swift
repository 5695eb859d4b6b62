/// The configuration `diffuse sample` runs when no solver is named and the model carries no
/// tuned configuration for the budget: the default rule (``rule``, ``choice(forNFE:schedule:)``),
/// a solver and step spacing per class of schedule and budget, chosen on the benchmark's model
/// zoo. ``table``, the previous default searched on Stable Diffusion's schedule, stays as a
/// candidate of the rule and the start of the searches. Why, with the measurements, is in
/// `docs/DEFAULT-CONFIGURATION.md`; ``SamplingResolver`` decides when the rule applies.
public enum RecommendedConfiguration {
    /// One entry of the default: the solver, its step spacing and the schedule class it was chosen for.
    public struct Choice: Sendable, Equatable {
        public var solver: String
        public var spacing: StepSpacing
        /// The smallest budget this choice is recommended from.
        public var fromNFE: Int
        /// Searched per-step UniPC decisions (USF), applied when the budget gives exactly as many
        /// steps (the table then has the next entry from the following budget); `solver` is `uni_pc`.
        public var decisions: SolverDecisions?
        /// The class of schedule the default rule chose for (``choice(forNFE:schedule:)``); `nil` in ``table``.
        public var scheduleClass: ScheduleClass?

        public init(solver: String, spacing: StepSpacing, fromNFE: Int, decisions: SolverDecisions? = nil) {
            self.solver = solver; self.spacing = spacing; self.fromNFE = fromNFE; self.decisions = decisions
        }

        /// `solver spacing`, with the decisions in brackets.
        public var label: String { "\(solver) \(spacing.name)" + (decisions.map { " [\($0.summary)]" } ?? "") }
    }

    /// The previous default, searched on Stable Diffusion's schedule (a candidate of the rule's
    /// choice on the zoo, and what `--search-default` starts from). Budget thresholds, ascending;
    /// the last entry whose `fromNFE` is at most the budget applies.
    /// Solvers are catalog names (``SolverCatalog``; a test checks each). The table minimizes the
    /// worst error ratio over the benchmark models to the best peer configuration, among spacings
    /// defined by noise levels, so an entry means the same steps on any schedule.
    public static let table: [Choice] = [
        Choice(solver: "uni_pc_bh2", spacing: .karrasRamp(.searched5), fromNFE: 1),
        Choice(solver: "uni_pc", spacing: .karrasRamp(.usf5), fromNFE: 5, decisions: usf5),
        Choice(solver: "uni_pc_bh2", spacing: .karrasRamp(.searched5), fromNFE: 6),
        Choice(solver: "deis", spacing: .karras(rho: 7), fromNFE: 8),
        Choice(solver: "uni_pc", spacing: .karrasRamp(.usf10), fromNFE: 10, decisions: usf10),
        Choice(solver: "deis", spacing: .karras(rho: 7), fromNFE: 11),
        Choice(solver: "plms", spacing: .karrasRamp(.searched20), fromNFE: 15),
    ]

    /// UniPC's per-step decisions on the `usf-10` steps (``KarrasRamp/usf10``), searched by
    /// `diffuse-benchmarks --search-default --decisions --nfe 10`.
    static let usf10 = SolverDecisions(
        variant: .bh1, orders: [1, 2, 2, 3, 3, 3, 3, 1, 2, 1],
        predictions: [.noise, .noise, .noise, .data, .data, .noise, .data, .noise, .noise, .noise],
        correctors: [true, true, false, true, false, true, true, true, true, true])

    /// UniPC's per-step decisions on the `usf-5` steps (``KarrasRamp/usf5``), searched by
    /// `diffuse-benchmarks --search-default --decisions --nfe 5 --network digits,photos`.
    static let usf5 = SolverDecisions(
        variant: .bh2, orders: [1, 2, 2, 2, 1], predictions: [.noise, .data, .noise, .data, .noise],
        correctors: [true, true, true, true, true])

    /// The previous table's choice for at most `nfe` model evaluations (the default rule's is
    /// ``choice(forNFE:schedule:)``).
    public static func choice(forNFE nfe: Int) -> Choice {
        table.last { $0.fromNFE <= nfe } ?? table[0]
    }

    /// The recommended named solver for `nfe` evaluations, for runs whose steps or orders are set
    /// by hand: searched decisions hold only on the steps they were searched with, so a choice
    /// with decisions gives way to the entry before it.
    public static func namedChoice(forNFE nfe: Int) -> Choice {
        table.last { $0.fromNFE <= nfe && $0.decisions == nil } ?? table[0]
    }
}
