import Testing
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Solver basics")
struct SolverBasicsTests {
    static let schedules: [any NoiseSchedule] = [
        try! DiscreteVPSchedule(), ContinuousVPSchedule.linear(), ContinuousVPSchedule.cosine, VESchedule(), RectifiedFlowSchedule(),
    ]

    func run<S: Solver>(_ solver: S, schedule: any NoiseSchedule, spacing: StepSpacing = .karras(rho: 7), steps: Int = 10,
                        final: FinalNoise = .zero, noise: (any NoiseSource)? = nil) throws -> (SampleTensor, SamplingRun<S>) {
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: spacing, steps: steps, final: final).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([32, 2]), schedule: schedule, level: grid[0])
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise)
        return (try run.finish(), run)
    }

    @Test("Euler equals DDIM (eta = 0) on every schedule")
    func eulerIsDDIM() throws {
        for schedule in Self.schedules {
            let (euler, _) = try run(Euler(), schedule: schedule, final: .minimum)
            let (ddim, _) = try run(DDIM(), schedule: schedule, final: .minimum)
            let difference = Compare.relativeRMS(euler, ddim.scalars.map(Double.init))
            #expect(difference < 1e-5, "\(schedule.name): \(difference)")
        }
    }

    @Test("every solver reaches sigma = 0 with finite output and counts its evaluations")
    func finalStepToZero() throws {
        for schedule in Self.schedules {
            for steps in [1, 2, 5] {
                let (ddim, r1) = try run(DDIM(), schedule: schedule, steps: steps)
                let (euler, r2) = try run(Euler(), schedule: schedule, steps: steps)
                let (heun, r3) = try run(Heun(), schedule: schedule, steps: steps)
                let (ddimEta, r4) = try run(DDIM(eta: 1), schedule: schedule, steps: steps, noise: SeededNoise(seed: 4))
                for out in [ddim, euler, heun, ddimEta] { #expect(out.isFinite, "\(schedule.name), \(steps) steps") }
                #expect(r1.evaluations == steps && r2.evaluations == steps && r4.evaluations == steps)
                #expect(r3.evaluations == 2 * steps - 1)
                #expect(r3.evaluations == Heun().evaluations(on: r3.grid))
            }
        }
    }

    @Test("the step to sigma = 0 returns the model's clean estimate")
    func lastStepIsDenoised() throws {
        let schedule = VESchedule()
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 4).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([8, 2]), schedule: schedule, level: grid[0])
        let run = try SamplingRun(model: model, schedule: schedule, solver: Euler(), grid: grid, initialSample: x)
        for _ in 0..<3 { try run.advance() }
        var expected = SampleTensor(zeros: x.shape)
        try model.predict(run.sample, at: grid[3], into: &expected)
        #expect(try run.finish() == expected)
    }

    @Test("with previews on, every solver keeps the latest clean estimate current")
    func previews() throws {
        let schedule = VESchedule()
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 6).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([4, 2]), schedule: schedule, level: grid[0])
        for solver in [Euler() as any Solver, Heun(), DDIM()] {
            func check<S: Solver>(_ solver: S) throws {
                try expectPreviewsCurrent(solver, model: model, schedule: schedule, grid: grid, initialSample: x, steps: 3)
            }
            try check(solver)
        }
    }

    @Test("stochastic DDIM is reproducible from a seed and differs across seeds")
    func ddimSeeded() throws {
        let schedule = try DiscreteVPSchedule()
        let (a, _) = try run(DDIM(eta: 0.7), schedule: schedule, spacing: .trailing, noise: SeededNoise(seed: 11))
        let (b, _) = try run(DDIM(eta: 0.7), schedule: schedule, spacing: .trailing, noise: SeededNoise(seed: 11))
        let (c, _) = try run(DDIM(eta: 0.7), schedule: schedule, spacing: .trailing, noise: SeededNoise(seed: 12))
        #expect(a == b)
        #expect(a != c)
    }

    @Test("stochastic DDIM without a noise source is an error, not a trap")
    func ddimWithoutNoise() throws {
        #expect(throws: SamplingError.self) { _ = try run(DDIM(eta: 0.5), schedule: VESchedule()) }
    }

    @Test("every stochastic sampler run without a noise source fails with an error that names it",
          arguments: SolverCatalog.stochasticNames)
    func stochasticWithoutNoise(name: String) throws {
        func failure<S: Solver>(_ solver: S) -> String? {
            // A 1000-step VP schedule, where SA-Solver's default tau window (200…800) is non-empty.
            do { _ = try run(solver, schedule: try DiscreteVPSchedule()); return nil } catch { return "\(error)" }
        }
        let solver = try SolverCatalog.solver(named: name)
        let outcome = failure(solver)
        let message = try #require(outcome)
        #expect(message.contains(solver.name) && message.contains("noise source"), "\(message)")
    }

    @Test("SDE-DPM-Solver++ with noise prediction is an error, not a silently deterministic update")
    func sdeNeedsDataPrediction() throws {
        var solver = DPMSolverMultistep(prediction: .noise)
        solver.stochastic = true
        #expect(throws: SamplingError.self) { _ = try run(solver, schedule: try DiscreteVPSchedule(), noise: SeededNoise(seed: 1)) }
        solver.prediction = .data
        _ = try run(solver, schedule: try DiscreteVPSchedule(), noise: SeededNoise(seed: 1))
    }

    @Test("a model that returns NaN is reported with the step and noise level")
    func nanReported() throws {
        struct Broken: DiffusionModel {
            var sampleShape: [Int] { [2] }
            var parameterization: Parameterization { .noise }
            var name: String { "broken" }
            func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
                for i in output.scalars.indices { output.scalars[i] = level.sigma < 0.5 ? .nan : 0 }
            }
        }
        let schedule = VESchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 10).grid(on: schedule)
        let run = try SamplingRun(model: Broken(), schedule: schedule, solver: Heun(), grid: grid,
                                  initialSample: TestModels.noise([2, 2]))
        do {
            _ = try run.finish()
            Issue.record("expected an error")
        } catch let error as SamplingError {
            guard case let .nonFiniteModelOutput(step, _, sigma) = error else { Issue.record("wrong error \(error)"); return }
            // Heun's first evaluation below 0.5 is its second stage, at the end of the step that crosses 0.5.
            #expect(sigma < 0.5 && grid[step].sigma >= 0.5 && grid[step + 1].sigma < 0.5, "step \(step), sigma \(sigma)")
            #expect(sigma == grid[step + 1].sigma, "step \(step), sigma \(sigma)")
            #expect(!error.description.contains("\n"))
            #expect(error.description.contains("step \(step + 1)"))
        }
    }
}

@Suite("Model inputs")
struct ModelInputTests {
    /// Records the noise levels it is evaluated at.
    final class Recorder: DiffusionModel, @unchecked Sendable {
        var levels: [NoiseLevel] = []
        var sampleShape: [Int] { [2] }
        var parameterization: Parameterization { .noise }
        var name: String { "recorder" }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
            levels.append(level)
            for i in output.scalars.indices { output.scalars[i] = 0 }
        }
    }

    @Test("a discrete-time model on a Karras grid receives the fractional timestep of the solver's noise level")
    func fractionalTimesteps() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 8).grid(on: schedule)
        let recorder = Recorder()
        _ = try SamplingRun(model: recorder, schedule: schedule, solver: DPMSolverMultistep(), grid: grid,
                            initialSample: TestModels.noise([1, 2])).finish()
        #expect(recorder.levels.count == 8)
        #expect(recorder.levels.contains { $0.t != $0.t.rounded() })
        for (level, expected) in zip(recorder.levels, grid.levels) {
            #expect(level == expected)
            // The timestep maps back to exactly the sigma the solver steps from: never a rounded one.
            #expect(abs(schedule.kSigma(at: level.t) - schedule.displaySigma(expected)) <= 1e-12 * schedule.displaySigma(expected))
        }
    }
}

@Suite("Solver names")
struct SolverNameTests {
    /// ComfyUI's sampler names (`comfy/samplers.py`, KSAMPLER_NAMES + ddim, uni_pc, uni_pc_bh2) that
    /// this library implements; its `_gpu` variants differ only in where the Brownian tree lives.
    static let comfyNames = ["euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive",
                             "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
                             "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "ipndm", "deis",
                             "sa_solver", "ddim", "uni_pc", "uni_pc_bh2"]

    @Test("every ComfyUI sampler name we implement resolves, and names are unique")
    func names() throws {
        for name in Self.comfyNames { #expect(SolverCatalog.entry(named: name) != nil, "\(name)") }
        let all = SolverCatalog.names
        #expect(Set(all).count == all.count)
        for entry in SolverCatalog.entries {
            guard entry.needs == nil else {
                #expect(throws: SamplingError.self, "\(entry.name) without \(entry.needs!)") { try SolverCatalog.solver(named: entry.name) }
                continue
            }
            let solver = try SolverCatalog.solver(named: entry.name)
            #expect(!solver.name.isEmpty)
        }
    }
}
