import Testing
import Foundation
import RealModule
import DiffusionSolvers
import DiffusionTestSupport

/// Any model on any time (``ReframedSchedule``): a VP ε- or v-model integrated in flow time on a
/// shifted flow grid, and a flow model integrated in k-diffusion's sigma on a Karras grid, both
/// reach the model's own probability-flow ODE solution (the tight-tolerance ``ReferenceSolver``
/// in the native frame, from the same start) at the solver's order, as the native runs do.
@Suite("Reframed schedules: any model on any time")
struct ReframedScheduleTests {
    /// The exact mixture answering in another parameterization (computed from its `x̂₀`).
    struct Reparameterized: DiffusionModel {
        let base: GaussianMixture
        let parameterization: Parameterization
        var sampleShape: [Int] { base.sampleShape }
        var name: String { base.name }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
            var data = SampleTensor(zeros: x.shape)
            try base.predict(x, at: level, into: &data)
            let (a, s) = (level.alpha, level.sigma)
            for i in 0..<x.scalars.count {
                let xi = Double(x.scalars[i]), d = Double(data.scalars[i]), e = (xi - a * d) / s
                switch parameterization {
                case .noise: output.scalars[i] = Float(e)
                case .velocity: output.scalars[i] = Float(a * e - s * d)
                case .flowVelocity: output.scalars[i] = Float(e - d)
                default: output.scalars[i] = Float(d)
                }
            }
        }
    }

    static func mixture() throws -> GaussianMixture { try GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")) }

    /// RMS endpoint errors against the native reference, for each step count, with `grid(n)` on `schedule`.
    func errors<S: Solver>(_ solver: S, model: any DiffusionModel, native: any NoiseSchedule, schedule: any NoiseSchedule, steps: [Int],
                           start: NoiseLevel, grid: (Int) throws -> TimeGrid) throws -> [Double] {
        let x = SampleTensor.initialSample(noise: TestModels.noise([16] + model.sampleShape, seed: 7), schedule: native, level: start)
        let reference = try ReferenceSolver(relativeTolerance: 1e-10, absoluteTolerance: 1e-10)
            .solve(model: model, schedule: native, x: x, from: start, to: native.cleanLevel)
        return try steps.map { n in
            let g = try grid(n)
            #expect(abs(g[0].lambda - start.lambda) < 1e-9, "grid starts at the native start level")
            let out = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: g, initialSample: x).finish()
            return Compare.rms(out.scalars.map(Double.init), reference.endpoint)
        }
    }

    @Test("a reframed schedule keeps the base's coefficients and states levels in its frame's time")
    func identities() throws {
        let vp = ContinuousVPSchedule.linear()
        let flowTime = ReframedSchedule(vp, frame: .rectifiedFlow)
        for t in [0.01, 0.3, 0.9] {
            let level = flowTime.level(at: t)
            #expect(level == vp.level(at: t))
            let tau = flowTime.displaySigma(level)
            #expect(abs(tau - level.sigma / (level.alpha + level.sigma)) < 1e-15)
            #expect(abs(flowTime.level(sigma: tau).t - t) < 1e-9)
        }
        let sigmaTime = ReframedSchedule(RectifiedFlowSchedule(), frame: .varianceExploding)
        #expect(abs(sigmaTime.displaySigma(sigmaTime.level(at: 0.75)) - 3) < 1e-12)
        // The flow schedule reaches α = 0, where σ/α is infinite: the range stops at σ/α = 999.
        #expect(abs(sigmaTime.displaySigma(sigmaTime.level(at: sigmaTime.timeRange.upperBound)) - 999) < 1e-6)
    }

    @Test("SolverScheduler(plan:) steps in the plan's time: the ask/tell loop equals SamplingRun on the reframed schedule")
    func schedulerFollowsThePlan() throws {
        let model = try Self.mixture(), vp = ContinuousVPSchedule.linear()
        var request = SamplingRequest(solver: "heun", steps: 6)  // Heun depends on the frame; exponential integrators do not
        request.time = .rectifiedFlow
        request.shift = 3
        let plan = try SamplingResolver.resolve(request, model: model, schedule: vp)
        #expect(plan.schedule.frame == .rectifiedFlow)
        let x = SampleTensor.initialSample(noise: TestModels.noise([8] + model.sampleShape, seed: 2), schedule: vp, level: plan.grid[0])
        func pulled(_ schedule: any NoiseSchedule) throws -> SampleTensor {
            func run<S: Solver>(_ solver: S) throws -> SampleTensor {
                try SamplingRun(model: model, schedule: schedule, solver: solver, grid: plan.grid, initialSample: x).finish()
            }
            return try run(plan.solver)
        }
        let scheduler = try SolverScheduler(plan: plan, schedule: vp, parameterization: model.parameterization, sampleShape: model.sampleShape)
        var y = x, output = SampleTensor(zeros: x.shape)
        for (t, level) in zip(scheduler.timeSteps, scheduler.levels) {
            try model.predict(try scheduler.scaleModelInput(timeStep: t, sample: y), at: level, into: &output)
            y = try scheduler.step(output: output, timeStep: t, sample: y)
        }
        #expect(y.scalars == (try pulled(plan.schedule)).scalars)
        // The same levels stepped in the native (sigma) frame end elsewhere: the frame is not a no-op.
        #expect(Compare.relativeRMS(y, (try pulled(vp)).scalars.map(Double.init)) > 1e-4)
    }

    @Test("a VP eps- and v-model on a shifted flow grid converge to their ODE at the solver's order",
          arguments: [Parameterization.noise, .velocity])
    func vpModelOnFlowTime(_ parameterization: Parameterization) throws {
        let model = Reparameterized(base: try Self.mixture(), parameterization: parameterization)
        let vp = ContinuousVPSchedule.linear(), flowTime = ReframedSchedule(vp, frame: .rectifiedFlow)
        let start = vp.level(at: vp.timeRange.upperBound)
        let tauMax = ODEFrame.rectifiedFlow.tau(start), shift = 3.0
        let tMax = tauMax / (shift - (shift - 1) * tauMax)  // the unshifted time whose shift is τ_max
        func flowGrid(_ n: Int) throws -> TimeGrid {
            let sigmas = (0...n).map { i -> Double in
                let t = tMax * Double(n - i) / Double(n); return i == 0 ? tauMax : shift * t / (1 + (shift - 1) * t)
            }
            return try StepSchedule.grid(sigmas: sigmas, on: flowTime)
        }
        func karras(_ n: Int) throws -> TimeGrid { try StepSchedule(spacing: .karras(rho: 7), steps: n, final: .zero).grid(on: vp) }
        // Euler is pre-asymptotic below 64 steps here (samples near a boundary between components
        // change component), so each solver gets its own range.
        for (name, order, steps) in [("euler", 1.0, [64, 128, 256, 512]), ("heun", 2.0, [16, 32, 64, 128])] {
            let solver = try SolverCatalog.solver(named: name)
            let converted = try errors(solver, model: model, native: vp, schedule: flowTime, steps: steps, start: start, grid: flowGrid)
            let native = try errors(solver, model: model, native: vp, schedule: vp, steps: steps, start: start, grid: karras)
            let slope = -Compare.logLogSlope(x: steps.map(Double.init), y: converted)
            #expect(abs(slope - order) < 0.35, "\(name) in flow time: order \(slope), errors \(converted)")
            #expect(converted.last! < 0.05 / order, "\(name) in flow time: errors \(converted)")
            #expect(native.last! < 0.05 / order, "\(name) native: errors \(native)")
        }
    }

    @Test("a flow model on a Karras grid in sigma time converges to its ODE at the solver's order")
    func flowModelOnKarras() throws {
        let model = Reparameterized(base: try Self.mixture(), parameterization: .flowVelocity)
        let flow = RectifiedFlowSchedule(), sigmaTime = ReframedSchedule(flow, frame: .varianceExploding)
        let start = flow.level(sigma: 0.99)
        func karras(_ n: Int) throws -> TimeGrid {
            try StepSchedule(spacing: .karras(rho: 7), steps: n, sigmaMin: 0.002, sigmaMax: 0.99 / 0.01, final: .zero).grid(on: sigmaTime)
        }
        func uniform(_ n: Int) throws -> TimeGrid {
            try StepSchedule.grid(sigmas: (0...n).map { 0.99 * Double(n - $0) / Double(n) }, on: flow)
        }
        // Euler is pre-asymptotic below 64 steps here (samples near a boundary between components
        // change component), so each solver gets its own range.
        for (name, order, steps) in [("euler", 1.0, [64, 128, 256, 512]), ("heun", 2.0, [16, 32, 64, 128])] {
            let solver = try SolverCatalog.solver(named: name)
            let converted = try errors(solver, model: model, native: flow, schedule: sigmaTime, steps: steps, start: start, grid: karras)
            let native = try errors(solver, model: model, native: flow, schedule: flow, steps: steps, start: start, grid: uniform)
            let slope = -Compare.logLogSlope(x: steps.map(Double.init), y: converted)
            #expect(abs(slope - order) < 0.35, "\(name) in sigma time: order \(slope), errors \(converted)")
            #expect(converted.last! < 0.05 / order, "\(name) in sigma time: errors \(converted)")
            #expect(native.last! < 0.05 / order, "\(name) native: errors \(native)")
        }
    }
}
