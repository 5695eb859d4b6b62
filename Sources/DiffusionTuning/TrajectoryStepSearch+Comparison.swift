import Foundation
import DiffusionCore
import DiffusionEvaluation

extension TrajectoryStepSearch {
    /// One budget's searched grid, measured against a standard spacing on held-out noise.
    public struct BudgetResult: Sendable, Codable, Equatable {
        public var nfe: Int
        public var steps: Int
        /// The searched levels as display sigmas, largest first (`diffuse sample --sigmas`).
        public var sigmas: [Double]
        /// The summed one-step error of the searched path against the teacher, on the tuning noise.
        public var tuningCost: Double
        public var heldOutRMSE: Double
        public var baselineRMSE: Double

        /// The searched grid's held-out RMSE over the standard spacing's.
        public var ratio: Double { heldOutRMSE / baselineRMSE }
    }

    /// The teacher trajectory's size in floats: its states and clean estimates at every fine point.
    public func storedValues(samples: Int, dimension: Int) -> Int { 2 * samples * dimension * (fineSteps + 1) }

    /// For each budget, `solver` on the grid searched from the teacher's trajectories on
    /// `tuningNoise` and on `baseline`, both measured by `comparison` (held-out noise, ground truth).
    ///
    /// - Returns: the teacher's model evaluations and one result per budget.
    /// - Throws: when the solver is stochastic, cannot run within a budget, or a run fails.
    public func compare(solver name: String, baseline: StepSpacing, budgets: [Int], model: any DiffusionModel,
                        schedule: any NoiseSchedule, tuningNoise: SampleTensor, comparison: SamplerComparison,
                        stepsOffset: Int = 0) throws -> (teacherEvaluations: Int, results: [BudgetResult]) {
        guard !SolverCatalog.stochasticNames.contains(name) else {
            throw SamplingError.invalidConfiguration("tune-steps is for ODE solvers; '\(name)' is stochastic")
        }
        let solver = try SolverCatalog.solver(named: name)
        let costs = try costs(model: model, schedule: schedule, noise: tuningNoise, stepsOffset: stepsOffset)
        var results: [BudgetResult] = []
        for budget in budgets {
            guard let (steps, grid) = try solver.steps(forBudget: budget, grid: { try costs.grid(steps: Swift.min($0, fineSteps)) }),
                  let (_, baseGrid) = try solver.steps(forBudget: budget, grid: {
                      try StepSchedule(spacing: baseline, steps: $0, final: .zero, stepsOffset: stepsOffset).grid(on: schedule)
                  }) else {
                throw SamplingError.invalidConfiguration("\(name) cannot run within \(budget) model evaluations")
            }
            let searched = try comparison.run(solver, grid: grid, name: name, scheduleName: "searched", nfeBudget: budget)
            let standard = try comparison.run(solver, grid: baseGrid, name: name, scheduleName: baseline.name, nfeBudget: budget)
            results.append(BudgetResult(nfe: budget, steps: steps, sigmas: grid.levels.map { schedule.displaySigma($0) },
                                        tuningCost: try costs.bestPath(steps: steps).cost,
                                        heldOutRMSE: searched.rmse, baselineRMSE: standard.rmse))
        }
        return (costs.evaluations, results)
    }
}
