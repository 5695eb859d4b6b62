import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// The shipped masked-diffusion network `digits-masked` (`Resources/Models/digits-masked`)
    /// against PyTorch: `digits-masked-forward.safetensors` from `tools/neural/fixtures_masked.py`.
    @Suite("Built-in digits-masked network")
    struct DigitsMaskedModelTests {
        static let fixture = try! NeuralFixtures.file("digits-masked-forward.safetensors")

        static func builtIn() throws -> UNetMaskedModel {
            let directory = try #require(BuiltInModels.maskedNetworkDirectory(named: "digits-masked"))
            return try UNetMaskedModel(directory: directory, name: "digits-masked")
        }

        @Test("the package resource loads and its logits equal PyTorch's on the trained weights")
        func forward() throws {
            let model = try Self.builtIn()
            #expect(model.length == 64 && model.vocabularySize == 4 && model.imageShape == [8, 8])
            let input = try NeuralFixtures.tensor(Self.fixture, "input")
            let labels = try NeuralFixtures.labels(Self.fixture, "labels")
            let expected = try NeuralFixtures.tensor(Self.fixture, "logits")
            var output = SampleTensor(zeros: expected.shape)
            try model.network.forward(input, timesteps: Array(repeating: 0, count: labels.count), classLabels: labels,
                                      workspace: NeuralWorkspace(), into: &output)
            let error = ParityError(output.scalars, expected.scalars)
            #expect(error.within(1e-4), "\(error)")
        }

        /// The adapter builds the one-hot from token ids itself and turns logits into the
        /// predictive over the real tokens; visible positions are left alone.
        @Test("the predictive of every masked position equals the softmax of PyTorch's logits")
        func predictive() throws {
            let model = try Self.builtIn()
            let tokens = try Self.fixture.int64Tensor("tokens").values.map { Int32($0) }
            let labels = try NeuralFixtures.labels(Self.fixture, "labels")
            let expected = try Self.fixture.float64Tensor("probabilities").values
            let (l, v) = (64, 4)
            var checked = 0
            for (row, label) in labels.enumerated() {
                let sequence = TokenSequence(tokens: Array(tokens[(row * l)..<((row + 1) * l)]), vocabularySize: v)
                let conditioned = try model.conditioned(on: label == 10 ? nil : label)
                var probabilities = [Double](repeating: -1, count: l * v)
                try conditioned.predict(sequence, time: 0.5, into: &probabilities)
                for position in 0..<l {
                    let ours = probabilities[(position * v)..<((position + 1) * v)]
                    if sequence.isMasked(position) {
                        let reference = expected[((row * l + position) * v)..<((row * l + position + 1) * v)]
                        for (a, b) in zip(ours, reference) { #expect(abs(a - b) <= 1e-4, "row \(row), position \(position): \(a) vs \(b)") }
                        checked += 1
                    } else {
                        #expect(ours.allSatisfy { $0 == -1 }, "row \(row): visible position \(position) was written")
                    }
                }
            }
            #expect(checked > 200)
        }

        /// Eight tokens per evaluation keeps the debug build fast; one per evaluation is the same code.
        @Test("first-hitting sampling reveals all 64 tokens in 8 evaluations of 8, the same for the same seed")
        func firstHitting() throws {
            let model = try Self.builtIn().conditioned(on: 3)
            let sampler = try FirstHitting(tokensPerStep: 8)
            let a = try MaskedSampling.run(sampler, model: model, count: 1, seed: 5)
            let b = try MaskedSampling.run(sampler, model: model, count: 1, seed: 5)
            #expect(a.tokens == b.tokens)
            #expect(a.tokens.count == 64 && a.tokens.allSatisfy { (0..<4).contains($0) })
            #expect(a.evaluations == [8])
        }

        @Test("a masked_config.json that does not fit the network is refused in one line")
        func badConfiguration() throws {
            let source = try #require(BuiltInModels.maskedNetworkDirectory(named: "digits-masked"))
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("masked-\(UUID().uuidString)", isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            for file in ["config.json", "diffusion_pytorch_model.safetensors"] {
                try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: directory.appendingPathComponent(file))
            }
            let cases = [
                #"{"vocabulary_size": 4, "length": 64, "mask_id": 0, "image_shape": [8, 8]}"#,
                #"{"vocabulary_size": 5, "length": 64, "mask_id": 5, "image_shape": [8, 8]}"#,
                #"{"vocabulary_size": 4, "length": 63, "mask_id": 4, "image_shape": [8, 8]}"#,
                #"{"vocabulary_size": "four"}"#,
            ]
            for text in cases {
                try Data(text.utf8).write(to: directory.appendingPathComponent("masked_config.json"))
                #expect {
                    _ = try UNetMaskedModel(directory: directory)
                } throws: { error in
                    let message = "\(error)"
                    return (message.contains("masked_config.json") || message.contains("config.json")) && !message.contains("\n")
                }
            }
            #expect(throws: ModelError.self) { _ = try Self.builtIn().conditioned(on: 10) }
        }
    }
}
