import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// ``AsyncSamplingRun`` against the pull-style ``SamplingRun`` (parity-tested against diffusers and
/// k-diffusion): an exact Gaussian mixture behind an actor must give the run's samples bit for bit,
/// and a cancelled task must stop at the evaluation where it was cancelled.
@Suite("AsyncSamplingRun")
struct AsyncSamplingRunTests {
    /// The mixture as an actor (as a model that awaits a GPU would be); it can cancel the task that
    /// calls it at its `cancelAt`-th evaluation, and counts its evaluations.
    actor MixtureActor: AsyncDiffusionModel {
        let mixture: GaussianMixture
        let cancelAt: Int?
        private(set) var calls = 0
        init(_ mixture: GaussianMixture, cancelAt: Int? = nil) { self.mixture = mixture; self.cancelAt = cancelAt }
        nonisolated var sampleShape: [Int] { mixture.sampleShape }
        nonisolated var parameterization: Parameterization { mixture.parameterization }
        nonisolated var name: String { "actor(\(mixture.name))" }
        func predict(_ x: SampleTensor, at level: NoiseLevel) async throws -> SampleTensor {
            calls += 1
            if calls == cancelAt { withUnsafeCurrentTask { $0?.cancel() } }
            var output = SampleTensor(zeros: x.shape)
            try mixture.predict(x, at: level, into: &output)
            return output
        }
    }

    static let model = TestModels.mixture2D()

    /// The pull-style run's sample and evaluation count.
    static func pull<S: Solver>(_ solver: S, schedule: any NoiseSchedule, grid: TimeGrid, x: SampleTensor,
                                noise: (any NoiseSource)?) throws -> (SampleTensor, Int) {
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise)
        return (try run.finish(), run.evaluations)
    }

    @Test("deterministic, multistep, two-stage and seeded stochastic solvers give SamplingRun's samples bit for bit",
          arguments: ["euler", "dpmpp_2m", "heun", "euler_ancestral", "dpmpp_2s_ancestral"])
    func agreesWithSamplingRun(name: String) async throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 7).grid(on: schedule)
        let solver = try SolverCatalog.solver(named: name)
        let x = SampleTensor.initialSample(noise: TestModels.noise([6] + Self.model.sampleShape, seed: 5), schedule: schedule, level: grid[0])
        let (pulled, evaluations) = try Self.pull(solver, schedule: schedule, grid: grid, x: x, noise: SeededNoise(seed: 3))
        let actor = MixtureActor(Self.model)
        let awaited = try AsyncSamplingRun(model: actor, schedule: schedule, solver: solver, grid: grid, initialSample: x,
                                           noise: SeededNoise(seed: 3))
        var reports: [StepReport] = []
        while let step = try await awaited.advance() { reports.append(step) }
        #expect(awaited.sample.shape == pulled.shape && awaited.sample.scalars == pulled.scalars, "\(name): async differs from SamplingRun")
        let calls = await actor.calls
        #expect(awaited.evaluations == evaluations && calls == evaluations, "\(name)")
        #expect(reports.map(\.index) == Array(0..<grid.steps) && reports.last?.to == grid.levels.last, "\(name)")
        #expect(pulled.isFinite && pulled.scalars != x.scalars, "\(name)")
    }

    @Test("a task cancelled during evaluation k stops after exactly k evaluations with CancellationError",
          arguments: [1, 4, 5])
    func cancellation(k: Int) async throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 5).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([3, 2], seed: 1), schedule: schedule, level: grid[0])
        let actor = MixtureActor(Self.model, cancelAt: k)
        // Heun: two evaluations per step, so k = 5 cancels inside a step and k = 4 at its end.
        let run = try AsyncSamplingRun(model: actor, schedule: schedule, solver: Heun(), grid: grid, initialSample: x)
        let task = Task { try await run.finish() }  // the run is sent to the task: this test cannot touch it again
        await #expect(throws: CancellationError.self) { try await task.value }
        let calls = await actor.calls
        #expect(calls == k)
    }

    @Test("a synchronous model through AsyncModelAdapter, from a resolver's plan, runs as SamplingRun")
    func adapterAndPlan() async throws {
        let schedule = try DiscreteVPSchedule()
        let plan = try SamplingResolver.resolve(SamplingRequest(solver: "uni_pc", steps: 6), model: Self.model, schedule: schedule, config: nil)
        let x = SampleTensor.initialSample(noise: TestModels.noise([4, 2], seed: 2), schedule: schedule, level: plan.grid[0])
        let (pulled, _) = try Self.pull(plan.solver, schedule: schedule, grid: plan.grid, x: x, noise: nil)
        let awaited = try await AsyncSamplingRun(model: AsyncModelAdapter(Self.model), schedule: schedule, plan: plan, initialSample: x).finish()
        #expect(awaited.scalars == pulled.scalars)
    }

    @Test("dpm_adaptive, whose levels depend on the outputs, is refused in one line")
    func adaptiveRefused() throws {
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 5).grid(on: schedule)
        #expect(throws: SamplingError.self) {
            _ = try AsyncSamplingRun(model: MixtureActor(Self.model), schedule: schedule, solver: try SolverCatalog.solver(named: "dpm_adaptive"),
                                     grid: grid, initialSample: SampleTensor(zeros: [1, 2]))
        }
    }
}
