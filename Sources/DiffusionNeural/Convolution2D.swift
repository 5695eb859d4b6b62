/// A 2-D convolution with a square kernel (`torch.nn.Conv2d` with `kernel_size` 1 or 3, `stride`,
/// zero `padding`, bias):
/// ```
/// y[o, b, i, j] = bias[o] + Σ_{c, u, v} W[o, c, u, v] · x[c, b, i·s + u − p, j·s + v − p]
/// ```
/// computed as the matrix product `W[Cout × Cin·k·k] · im2col(x)[Cin·k·k × B·H'·W']` (torch's weight
/// layout flattened is already that matrix). A 1×1 convolution multiplies the feature map itself;
/// others pack im2col panels from a zero-padded copy of the input (``PaddedImageSource``), never
/// forming the matrix.
/// diffusers uses it as `conv_in`, `conv_out`, `ResnetBlock2D.conv1/conv2/conv_shortcut`,
/// `Downsample2D.conv` (stride 2, padding 1) and `Upsample2D.conv`.
package struct Convolution2D: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernelSize: Int
    let stride: Int
    let padding: Int
    let weight: PackedMatrix
    let bias: [Float]

    /// Reads `<prefix>.weight` `[Cout, Cin, k, k]` and `<prefix>.bias` `[Cout]`.
    package init(_ weights: inout WeightReader, _ prefix: String, inChannels: Int, outChannels: Int,
         kernelSize: Int, stride: Int = 1, padding: Int) throws {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        let values = try weights.tensor(prefix + ".weight", shape: [outChannels, inChannels, kernelSize, kernelSize])
        weight = PackedMatrix(values, rows: outChannels, columns: inChannels * kernelSize * kernelSize)
        bias = try weights.tensor(prefix + ".bias", shape: [outChannels])
    }

    /// The output size for an input of `height × width`.
    package func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernelSize) / stride + 1, (width + 2 * padding - kernelSize) / stride + 1)
    }

    /// `out = conv(x)`, or `out += conv(x)` with `accumulate` (a residual added in the same pass), by
    /// `kernel` (one the CPU supports).
    package func apply(_ x: FeatureMap, into out: FeatureMap, accumulate: Bool = false, workspace: NeuralWorkspace,
                       kernel: MicroKernel = .best) {
        let size = outputSize(height: x.height, width: x.width)
        precondition(x.channels == inChannels && out.channels == outChannels && out.batch == x.batch
                     && out.height == size.height && out.width == size.width, "Convolution2D: shapes do not fit")
        LayerProfile.measure(.convolution) { bias.withUnsafeBufferPointer { bias in
            let destination = out.destination(bias: bias.baseAddress, accumulate: accumulate)
            if kernelSize == 1 && stride == 1 && padding == 0 {
                MatrixMultiply.multiply(weight.panels, x.matrix, into: destination, scratch: workspace.panels, kernel: kernel)
            } else {
                let mark = workspace.mark
                defer { workspace.release(to: mark) }
                let storage = workspace.allocate(x.channels * x.batch * (x.height + 2 * padding) * (x.width + 2 * padding))
                let source = PaddedImageSource(x, padding: padding, kernelSize: kernelSize, stride: stride,
                                               outputHeight: size.height, outputWidth: size.width, storage: storage)
                MatrixMultiply.multiply(weight.panels, source, into: destination, scratch: workspace.panels, kernel: kernel)
            }
        } }
    }
}

/// The im2col matrix of a convolution, read from a zero-padded copy of its input: row `(c, u, v)`
/// (index `c·k² + u·k + v`), column `(b, i, j)` (index `b·H'W' + i·W' + j`) holds
/// ```
/// x[c, b, i·s + u − p, j·s + v − p] = padded[rowOffset(c, u, v) + columnOffset(b, i, j)]
/// rowOffset = c·B·HₚWₚ + u·Wₚ + v,   columnOffset = b·HₚWₚ + i·s·Wₚ + j·s      (Hₚ = H + 2p, Wₚ = W + 2p)
/// ```
/// so the fused kernels read `B` in place through those offsets (implicit GEMM: the im2col matrix is
/// never formed, nor packed), and the portable kernel packs it with one load per value. The copy costs one pass over the input,
/// a ninth of what a 3×3 im2col matrix would hold.
struct PaddedImageSource: MatrixPanelSource, @unchecked Sendable {
    let padded: UnsafePointer<Float>
    let channels: Int
    let batch: Int
    let kernelSize: Int
    let stride: Int
    let paddedHeight: Int
    let paddedWidth: Int
    let outputHeight: Int
    let outputWidth: Int

    var rows: Int { channels * kernelSize * kernelSize }
    var columns: Int { batch * outputHeight * outputWidth }

    /// Copies `input` into `storage` (`channels·B·(H + 2p)·(W + 2p)` floats) with a border of `padding` zeros.
    init(_ input: FeatureMap, padding: Int, kernelSize: Int, stride: Int, outputHeight: Int, outputWidth: Int,
         storage: UnsafeMutablePointer<Float>) {
        let ph = input.height + 2 * padding, pw = input.width + 2 * padding
        for plane in 0..<(input.channels * input.batch) {
            let source = input.base + plane * input.plane, target = storage + plane * ph * pw
            target.update(repeating: 0, count: padding * pw)
            for y in 0..<input.height {
                let row = target + (y + padding) * pw
                row.update(repeating: 0, count: padding)
                (row + padding).update(from: source + y * input.width, count: input.width)
                (row + padding + input.width).update(repeating: 0, count: padding)
            }
            (target + (padding + input.height) * pw).update(repeating: 0, count: padding * pw)
        }
        padded = UnsafePointer(storage)
        (channels, batch, self.kernelSize, self.stride) = (input.channels, input.batch, kernelSize, stride)
        (paddedHeight, paddedWidth, self.outputHeight, self.outputWidth) = (ph, pw, outputHeight, outputWidth)
    }

    func packPanels(rows k0: Int, count: Int, columns n0: Int, width: Int, lanes: Int, into panels: UnsafeMutablePointer<Float>) {
        let tile = MatrixMultiply.columnTile, panelCount = (width + tile - 1) / tile
        withUnsafeTemporaryAllocation(of: Int.self, capacity: MatrixMultiply.depthBlock + MatrixMultiply.chunkColumns) { scratch in
            let rowOffsets = scratch.baseAddress!, columnOffsets = rowOffsets + MatrixMultiply.depthBlock
            let origin = inPlace(rows: k0, count: count, columns: n0, width: width, rowOffsets: rowOffsets, columnOffsets: columnOffsets)!
            Self.withLine { line in
                for r in 0..<count {
                    let source = origin + rowOffsets[r]
                    if lanes == 1 {
                        // Full panels without a test per value; the last one zero-filled past `width`.
                        let full = width / tile
                        var out = panels + r * tile, offsets = UnsafePointer(columnOffsets)
                        for _ in 0..<full {
                            out[0] = source[offsets[0]]; out[1] = source[offsets[1]]; out[2] = source[offsets[2]]
                            out[3] = source[offsets[3]]; out[4] = source[offsets[4]]; out[5] = source[offsets[5]]
                            out += count &* tile
                            offsets += tile
                        }
                        if full < panelCount {
                            for t in 0..<tile { out[t] = full * tile + t < width ? source[offsets[t]] : 0 }
                        }
                    } else {
                        for column in 0..<width { line[column] = source[columnOffsets[column]] }
                        Self.packRow(line, width: width, row: r, count: count, lanes: lanes, into: panels)
                    }
                }
            }
        }
    }

    func offsets(rows k0: Int, count: Int, columns n0: Int, width: Int, rowOffsets: UnsafeMutablePointer<Int>,
                 columnOffsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float> {
        inPlace(rows: k0, count: count, columns: n0, width: width, rowOffsets: rowOffsets, columnOffsets: columnOffsets)!
    }

    func inPlace(rows k0: Int, count: Int, columns n0: Int, width: Int, rowOffsets: UnsafeMutablePointer<Int>,
                 columnOffsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>? {
        let paddedPlane = paddedHeight * paddedWidth
        var (b, pixel) = n0.quotientAndRemainder(dividingBy: outputHeight * outputWidth)
        var (i, j) = pixel.quotientAndRemainder(dividingBy: outputWidth)
        for column in 0..<width {
            columnOffsets[column] = b * paddedPlane + (i * paddedWidth + j) * stride
            j += 1
            if j == outputWidth { (i, j) = (i + 1, 0) }
            if i == outputHeight { (b, i) = (b + 1, 0) }
        }
        let panelEnd = (width + MatrixMultiply.columnTile - 1) / MatrixMultiply.columnTile * MatrixMultiply.columnTile
        for column in width..<panelEnd { columnOffsets[column] = 0 }
        var (c, offset) = k0.quotientAndRemainder(dividingBy: kernelSize * kernelSize)
        var (u, v) = offset.quotientAndRemainder(dividingBy: kernelSize)
        for r in 0..<count {
            rowOffsets[r] = c * batch * paddedPlane + u * paddedWidth + v
            v += 1
            if v == kernelSize { (u, v) = (u + 1, 0) }
            if u == kernelSize { (c, u) = (c + 1, 0) }
        }
        return padded
    }
}
