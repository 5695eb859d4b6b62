import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// Each layer of `tiny-unet` against diffusers' module on the same input (forward hooks recorded in
    /// `tiny-unet-layers.safetensors`, batch 3; the metadata names the module behind each prefix).
    @Suite("Neural layers against diffusers")
    struct LayerTests {
        static let fixture = try! NeuralFixtures.file("tiny-unet-layers.safetensors")
        static let network = try! NeuralFixtures.model("tiny-unet").network
        /// Float32 rounding of one layer (measured up to 3e-6): far below the whole network's 1e-4.
        static let tolerance = 1e-5

        static func tensor(_ name: String) throws -> SampleTensor { try NeuralFixtures.tensor(fixture, name) }

        /// Runs `layer` on `<prefix>.input` and compares with `<prefix>.output`.
        static func check(_ prefix: String, sourceLocation: SourceLocation = #_sourceLocation,
                          _ layer: (FeatureMap, FeatureMap, NeuralWorkspace) -> Void) throws {
            let input = try tensor(prefix + ".input"), expected = try tensor(prefix + ".output")
            let workspace = NeuralWorkspace()
            workspace.beginPass()
            let x = workspace.featureMap(input)
            let s = expected.shape
            let out = workspace.featureMap(channels: s[1], batch: s[0], height: s[2], width: s[3])
            layer(x, out, workspace)
            let error = ParityError(out.batchMajor, expected.scalars)
            #expect(error.within(tolerance), "\(prefix): \(error)", sourceLocation: sourceLocation)
        }

        /// `silu(<prefix>.temb)` as the `[E × B]` matrix the resnets take.
        static func activatedEmbedding(_ prefix: String, workspace: NeuralWorkspace) throws -> StridedMatrix {
            let temb = try tensor(prefix + ".temb")
            let (batch, e) = (temb.shape[0], temb.shape[1])
            let values = workspace.allocate(e * batch)
            for b in 0..<batch {
                for i in 0..<e { values[i * batch + b] = silu(temb.scalars[b * e + i]) }
            }
            return StridedMatrix(values, rows: e, columns: batch, rowStride: batch)
        }

        @Test("convolutions: conv_in, conv_out, downsample (stride 2)")
        func convolutions() throws {
            try Self.check("conv_in") { Self.network.convIn.apply($0, into: $1, workspace: $2) }
            try Self.check("conv_out") { Self.network.convOut.apply($0, into: $1, workspace: $2) }
            try Self.check("downsample") { Self.network.downBlocks[0].downsampler!.apply($0, into: $1, workspace: $2) }
        }

        @Test("upsample: nearest ×2, then a 3×3 convolution")
        func upsample() throws {
            try Self.check("upsample") { Self.network.upBlocks[0].upsampler!.apply($0, into: $1, workspace: $2) }
        }

        @Test("group norm (conv_norm_out, without its SiLU)")
        func groupNorm() throws {
            try Self.check("conv_norm_out") { x, out, _ in Self.network.normOut.apply(x, into: out, applySiLU: false) }
        }

        @Test("ResnetBlock2D: with a 1×1 shortcut, with identity, and on a concatenation in the up path")
        func resnets() throws {
            let cases: [(String, ResnetBlock2D)] = [
                ("resnet", Self.network.downBlocks[1].resnets[0]),
                ("resnet_same", Self.network.downBlocks[1].resnets[1]),
                ("up_resnet", Self.network.upBlocks[0].resnets[0]),
            ]
            for (prefix, block) in cases {
                try Self.check(prefix) { x, out, workspace in
                    let embedding = try! Self.activatedEmbedding(prefix, workspace: workspace)
                    block.apply(x, activatedEmbedding: embedding, into: out, workspace: workspace)
                }
            }
        }

        @Test("attention: two heads in a down block, three in the mid block")
        func attention() throws {
            try Self.check("attention") { Self.network.downBlocks[1].attentions[0].apply($0, into: $1, workspace: $2) }
            try Self.check("mid_attention") { Self.network.midBlock!.attention!.apply($0, into: $1, workspace: $2) }
        }

        @Test("sinusoidal features in float32, flipped or not, with a frequency shift")
        func sinusoidal() throws {
            let timesteps = try Self.fixture.float32Tensor("sinusoidal.timesteps").values
            for (dimension, flip, shift) in [(16, false, 1.0), (32, false, 1.0), (32, true, 0.0), (64, true, 0.0)] {
                let name = "sinusoidal.d\(dimension)_flip\(flip ? 1 : 0)_shift\(Int(shift))"
                var features = [Float](repeating: 0, count: timesteps.count * dimension)
                timesteps.withUnsafeBufferPointer { t in
                    features.withUnsafeMutableBufferPointer {
                        TimestepEmbedding.sinusoidal(t, dimension: dimension, flipSinToCos: flip, frequencyShift: shift, into: $0.baseAddress!)
                    }
                }
                let expected = try Self.fixture.float32Tensor(name).values
                // Our frequencies are exp correctly rounded; torch's vectorized exp is 1 ulp off for a few
                // (fᵢ with i = 3 at D = 64), which moves the float32 angle t·fᵢ by about one ulp of t.
                for (i, (ours, theirs)) in zip(features, expected).enumerated() {
                    let t = timesteps[i / dimension]
                    #expect(abs(ours - theirs) <= max(1e-6, 2 * t.ulp), "\(name)[\(i)]: \(ours) vs \(theirs)")
                }
            }
        }

        @Test("time and class embeddings: time_proj, time_embedding, class_embedding, emb")
        func embeddings() throws {
            let network = Self.network, workspace = NeuralWorkspace()
            workspace.beginPass()
            let timesteps = try Self.fixture.float32Tensor("time_proj.input").values
            let batch = timesteps.count, e = network.configuration.embeddingDimension
            var features = [Float](repeating: 0, count: batch * 8)
            timesteps.withUnsafeBufferPointer { t in
                features.withUnsafeMutableBufferPointer {
                    TimestepEmbedding.sinusoidal(t, dimension: 8, flipSinToCos: true, frequencyShift: 0, into: $0.baseAddress!)
                }
            }
            #expect(ParityError(features, try Self.fixture.float32Tensor("time_proj.output").values).within(Self.tolerance))
            let timeEmbedding = workspace.allocate(e * batch)
            timesteps.withUnsafeBufferPointer { network.timeEmbedding.apply($0, into: timeEmbedding, workspace: workspace) }
            let expectedTime = try Self.fixture.float32Tensor("time_embedding.output").values
            let ours = (0..<(batch * e)).map { i in timeEmbedding[(i % e) * batch + i / e] }
            #expect(ParityError(ours, expectedTime).within(Self.tolerance), "\(ParityError(ours, expectedTime))")
            // emb = time embedding + class embedding; the network keeps silu(emb).
            let labels = try NeuralFixtures.labels(Self.fixture, "class_embedding.input")
            let rows = labels.flatMap { network.classEmbedding![($0 * e)..<(($0 + 1) * e)] }
            #expect(rows == (try Self.fixture.float32Tensor("class_embedding.output").values))
            let activated = network.embed(timesteps: timesteps, classLabels: labels, workspace: workspace)
            let expected = try Self.fixture.float32Tensor("emb").values.map(silu)
            let embedding = (0..<(batch * e)).map { i in activated.base[(i % e) * batch + i / e] }
            #expect(ParityError(embedding, expected).within(Self.tolerance), "\(ParityError(embedding, expected))")
        }
    }
}
