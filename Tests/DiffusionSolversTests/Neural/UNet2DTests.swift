import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    @Suite("UNet2D against diffusers")
    struct UNet2DTests {
        /// The forward fixture of `model` at batch `batch`: our output's error against diffusers'.
        static func forwardError(_ model: String, batch: Int) throws -> ParityError {
            let fixture = try NeuralFixtures.file("\(model)-forward.safetensors")
            let network = try NeuralFixtures.model(model).network
            let input = try NeuralFixtures.tensor(fixture, "input_b\(batch)")
            let timesteps = try fixture.float32Tensor("timesteps_b\(batch)").values
            let labels = fixture.tensors["class_labels_b\(batch)"] == nil ? nil : try NeuralFixtures.labels(fixture, "class_labels_b\(batch)")
            var output = SampleTensor(zeros: input.shape)
            try network.forward(input, timesteps: timesteps, classLabels: labels, workspace: NeuralWorkspace(), into: &output)
            return ParityError(output.scalars, try fixture.float32Tensor("output_b\(batch)").values)
        }

        /// Measured: relative RMS 7e-7 to 1.1e-6, max abs / RMS 2.6e-6 to 5.9e-6 (float32 rounding).
        @Test("whole network matches diffusers at batch 1 and 8",
              arguments: ["tiny-unet", "tiny-unet-rgb", "tiny-unet-nomid"], [1, 8])
        func forward(model: String, batch: Int) throws {
            let error = try Self.forwardError(model, batch: batch)
            #expect(error.within(1e-4), "\(model) batch \(batch): \(error)")
        }

        @Test("skip scales multiply each skip connection by its level's factor")
        func skipScales() throws {
            let fixture = try NeuralFixtures.file("tiny-unet-skip.safetensors")
            let network = try NeuralFixtures.model("tiny-unet").network
            let input = try NeuralFixtures.tensor(fixture, "input")
            let timesteps = try fixture.float32Tensor("timesteps").values, labels = try NeuralFixtures.labels(fixture, "class_labels")
            let scales = fixture.metadata["skip_scales"]!.split(separator: ",").map { Float(String($0))! }
            let workspace = NeuralWorkspace()
            var scaled = SampleTensor(zeros: input.shape), unscaled = scaled, ones = scaled
            try network.forward(input, timesteps: timesteps, classLabels: labels, skipScales: scales, workspace: workspace, into: &scaled)
            try network.forward(input, timesteps: timesteps, classLabels: labels, workspace: workspace, into: &unscaled)
            try network.forward(input, timesteps: timesteps, classLabels: labels, skipScales: [1, 1, 1], workspace: workspace, into: &ones)
            let error = ParityError(scaled.scalars, try fixture.float32Tensor("output_skip").values)
            #expect(error.within(1e-4), "\(error)")
            #expect(ParityError(unscaled.scalars, try fixture.float32Tensor("output").values).within(1e-4))
            #expect(ones == unscaled, "scales of 1 are the unscaled network, bit for bit")
            #expect(throws: ModelError.self) {
                try network.forward(input, timesteps: timesteps, classLabels: labels, skipScales: [1, 1], workspace: workspace, into: &ones)
            }
        }

        @Test("a workspace allocates nothing after the first pass at a batch size")
        func workspaceReuse() throws {
            let network = try NeuralFixtures.model("tiny-unet").network
            let input = TestModels.noise([4, 1, 8, 8], seed: 3)
            let workspace = NeuralWorkspace()
            var output = SampleTensor(zeros: input.shape)
            try network.forward(input, timesteps: [1, 2, 3, 4], classLabels: [0, 1, 2, 10], workspace: workspace, into: &output)
            try network.forward(input, timesteps: [1, 2, 3, 4], classLabels: [0, 1, 2, 10], workspace: workspace, into: &output)
            let settled = workspace.allocationCount
            let first = output
            for _ in 0..<2 {
                try network.forward(input, timesteps: [1, 2, 3, 4], classLabels: [0, 1, 2, 10], workspace: workspace, into: &output)
            }
            #expect(workspace.allocationCount == settled)
            #expect(output == first)
            // A smaller batch fits in the same memory.
            var small = SampleTensor(zeros: [1, 1, 8, 8])
            try network.forward(SampleTensor(shape: [1, 1, 8, 8], scalars: Array(input.sample(0))), timesteps: [1], classLabels: [0],
                                workspace: workspace, into: &small)
            #expect(workspace.allocationCount == settled)
        }
    }
}
