/// diffusers' `ResnetBlock2D` with `time_embedding_norm="default"`, `output_scale_factor` 1 and no
/// up/down sampling inside:
/// ```
/// h = conv1(silu(norm1(x)))
/// h = h + time_emb_proj(silu(emb))[:, :, None, None]
/// h = conv2(silu(norm2(h)))
/// y = shortcut(x) + h          (shortcut: 1×1 conv_shortcut when the channel count changes, else x)
/// ```
/// `conv2` adds its product onto the shortcut already in the output, so the residual costs no pass.
package struct ResnetBlock2D: Sendable {
    let inChannels: Int
    let outChannels: Int
    let norm1: GroupNorm
    let conv1: Convolution2D
    let timeProjection: Linear
    let norm2: GroupNorm
    let conv2: Convolution2D
    let shortcut: Convolution2D?

    /// Reads the block's tensors under `prefix` (`down_blocks.0.resnets.1`, ...).
    init(_ weights: inout WeightReader, _ prefix: String, inChannels: Int, outChannels: Int, embeddingDimension: Int,
         groups: Int, epsilon: Double) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        norm1 = try GroupNorm(&weights, prefix + ".norm1", groups: groups, channels: inChannels, epsilon: epsilon)
        conv1 = try Convolution2D(&weights, prefix + ".conv1", inChannels: inChannels, outChannels: outChannels, kernelSize: 3, padding: 1)
        timeProjection = try Linear(&weights, prefix + ".time_emb_proj", inFeatures: embeddingDimension, outFeatures: outChannels)
        norm2 = try GroupNorm(&weights, prefix + ".norm2", groups: groups, channels: outChannels, epsilon: epsilon)
        conv2 = try Convolution2D(&weights, prefix + ".conv2", inChannels: outChannels, outChannels: outChannels, kernelSize: 3, padding: 1)
        shortcut = inChannels == outChannels ? nil
            : try Convolution2D(&weights, prefix + ".conv_shortcut", inChannels: inChannels, outChannels: outChannels, kernelSize: 1, padding: 0)
    }

    /// `out = block(x, emb)`, with `activatedEmbedding = silu(emb)` as `[E × B]`; `out` must not be `x`.
    package func apply(_ x: FeatureMap, activatedEmbedding: StridedMatrix, into out: FeatureMap, workspace: NeuralWorkspace) {
        precondition(x.channels == inChannels && out.channels == outChannels && out.batch == x.batch && out.plane == x.plane,
                     "ResnetBlock2D: shapes do not fit")
        let mark = workspace.mark
        defer { workspace.release(to: mark) }
        let normalized = workspace.featureMap(channels: inChannels, batch: x.batch, height: x.height, width: x.width)
        norm1.apply(x, into: normalized, applySiLU: true)
        let hidden = workspace.featureMap(channels: outChannels, batch: x.batch, height: x.height, width: x.width)
        conv1.apply(normalized, into: hidden, workspace: workspace)
        let projected = workspace.allocate(outChannels * x.batch)
        timeProjection.apply(activatedEmbedding, into: projected, outRowStride: x.batch, workspace: workspace)
        for c in 0..<outChannels {
            for b in 0..<x.batch {
                let shift = projected[c * x.batch + b], plane = hidden.base + c * hidden.channelStride + b * hidden.plane
                for i in 0..<hidden.plane { plane[i] += shift }
            }
        }
        let activated = workspace.featureMap(channels: outChannels, batch: x.batch, height: x.height, width: x.width)
        norm2.apply(hidden, into: activated, applySiLU: true)
        if let shortcut {
            shortcut.apply(x, into: out, workspace: workspace)
        } else {
            out.assign(x)
        }
        conv2.apply(activated, into: out, accumulate: true, workspace: workspace)
    }
}
