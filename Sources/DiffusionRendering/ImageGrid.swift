import DiffusionFormats

/// Lays out a batch of images in a grid, like torchvision's `make_grid`, as a PNG-ready image.
///
/// The input is a flat array of `count` images, each `channels x height x width` in channel-first
/// (CHW) order, as a PyTorch tensor of shape `[count, channels, height, width]` is laid out in
/// memory. Values in `range` map linearly to 0...255 with clamping (NaN becomes 0); each pixel is
/// magnified `scale` times (nearest neighbour); images are placed row by row, separated and
/// surrounded by `padding` pixels of mid-gray (128). One channel gives a gray image, three give
/// RGB, and any other count shows the first channel in gray. Compare torchvision's
/// <https://pytorch.org/vision/stable/generated/torchvision.utils.make_grid.html>; the output
/// format is described at <https://www.w3.org/TR/png-3/>.
public enum ImageGrid {
    /// Renders the grid.
    ///
    /// - Parameters:
    ///   - values: `count * channels * height * width` values, image by image, each in CHW order.
    ///   - count: Number of images (at least 1).
    ///   - channels: Channels per image (at least 1).
    ///   - height: Image height in pixels (at least 1).
    ///   - width: Image width in pixels (at least 1).
    ///   - range: The value range mapped to black...white (or 0...255 per channel).
    ///   - columns: Images per grid row; default `ceil(sqrt(count))`.
    ///   - scale: Magnification factor (at least 1).
    ///   - padding: Gap between images and around the border, in output pixels (at least 0).
    /// - Throws: ``RenderError`` if the sizes are invalid, do not match `values.count`, or the
    ///   output would be larger than 2^31 - 1 pixels in either direction.
    public static func render(
        values: [Float], count: Int, channels: Int, height: Int, width: Int,
        range: ClosedRange<Float> = -1...1, columns: Int? = nil, scale: Int = 4, padding: Int = 2
    ) throws -> PNGImage {
        func fail(_ problem: String) -> RenderError { RenderError(message: "image grid: \(problem)") }
        guard count >= 1, channels >= 1, height >= 1, width >= 1 else {
            throw fail("count, channels, height and width must be at least 1 (got \(count), \(channels), \(height), \(width))")
        }
        guard scale >= 1 else { throw fail("scale must be at least 1 (got \(scale))") }
        guard padding >= 0 else { throw fail("padding must not be negative (got \(padding))") }
        if let columns, columns < 1 { throw fail("columns must be at least 1 (got \(columns))") }
        guard range.lowerBound.isFinite, range.upperBound.isFinite else {
            throw fail("range \(range) must be finite")
        }

        let imageSize = try checkedProduct([channels, height, width], fail)
        let expected = try checkedProduct([count, imageSize], fail)
        guard values.count == expected else {
            throw fail("\(values.count) values for \(count) images of \(channels)x\(height)x\(width) (expected \(expected))")
        }

        var gridColumns = columns ?? Int(Double(count).squareRoot().rounded(.up))
        // Guard against floating-point rounding in the square root.
        while gridColumns * gridColumns < count && columns == nil { gridColumns += 1 }
        gridColumns = min(gridColumns, count)
        let gridRows = (count + gridColumns - 1) / gridColumns
        let cellWidth = try checkedProduct([width, scale], fail)
        let cellHeight = try checkedProduct([height, scale], fail)
        let outputWidth = try checkedSum(try checkedProduct([gridColumns, cellWidth], fail), try checkedProduct([gridColumns + 1, padding], fail), fail)
        let outputHeight = try checkedSum(try checkedProduct([gridRows, cellHeight], fail), try checkedProduct([gridRows + 1, padding], fail), fail)
        guard outputWidth <= PNGImage.maxDimension, outputHeight <= PNGImage.maxDimension else {
            throw fail("grid of \(outputWidth)x\(outputHeight) pixels is too large")
        }

        let format: PNGImage.Format = channels == 3 ? .rgb8 : .gray8
        let outputChannels = format.channels
        let pixelCount = try checkedProduct([outputWidth, outputHeight, outputChannels], fail)
        var pixels = [UInt8](repeating: 128, count: pixelCount)
        let planeSize = height * width
        for image in 0..<count {
            let originX = padding + (image % gridColumns) * (cellWidth + padding)
            let originY = padding + (image / gridColumns) * (cellHeight + padding)
            let base = image * imageSize
            for y in 0..<height {
                for x in 0..<width {
                    for c in 0..<outputChannels {
                        let byte = toByte(values[base + c * planeSize + y * width + x], range: range)
                        for dy in 0..<scale {
                            let row = (originY + y * scale + dy) * outputWidth
                            for dx in 0..<scale {
                                pixels[(row + originX + x * scale + dx) * outputChannels + c] = byte
                            }
                        }
                    }
                }
            }
        }
        return PNGImage(width: outputWidth, height: outputHeight, format: format, pixels: pixels)
    }

    /// Maps `value` from `range` to 0...255, clamping, with NaN as 0.
    static func toByte(_ value: Float, range: ClosedRange<Float>) -> UInt8 {
        guard !value.isNaN else { return 0 }
        let span = range.upperBound - range.lowerBound
        let t: Float = span > 0 ? (value - range.lowerBound) / span : (value >= range.upperBound ? 1 : 0)
        let scaled = (min(max(t, 0), 1) * 255).rounded()
        return UInt8(min(max(scaled, 0), 255))
    }

    private static func checkedProduct(_ factors: [Int], _ fail: (String) -> RenderError) throws -> Int {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            guard !overflow else { throw fail("sizes \(factors) overflow") }
            product = next
        }
        return product
    }

    private static func checkedSum(_ a: Int, _ b: Int, _ fail: (String) -> RenderError) throws -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw fail("grid size overflows") }
        return sum
    }
}
