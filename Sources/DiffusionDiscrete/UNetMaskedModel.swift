import Foundation
import DiffusionCore
import DiffusionFormats
import DiffusionNeural

/// A masked-diffusion network run by the package's U-Net runtime: a diffusers `UNet2DModel` whose
/// input is the one-hot of each position's token (`V + 1` channels, the mask last) laid out as an
/// image, and whose output is `V` logits per position. The predictive of a masked position is the
/// softmax of its logits over the real tokens (MDLM's SUBS parameterization, Sahoo et al. 2024);
/// visible positions are left alone.
///
/// The network is time-agnostic: it is called with timestep 0 whatever `t` is, because a masked
/// model's optimal prediction depends only on the visible tokens (Zheng et al. 2024, "Masked
/// diffusion models are secretly time-agnostic masked models and exploit inaccurate categorical
/// sampling"), which is also what makes first-hitting sampling exact for it.
///
/// A folder holds `config.json` and `diffusion_pytorch_model.safetensors` (as any UNet2DModel) and
/// `masked_config.json` with `vocabulary_size`, `length`, `mask_id` (= V) and `image_shape` [H, W].
public struct UNetMaskedModel: MaskedDiffusionModel {
    public let network: UNet2D
    public let name: String
    public let length: Int
    public let vocabularySize: Int
    /// The image the sequence is laid out as, `[H, W]`, row-major.
    public let imageShape: [Int]
    /// The class every evaluation is conditioned on; `nil` is the network's null label.
    public let classLabel: Int?
    private let workspaces = WorkspacePool()

    private struct MaskedConfig: Decodable {
        var vocabulary_size: Int
        var length: Int
        var mask_id: Int
        var image_shape: [Int]
    }

    /// Loads the network in `directory`.
    /// - Throws: one line naming the file and the field that is missing or does not fit.
    public init(directory: URL, name: String? = nil, classLabel: Int? = nil) throws {
        let folder = directory.lastPathComponent
        func read(_ file: String) throws -> Data {
            let url = directory.appendingPathComponent(file)
            do { return try Data(contentsOf: url) } catch { throw ModelError("\(folder)/\(file): cannot read '\(url.path)'") }
        }
        let masked: MaskedConfig
        do { masked = try JSONDecoder().decode(MaskedConfig.self, from: try read("masked_config.json")) } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError("\(folder)/masked_config.json: needs integer vocabulary_size, length, mask_id and image_shape [H, W]")
        }
        let network = try UNet2D(folder: directory)
        let configuration = network.configuration
        let v = masked.vocabulary_size, l = masked.length
        guard v >= 1, masked.mask_id == v, masked.image_shape.count == 2, masked.image_shape.allSatisfy({ $0 > 0 }),
              masked.image_shape.reduce(1, *) == l else {
            throw ModelError("\(folder)/masked_config.json: mask_id must be vocabulary_size and image_shape [H, W] must hold length \(l) positions")
        }
        guard configuration.inChannels == v + 1, configuration.outChannels == v, configuration.sampleSize == masked.image_shape else {
            throw ModelError("\(folder)/config.json: a masked network over \(v) tokens takes \(v + 1) input and gives \(v) output channels of size \(masked.image_shape)")
        }
        try self.init(network: network, name: name ?? folder, vocabularySize: v, imageShape: masked.image_shape, classLabel: classLabel)
    }

    /// A model from a network built in code.
    public init(network: UNet2D, name: String, vocabularySize: Int, imageShape: [Int], classLabel: Int? = nil) throws {
        if let classLabel {
            let count = (network.configuration.classEmbeddingCount ?? 1) - 1
            guard (0..<count).contains(classLabel) else {
                throw ModelError("\(name): class \(classLabel) is not a label of the model" + (count > 0 ? " (labels 0...\(count - 1))" : " (it has none)"))
            }
        }
        self.network = network
        self.name = name
        self.vocabularySize = vocabularySize
        self.imageShape = imageShape
        self.length = imageShape.reduce(1, *)
        self.classLabel = classLabel
    }

    /// The same network conditioned on `label` (`nil`: unconditional).
    public func conditioned(on label: Int?) throws -> UNetMaskedModel {
        try UNetMaskedModel(network: network, name: name, vocabularySize: vocabularySize, imageShape: imageShape, classLabel: label)
    }

    public func predict(_ sequence: TokenSequence, time: Double, into probabilities: inout [Double]) throws {
        let (v, l) = (vocabularySize, length)
        guard sequence.length == l, sequence.vocabularySize == v, probabilities.count == l * v else {
            throw DiscreteError("\(name): a sequence of \(l) tokens over \(v) ids is needed, got \(sequence.length) over \(sequence.vocabularySize)")
        }
        var input = SampleTensor(zeros: [1, v + 1] + imageShape)
        for (position, token) in sequence.tokens.enumerated() { input.scalars[Int(token) * l + position] = 1 }
        var output = SampleTensor(zeros: [1, v] + imageShape)
        let labels = network.configuration.classEmbeddingCount.map { [classLabel ?? $0 - 1] }
        let workspace = workspaces.take()
        defer { workspaces.put(workspace) }
        try network.forward(input, timesteps: [0], classLabels: labels, workspace: workspace, into: &output)
        for position in sequence.maskedPositions {
            var largest = -Double.infinity
            for token in 0..<v { largest = max(largest, Double(output.scalars[token * l + position])) }
            var total = 0.0
            for token in 0..<v {
                let p = Foundation.exp(Double(output.scalars[token * l + position]) - largest)
                probabilities[position * v + token] = p
                total += p
            }
            for token in 0..<v { probabilities[position * v + token] /= total }
        }
    }
}
