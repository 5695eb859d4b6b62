/// diffusers' `DownBlock2D` (`attentions` empty) or `AttnDownBlock2D`: `layers_per_block` resnets, each
/// followed by its attention, then `Downsample2D` (3×3 convolution, stride 2, padding 1) except in the
/// last block. Every resnet(+attention) output and the downsampler's output are skip connections.
package struct DownBlock: Sendable {
    package let resnets: [ResnetBlock2D]
    package let attentions: [Attention]
    package let downsampler: Convolution2D?

    init(_ weights: inout WeightReader, index: Int, configuration c: UNet2DConfiguration, inChannels: Int) throws {
        let prefix = "down_blocks.\(index)", channels = c.blockOutChannels[index]
        resnets = try (0..<c.layersPerBlock).map { j in
            try ResnetBlock2D(&weights, "\(prefix).resnets.\(j)", inChannels: j == 0 ? inChannels : channels, outChannels: channels,
                              embeddingDimension: c.embeddingDimension, groups: c.normGroups, epsilon: c.normEpsilon)
        }
        attentions = c.downBlockTypes[index] == .attention
            ? try (0..<c.layersPerBlock).map { j in
                try Attention(&weights, "\(prefix).attentions.\(j)", channels: channels, headDimension: c.attentionHeadDimension ?? channels,
                              groups: c.normGroups, epsilon: c.normEpsilon)
            }
            : []
        downsampler = index == c.blockOutChannels.count - 1 ? nil
            : try Convolution2D(&weights, "\(prefix).downsamplers.0.conv", inChannels: channels, outChannels: channels,
                                kernelSize: 3, stride: 2, padding: 1)
    }
}

/// diffusers' `UNetMidBlock2D` (`output_scale_factor` 1): resnet, attention (unless `add_attention`
/// is false), resnet, at the innermost resolution.
package struct MidBlock: Sendable {
    let first: ResnetBlock2D
    package let attention: Attention?
    let second: ResnetBlock2D

    init(_ weights: inout WeightReader, configuration c: UNet2DConfiguration) throws {
        let channels = c.blockOutChannels.last!
        func resnet(_ j: Int) throws -> ResnetBlock2D {
            try ResnetBlock2D(&weights, "mid_block.resnets.\(j)", inChannels: channels, outChannels: channels,
                              embeddingDimension: c.embeddingDimension, groups: c.normGroups, epsilon: c.normEpsilon)
        }
        first = try resnet(0)
        attention = c.addAttention
            ? try Attention(&weights, "mid_block.attentions.0", channels: channels, headDimension: c.attentionHeadDimension ?? channels,
                            groups: c.normGroups, epsilon: c.normEpsilon)
            : nil
        second = try resnet(1)
    }
}

/// diffusers' `UpBlock2D` (`attentions` empty) or `AttnUpBlock2D`: `layers_per_block + 1` resnets, each
/// taking the hidden state concatenated on channels with the next skip connection, each followed by
/// its attention, then `Upsample2D` except in the last block.
package struct UpBlock: Sendable {
    package let resnets: [ResnetBlock2D]
    let attentions: [Attention]
    package let upsampler: Upsample2D?

    /// - Parameter skipChannels: the channels of the skip connections this block consumes, in order.
    init(_ weights: inout WeightReader, index: Int, configuration c: UNet2DConfiguration, inChannels: Int, skipChannels: [Int]) throws {
        let prefix = "up_blocks.\(index)", channels = c.blockOutChannels[c.blockOutChannels.count - 1 - index]
        resnets = try skipChannels.enumerated().map { j, skip in
            try ResnetBlock2D(&weights, "\(prefix).resnets.\(j)", inChannels: (j == 0 ? inChannels : channels) + skip, outChannels: channels,
                              embeddingDimension: c.embeddingDimension, groups: c.normGroups, epsilon: c.normEpsilon)
        }
        attentions = c.upBlockTypes[index] == .attention
            ? try skipChannels.indices.map { j in
                try Attention(&weights, "\(prefix).attentions.\(j)", channels: channels, headDimension: c.attentionHeadDimension ?? channels,
                              groups: c.normGroups, epsilon: c.normEpsilon)
            }
            : []
        upsampler = index == c.blockOutChannels.count - 1 ? nil
            : Upsample2D(conv: try Convolution2D(&weights, "\(prefix).upsamplers.0.conv", inChannels: channels, outChannels: channels,
                                                 kernelSize: 3, padding: 1))
    }
}

/// diffusers' `Upsample2D` with `use_conv`: nearest-neighbour upsampling by 2
/// (`y[c, b, i, j] = x[c, b, ⌊i/2⌋, ⌊j/2⌋]`), then a 3×3 convolution with padding 1.
package struct Upsample2D: Sendable {
    let conv: Convolution2D

    /// `out = conv(nearest(x))`, `out` of twice the height and width.
    package func apply(_ x: FeatureMap, into out: FeatureMap, workspace: NeuralWorkspace) {
        let mark = workspace.mark
        defer { workspace.release(to: mark) }
        let doubled = workspace.featureMap(channels: x.channels, batch: x.batch, height: 2 * x.height, width: 2 * x.width)
        for plane in 0..<(x.channels * x.batch) {
            let source = x.base + plane * x.plane, target = doubled.base + plane * doubled.plane
            for i in 0..<doubled.height {
                let row = source + (i / 2) * x.width, line = target + i * doubled.width
                for j in 0..<doubled.width { line[j] = row[j / 2] }
            }
        }
        conv.apply(doubled, into: out, workspace: workspace)
    }
}
