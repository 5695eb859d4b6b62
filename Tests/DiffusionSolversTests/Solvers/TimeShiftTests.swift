import Foundation
import Testing
@testable import DiffusionCore
import DiffusionEvaluation
import DiffusionTestSupport

@Suite("Time-shift sampler (TS-DDIM)")
struct TimeShiftTests {
    /// DDPM's linear betas, the schedule of the paper's CIFAR-10 models.
    static let schedule = try! DiscreteVPSchedule(betaSchedule: .linear, betaStart: 0.0001, betaEnd: 0.02, trainingSteps: 1000)
    /// A 16-dimensional two-component mixture with image-like spread (element variance about 0.3).
    static let mixture = try! GaussianMixture(weights: [0.6, 0.4],
                                              means: (0..<16).map { $0 % 2 == 0 ? 0.5 : -0.4 } + (0..<16).map { $0 % 3 == 0 ? -0.6 : 0.3 },
                                              stds: [Double](repeating: 0.3, count: 16) + [Double](repeating: 0.2, count: 16))

    static func grid(_ steps: Int) throws -> TimeGrid {
        try StepSchedule(spacing: .leading, steps: steps).grid(on: schedule)
    }

    static func run(_ solver: some Solver, steps: Int, x: SampleTensor) throws -> SampleTensor {
        try SamplingRun(model: mixture, schedule: schedule, solver: solver, grid: try grid(steps), initialSample: x).finish()
    }

    @Test("window 0, window 1 or a cutoff beyond the grid give plain DDIM bit for bit")
    func neutralSettingsAreDDIM() throws {
        let x = TestModels.noise([8, 16], seed: 3)
        for steps in [5, 10] {
            let ddim = try Self.run(DDIM(), steps: steps, x: x)
            for shift in [try TimeShift(window: 0, cutoff: 0), try TimeShift(window: 1, cutoff: 0), try TimeShift(window: 40, cutoff: 1000)] {
                let out = try Self.run(TimeShiftDDIM(shift: shift), steps: steps, x: x)
                #expect(out.scalars == ddim.scalars, "\(shift) at \(steps) steps")
            }
        }
        // And the paper's setting does change the sample, so the comparison above can fail.
        #expect(try Self.run(TimeShiftDDIM(), steps: 10, x: x).scalars != (try Self.run(DDIM(), steps: 10, x: x)).scalars)
    }

    @Test("each step goes to the time within the window whose 1 - abar is nearest the sample's variance (float64 recomputation)")
    func variantMatchingRule() throws {
        let shift = try TimeShift(window: 40, cutoff: 300)
        let solver = TimeShiftDDIM(shift: shift)
        let grid = try Self.grid(10)
        var x = TestModels.noise([6, 16], seed: 11)
        var state = solver.makeState(for: x, grid: grid)
        let context = SolverContext(grid: grid, denoiser: Denoiser(model: Self.mixture, schedule: Self.schedule), noise: nil,
                                    frame: Self.schedule.frame)
        var shifted = 0
        for step in 0..<grid.steps {
            let before = x.scalars.map(Double.init)
            try solver.step(step, x: &x, state: &state, context: context)
            let from = grid[step], target = grid[step + 1]
            let x0 = Self.mixture.predictData(before, batch: 6, at: from)
            for b in 0..<6 {
                let values = Array(before[b * 16..<(b + 1) * 16])
                let mean = values.reduce(0, +) / 16
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 15
                // The rule: the grid time, then every training step within ±20, by squared distance.
                var expected = target.t
                if step > 0, !target.isClean, target.t > 300 {
                    var best = pow(variance - target.sigma * target.sigma, 2)
                    for tau in max(0, Int(target.t) - 20)...min(999, Int(target.t) + 20) {
                        let cost = pow(variance - (1 - Self.schedule.alphasCumprod[tau]), 2)
                        if cost < best { (best, expected) = (cost, Double(tau)) }
                    }
                }
                let chosen = state.targetTimes[b]
                #expect(chosen == expected, "step \(step) sample \(b)")
                #expect(abs(chosen - target.t) <= 20)
                if chosen != target.t { shifted += 1 }
                // The step is DDIM's to the chosen level, recomputed in Double.
                let abar = chosen < 0 ? 1 : Self.schedule.alphasCumprod[Int(chosen)]
                for j in 0..<16 {
                    let i = b * 16 + j
                    let eps = (before[i] - from.alpha * x0[i]) / from.sigma
                    let reference = abar.squareRoot() * x0[i] + (1 - abar).squareRoot() * eps
                    #expect(abs(Double(x.scalars[i]) - reference) <= 5e-5 + 1e-5 * abs(reference), "step \(step) element \(i)")
                }
            }
        }
        #expect(shifted > 0, "the rule never moved a sample, so it was not exercised")
    }

    @Test("error against the exact ODE endpoint and distance to the mixture at 5, 10, 20 NFE, with and without the shift")
    func measuredEffect() throws {
        let n = 256, d = 16
        let x = TestModels.noise([n, d], seed: 21)
        let exact = try Self.run(DPMSolverMultistep(solverOrder: 3), steps: 400, x: x).scalars.map(Double.init)
        let data = Self.mixture.samples(count: n, seed: 5)
        var errors: [String: [Double]] = [:]
        for steps in [5, 10, 20] {
            for (label, solver) in [("ddim", DDIM() as any Solver), ("ts_ddim 5,550", TimeShiftDDIM()),
                                    ("ts_ddim 40,300", TimeShiftDDIM(shift: try TimeShift(window: 40, cutoff: 300)))] {
                func sample<S: Solver>(_ s: S) throws -> [Double] { try Self.run(s, steps: steps, x: x).scalars.map(Double.init) }
                let out = try sample(solver)
                let error = Metrics.rmse(out, exact)
                let sw = Metrics.slicedWasserstein(out, data, dimension: d)
                errors[label, default: []].append(error)
                print("time-shift figure: \(label) steps \(steps): rmse to exact ODE \(String(format: "%.4f", error)), sliced W2 to data \(String(format: "%.4f", sw))")
                #expect(out.allSatisfy { $0.isFinite })
            }
        }
        // Every variant converges to the ODE's endpoint as the steps grow.
        for (label, e) in errors { #expect(e[2] < e[0], "\(label): \(e)") }
    }

    @Test("bad settings are refused in one line: a malformed --time-shift, eta, a continuous schedule, a 1-element sample")
    func badInput() throws {
        for text in ["5", "5,", "a,550", "-2,550", "5,nan", "5,550,1"] {
            #expect { _ = try TimeShift(parsing: text) } throws: { "\($0)".contains("--time-shift") }
        }
        #expect(try TimeShift(parsing: " 5, 550") == TimeShift.paperDefault)
        #expect { _ = try SolverCatalog.solver(named: "ts_ddim", options: .init(eta: 0.5)) } throws: { "\($0)".contains("--eta must be 0") }
        let continuous = ContinuousVPSchedule.cosine
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 4).grid(on: continuous)
        #expect {
            _ = try SamplingRun(model: Self.mixture, schedule: continuous, solver: TimeShiftDDIM(), grid: grid,
                                initialSample: TestModels.noise([2, 16])).finish()
        } throws: { "\($0)".contains("needs a discrete VP schedule") }
        let one = try GaussianMixture(weights: [1], means: [0.2], stds: [0.5])
        #expect {
            _ = try SamplingRun(model: one, schedule: Self.schedule, solver: TimeShiftDDIM(), grid: try Self.grid(4),
                                initialSample: TestModels.noise([2, 1])).finish()
        } throws: { "\($0)".contains("at least 2 elements") }
        // The resolver refuses --time-shift for a solver that does not shift.
        var request = SamplingRequest(solver: "ddim", steps: 10)
        request.options.timeShift = .paperDefault
        #expect { _ = try SamplingResolver.resolve(request, model: Self.mixture, schedule: Self.schedule) } throws: { "\($0)".contains("--time-shift") }
    }
}
