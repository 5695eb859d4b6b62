import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

func rangeErrors<S: Solver>(_ solver: S, model: any DiffusionModel, schedule: any NoiseSchedule, steps: [Int],
                            make: (Int) -> StepSchedule, batch: Int = 16) throws -> [Double] {
    let noise = TestModels.noise([batch] + model.sampleShape, seed: 7)
    var reference: ReferenceSolver.Solution?
    return try steps.map { n in
        let grid = try make(n).grid(on: schedule)
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

@Suite struct ZZClassicalScratch {
    @Test func probe() throws {
        let configs: [(String, any NoiseSchedule)] = [
            ("vp-linear", ContinuousVPSchedule.linear()), ("edm", VESchedule()), ("flow", RectifiedFlowSchedule()),
            ("vp-discrete", try! DiscreteVPSchedule()),
        ]
        let model = TestModels.mixture2D()
        for (name, schedule) in configs {
            let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 1, final: .minimum).grid(on: schedule)
            let x0 = SampleTensor.initialSample(noise: TestModels.noise([64, 2], seed: 7), schedule: schedule, level: grid[0])
            let ref = try ReferenceSolver(relativeTolerance: 1e-10, absoluteTolerance: 1e-10)
                .solve(model: model, schedule: schedule, x: x0, from: grid[0], to: grid.levels.last!)
            let sEnd = schedule.frame.scale(grid.levels.last!)
            for (rtol, atol) in [(0.05, 0.0078), (0.01, 0.001), (1e-3, 1e-4), (1e-4, 1e-5)] {
                let solver = DPMSolverAdaptive(relativeTolerance: rtol, absoluteTolerance: atol)
                let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x0)
                let out = try run.finish()
                var sum = 0.0
                for i in 0..<out.count {
                    let y = Double(out.scalars[i]) / sEnd, r = ref.endpoint[i] / sEnd
                    let e = (y - r) / (atol + rtol * abs(r)); sum += e * e
                }
                let scaled = (sum / Double(out.count)).squareRoot()
                print("ADAPT", name, rtol, atol, "nfe", run.evaluations, "rms", Compare.rms(out.scalars.map(Double.init), ref.endpoint), "scaled", scaled)
            }
        }
    }
}
