import DiffusionCore
import DiffusionEvaluation

extension SkipTuning {
    /// One budget's factors, searched on the tuning noise and measured on held-out noise.
    public struct BudgetResult: Sendable, Codable, Equatable {
        public var nfe: Int
        public var search: Result
        /// The feature FD of the untuned and the tuned network on the held-out noise.
        public var heldOutBaseline: Double
        public var heldOutTuned: Double

        /// The held-out FD's relative change, tuned against untuned (negative is better).
        public var heldOutChange: Double { heldOutTuned / heldOutBaseline - 1 }
    }

    /// For each budget, the factors that minimize the feature FD of `solver`'s samples from
    /// `tuningNoise` on `spacing`, then the untuned and tuned network on `heldOutNoise`. The network
    /// is sampled on its training schedule (`ScheduledDiffusionModel`; EDM's otherwise).
    ///
    /// - Parameters:
    ///   - network: The network whose skip factors are tuned.
    ///   - solver: The name of the solver that draws the samples.
    ///   - spacing: How the steps of each budget's grid are spaced.
    ///   - budgets: The numbers of model evaluations to tune for, one search each.
    ///   - tuningNoise: The initial noise the factors are searched on.
    ///   - heldOutNoise: The initial noise the untuned and tuned networks are measured on.
    ///   - classifier: The feature classifier, with the data's feature statistics, that scores samples.
    ///   - progress: Called with the budget after each evaluated configuration.
    public func tune<M: SkipScalableModel>(_ network: M, solver: String, spacing: StepSpacing, budgets: [Int], tuningNoise: SampleTensor,
                                           heldOutNoise: SampleTensor, classifier: FeatureClassifier,
                                           progress: (Int, Trial) -> Void = { _, _ in }) throws -> [BudgetResult] {
        let config = (network as? any ScheduledDiffusionModel)?.schedulerConfig
        let schedule: any NoiseSchedule = try config?.schedule() ?? VESchedule()
        var results: [BudgetResult] = []
        for budget in budgets {
            func score(_ m: any DiffusionModel, _ noise: SampleTensor) throws -> Double {
                try Self.frechetScore(model: m, schedule: schedule, solver: solver, spacing: spacing, nfe: budget, noise: noise,
                                      classifier: classifier, stepsOffset: config?.stepsOffset ?? 0)
            }
            let result = try search(network, score: { try score($0, tuningNoise) }, progress: { progress(budget, $0) })
            results.append(BudgetResult(nfe: budget, search: result, heldOutBaseline: try score(network, heldOutNoise),
                                        heldOutTuned: try score(try network.withSkipScales(result.scales), heldOutNoise)))
        }
        return results
    }
}
