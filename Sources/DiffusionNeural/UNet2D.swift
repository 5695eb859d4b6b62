import Foundation
import DiffusionCore
import DiffusionFormats

/// diffusers' `UNet2DModel` (the supported subset, see ``UNet2DConfiguration``), float32 on the CPU:
/// ```
/// emb = time_embedding(timestep_features(t)) + class_embedding[label]
/// h = conv_in(x)                                       → skip (level 0)
/// down block i: h = resnet(h, emb) [→ attention]       → skip (level i), per layer
///               h = downsample(h)                      → skip (level i + 1), except the last block
/// mid:          h = resnet(attention(resnet(h, emb)), emb)
/// up block:     h = resnet(concat(h, s·skip), emb) [→ attention], popping skips; then upsample
/// y = conv_out(silu(conv_norm_out(h)))
/// ```
/// `s` is the skip scale of the level the skip came from (Skip-Tuning; 1 reproduces diffusers and is
/// the same code path: a product with 1 is exact).
///
/// Weights come from diffusers' own tensor names, each checked for presence, dtype and shape.
/// Outputs do not depend on the thread count or on the other samples of the batch (see
/// ``MatrixMultiply``); a ``NeuralWorkspace`` holds all memory of a pass and is reused.
public struct UNet2D: Sendable {
    public let configuration: UNet2DConfiguration
    package let timeEmbedding: TimestepEmbedding
    /// `[num_class_embeds × E]`, row-major.
    package let classEmbedding: [Float]?
    package let convIn: Convolution2D
    package let downBlocks: [DownBlock]
    package let midBlock: MidBlock?
    package let upBlocks: [UpBlock]
    package let normOut: GroupNorm
    package let convOut: Convolution2D

    /// Builds the network from a validated configuration and its weights.
    ///
    /// - Parameters:
    ///   - c: the network's configuration (`config.json`), validated here.
    ///   - file: the safetensors file that holds the weights.
    ///   - fileName: the weights file's name for error messages.
    /// - Throws: a one-line `ModelError` for a missing tensor, a tensor of the wrong dtype or shape,
    ///   or a tensor the configuration has no place for, naming the tensor.
    public init(configuration c: UNet2DConfiguration, weights file: SafetensorsFile,
                fileName: String = "diffusion_pytorch_model.safetensors") throws {
        try c.validate()
        configuration = c
        var weights = WeightReader(file: file, fileName: fileName)
        let first = c.blockOutChannels[0]
        timeEmbedding = try TimestepEmbedding(&weights, "time_embedding", dimension: first, embeddingDimension: c.embeddingDimension,
                                              flipSinToCos: c.flipSinToCos, frequencyShift: c.frequencyShift)
        classEmbedding = try c.classEmbeddingCount.map { try weights.tensor("class_embedding.weight", shape: [$0, c.embeddingDimension]) }
        convIn = try Convolution2D(&weights, "conv_in", inChannels: c.inChannels, outChannels: first, kernelSize: 3, padding: 1)
        var skipChannels = [first], channels = first
        downBlocks = try c.blockOutChannels.indices.map { i in
            let block = try DownBlock(&weights, index: i, configuration: c, inChannels: channels)
            channels = c.blockOutChannels[i]
            skipChannels += Array(repeating: channels, count: c.layersPerBlock + (block.downsampler == nil ? 0 : 1))
            return block
        }
        midBlock = c.midBlockType == nil ? nil : try MidBlock(&weights, configuration: c)
        upBlocks = try c.blockOutChannels.indices.map { i in
            let consumed = Array(skipChannels.suffix(c.layersPerBlock + 1).reversed())
            skipChannels.removeLast(c.layersPerBlock + 1)
            let block = try UpBlock(&weights, index: i, configuration: c, inChannels: channels, skipChannels: consumed)
            channels = c.blockOutChannels[c.blockOutChannels.count - 1 - i]
            return block
        }
        normOut = try GroupNorm(&weights, "conv_norm_out", groups: c.normGroups, channels: first, epsilon: c.normEpsilon)
        convOut = try Convolution2D(&weights, "conv_out", inChannels: first, outChannels: c.outChannels, kernelSize: 3, padding: 1)
        try weights.checkAllTaken()
    }

    /// The network's output `[B, out_channels, H, W]` for `input` `[B, in_channels, H, W]`, written
    /// into `output` (reshaped if needed).
    ///
    /// - Parameters:
    ///   - input: the batch of noisy samples `[B, in_channels, H, W]`.
    ///   - timesteps: one training timestep per sample (fractional values allowed).
    ///   - classLabels: one label per sample in `0..<num_class_embeds` for a class-conditional network
    ///     (its last label is the null label), `nil` for an unconditional one.
    ///   - skipScales: one factor per resolution level, outermost first (``UNet2DConfiguration/levels``);
    ///     `nil` for all 1.
    ///   - workspace: the memory of the pass, reused across calls.
    ///   - output: receives the network's output, reshaped if needed.
    /// - Throws: a one-line `ModelError` when the sizes, labels or scales do not fit the network.
    public func forward(_ input: SampleTensor, timesteps: [Float], classLabels: [Int]? = nil, skipScales: [Float]? = nil,
                        workspace: NeuralWorkspace, into output: inout SampleTensor) throws {
        let c = configuration, shape = input.shape
        let factor = 1 << (c.levels - 1)
        guard shape.count == 4, shape[1] == c.inChannels, shape[0] > 0, shape[2] > 0, shape[3] > 0,
              shape[2] % factor == 0, shape[3] % factor == 0 else {
            throw ModelError("UNet2D: input shape \(shape) is not [B, \(c.inChannels), H, W] with H and W multiples of \(factor)")
        }
        let (batch, height, width) = (shape[0], shape[2], shape[3])
        guard timesteps.count == batch else { throw ModelError("UNet2D: \(timesteps.count) timesteps for a batch of \(batch)") }
        if let classCount = c.classEmbeddingCount {
            guard let classLabels else { throw ModelError("UNet2D: the network is class-conditional; class labels are required") }
            guard classLabels.count == batch, classLabels.allSatisfy({ (0..<classCount).contains($0) }) else {
                throw ModelError("UNet2D: class labels \(classLabels) are not \(batch) labels in 0..<\(classCount)")
            }
        } else if classLabels != nil {
            throw ModelError("UNet2D: the network has no class embedding; class labels must be nil")
        }
        if let skipScales, skipScales.count != c.levels {
            throw ModelError("UNet2D: \(skipScales.count) skip scales for \(c.levels) resolution levels")
        }
        let outputShape = [batch, c.outChannels, height, width]
        if output.shape != outputShape { output = SampleTensor(zeros: outputShape) }

        workspace.beginPass()
        LayerProfile.measure(.other) {
        let embedding = embed(timesteps: timesteps, classLabels: classLabels, workspace: workspace)
        let x = workspace.featureMap(channels: c.inChannels, batch: batch, height: height, width: width)
        input.scalars.withUnsafeBufferPointer { x.load(batchMajor: $0.baseAddress!) }
        // The skip stack's storage is the workspace's, kept from pass to pass.
        var skips: [(FeatureMap, level: Int)] = []
        swap(&skips, &workspace.skipConnections)
        skips.removeAll(keepingCapacity: true)
        let inner = down(x, embedding: embedding, skips: &skips, workspace: workspace)
        let h = midAndUp(inner, embedding: embedding, skips: &skips, skipScales: skipScales, workspace: workspace)
        workspace.skipConnections = skips
        let activated = workspace.featureMap(channels: h.channels, batch: batch, height: height, width: width)
        normOut.apply(h, into: activated, applySiLU: true)
        let result = workspace.featureMap(channels: c.outChannels, batch: batch, height: height, width: width)
        convOut.apply(activated, into: result, workspace: workspace)
        output.scalars.withUnsafeMutableBufferPointer { result.store(batchMajor: $0.baseAddress!) }
        }
    }

    /// `conv_in` and the down blocks: pushes every skip connection with its level and returns the
    /// innermost feature map. Skip connections stay allocated for the rest of the pass.
    private func down(_ x: FeatureMap, embedding: StridedMatrix, skips: inout [(FeatureMap, level: Int)],
                      workspace: NeuralWorkspace) -> FeatureMap {
        var h = workspace.featureMap(channels: configuration.blockOutChannels[0], batch: x.batch, height: x.height, width: x.width)
        convIn.apply(x, into: h, workspace: workspace)
        skips.append((h, 0))
        for (i, block) in downBlocks.enumerated() {
            for (j, resnet) in block.resnets.enumerated() {
                let next = workspace.featureMap(channels: resnet.outChannels, batch: h.batch, height: h.height, width: h.width)
                if block.attentions.isEmpty {
                    resnet.apply(h, activatedEmbedding: embedding, into: next, workspace: workspace)
                } else {
                    let mark = workspace.mark
                    let hidden = workspace.featureMap(channels: resnet.outChannels, batch: h.batch, height: h.height, width: h.width)
                    resnet.apply(h, activatedEmbedding: embedding, into: hidden, workspace: workspace)
                    block.attentions[j].apply(hidden, into: next, workspace: workspace)
                    workspace.release(to: mark)
                }
                h = next
                skips.append((h, i))
            }
            if let downsampler = block.downsampler {
                let next = workspace.featureMap(channels: downsampler.outChannels, batch: h.batch, height: h.height / 2, width: h.width / 2)
                downsampler.apply(h, into: next, workspace: workspace)
                h = next
                skips.append((h, i + 1))
            }
        }
        return h
    }

    /// The mid block and the up blocks, popping skip connections; returns the full-resolution map.
    ///
    /// Each layer reads the current map and writes the other of two buffers, each big enough for any
    /// map of these paths; a third holds the concatenations.
    private func midAndUp(_ inner: FeatureMap, embedding: StridedMatrix, skips: inout [(FeatureMap, level: Int)],
                          skipScales: [Float]?, workspace: NeuralWorkspace) -> FeatureMap {
        let fullPlane = inner.plane << (2 * (configuration.levels - 1))
        let largest = configuration.blockOutChannels.max()! * inner.batch * fullPlane
        var h = inner, spare = workspace.allocate(largest), other = workspace.allocate(largest)
        let concatenation = workspace.allocate(2 * largest)
        func advance(channels: Int, height: Int, width: Int, _ layer: (FeatureMap) -> Void) {
            let next = FeatureMap(base: spare, channels: channels, batch: h.batch, height: height, width: width)
            layer(next)
            swap(&spare, &other)
            h = next
        }
        if let midBlock {
            advance(channels: h.channels, height: h.height, width: h.width) {
                midBlock.first.apply(h, activatedEmbedding: embedding, into: $0, workspace: workspace)
            }
            if let attention = midBlock.attention {
                advance(channels: h.channels, height: h.height, width: h.width) { attention.apply(h, into: $0, workspace: workspace) }
            }
            advance(channels: h.channels, height: h.height, width: h.width) {
                midBlock.second.apply(h, activatedEmbedding: embedding, into: $0, workspace: workspace)
            }
        }
        for block in upBlocks {
            for (j, resnet) in block.resnets.enumerated() {
                let (skip, level) = skips.removeLast()
                let joined = FeatureMap(base: concatenation, channels: h.channels + skip.channels, batch: h.batch, height: h.height, width: h.width)
                joined.channels(0, count: h.channels).assign(h)
                joined.channels(h.channels, count: skip.channels).assign(skip, scale: skipScales?[level] ?? 1)
                advance(channels: resnet.outChannels, height: h.height, width: h.width) {
                    resnet.apply(joined, activatedEmbedding: embedding, into: $0, workspace: workspace)
                }
                if !block.attentions.isEmpty {
                    advance(channels: h.channels, height: h.height, width: h.width) { block.attentions[j].apply(h, into: $0, workspace: workspace) }
                }
            }
            if let upsampler = block.upsampler {
                advance(channels: h.channels, height: 2 * h.height, width: 2 * h.width) { upsampler.apply(h, into: $0, workspace: workspace) }
            }
        }
        return h
    }

    /// `silu(emb)` as `[E × B]`, the only form the resnets use: `emb` is the time embedding plus the
    /// class embedding of each sample's label.
    package func embed(timesteps: [Float], classLabels: [Int]?, workspace: NeuralWorkspace) -> StridedMatrix {
        let batch = timesteps.count, e = configuration.embeddingDimension
        let embedding = workspace.allocate(e * batch)
        timesteps.withUnsafeBufferPointer { timeEmbedding.apply($0, into: embedding, workspace: workspace) }
        if let classEmbedding, let classLabels {
            for (b, label) in classLabels.enumerated() {
                for i in 0..<e { embedding[i * batch + b] += classEmbedding[label * e + i] }
            }
        }
        LayerProfile.measure(.silu) { for i in 0..<(e * batch) { embedding[i] = silu(embedding[i]) } }
        return StridedMatrix(embedding, rows: e, columns: batch, rowStride: batch)
    }
}
