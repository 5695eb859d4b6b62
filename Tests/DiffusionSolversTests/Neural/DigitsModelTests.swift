import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// The shipped `digits` network (`Resources/Models/digits-unet`) against the PyTorch side:
    /// `digits-dpmpp2m-20.safetensors` from `tools/neural/sample_digits_diffusers.py`.
    @Suite("Built-in digits network")
    struct DigitsModelTests {
        static let fixture = try! NeuralFixtures.file("digits-dpmpp2m-20.safetensors")

        static func builtIn() throws -> UNetDiffusionModel {
            try #require(try BuiltInModels.model(named: "digits") as? UNetDiffusionModel)
        }

        /// `digits` and its rectified-flow sibling `digits-flow` (`digits-flow-euler-4.safetensors` from
        /// `tools/neural/sample_digits_flow_diffusers.py`, timesteps in 0...1000).
        @Test("the package resource loads and its forward pass equals PyTorch's on the trained weights", arguments: [
            ("digits", "digits-dpmpp2m-20.safetensors", Parameterization.noise),
            ("digits-flow", "digits-flow-euler-4.safetensors", Parameterization.flowVelocity),
        ])
        func forward(name: String, fixtureName: String, parameterization: Parameterization) throws {
            let model = try #require(try BuiltInModels.model(named: name) as? UNetDiffusionModel)
            let fixture = try NeuralFixtures.file(fixtureName)
            #expect(model.sampleShape == [1, 8, 8])
            #expect(model.classCount == 10)
            #expect(model.parameterization == parameterization)
            let input = try NeuralFixtures.tensor(fixture, "forward.input")
            let timesteps = try fixture.float32Tensor("forward.timesteps").values
            let labels = try NeuralFixtures.labels(fixture, "forward.class_labels")
            let expected = try NeuralFixtures.tensor(fixture, "forward.output")
            var output = SampleTensor(zeros: input.shape)
            try model.network.forward(input, timesteps: timesteps, classLabels: labels, workspace: NeuralWorkspace(), into: &output)
            let error = ParityError(output.scalars, expected.scalars)
            #expect(error.within(1e-4), "\(error)")
        }

        /// diffusers' DPMSolverMultistepScheduler (dpmsolver++, order 2, linspace, final sigma zero,
        /// 20 steps) from the same noise; the first samples only, as a debug build runs the network
        /// about 200× slower than release (the 256-sample Fréchet-distance check is a long test).
        @Test("DPM-Solver++(2M), 20 steps: the same samples as diffusers from the same noise")
        func samplingParity() throws {
            let count = 3
            let model = try Self.builtIn()
            let noise = try NeuralFixtures.tensor(Self.fixture, "noise")
            let expected = try NeuralFixtures.tensor(Self.fixture, "samples")
            let per = noise.sampleCount
            let x = SampleTensor(shape: [count] + noise.sampleShape, scalars: Array(noise.scalars[0..<(count * per)]))
            let grid = try StepSchedule(spacing: .linspace, steps: 20, final: .zero).grid(on: model.schedule)
            let solver = DPMSolverMultistep(prediction: .data, solverOrder: 2, secondOrderForm: .midpoint, lowerOrderFinal: true)
            let run = try SamplingRun(model: model, schedule: model.schedule, solver: solver, grid: grid, initialSample: x)
            let out = try run.finish()
            #expect(run.evaluations == 20)
            for s in 0..<count {
                let error = ParityError(Array(out.scalars[(s * per)..<((s + 1) * per)]), Array(expected.scalars[(s * per)..<((s + 1) * per)]))
                #expect(error.relativeRMS <= 1e-3, "sample \(s): \(error)")
            }
        }

        /// The Fréchet pipeline on the fixture's own tensors, no sampling: the classifier's features of
        /// diffusers' 256 samples and of the 256 noise draws against the data statistics give the
        /// fixture script's float64 distances (`fd`, `fd_noise`), to float32 feature precision.
        @Test("Fréchet distance of diffusers' samples and of the noise: the fixture script's values")
        func frechetOfFixtureTensors() throws {
            let classifier = try #require(try BuiltInModels.classifier(for: "digits"))
            for (tensor, key) in [("samples", "fd"), ("noise", "fd_noise")] {
                let reference = try #require(Double(Self.fixture.metadata[key] ?? ""))
                let ours = try classifier.frechetDistance(of: try NeuralFixtures.tensor(Self.fixture, tensor))
                #expect(abs(ours - reference) <= 1e-4 * reference, "\(key): ours \(ours), fixture \(reference)")
            }
        }

        /// Long check (`DIFFUSE_LONG_TESTS=1 swift test -c release --filter DigitsModelTests`): all 256
        /// samples, and the Fréchet distance of our grid to the data within 2% of diffusers' (2.208;
        /// 256 real digits give 1.415).
        @Test("DPM-Solver++(2M), 20 steps, 256 samples: Fréchet distance within 2% of diffusers'",
              .enabled(if: ProcessInfo.processInfo.environment["DIFFUSE_LONG_TESTS"] == "1"))
        func frechetDistance() throws {
            let model = try Self.builtIn()
            let classifier = try #require(try BuiltInModels.classifier(for: "digits"))
            let noise = try NeuralFixtures.tensor(Self.fixture, "noise")
            let grid = try StepSchedule(spacing: .linspace, steps: 20, final: .zero).grid(on: model.schedule)
            let solver = DPMSolverMultistep(prediction: .data, solverOrder: 2, secondOrderForm: .midpoint, lowerOrderFinal: true)
            let out = try SamplingRun(model: model, schedule: model.schedule, solver: solver, grid: grid, initialSample: noise).finish()
            let reference = try #require(Double(Self.fixture.metadata["fd"] ?? ""))
            let ours = try classifier.frechetDistance(of: out)
            #expect(abs(ours - reference) <= 0.02 * reference, "FD \(ours), diffusers \(reference)")
            let error = ParityError(out.scalars, try NeuralFixtures.tensor(Self.fixture, "samples").scalars)
            #expect(error.relativeRMS <= 1e-3, "\(error)")
        }
    }
}

extension Neural {
    /// The shipped `photos` network (`Resources/Models/photos-unet`, 3×32×32, v-prediction) against
    /// `photos-dpmpp2m-20.safetensors` from `tools/neural/sample_photos_diffusers.py`.
    @Suite("Built-in photos network")
    struct PhotosModelTests {
        static let fixture = try! NeuralFixtures.file("photos-dpmpp2m-20.safetensors")

        @Test("the package resource loads and its forward pass equals PyTorch's on the trained weights")
        func forward() throws {
            let model = try #require(try BuiltInModels.model(named: "photos") as? UNetDiffusionModel)
            #expect(model.sampleShape == [3, 32, 32])
            #expect(model.classCount == 0)
            #expect(model.parameterization == .velocity)
            let input = try NeuralFixtures.tensor(Self.fixture, "forward.input")
            let timesteps = try Self.fixture.float32Tensor("forward.timesteps").values
            let expected = try NeuralFixtures.tensor(Self.fixture, "forward.output")
            var output = SampleTensor(zeros: input.shape)
            try model.network.forward(input, timesteps: timesteps, workspace: NeuralWorkspace(), into: &output)
            let error = ParityError(output.scalars, expected.scalars)
            #expect(error.within(1e-4), "\(error)")
        }

        /// The short version, in every `swift test`: 2 samples of DPM-Solver++(2M), 4 steps, against
        /// diffusers from the same noise (`tools/neural/sample_photos_short.py`).
        @Test("DPM-Solver++(2M), 4 steps, 2 samples: the same samples as diffusers from the same noise")
        func shortSamplingParity() throws {
            let fixture = try NeuralFixtures.file("photos-dpmpp2m-4.safetensors")
            let model = try #require(try BuiltInModels.model(named: "photos") as? UNetDiffusionModel)
            let noise = try NeuralFixtures.tensor(fixture, "noise")
            let grid = try StepSchedule(spacing: .linspace, steps: 4, final: .zero).grid(on: model.schedule)
            let solver = DPMSolverMultistep(prediction: .data, solverOrder: 2, secondOrderForm: .midpoint, lowerOrderFinal: true)
            let run = try SamplingRun(model: model, schedule: model.schedule, solver: solver, grid: grid, initialSample: noise)
            let out = try run.finish()
            #expect(run.evaluations == 4)
            let error = ParityError(out.scalars, try NeuralFixtures.tensor(fixture, "samples").scalars)
            #expect(error.relativeRMS <= 1e-3, "\(error)")
        }

        /// Long check: 16 samples of DPM-Solver++(2M), 20 steps, against diffusers from the same noise.
        @Test("DPM-Solver++(2M), 20 steps: the same samples as diffusers from the same noise",
              .enabled(if: ProcessInfo.processInfo.environment["DIFFUSE_LONG_TESTS"] == "1"))
        func samplingParity() throws {
            let model = try #require(try BuiltInModels.model(named: "photos") as? UNetDiffusionModel)
            let noise = try NeuralFixtures.tensor(Self.fixture, "noise")
            let grid = try StepSchedule(spacing: .linspace, steps: 20, final: .zero).grid(on: model.schedule)
            let solver = DPMSolverMultistep(prediction: .data, solverOrder: 2, secondOrderForm: .midpoint, lowerOrderFinal: true)
            let out = try SamplingRun(model: model, schedule: model.schedule, solver: solver, grid: grid, initialSample: noise).finish()
            let error = ParityError(out.scalars, try NeuralFixtures.tensor(Self.fixture, "samples").scalars)
            #expect(error.relativeRMS <= 1e-3, "\(error)")
        }
    }
}
