import DiffusionFormats

/// Draws 2-D sample points as dots over an optional shaded density, as an RGB image.
///
/// Meant for eyeballing samplers on toy 2-D distributions: the background is white; if a density
/// is given it is evaluated at every pixel centre, normalized by its maximum over the image,
/// passed through a square root (so faint modes stay visible) and shaded from white to a
/// mid blue; then each point inside the bounds is drawn as a filled dark-red disc. There are no
/// axes or labels. The output depends only on the inputs.
public enum ScatterPlot {
    /// The plotted region in data coordinates; `x` grows to the right and `y` upwards.
    public struct Bounds: Sendable, Equatable {
        public var xMin: Double
        public var xMax: Double
        public var yMin: Double
        public var yMax: Double

        /// Creates bounds; they must be finite with `xMin < xMax` and `yMin < yMax`.
        public init(xMin: Double, xMax: Double, yMin: Double, yMax: Double) {
            self.xMin = xMin
            self.xMax = xMax
            self.yMin = yMin
            self.yMax = yMax
        }

        /// A square region centred on the finite points, 10% wider than their larger extent on
        /// each side; `[-1, 1] x [-1, 1]` when there are no finite points.
        public static func fitting(_ points: [SIMD2<Double>]) -> Bounds {
            let finite = points.filter { $0.x.isFinite && $0.y.isFinite }
            guard let first = finite.first else { return Bounds(xMin: -1, xMax: 1, yMin: -1, yMax: 1) }
            var low = first, high = first
            for point in finite {
                low = pointwiseMin(low, point)
                high = pointwiseMax(high, point)
            }
            let centre = (low + high) / 2
            var span = max(high.x - low.x, high.y - low.y)
            if !(span > 0) || !span.isFinite {
                // A single point (or one huge spread): fall back to a unit-ish window around it.
                span = max(1, abs(centre.x), abs(centre.y))
                if !span.isFinite { span = Double.greatestFiniteMagnitude / 4 }
            }
            let half = span * 0.6  // half the span plus a 10% margin of the span on each side
            return Bounds(xMin: centre.x - half, xMax: centre.x + half, yMin: centre.y - half, yMax: centre.y + half)
        }
    }

    /// Background colour where the density is zero (or absent).
    static let background: SIMD3<Double> = [255, 255, 255]
    /// Colour at the density's maximum.
    static let densityColor: SIMD3<Double> = [66, 133, 200]
    /// Colour of the dots.
    static let dotColor: [UInt8] = [150, 20, 20]

    /// Renders the plot.
    ///
    /// - Parameters:
    ///   - points: Points in data coordinates; non-finite points and points outside the bounds
    ///     are skipped.
    ///   - density: An optional unnormalized density to shade; negative, NaN or infinite values
    ///     count as 0.
    ///   - bounds: The region to show; by default ``Bounds/fitting(_:)`` the points.
    ///   - size: Width and height in pixels (1...16384).
    ///   - dotRadius: Radius of each dot in pixels.
    /// - Throws: ``RenderError`` for an invalid size or bounds.
    public static func render(
        points: [SIMD2<Double>],
        density: ((Double, Double) -> Double)? = nil,
        bounds: Bounds? = nil,
        size: Int = 512,
        dotRadius: Double = 2
    ) throws -> PNGImage {
        func fail(_ problem: String) -> RenderError { RenderError(message: "scatter plot: \(problem)") }
        guard (1...16_384).contains(size) else { throw fail("size \(size) is outside 1...16384") }
        guard dotRadius.isFinite, dotRadius >= 0 else { throw fail("dot radius \(dotRadius) must be finite and non-negative") }
        let region = bounds ?? Bounds.fitting(points)
        guard [region.xMin, region.xMax, region.yMin, region.yMax].allSatisfy(\.isFinite),
              region.xMin < region.xMax, region.yMin < region.yMax,
              (region.xMax - region.xMin).isFinite, (region.yMax - region.yMin).isFinite
        else {
            throw fail("bounds x \(region.xMin)...\(region.xMax), y \(region.yMin)...\(region.yMax) must be finite and non-empty")
        }
        let width = region.xMax - region.xMin
        let height = region.yMax - region.yMin
        let n = Double(size)
        var pixels = [UInt8](repeating: 255, count: size * size * 3)

        if let density {
            var values = [Double](repeating: 0, count: size * size)
            var maximum = 0.0
            for row in 0..<size {
                let y = region.yMax - (Double(row) + 0.5) / n * height
                for column in 0..<size {
                    let x = region.xMin + (Double(column) + 0.5) / n * width
                    let d = density(x, y)
                    let value = d.isFinite && d > 0 ? d : 0
                    values[row * size + column] = value
                    maximum = max(maximum, value)
                }
            }
            if maximum > 0 {
                for index in 0..<values.count {
                    let t = (values[index] / maximum).squareRoot()
                    let color = background + (densityColor - background) * t
                    for c in 0..<3 {
                        pixels[index * 3 + c] = UInt8(min(max(color[c].rounded(), 0), 255))
                    }
                }
            }
        }

        // A disc larger than the image covers it anyway; clamping keeps the loops bounded.
        let radius = min(dotRadius, 2 * n)
        let reach = Int(radius.rounded(.up)) + 1
        for point in points {
            guard point.x.isFinite, point.y.isFinite,
                  point.x >= region.xMin, point.x <= region.xMax,
                  point.y >= region.yMin, point.y <= region.yMax
            else { continue }
            // Continuous pixel coordinates of the point (column grows right, row grows down).
            let px = (point.x - region.xMin) / width * n
            let py = (region.yMax - point.y) / height * n
            let centreColumn = Int(px.rounded(.down)), centreRow = Int(py.rounded(.down))
            let rowLow = max(0, centreRow - reach), rowHigh = min(size, centreRow + reach + 1)
            let columnLow = max(0, centreColumn - reach), columnHigh = min(size, centreColumn + reach + 1)
            guard rowLow < rowHigh, columnLow < columnHigh else { continue }
            for row in rowLow..<rowHigh {
                for column in columnLow..<columnHigh {
                    let dx = Double(column) + 0.5 - px
                    let dy = Double(row) + 0.5 - py
                    if dx * dx + dy * dy <= radius * radius {
                        let index = (row * size + column) * 3
                        pixels[index] = dotColor[0]
                        pixels[index + 1] = dotColor[1]
                        pixels[index + 2] = dotColor[2]
                    }
                }
            }
        }
        return PNGImage(width: size, height: size, format: .rgb8, pixels: pixels)
    }
}
