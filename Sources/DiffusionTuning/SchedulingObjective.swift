import DiffusionCore
import DiffusionEvaluation

/// What the searches minimize: the RMSE of a solver's endpoints to the ground-truth solution of the
/// probability-flow ODE, from tuning noise — the error `SamplerComparison` reports, on samples
/// that are never the ones a result is reported on.
///
/// The ground truth is computed once per start level (and cached on disk by `GroundTruth`); each
/// score then costs one run of the solver over the tuning batch.
public final class SchedulingObjective {
    public let comparison: SamplerComparison
    /// Scores computed so far.
    public private(set) var evaluations = 0

    /// - Parameters:
    ///   - model: The model whose solvers are scored.
    ///   - schedule: The noise schedule the solvers and the ground truth run on.
    ///   - noise: Standard-normal tuning noise `[B] + sampleShape`.
    ///   - groundTruth: The source (and disk cache) of the reference endpoints.
    public init(model: any DiffusionModel, schedule: any NoiseSchedule, noise: SampleTensor, groundTruth: GroundTruth) {
        comparison = SamplerComparison(model: model, schedule: schedule, noise: noise, groundTruth: groundTruth)
        comparison.measuresDistances = false
    }

    /// The RMSE of `solver` on `grid`.
    public func error<S: Solver>(_ solver: S, grid: TimeGrid) throws -> Double {
        let rmse = try result(solver, grid: grid).rmse
        return rmse.isFinite ? rmse : .infinity
    }

    /// The full result of `solver` on `grid`, with each sample's error (for paired comparisons).
    public func result<S: Solver>(_ solver: S, grid: TimeGrid) throws -> SamplerComparison.Result {
        evaluations += 1
        return try comparison.run(solver, grid: grid, name: solver.name, scheduleName: "searched", nfeBudget: grid.steps)
    }

    /// The RMSE of a solver schedule.
    public func error(_ s: SolverSchedule) throws -> Double {
        try error(try s.solver(), grid: try s.grid(on: comparison.schedule))
    }
}
