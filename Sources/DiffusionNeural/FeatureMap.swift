/// A batch of feature maps in channel-major layout `[C, B, H, W]`: element `(c, b, y, x)` at
/// `base[c·B·H·W + b·H·W + y·W + x]`.
///
/// Channel-major makes every layer one matrix product over the whole batch: a feature map is the
/// matrix `[C × B·H·W]`, a 1×1 convolution or linear layer is `W·X`, a 3×3 convolution is `W·im2col(X)`,
/// and each column of the product is one pixel of one sample, computed independently of the others
/// (so a sample's output does not depend on the batch it is in). Concatenating on channels, as the
/// up path does with skip connections, is appending memory. The network's input and output are
/// transposed from and to the usual `[B, C, H, W]` at its ends.
package struct FeatureMap: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let channels: Int
    let batch: Int
    let height: Int
    let width: Int

    /// Values in one channel of one sample.
    var plane: Int { height * width }
    /// Values in one channel of the batch (the row length of the matrix view).
    var channelStride: Int { batch * height * width }
    /// All values.
    package var count: Int { channels * channelStride }

    /// The matrix `[C × B·H·W]`.
    var matrix: StridedMatrix {
        StridedMatrix(base, rows: channels, columns: channelStride, rowStride: channelStride)
    }

    /// The product destination covering this map, with an optional per-channel bias.
    func destination(bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) -> MatrixDestination {
        MatrixDestination(base, rowStride: channelStride, bias: bias, accumulate: accumulate)
    }

    /// Channels `offset ..< offset + count`, sharing memory.
    func channels(_ offset: Int, count: Int) -> FeatureMap {
        FeatureMap(base: base + offset * channelStride, channels: count, batch: batch, height: height, width: width)
    }

    /// Copies `source` (same size) into this map, each value multiplied by `scale` (a product with 1
    /// is exact, so `scale` 1 is a copy).
    func assign(_ source: FeatureMap, scale: Float = 1) {
        precondition(source.count == count, "FeatureMap.assign: \(source.count) values into \(count)")
        for i in 0..<count { base[i] = source.base[i] * scale }
    }
}

extension FeatureMap {
    /// `[B, C, H, W]` values (`input`) into this channel-major map.
    package func load(batchMajor input: UnsafePointer<Float>) {
        for b in 0..<batch {
            for c in 0..<channels {
                (base + c * channelStride + b * plane).update(from: input + (b * channels + c) * plane, count: plane)
            }
        }
    }

    /// This map as `[B, C, H, W]` values into `output`.
    package func store(batchMajor output: UnsafeMutablePointer<Float>) {
        for b in 0..<batch {
            for c in 0..<channels {
                (output + (b * channels + c) * plane).update(from: base + c * channelStride + b * plane, count: plane)
            }
        }
    }
}
