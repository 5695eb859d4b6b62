/// A 2-D convolution with a square kernel (`torch.nn.Conv2d` with `kernel_size` 1 or 3, `stride`,
/// zero `padding`, bias):
/// ```
/// y[o, b, i, j] = bias[o] + Σ_{c, u, v} W[o, c, u, v] · x[c, b, i·s + u − p, j·s + v − p]
/// ```
/// computed as the matrix product `W[Cout × Cin·k·k] · im2col(x)[Cin·k·k × B·H'·W']` (torch's weight
/// layout flattened is already that matrix). A 1×1 convolution multiplies the feature map itself;
/// others pack im2col panels straight from the input (``Im2ColSource``), never forming the matrix.
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

    /// `out = conv(x)`, or `out += conv(x)` with `accumulate` (a residual added in the same pass).
    package func apply(_ x: FeatureMap, into out: FeatureMap, accumulate: Bool = false, workspace: NeuralWorkspace) {
        let size = outputSize(height: x.height, width: x.width)
        precondition(x.channels == inChannels && out.channels == outChannels && out.batch == x.batch
                     && out.height == size.height && out.width == size.width, "Convolution2D: shapes do not fit")
        LayerProfile.measure(.convolution) { bias.withUnsafeBufferPointer { bias in
            let destination = out.destination(bias: bias.baseAddress, accumulate: accumulate)
            if kernelSize == 1 && stride == 1 && padding == 0 {
                MatrixMultiply.multiply(weight.panels, x.matrix, into: destination, scratch: workspace.panels)
            } else {
                let source = Im2ColSource(input: x, kernelSize: kernelSize, stride: stride, padding: padding,
                                          outputHeight: size.height, outputWidth: size.width)
                MatrixMultiply.multiply(weight.panels, source, into: destination, scratch: workspace.panels)
            }
        } }
    }
}

/// The im2col matrix of a convolution's input, packed panel by panel without being formed: row
/// `(c, u, v)` (index `c·k² + u·k + v`), column `(b, i, j)` (index `b·H'W' + i·W' + j`) holds
/// `x[c, b, i·s + u − p, j·s + v − p]`, zero outside the image.
struct Im2ColSource: MatrixPanelSource {
    let input: FeatureMap
    let kernelSize: Int
    let stride: Int
    let padding: Int
    let outputHeight: Int
    let outputWidth: Int

    var rows: Int { input.channels * kernelSize * kernelSize }
    var columns: Int { input.batch * outputHeight * outputWidth }

    func packPanels(rows k0: Int, count: Int, columns n0: Int, width: Int, into panels: UnsafeMutablePointer<Float>) {
        let outputPlane = outputHeight * outputWidth
        let (firstSample, firstPixel) = n0.quotientAndRemainder(dividingBy: outputPlane)
        let (firstRow, firstColumn) = firstPixel.quotientAndRemainder(dividingBy: outputWidth)
        Self.withLine { line in
            for r in 0..<count {
                let (c, offset) = (k0 + r).quotientAndRemainder(dividingBy: kernelSize * kernelSize)
                let (u, v) = offset.quotientAndRemainder(dividingBy: kernelSize)
                let channel = input.base + c * input.channelStride
                // Runs of columns along one output row (b, i): x = j·s + v − p is inside the image
                // for j in [⌈(p − v)/s⌉, ⌈(W + p − v)/s⌉).
                let jFirst = Self.ceilingDivision(padding - v, stride), jEnd = Self.ceilingDivision(input.width + padding - v, stride)
                var column = 0, b = firstSample, i = firstRow, j = firstColumn
                while column < width {
                    let run = min(outputWidth - j, width - column), target = line + column
                    let y = i * stride + u - padding
                    let inside = UInt(bitPattern: y) < UInt(input.height)
                    let start = inside ? min(run, max(0, jFirst - j)) : run, end = inside ? max(start, min(run, jEnd - j)) : run
                    for t in 0..<start { target[t] = 0 }
                    var source = channel + b * input.plane + y * input.width + (j + start) * stride + v - padding
                    if stride == 1 {
                        (target + start).update(from: source, count: end - start)
                    } else {
                        for t in start..<end {
                            target[t] = source.pointee
                            source += stride
                        }
                    }
                    for t in end..<run { target[t] = 0 }
                    column += run
                    j += run
                    if j == outputWidth {
                        j = 0
                        i += 1
                        if i == outputHeight {
                            i = 0
                            b += 1
                        }
                    }
                }
                Self.packRow(line, width: width, row: r, count: count, into: panels)
            }
        }
    }

    /// `⌈a/b⌉` for `b > 0` and any sign of `a`.
    static func ceilingDivision(_ a: Int, _ b: Int) -> Int {
        a >= 0 ? (a + b - 1) / b : -((-a) / b)
    }
}
