import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    @Suite("UNet diffusion model")
    struct UNetDiffusionModelTests {
        @Test("reads the folder: sample shape, classes, prediction type and training schedule")
        func properties() throws {
            let digits = try NeuralFixtures.model("tiny-unet")
            #expect(digits.sampleShape == [1, 8, 8])
            #expect(digits.classCount == 10)
            #expect(digits.parameterization == .noise)
            #expect(digits.name == "tiny-unet")
            #expect(digits.skipScales == [1, 1, 1])
            #expect(digits.schedule as? DiscreteVPSchedule == (try DiscreteVPSchedule(betaSchedule: .linear, betaStart: 0.0001, betaEnd: 0.02, trainingSteps: 1000)))
            let rgb = try NeuralFixtures.model("tiny-unet-rgb")
            #expect(rgb.sampleShape == [3, 8, 8])
            #expect(rgb.classCount == 0)
            #expect(rgb.parameterization == .velocity)
            #expect(rgb.schedulerConfig.betaSchedule == .squaredCosCapV2)
        }

        @Test("predicts at the level's timestep, with the null label when no class is given")
        func prediction() throws {
            let model = try NeuralFixtures.model("tiny-unet")
            let x = TestModels.noise([2, 1, 8, 8], seed: 11)
            let level = model.schedule.level(at: 421.5)
            let workspace = NeuralWorkspace()
            for (label, expectedLabel) in [(3, 3), (nil, 10)] as [(Int?, Int)] {
                var ours = SampleTensor(zeros: x.shape), direct = ours
                try model.predict(x, at: level, classLabel: label, into: &ours)
                try model.network.forward(x, timesteps: [421.5, 421.5], classLabels: [expectedLabel, expectedLabel], workspace: workspace, into: &direct)
                #expect(ours == direct)
            }
            var unconditional = SampleTensor(zeros: x.shape), null = unconditional
            try model.predict(x, at: level, into: &unconditional)
            try model.predict(x, at: level, classLabel: nil, into: &null)
            #expect(unconditional == null)
            // Classifier-free guidance at w = 1 is the conditional prediction (the model predicts ε).
            var guided = SampleTensor(zeros: x.shape), conditional = guided
            try ClassifierFreeGuidance(base: model, classLabel: 3, scale: 1).predict(x, at: level, into: &guided)
            try model.predict(x, at: level, classLabel: 3, into: &conditional)
            #expect(Compare.relativeRMS(guided, conditional.scalars.map(Double.init)) < 1e-6)
        }

        /// diffusers' flow schedulers call the network with `timestep = σ·1000` (`FlowMatchEulerDiscreteScheduler`:
        /// `timesteps = sigmas * num_train_timesteps`), on `x = (1 − σ)·x₀ + σ·ε`, predicting `v = ε − x₀`.
        @Test("with a FlowMatch config it is a flow-velocity model on rectified flow, called at 1000·σ")
        func flowConfig() throws {
            let tiny = try NeuralFixtures.model("tiny-unet")
            let config = try DiffusersSchedulerConfig(json: Data(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "num_train_timesteps": 1000}"#.utf8))
            let model = try UNetDiffusionModel(network: tiny.network, schedulerConfig: config, name: "tiny-flow")
            #expect(model.parameterization == .flowVelocity)
            #expect(model.timestepConvention == .sigmaTimes1000 && tiny.timestepConvention == .time)
            #expect(model.schedule.frame == .rectifiedFlow)
            let level = model.schedule.level(sigma: 0.3125)
            #expect(level.alpha == 0.6875 && level.sigma == 0.3125)
            let x = TestModels.noise([2, 1, 8, 8], seed: 5)
            var ours = SampleTensor(zeros: x.shape), direct = ours
            try model.predict(x, at: level, classLabel: 4, into: &ours)
            try model.network.forward(x, timesteps: [312.5, 312.5], classLabels: [4, 4], workspace: NeuralWorkspace(), into: &direct)
            #expect(ours == direct)
            // Guided in the velocity itself, finite at pure noise (σ = 1, α = 0), where ε̂ = x fixes no x̂₀.
            let guided = try ClassifierFreeGuidance(base: model, classLabel: 4, scale: 3)
            #expect(guided.parameterization == .flowVelocity)
            let top = model.schedule.level(sigma: 1)
            var g = SampleTensor(zeros: x.shape), u = g, c = g
            try guided.predict(x, at: top, into: &g)
            try model.predict(x, at: top, classLabel: nil, into: &u)
            try model.predict(x, at: top, classLabel: 4, into: &c)
            let expected = zip(u.scalars, c.scalars).map { Double($0) + 3 * (Double($1) - Double($0)) }
            #expect(g.isFinite && Compare.relativeRMS(g, expected) < 1e-6)
            let rescaled = try ClassifierFreeGuidance(base: model, classLabel: 4, scale: 3, rescale: 0.7)
            #expect(rescaled.parameterization == .noise)
            let other = try DiffusersSchedulerConfig(json: Data(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 500}"#.utf8))
            do {
                _ = try UNetDiffusionModel(network: tiny.network, schedulerConfig: other, name: "tiny-flow")
                Issue.record("accepted a flow network with num_train_timesteps 500")
            } catch {
                #expect("\(error)".contains("num_train_timesteps") && !"\(error)".contains("\n"), "\(error)")
            }
        }

        @Test("rejects labels it does not have, and samples of another shape")
        func badInput() throws {
            let digits = try NeuralFixtures.model("tiny-unet"), rgb = try NeuralFixtures.model("tiny-unet-rgb")
            let x = TestModels.noise([1, 1, 8, 8], seed: 1)
            var out = SampleTensor(zeros: x.shape)
            let level = digits.schedule.level(at: 10)
            #expect(throws: ModelError.self) { try digits.predict(x, at: level, classLabel: 10, into: &out) }
            #expect(throws: ModelError.self) { try rgb.predict(TestModels.noise([1, 3, 8, 8]), at: level, classLabel: 0, into: &out) }
            #expect(throws: ModelError.self) { try digits.predict(TestModels.noise([1, 1, 4, 4]), at: level, into: &out) }
            #expect(throws: ModelError.self) { try ClassifierFreeGuidance(base: rgb, classLabel: 0, scale: 2) }
        }

        @Test("concurrent evaluations of one model agree")
        func concurrency() throws {
            let model = try NeuralFixtures.model("tiny-unet-nomid")
            let x = TestModels.noise([2, 1, 8, 8], seed: 5)
            let level = model.schedule.level(at: 250)
            var expected = SampleTensor(zeros: x.shape)
            try model.predict(x, at: level, into: &expected)
            let results = Results(count: 4)
            DispatchQueue.concurrentPerform(iterations: 4) { i in
                var out = SampleTensor(zeros: x.shape)
                try? model.predict(x, at: level, into: &out)
                results.set(i, out)
            }
            #expect(results.all.allSatisfy { $0 == expected })
        }

        @Test("skip scales are applied by level")
        func skipScales() throws {
            let fixture = try NeuralFixtures.file("tiny-unet-skip.safetensors")
            let scales = fixture.metadata["skip_scales"]!.split(separator: ",").map { Double(String($0))! }
            let model = try NeuralFixtures.model("tiny-unet").withSkipScales(scales)
            #expect(model.skipScales == scales && model.skipLevelCount == 3)
            let x = TestModels.noise([1, 1, 8, 8], seed: 2), level = model.schedule.level(at: 600)
            var scaled = SampleTensor(zeros: x.shape), direct = scaled
            try model.predict(x, at: level, classLabel: 4, into: &scaled)
            try model.network.forward(x, timesteps: [600], classLabels: [4], skipScales: scales.map(Float.init),
                                      workspace: NeuralWorkspace(), into: &direct)
            #expect(scaled == direct)
            #expect(throws: ModelError.self) { try model.withSkipScales([1, 1]) }
            #expect(throws: ModelError.self) { try model.withSkipScales([1, .nan, 1]) }
        }
    }
}

/// Outputs written by concurrent workers.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [SampleTensor?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: SampleTensor) { lock.withLock { values[i] = value } }
    var all: [SampleTensor?] { lock.withLock { values } }
}
