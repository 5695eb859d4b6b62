import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// The shipped rectified-flow network `digits-flow` (`Resources/Models/digits-flow`) sampled as
    /// diffusers samples it: `digits-flow-euler-4.safetensors` from `tools/neural/sample_digits_flow_diffusers.py`
    /// (its forward pass is checked with `digits`' in `DigitsModelTests`).
    @Suite("Built-in digits-flow network")
    struct DigitsFlowModelTests {
        static let fixture = try! NeuralFixtures.file("digits-flow-euler-4.safetensors")

        static func builtIn() throws -> UNetDiffusionModel {
            try #require(try BuiltInModels.model(named: "digits-flow") as? UNetDiffusionModel)
        }

        /// diffusers' FlowMatchEulerDiscreteScheduler from the model's own `scheduler_config.json`,
        /// 4 steps from the same noise, the network called with diffusers' `timestep = σ·1000`:
        /// the grid comes from the config through the resolver, as `diffuse sample --model digits-flow
        /// --solver euler --steps 4` runs it.
        @Test("FlowMatchEuler, 4 steps: the same grid and samples as diffusers from the same noise")
        func samplingParity() throws {
            let model = try Self.builtIn()
            #expect(model.timestepConvention == .sigmaTimes1000 && model.schedule.frame == .rectifiedFlow)
            let noise = try NeuralFixtures.tensor(Self.fixture, "noise")
            let expected = try NeuralFixtures.tensor(Self.fixture, "samples")
            let sigmas = try Self.fixture.float32Tensor("sigmas").values
            let plan = try SamplingResolver.resolve(SamplingRequest(solver: "euler", steps: 4), model: model, schedule: model.schedule,
                                                    config: model.schedulerConfig)
            let ours = plan.grid.levels.map { model.schedule.displaySigma($0) }
            try #require(ours.count == sigmas.count, "grid \(ours), diffusers \(sigmas)")
            for (a, b) in zip(ours, sigmas) { #expect(abs(a - Double(b)) <= 1e-6, "sigma \(a) vs \(b)") }
            let run = try SamplingRun(model: model, schedule: model.schedule, solver: Euler(), grid: plan.grid, initialSample: noise)
            let out = try run.finish()
            #expect(run.evaluations == 4)
            let per = noise.sampleCount
            for s in 0..<noise.batchSize {
                let error = ParityError(Array(out.scalars[(s * per)..<((s + 1) * per)]), Array(expected.scalars[(s * per)..<((s + 1) * per)]))
                #expect(error.relativeRMS <= 1e-3, "sample \(s): \(error)")
            }
        }
    }
}
