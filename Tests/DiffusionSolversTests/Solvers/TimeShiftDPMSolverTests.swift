import Foundation
import Testing
@testable import DiffusionCore
import DiffusionTestSupport

@Suite("Time-shift sampler (TS-DPM-Solver)")
struct TimeShiftDPMSolverTests {
    static let schedule = TimeShiftTests.schedule
    static let mixture = TimeShiftTests.mixture

    /// The official code's grid: uniform in time from the last training step to the first.
    static func grid(_ steps: Int) throws -> TimeGrid {
        try StepSchedule(spacing: .linspace, steps: steps).grid(on: schedule)
    }

    static func run(_ solver: some Solver, steps: Int, x: SampleTensor) throws -> (SampleTensor, Int) {
        let run = try SamplingRun(model: mixture, schedule: schedule, solver: solver, grid: try grid(steps), initialSample: x)
        return (try run.finish(), run.evaluations)
    }

    @Test("window 0, window 1 or a cutoff beyond the grid give multistep DPM-Solver-2 (dpm_2m) bit for bit")
    func neutralSettingsAreDPMSolver() throws {
        let x = TestModels.noise([8, 16], seed: 3)
        for steps in [5, 10] {
            let (base, _) = try Self.run(DPMSolverMultistep(prediction: .noise, solverOrder: 2), steps: steps, x: x)
            for shift in [try TimeShift(window: 0, cutoff: 0), try TimeShift(window: 1, cutoff: 0), try TimeShift(window: 60, cutoff: 1000)] {
                let (out, _) = try Self.run(TimeShiftDPMSolver(shift: shift), steps: steps, x: x)
                #expect(out.scalars == base.scalars, "\(shift) at \(steps) steps")
            }
            // The default window does move the samples, so the comparison above can fail; NFE stays one per step.
            let (shifted, nfe) = try Self.run(TimeShiftDPMSolver(), steps: steps, x: x)
            #expect(shifted.scalars != base.scalars && nfe == steps)
        }
    }

    @Test("the chosen times and every step equal a float64 recomputation of the rule and of DPM-Solver-2 from the shifted times")
    func float64Recomputation() throws {
        let solver = TimeShiftDPMSolver(shift: try TimeShift(window: 40, cutoff: 200))
        let steps = 8, n = 6, d = 16
        let grid = try Self.grid(steps)
        var x = TestModels.noise([n, d], seed: 11)
        var state = solver.makeState(for: x, grid: grid)
        let context = SolverContext(grid: grid, denoiser: Denoiser(model: Self.mixture, schedule: Self.schedule), noise: nil,
                                    frame: Self.schedule.frame)
        // Per sample: the level it lies at and the previous level and noise prediction, tracked in Double.
        var levels = Array(repeating: grid[0], count: n)
        var previous: [(level: NoiseLevel, eps: [Double])?] = Array(repeating: nil, count: n)
        var shifted = 0
        for step in 0..<steps {
            let before = x.scalars.map(Double.init)
            try solver.step(step, x: &x, state: &state, context: context)
            let target = grid[step + 1]
            for b in 0..<n {
                let values = Array(before[b * d..<(b + 1) * d])
                let mean = values.reduce(0, +) / Double(d)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d - 1)
                var expected = target.t
                if step > 0, !target.isClean, target.t > 200 {
                    var best = pow(variance - target.sigma * target.sigma, 2)
                    for tau in Int((target.t - 20).rounded(.up))...Int((target.t + 20).rounded(.down)) {
                        let cost = pow(variance - (1 - Self.schedule.alphasCumprod[tau]), 2)
                        if cost < best { (best, expected) = (cost, Double(tau)) }
                    }
                }
                #expect(state.targetTimes[b] == expected, "step \(step) sample \(b)")
                if expected != target.t { shifted += 1 }
                let s0 = levels[b], to = expected == target.t ? target : Self.schedule.level(at: expected)
                let x0 = Self.mixture.predictData(values, batch: 1, at: s0)
                let eps = (0..<d).map { (values[$0] - s0.alpha * x0[$0]) / s0.sigma }
                let h = to.lambda - s0.lambda, phi = -to.sigma * expm1(h)
                let lowered = step == 0 || step == steps - 1
                for j in 0..<d {
                    var reference: Double
                    if to.isClean {
                        reference = x0[j]
                    } else {
                        reference = to.alpha / s0.alpha * values[j] + phi * eps[j]
                        if !lowered, let prev = previous[b] {
                            let r0 = (s0.lambda - prev.level.lambda) / h
                            reference += 0.5 * phi * (eps[j] - prev.eps[j]) / r0
                        }
                    }
                    let got = Double(x.scalars[b * d + j])
                    #expect(abs(got - reference) <= 5e-5 + 1e-5 * abs(reference), "step \(step) sample \(b) element \(j)")
                }
                previous[b] = (s0, eps)
                levels[b] = to
            }
        }
        #expect(shifted > 0, "the rule never moved a sample, so it was not exercised")
    }

    @Test("bad settings are refused in one line; a scheduler loop is refused because the levels depend on the samples")
    func refusals() throws {
        #expect { _ = try SolverCatalog.solver(named: "ts_dpm_solver", options: .init(eta: 0.3)) } throws: { "\($0)".contains("--eta must be 0") }
        #expect { _ = try SolverCatalog.solver(named: "ts_dpm_solver", options: .init(order: 3)) } throws: { "\($0)".contains("--order 2") }
        // A first step on a continuous schedule.
        let continuous = ContinuousVPSchedule.cosine, solver = TimeShiftDPMSolver()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 4).grid(on: continuous)
        var x = TestModels.noise([2, 16]), state = solver.makeState(for: x, grid: grid)
        let context = SolverContext(grid: grid, denoiser: Denoiser(model: Self.mixture, schedule: continuous), noise: nil, frame: continuous.frame)
        #expect { try solver.step(0, x: &x, state: &state, context: context) } throws: {
            "\($0)".contains("ts_dpm_solver") && "\($0)".contains("discrete VP schedule")
        }
        #expect {
            _ = try SolverScheduler(solver: TimeShiftDPMSolver(), grid: try Self.grid(4), schedule: Self.schedule, parameterization: .data,
                                    sampleShape: [16])
        } throws: { "\($0)".contains("cannot list its noise levels ahead") }
        var request = SamplingRequest(solver: "ts_dpm_solver", steps: 5)
        request.options.timeShift = try TimeShift(window: 30, cutoff: 300)
        _ = try SamplingResolver.resolve(request, model: Self.mixture, schedule: Self.schedule)
    }
}
