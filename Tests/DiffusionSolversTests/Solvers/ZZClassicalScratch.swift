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
        let steps = [8, 16, 32, 64, 128, 256, 512]
        let configs: [(String, any NoiseSchedule, (Int) -> StepSchedule)] = [
            ("edm/logsnr", VESchedule(), { StepSchedule(spacing: .logSNR, steps: $0, final: .minimum) }),
            ("vp-discrete/logsnr", try! DiscreteVPSchedule(), { StepSchedule(spacing: .logSNR, steps: $0, final: .minimum) }),
            ("edm/uniform[0.05,2]", VESchedule(), { StepSchedule(spacing: .karras(rho: 1), steps: $0, sigmaMin: 0.05, sigmaMax: 2, final: .minimum) }),
            ("vp-linear/uniform[0.05,2]", ContinuousVPSchedule.linear(), { StepSchedule(spacing: .karras(rho: 1), steps: $0, sigmaMin: 0.05, sigmaMax: 2, final: .minimum) }),
            ("edm/uniform[0.1,10]", VESchedule(), { StepSchedule(spacing: .karras(rho: 1), steps: $0, sigmaMin: 0.1, sigmaMax: 10, final: .minimum) }),
            ("flow/uniform[0.02,0.98]", RectifiedFlowSchedule(), { StepSchedule(spacing: .timeUniform, steps: $0, sigmaMin: 0.02, sigmaMax: 0.98, final: .minimum) }),
        ]
        for s in [LMS() as any Solver, IPNDM(), PLMS()] {
            for (name, schedule, make) in configs {
                func go<S: Solver>(_ s: S) throws {
                    let t0 = Date()
                    let e = try rangeErrors(s, model: TestModels.mixture2D(), schedule: schedule, steps: steps, make: make)
                    var slopes: [String] = []
                    for i in 1..<e.count { slopes.append(String(format: "%.2f", log(e[i-1]/e[i]) / log(2))) }
                    print("PROBE", s.name, name, e.map { String(format: "%.2e", $0) }, slopes, String(format: "%.2fs", Date().timeIntervalSince(t0)))
                }
                try go(s)
            }
        }
    }
}
