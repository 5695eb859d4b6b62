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
        let configs: [(String, any NoiseSchedule, (Int) -> StepSchedule)] = [
            ("vp-linear/logsnr", ContinuousVPSchedule.linear(), { StepSchedule(spacing: .logSNR, steps: $0, final: .minimum) }),
            ("edm/karras", VESchedule(), { StepSchedule(spacing: .karras(rho: 7), steps: $0, final: .minimum) }),
            ("flow/time-uniform", RectifiedFlowSchedule(), { StepSchedule(spacing: .timeUniform, steps: $0, final: .minimum) }),
            ("vp-discrete/karras", try! DiscreteVPSchedule(), { StepSchedule(spacing: .karras(rho: 7), steps: $0, final: .minimum) }),
            ("vp-discrete/trailing", try! DiscreteVPSchedule(), { StepSchedule(spacing: .trailing, steps: $0, final: .minimum) }),
            ("vp-discrete/ddim-leading", try! DiscreteVPSchedule(), { StepSchedule(spacing: .ddimLeading, steps: $0, final: .minimum) }),
        ]
        let jobs: [(any Solver, [Int])] = [
            (LMS(), [64, 96, 128, 192, 256]),
            (PLMS(), [10, 20, 40, 80, 160]),
            (DPMSolverFast(), [8, 14, 20, 32, 50, 80, 128]),
            (DPMSolverPlusPlus2S(), [16, 32, 64, 128, 256]),
        ]
        for (s, steps) in jobs {
            for (name, schedule, make) in configs {
                func go<S: Solver>(_ s: S) throws {
                    guard !(name.contains("trailing") || name.contains("leading")) || s.name == "plms" else { return }
                    let e = try rangeErrors(s, model: TestModels.mixture2D(), schedule: schedule, steps: steps, make: make)
                    var slopes: [String] = []
                    for i in 1..<e.count { slopes.append(String(format: "%.2f", log(e[i-1]/e[i]) / log(Double(steps[i]) / Double(steps[i-1])))) }
                    let fit = -Compare.logLogSlope(x: steps.map(Double.init), y: e)
                    print("PROBE", s.name, name, e.map { String(format: "%.2e", $0) }, slopes, String(format: "fit %.2f", fit))
                }
                try go(s)
            }
        }
    }
}
