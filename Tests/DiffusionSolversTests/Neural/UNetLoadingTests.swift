import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// Broken model folders, written into a temporary directory: each must fail with one line naming
    /// the file and the tensor or field.
    @Suite("UNet model loading errors")
    struct UNetLoadingTests {
        /// A copy of `tiny-unet-nomid` in a fresh temporary folder, with `weights` and `config` edited.
        static func brokenFolder(_ name: String, weights edit: (inout SafetensorsFile) -> Void = { _ in },
                                 config: ((inout [String: Any]) -> Void)? = nil) throws -> URL {
            let folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("unet-loading-\(UUID().uuidString)").appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let source = NeuralFixtures.url("tiny-unet-nomid")
            for file in ["config.json", "scheduler_config.json"] {
                try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: folder.appendingPathComponent(file))
            }
            var weights = try SafetensorsFile(contentsOf: source.appendingPathComponent("diffusion_pytorch_model.safetensors"))
            edit(&weights)
            try weights.serialized().write(to: folder.appendingPathComponent("diffusion_pytorch_model.safetensors"))
            if let config {
                let url = folder.appendingPathComponent("config.json")
                var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
                config(&object)
                try JSONSerialization.data(withJSONObject: object).write(to: url)
            }
            return folder
        }

        /// Loads `folder` and returns the error's message, checking that it is one line.
        static func loadingError(_ folder: URL, sourceLocation: SourceLocation = #_sourceLocation) -> String {
            defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
            do {
                _ = try UNetDiffusionModel(directory: folder)
                Issue.record("loading \(folder.lastPathComponent) succeeded", sourceLocation: sourceLocation)
                return ""
            } catch {
                let message = String(describing: error)
                #expect(!message.contains("\n"), "not one line: \(message)", sourceLocation: sourceLocation)
                return message
            }
        }

        @Test("the configuration round-trips through JSON")
        func configurationRoundTrip() throws {
            for model in ["tiny-unet", "tiny-unet-rgb", "tiny-unet-nomid"] {
                let configuration = try UNet2DConfiguration(contentsOf: NeuralFixtures.url(model).appendingPathComponent("config.json"))
                #expect(try UNet2DConfiguration(json: JSONEncoder().encode(configuration)) == configuration)
            }
        }

        @Test("a missing tensor is named")
        func missingTensor() throws {
            let message = Self.loadingError(try Self.brokenFolder("missing") { $0.tensors["up_blocks.1.attentions.0.to_k.bias"] = nil })
            #expect(message == "missing/diffusion_pytorch_model.safetensors: missing tensor 'up_blocks.1.attentions.0.to_k.bias'")
        }

        @Test("a tensor of the wrong shape is named with both shapes")
        func wrongShape() throws {
            let message = Self.loadingError(try Self.brokenFolder("shape") { file in
                file.tensors["conv_in.weight"] = SafetensorsFile.float32(Array(repeating: 0, count: 8 * 2 * 9), shape: [8, 2, 3, 3])
            })
            #expect(message == "shape/diffusion_pytorch_model.safetensors: tensor 'conv_in.weight' has shape [8, 2, 3, 3], expected [8, 1, 3, 3]")
        }

        @Test("a tensor of the wrong dtype is named")
        func wrongDType() throws {
            let message = Self.loadingError(try Self.brokenFolder("dtype") { file in
                file.tensors["conv_out.bias"] = SafetensorsFile.float64([0], shape: [1])
            })
            #expect(message == "dtype/diffusion_pytorch_model.safetensors: tensor 'conv_out.bias' has dtype F64, expected F32")
        }

        @Test("a tensor the architecture has no place for is named")
        func unexpectedTensor() throws {
            let message = Self.loadingError(try Self.brokenFolder("extra") { file in
                file.tensors["mid_block.resnets.0.conv1.weight"] = SafetensorsFile.float32([0], shape: [1])
            })
            #expect(message == "extra/diffusion_pytorch_model.safetensors: unexpected tensor 'mid_block.resnets.0.conv1.weight' (not part of the configured architecture)")
        }

        @Test("a truncated weights file names the file")
        func truncated() throws {
            let folder = try Self.brokenFolder("truncated")
            let url = folder.appendingPathComponent("diffusion_pytorch_model.safetensors")
            let bytes = try Data(contentsOf: url)
            try bytes.prefix(bytes.count - 100).write(to: url)
            let message = Self.loadingError(folder)
            #expect(message.hasPrefix("truncated/diffusion_pytorch_model.safetensors: safetensors: tensor "), "\(message)")
            #expect(message.contains("beyond the data buffer"), "\(message)")
        }

        @Test("a missing file is named")
        func missingFile() throws {
            let folder = try Self.brokenFolder("nofile")
            try FileManager.default.removeItem(at: folder.appendingPathComponent("scheduler_config.json"))
            let message = Self.loadingError(folder)
            #expect(message.hasPrefix("nofile/scheduler_config.json: scheduler config: cannot read"), "\(message)")
        }

        @Test("unsupported configurations name the field",
              arguments: [
                ("down_block_types", #"["DownBlock2D", "CrossAttnDownBlock2D", "AttnDownBlock2D"]"#,
                 "config.json: unsupported down_block_types[1] 'CrossAttnDownBlock2D' (supported: DownBlock2D, AttnDownBlock2D)"),
                ("up_block_types", #"["AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2DX"]"#,
                 "config.json: unsupported up_block_types[2] 'UpBlock2DX' (supported: UpBlock2D, AttnUpBlock2D)"),
                ("mid_block_type", #""UNetMidBlock2DCrossAttn""#,
                 "config.json: unsupported mid_block_type 'UNetMidBlock2DCrossAttn' (supported: UNetMidBlock2D, null)"),
                ("act_fn", #""gelu""#, "config.json: unsupported act_fn 'gelu' (supported: silu)"),
                ("resnet_time_scale_shift", #""scale_shift""#,
                 "config.json: unsupported resnet_time_scale_shift 'scale_shift' (supported: default)"),
                ("time_embedding_type", #""fourier""#, "config.json: unsupported time_embedding_type 'fourier' (supported: positional)"),
                ("class_embed_type", #""timestep""#, "config.json: unsupported class_embed_type 'timestep' (supported: null)"),
                ("layers_per_block", #""two""#, "config.json: 'layers_per_block' must be an integer"),
                ("block_out_channels", "[8, 12, 24]", "config.json: norm_num_groups 8 does not divide block_out_channels entry 12"),
                ("attention_head_dim", "5", "config.json: attention_head_dim 5 does not divide the 16 channels of an attention block"),
                ("sample_size", "6", "config.json: sample_size [6, 6] must be a multiple of 4 (the down path halves it 2 times)"),
              ])
        func unsupportedConfiguration(field: String, json: String, expected: String) throws {
            let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
            let message = Self.loadingError(try Self.brokenFolder("config", config: { $0[field] = value }))
            #expect(message == "config/" + expected)
        }
    }
}
