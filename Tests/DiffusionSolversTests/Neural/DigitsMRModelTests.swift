import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// The shipped mean-reverting network `digits-mr` (`Resources/Models/digits-mr`) against PyTorch:
    /// `digits-mr-forward.safetensors` from `tools/neural/fixtures_mr.py`.
    @Suite("Built-in digits-mr network")
    struct DigitsMRModelTests {
        static let fixture = try! NeuralFixtures.file("digits-mr-forward.safetensors")

        static func builtIn() throws -> UNetMeanRevertingModel {
            try #require(try BuiltInModels.meanRevertingModel(named: "digits-mr"))
        }

        @Test("the training script's schedule is MeanRevertingSchedule's defaults, fractional times included")
        func schedule() throws {
            let model = try Self.builtIn()
            #expect(model.schedule == (try MeanRevertingSchedule(sigmaInfinity: 50.0 / 255)))
            #expect(model.parameterization == .data && model.sampleShape == [1, 8, 8] && model.degradationSigma == 0.5)
            let times = try Self.fixture.float32Tensor("timesteps").values
            let alphas = try Self.fixture.float64Tensor("alpha").values, sigmas = try Self.fixture.float64Tensor("sigma").values
            for (i, t) in times.enumerated() {
                let level = model.schedule.level(at: Double(t))
                #expect(abs(level.alpha - alphas[i]) <= 1e-12 && abs(level.sigma - sigmas[i]) <= 1e-12, "t = \(t)")
            }
        }

        /// One row per call: `predict` builds `[x_t, μ]` itself and passes the level's time.
        @Test("predict on [x_t, mu] at each fixture time equals PyTorch's output")
        func forward() throws {
            let model = try Self.builtIn()
            let x = try NeuralFixtures.tensor(Self.fixture, "x"), mu = try NeuralFixtures.tensor(Self.fixture, "mu")
            let expected = try NeuralFixtures.tensor(Self.fixture, "output")
            let times = try Self.fixture.float32Tensor("timesteps").values
            var ours = [Float]()
            for (row, t) in times.enumerated() {
                func slice(_ s: SampleTensor) -> SampleTensor { SampleTensor(shape: [1, 1, 8, 8], scalars: Array(s.scalars[(row * 64)..<((row + 1) * 64)])) }
                var output = SampleTensor(zeros: [1, 1, 8, 8])
                try model.predict(slice(x), mean: slice(mu), at: model.schedule.level(at: Double(t)), into: &output)
                ours += output.scalars
            }
            let error = ParityError(ours, expected.scalars)
            #expect(error.within(1e-4), "\(error)")
        }

        @Test("a mu of another shape is refused in one line")
        func badShape() throws {
            let model = try Self.builtIn()
            var output = SampleTensor(zeros: [1, 1, 8, 8])
            #expect(throws: ModelError.self) {
                try model.predict(SampleTensor(zeros: [1, 1, 8, 8]), mean: SampleTensor(zeros: [2, 1, 8, 8]),
                                  at: model.schedule.level(at: 10), into: &output)
            }
        }
    }
}
