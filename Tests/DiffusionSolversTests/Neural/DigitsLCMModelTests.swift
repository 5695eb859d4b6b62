import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// The shipped distilled network `digits-lcm` (`Resources/Models/digits-lcm`) against PyTorch and
    /// diffusers' `LCMScheduler`: `digits-lcm-4.safetensors` from `tools/neural/sample_digits_lcm_diffusers.py`.
    @Suite("Built-in digits-lcm network")
    struct DigitsLCMModelTests {
        static let fixture = try! NeuralFixtures.file("digits-lcm-4.safetensors")

        static func builtIn() throws -> UNetDiffusionModel {
            try #require(try BuiltInModels.model(named: "digits-lcm") as? UNetDiffusionModel)
        }

        @Test("the package resource loads and its forward pass equals PyTorch's on the distilled weights")
        func forward() throws {
            let model = try Self.builtIn()
            #expect(model.sampleShape == [1, 8, 8] && model.classCount == 10 && model.parameterization == .noise)
            let input = try NeuralFixtures.tensor(Self.fixture, "forward.input")
            let timesteps = try Self.fixture.float32Tensor("forward.timesteps").values
            let labels = try NeuralFixtures.labels(Self.fixture, "forward.class_labels")
            let expected = try NeuralFixtures.tensor(Self.fixture, "forward.output")
            var output = SampleTensor(zeros: input.shape)
            try model.network.forward(input, timesteps: timesteps, classLabels: labels, workspace: NeuralWorkspace(), into: &output)
            let error = ParityError(output.scalars, expected.scalars)
            #expect(error.within(1e-4), "\(error)")
        }

        /// What `diffuse sample --model digits-lcm --steps 4` runs (no `--solver`: the config's
        /// `LCMScheduler` names `lcm`, with its own time steps and boundary scalings), fed the draws
        /// diffusers' `LCMScheduler.step` consumed, against diffusers' samples.
        @Test("LCMScheduler, 4 steps: the same time steps and samples as diffusers fed the same draws")
        func samplingParity() throws {
            let model = try Self.builtIn()
            let noise = try NeuralFixtures.tensor(Self.fixture, "noise")
            let expected = try NeuralFixtures.tensor(Self.fixture, "samples")
            let recorded = try NeuralFixtures.tensor(Self.fixture, "step_noise")
            let timesteps = try Self.fixture.float32Tensor("timesteps").values.map(Double.init)
            let plan = try SamplingResolver.resolve(SamplingRequest(steps: 4), model: model, schedule: model.schedule,
                                                    config: model.schedulerConfig)
            let lcm = try #require(plan.solver as? LCM)
            #expect(lcm.timestepScaling == 10)
            #expect(plan.grid.endsClean && plan.grid.levels.dropLast().map(\.t) == timesteps)
            let per = noise.scalars.count
            let draws = (0..<recorded.batchSize).map {
                SampleTensor(shape: noise.shape, scalars: Array(recorded.scalars[($0 * per)..<(($0 + 1) * per)]))
            }
            let source = RecordedNoise(draws: draws)
            let run = try SamplingRun(model: model, schedule: model.schedule, solver: lcm, grid: plan.grid, initialSample: noise, noise: source)
            let out = try run.finish()
            #expect(run.evaluations == 4 && source.used == draws.count)
            let error = ParityError(out.scalars, expected.scalars)
            #expect(error.relativeRMS <= 1e-3, "\(error)")
        }
    }
}
