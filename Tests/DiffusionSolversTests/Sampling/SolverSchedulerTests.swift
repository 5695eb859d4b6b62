import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// The ask/tell ``SolverScheduler`` against the pull-style ``SamplingRun`` (which the parity tests
/// hold to diffusers and k-diffusion): a loop that calls an exact Gaussian-mixture model itself
/// must give the run's sample bit for bit, from the same initial and step noise.
@Suite("SolverScheduler (ask/tell)")
struct SolverSchedulerTests {
    /// The mixture's exact `x̂₀` stated as another parameterization's output (`ε`, `v` or `u`).
    struct Reparameterized: DiffusionModel {
        let base: GaussianMixture
        let parameterization: Parameterization
        var sampleShape: [Int] { base.sampleShape }
        var name: String { "\(base.name) as \(parameterization)" }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
            var data = SampleTensor(zeros: x.shape)
            try base.predict(x, at: level, into: &data)
            let a = level.alpha, s = level.sigma
            switch parameterization {
            case .noise: output.set((1 / s, x), (-a / s, data))                       // ε = (x − α·x̂₀)/σ
            case .velocity: output.set((a / s, x), (-(a * a) / s - s, data))           // v = α·ε − σ·x̂₀
            case .flowVelocity: output.set((1 / s, x), (-a / s - 1, data))             // u = ε − x̂₀
            default: output.assign(data)
            }
        }
    }

    static let model = TestModels.mixture2D()

    /// The step noise `diffuse sample` would give `solver` (a Brownian tree for the SDE samplers).
    static func stepNoise(for solver: any Solver, grid: TimeGrid, schedule: any NoiseSchedule, seed: UInt64 = 3) -> any NoiseSource {
        guard solver.stepNoise == .brownianTree else { return SeededNoise(seed: seed) }
        let sigmas = grid.levels.filter { !$0.isClean }.map { schedule.displaySigma($0) }
        return BrownianTreeNoise(seed: seed, sigmaMin: sigmas.min() ?? 0, sigmaMax: sigmas.max() ?? 1)
    }

    /// The pipeline's loop: the caller evaluates the model at what the scheduler asks for.
    static func askTell(_ scheduler: SolverScheduler, model: any DiffusionModel, from x0: SampleTensor,
                        afterStep: ((SolverScheduler, inout SampleTensor) -> Void)? = nil) throws -> SampleTensor {
        var x = x0
        var output = SampleTensor(zeros: x.shape)
        for (t, level) in zip(scheduler.timeSteps, scheduler.levels) {
            let input = try scheduler.scaleModelInput(timeStep: t, sample: x)
            try model.predict(input, at: level, into: &output)
            x = try scheduler.step(output: output, timeStep: t, sample: x)
            if scheduler.isAtStepBoundary { afterStep?(scheduler, &x) }
        }
        return x
    }

    /// Runs `solver` both ways from the same noise and checks sample, levels and counts.
    static func check<S: Solver>(_ solver: S, model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid,
                      label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let x = SampleTensor.initialSample(noise: TestModels.noise([6] + model.sampleShape, seed: 5), schedule: schedule, level: grid[0])
        let recording = LevelRecordingModel(model)
        let run = try SamplingRun(model: recording, schedule: schedule, solver: solver, grid: grid, initialSample: x,
                                  noise: stepNoise(for: solver, grid: grid, schedule: schedule))
        let pulled = try run.finish()
        let scheduler = try SolverScheduler(solver: solver, grid: grid, schedule: schedule, parameterization: model.parameterization,
                                            sampleShape: model.sampleShape, noise: stepNoise(for: solver, grid: grid, schedule: schedule))
        let asked = try askTell(scheduler, model: model, from: x)
        #expect(asked.shape == pulled.shape && asked.scalars == pulled.scalars, "\(label): ask/tell differs from SamplingRun",
                sourceLocation: sourceLocation)
        #expect(scheduler.levels == recording.levels, "\(label): levels", sourceLocation: sourceLocation)
        #expect(scheduler.levels.count == solver.evaluations(on: grid) && scheduler.evaluations == run.evaluations,
                "\(label): \(scheduler.levels.count) levels, \(solver.evaluations(on: grid)) declared", sourceLocation: sourceLocation)
        #expect(scheduler.timeSteps == scheduler.levels.map(\.t) && scheduler.isFinished, "\(label)", sourceLocation: sourceLocation)
        #expect(pulled.isFinite, "\(label)", sourceLocation: sourceLocation)
    }

    @Test("every catalog solver gives SamplingRun's sample bit for bit, at the levels it runs; dpm_adaptive and ts_dpm_solver are refused")
    func everyCatalogSolver() throws {
        let schedule = try DiscreteVPSchedule()
        let base = try StepSchedule(spacing: .karras(rho: 7), steps: 6).grid(on: schedule)
        let statistics = try ModelStatistics.degenerate(lambdaStart: base[0].lambda - 0.5, lambdaEnd: base[5].lambda + 0.5,
                                                        intervals: 60, dimension: 2)
        var checked = 0
        for name in SolverCatalog.names {
            let solver = try SolverCatalog.solver(named: name, options: .init(statistics: statistics))
            let grid = try solver.adaptedGrid(base, schedule: schedule)
            if solver is DPMSolverAdaptive || solver is TimeShiftDPMSolver {
                #expect {
                    _ = try SolverScheduler(solver: solver, grid: grid, schedule: schedule, parameterization: .data, sampleShape: [2])
                } throws: { error in
                    "\(error)".contains("cannot list its noise levels ahead")
                }
                continue
            }
            try Self.check(solver, model: Self.model, schedule: schedule, grid: grid, label: name)
            checked += 1
        }
        #expect(checked == SolverCatalog.names.count - 2)
    }

    @Test("bit for bit on VE, continuous VP and flow schedules, for eps, v and flow-velocity outputs, and with Karras churn")
    func schedulesAndParameterizations() throws {
        let cases: [(any NoiseSchedule, Parameterization)] = [
            (VESchedule(), .data), (ContinuousVPSchedule.cosine, .noise), (try DiscreteVPSchedule(), .velocity),
            (RectifiedFlowSchedule(), .flowVelocity),
        ]
        let names = ["heun", "dpmpp_2m", "uni_pc", "euler_ancestral", "dpmpp_sde", "dpmpp_2s_ancestral", "dpm_2", "dpm_fast", "ddpm"]
        for (schedule, parameterization) in cases {
            let model = Reparameterized(base: Self.model, parameterization: parameterization)
            let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 5).grid(on: schedule)
            // The stochastic samplers run VP and VE schedules only.
            for name in names where schedule.frame == .varianceExploding || !["euler_ancestral", "dpmpp_sde", "dpmpp_2s_ancestral", "ddpm"].contains(name) {
                try Self.check(try SolverCatalog.solver(named: name), model: model, schedule: schedule, grid: grid,
                               label: "\(name) on \(schedule.name), \(parameterization)")
            }
            guard schedule.frame == .varianceExploding else { continue }
            let churned = try SolverCatalog.solver(named: "heun", options: .init(churn: Churn(sChurn: 2)))
            try Self.check(churned, model: model, schedule: schedule, grid: grid, label: "heun with churn on \(schedule.name)")
        }
    }

    @Test("a churned step needs scaleModelInput: skipping it is refused, not silently wrong")
    func churnNeedsModelInput() throws {
        let schedule = VESchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 4).grid(on: schedule)
        let solver = try SolverCatalog.solver(named: "euler", options: .init(churn: Churn(sChurn: 2)))
        let scheduler = try SolverScheduler(solver: solver, grid: grid, schedule: schedule, parameterization: .data, sampleShape: [2],
                                            noise: SeededNoise(seed: 1))
        let x = SampleTensor.initialSample(noise: TestModels.noise([3, 2]), schedule: schedule, level: grid[0])
        var output = SampleTensor(zeros: x.shape)
        try Self.model.predict(x, at: scheduler.levels[0], into: &output)
        #expect { _ = try scheduler.step(output: output, timeStep: scheduler.timeSteps[0], sample: x) } throws: { error in
            "\(error)".contains("scaleModelInput")
        }
    }

    @Test("time steps out of order and evaluations past the end are refused")
    func misuse() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 2).grid(on: schedule)
        let scheduler = try SolverScheduler(solver: Heun(), grid: grid, schedule: schedule, parameterization: .data, sampleShape: [2],
                                            convention: .trainingTimestep)
        #expect(scheduler.timeSteps == scheduler.levels.map { $0.t.rounded() } && scheduler.timeSteps.count == 3)
        var x = TestModels.noise([2, 2])
        #expect(throws: SamplingError.self) { _ = try scheduler.step(output: x, timeStep: scheduler.timeSteps[1], sample: x) }
        for t in scheduler.timeSteps { x = try scheduler.step(output: SampleTensor(zeros: x.shape), timeStep: t, sample: x) }
        #expect(scheduler.isFinished)
        #expect(throws: SamplingError.self) { _ = try scheduler.step(output: x, timeStep: 0, sample: x) }
    }

    @Test("img2img: strength 1 is the full grid and run; strength s keeps the last floor(steps*s) steps")
    func imageToImage() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 10).grid(on: schedule)
        let original = SampleTensor(shape: [4, 2], scalars: [-1, 0.5, 1.2, 0.8, 0.3, -1.1, 0, 0])
        let noise = TestModels.noise([4, 2], seed: 9)
        #expect(try grid.startingAt(strength: 1) == grid)
        let start = SampleTensor.addNoise(original: original, noise: noise, level: grid[0])
        let full = try SamplingRun(model: Self.model, schedule: schedule, solver: DPMSolverMultistep(), grid: grid, initialSample: start).finish()
        let scheduler = try SolverScheduler(solver: DPMSolverMultistep(), grid: try grid.startingAt(strength: 1), schedule: schedule,
                                            parameterization: .data, sampleShape: [2])
        #expect(try Self.askTell(scheduler, model: Self.model, from: start) == full)
        for (strength, steps) in [(0.35, 3), (0.5, 5), (0.99, 9), (0.01, 1)] {
            let part = try grid.startingAt(strength: strength)
            #expect(part.steps == steps && part.levels == Array(grid.levels[(10 - steps)...]), "strength \(strength)")
        }
        #expect(throws: SamplingError.self) { _ = try grid.startingAt(strength: 0) }
        // The forward process: x = α·x₀ + σ·ε at the level.
        let level = grid[7]
        let noised = SampleTensor.addNoise(original: original, noise: noise, level: level)
        for i in 0..<8 {
            #expect(abs(Double(noised.scalars[i]) - (level.alpha * Double(original.scalars[i]) + level.sigma * Double(noise.scalars[i]))) < 1e-6)
        }
    }

    @Test("a sample changed between steps is where the next step starts (Heun keeps no state across steps)")
    func changedSampleIsUsed() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 6).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([4, 2], seed: 6), schedule: schedule, level: grid[0])
        func shift(_ x: inout SampleTensor) { for i in x.scalars.indices where i % 2 == 0 { x.scalars[i] += 0.25 } }
        // Pull-style: steps 0-2, the change, steps 3-5.
        var middle = try SamplingRun(model: Self.model, schedule: schedule, solver: Heun(), grid: try TimeGrid(levels: Array(grid.levels[...3])),
                                     initialSample: x).finish()
        shift(&middle)
        let pulled = try SamplingRun(model: Self.model, schedule: schedule, solver: Heun(), grid: try TimeGrid(levels: Array(grid.levels[3...])),
                                     initialSample: middle).finish()
        let scheduler = try SolverScheduler(solver: Heun(), grid: grid, schedule: schedule, parameterization: .data, sampleShape: [2])
        let asked = try Self.askTell(scheduler, model: Self.model, from: x) { scheduler, x in
            if scheduler.stepsTaken == 3 { shift(&x) }
        }
        #expect(asked.scalars == pulled.scalars)
    }

    @Test("startingAt(strength:) and addNoise(originalSample:noise:timeStep:) run img2img as the pull-style run on the shortened grid")
    func schedulerImageToImage() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 10).grid(on: schedule)
        let full = try SolverScheduler(solver: UniPC(), grid: grid, schedule: schedule, parameterization: .data, sampleShape: [2])
        let scheduler = try full.startingAt(strength: 0.4)
        #expect(scheduler.grid.levels == Array(grid.levels[6...]) && scheduler.levels.first == grid[6])
        let original = SampleTensor(shape: [2, 2], scalars: [-1, 0.5, 1.2, 0.8]), noise = TestModels.noise([2, 2], seed: 8)
        let start = try scheduler.addNoise(originalSample: original, noise: noise, timeStep: scheduler.timeSteps[0])
        #expect(start == SampleTensor.addNoise(original: original, noise: noise, level: grid[6]))
        let pulled = try SamplingRun(model: Self.model, schedule: schedule, solver: UniPC(), grid: try grid.startingAt(strength: 0.4),
                                     initialSample: start).finish()
        #expect(try Self.askTell(scheduler, model: Self.model, from: start).scalars == pulled.scalars)
        #expect(throws: SamplingError.self) { _ = try scheduler.addNoise(originalSample: original, noise: noise, timeStep: -1) }
    }

    @Test("inpainting: re-blending after every step keeps the known pixels and samples the others")
    func maskReblend() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 8).grid(on: schedule)
        let model = BuiltInModels.glyphs
        let known = SampleTensor(shape: [2, 1, 8, 8], scalars: (0..<128).map { Float($0 % 7) / 7 - 0.5 })
        let mask = SampleTensor(shape: [1, 1, 8, 8], scalars: (0..<64).map { $0 < 32 ? 1 : 0 })  // the top half is known
        let noise = TestModels.noise([2, 1, 8, 8], seed: 4)
        let scheduler = try SolverScheduler(solver: UniPC(), grid: grid, schedule: schedule, parameterization: model.parameterization,
                                            sampleShape: model.sampleShape)
        var blends = 0
        let x = try Self.askTell(scheduler, model: model, from: SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0])) {
            scheduler, x in
            x.blendKnown(known, mask: mask, noise: noise, level: scheduler.currentLevel)
            blends += 1
        }
        #expect(blends == grid.steps)
        for b in 0..<2 {
            for i in 0..<64 {
                let j = b * 64 + i
                if i < 32 { #expect(x.scalars[j] == known.scalars[j]) }
            }
        }
        // The unknown half is the model's, not the known image's.
        #expect((0..<2).contains { b in (32..<64).contains { x.scalars[b * 64 + $0] != known.scalars[b * 64 + $0] } })
        #expect(x.isFinite)
    }

    @Test("the variance-exploding sample frame: initNoiseSigma is sigma/alpha and the model input x/sqrt(sigma^2+1)")
    func varianceExplodingFrame() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 6).grid(on: schedule)
        let make = { (frame: SampleFrame) in
            try SolverScheduler(solver: DPMSolverMultistep(), grid: grid, schedule: schedule, parameterization: .data, sampleShape: [2],
                                sampleFrame: frame)
        }
        let scheduler = try make(.varianceExploding)
        let sigma = schedule.displaySigma(grid[0])
        let inModelFrame = try make(.model)
        #expect(scheduler.initNoiseSigma == sigma && inModelFrame.initNoiseSigma == 1)
        let noise = TestModels.noise([5, 2], seed: 2)
        var y = noise
        y.scale(by: scheduler.initNoiseSigma)
        let input = try scheduler.scaleModelInput(timeStep: scheduler.timeSteps[0], sample: y)
        for i in 0..<10 { #expect(abs(Double(input.scalars[i]) - Double(y.scalars[i]) / (sigma * sigma + 1).squareRoot()) < 1e-5) }
        let inFrame = try Self.askTell(scheduler, model: Self.model, from: y)
        var x = y  // the same start in the model's coordinates, x = α·y
        x.scale(by: grid[0].alpha)
        let inModel = try Self.askTell(inModelFrame, model: Self.model, from: x)
        #expect(Compare.relativeRMS(inFrame, inModel.scalars.map(Double.init)) < 1e-5)
        #expect(throws: SamplingError.self) {
            _ = try SolverScheduler(solver: Euler(), grid: try StepSchedule(spacing: .karras(rho: 7), steps: 3).grid(on: RectifiedFlowSchedule()),
                                    schedule: RectifiedFlowSchedule(), parameterization: .flowVelocity, sampleShape: [2], sampleFrame: .varianceExploding)
        }
    }

    @Test("denoised is the latest output's clean estimate")
    func denoisedPreview() throws {
        let schedule = VESchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 3).grid(on: schedule)
        let model = Reparameterized(base: Self.model, parameterization: .noise)
        let scheduler = try SolverScheduler(solver: Heun(), grid: grid, schedule: schedule, parameterization: .noise, sampleShape: [2])
        #expect(scheduler.denoised == nil)
        var x = SampleTensor.initialSample(noise: TestModels.noise([3, 2]), schedule: schedule, level: grid[0])
        var output = SampleTensor(zeros: x.shape), expected = SampleTensor(zeros: x.shape)
        for (t, level) in zip(scheduler.timeSteps, scheduler.levels) {
            let input = try scheduler.scaleModelInput(timeStep: t, sample: x)
            try model.predict(input, at: level, into: &output)
            try Self.model.predict(input, at: level, into: &expected)
            x = try scheduler.step(output: output, timeStep: t, sample: x)
            let denoised = try #require(scheduler.denoised)
            #expect(Compare.relativeRMS(denoised, expected.scalars.map(Double.init)) < 1e-4)
        }
    }
}
