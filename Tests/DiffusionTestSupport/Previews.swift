import Testing
import DiffusionSolvers

/// Checks that with `previews: true` a run's `denoised` after each of its first `steps` steps is
/// the model's clean estimate at the step's start (what a preview should show).
public func expectPreviewsCurrent<S: Solver>(_ solver: S, model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid,
                                             initialSample x: SampleTensor, steps: Int,
                                             sourceLocation: SourceLocation = #_sourceLocation) throws {
    let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, previews: true)
    for step in 0..<steps {
        let before = run.sample
        try run.advance()
        var expected = SampleTensor(zeros: x.shape)
        try model.predict(before, at: grid[step], into: &expected)
        // A model predicting x̂₀ directly makes `denoised` exactly its output.
        #expect(run.denoised == expected, "\(solver.name), step \(step)", sourceLocation: sourceLocation)
    }
}
