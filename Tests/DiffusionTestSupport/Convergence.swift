import DiffusionSolvers

/// Measures a solver's convergence order against a reference solution of the probability-flow ODE.
public struct ConvergenceStudy: Sendable {
    public var model: any DiffusionModel
    public var schedule: any NoiseSchedule
    public var spacing: StepSpacing
    public var final: FinalNoise
    public var batch: Int

    public init(model: any DiffusionModel, schedule: any NoiseSchedule, spacing: StepSpacing = .logSNR,
                final: FinalNoise = .minimum, batch: Int = 16) {
        self.model = model; self.schedule = schedule; self.spacing = spacing; self.final = final; self.batch = batch
    }

    /// The RMS endpoint error for each step count, against a reference from the same start.
    public func errors<S: Solver>(_ solver: S, steps: [Int]) throws -> [Double] {
        let noise = TestModels.noise([batch] + model.sampleShape, seed: 7)
        var reference: ReferenceSolver.Solution?
        return try steps.map { n in
            let grid = try StepSchedule(spacing: spacing, steps: n, final: final).grid(on: schedule)
            let x0 = SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0])
            if reference == nil {
                reference = try ReferenceSolver(relativeTolerance: 1e-10, absoluteTolerance: 1e-10)
                    .solve(model: model, schedule: schedule, x: x0, from: grid[0], to: grid.levels.last!)
            }
            let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x0)
            let out = try run.finish()
            return Compare.rms(out.scalars.map(Double.init), reference!.endpoint)
        }
    }

    /// The fitted order `−d log(error) / d log(steps)`.
    public func order<S: Solver>(_ solver: S, steps: [Int]) throws -> (order: Double, errors: [Double]) {
        let e = try errors(solver, steps: steps)
        return (-Compare.logLogSlope(x: steps.map(Double.init), y: e), e)
    }
}
