import Foundation
import DiffusionFormats

/// A line chart of one or more series, such as error against the number of function evaluations
/// (NFE) for several solvers, rendered as a standalone SVG document or as an RGB PNG image.
///
/// Both renderings share one layout: a white background, a framed plot area with gridlines and
/// tick labels, axis titles, a title, one polyline with point markers per series, and a legend to
/// the right of the plot area (labels too long for it are shortened with `...`; the SVG keeps the
/// full label as a tooltip). Text in the PNG uses a built-in 5x8 bitmap font (printable ASCII;
/// any other character shows as `?`); the SVG uses a monospace font of the same advance, so labels
/// take the same room in both.
///
/// Axes:
/// - A log axis shows the positive finite values; others (zero, negative, NaN, infinite) are
///   skipped, which breaks the series' line there. A linear axis skips only non-finite values.
/// - The range covers the drawn points (those with both coordinates shown), padded by 5% of their
///   span on each side (in log10 space on a log axis). A single distinct value gets one decade
///   around it on a log axis (`value / sqrt(10) ... value * sqrt(10)`), and `value +- |value| / 2`
///   (or `-1...1` for 0) on a linear axis. An axis with nothing to show spans 1...10 (log) or 0...1 (linear).
/// - Log axes put gridlines at each power of ten in the range, labelled `1e-2`, `1e-1`, `1`, `10`,
///   `100`, `1000`, `1e4`, ... (at most 8 labels; with more decades only every n-th is labelled),
///   with lighter gridlines at 2...9 times each power when the range spans at most 12 decades.
///   Ranges holding fewer than two powers of ten are labelled at 1-2-5 or 1...9 multiples instead.
///   On the x axis, when the shown values span at most two decades and there are at most 12
///   distinct ones (say NFE 5, 10, 20, 40), the ticks are those values.
/// - Linear axes use "nice" steps of 1, 2 or 5 times a power of ten.
/// - Tick labels that would overlap a neighbour are left out (the gridline stays).
///
/// Series get colours from a fixed palette of 12; series 13...24 reuse the colours with square
/// markers and dashed lines, 25...36 with triangles and dotted lines, and so on. Points are joined
/// in the order given. Rendering is deterministic: the same plot gives the same bytes.
public struct LinePlot: Sendable, Equatable {
    /// One labelled polyline; `points` are `(x, y)` pairs in data coordinates, joined in order.
    public struct Series: Sendable, Equatable {
        /// The legend text.
        public var label: String
        /// The points `(x, y)`; on a log axis only positive finite coordinates are drawn.
        public var points: [SIMD2<Double>]

        /// Creates a series.
        public init(label: String, points: [SIMD2<Double>]) {
            self.label = label
            self.points = points
        }
    }

    /// Text above the plot area; empty for none.
    public var title: String
    /// Title of the horizontal axis, for example `NFE`.
    public var xLabel: String
    /// Title of the vertical axis, for example `RMSE to ground truth`.
    public var yLabel: String
    /// The series, drawn in order (later ones on top) and listed in the legend in that order.
    public var series: [Series]
    /// Whether the x axis is logarithmic (base 10).
    public var logX: Bool
    /// Whether the y axis is logarithmic (base 10).
    public var logY: Bool

    /// Creates a plot; both axes are logarithmic unless told otherwise.
    public init(title: String, xLabel: String, yLabel: String, series: [Series], logX: Bool = true, logY: Bool = true) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logX = logX
        self.logY = logY
    }

    /// Allowed image width and height in pixels.
    public static let sizeRange = 160...8192

    /// The plot as a complete SVG 1.1 document (UTF-8 text starting with an XML declaration).
    ///
    /// Text is escaped for XML; control characters become spaces. A `width` or `height` outside
    /// ``sizeRange`` is clamped into it.
    public func svg(width: Int = 800, height: Int = 560) -> String {
        let layout = Layout(self, width: Self.clampedSize(width), height: Self.clampedSize(height))
        return layout.svg()
    }

    /// The plot as an RGB image.
    ///
    /// - Throws: ``RenderError`` if `width` or `height` is outside ``sizeRange``.
    public func png(width: Int = 800, height: Int = 560) throws -> PNGImage {
        guard Self.sizeRange.contains(width), Self.sizeRange.contains(height) else {
            throw RenderError(message: "line plot: size \(width)x\(height) is outside \(Self.sizeRange.lowerBound)...\(Self.sizeRange.upperBound) in each dimension")
        }
        return Layout(self, width: width, height: height).raster()
    }

    private static func clampedSize(_ size: Int) -> Int {
        min(max(size, sizeRange.lowerBound), sizeRange.upperBound)
    }
}

// MARK: - Styles

extension LinePlot {
    /// Marker shapes, used in turn for each cycle through the palette.
    package enum Marker: CaseIterable {
        case circle, square, triangle, diamond
    }

    /// How one series is drawn.
    package struct Style: Equatable {
        package var color: SIMD3<UInt8>
        package var marker: Marker
        /// Alternating on and off lengths in pixels; empty for a solid line.
        package var dash: [Int]

        /// `#rrggbb`.
        package var hex: String {
            "#" + [color.x, color.y, color.z].map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
        }
    }

    /// Twelve colours that stay apart from each other and from white (after Sasha Trubetskoy's
    /// "20 simple, distinct colors", with the pale ones left out).
    package static let palette: [SIMD3<UInt8>] = [
        [0x43, 0x63, 0xD8],  // blue
        [0xF5, 0x82, 0x31],  // orange
        [0x3C, 0xB4, 0x4B],  // green
        [0xE6, 0x19, 0x4B],  // red
        [0x91, 0x1E, 0xB4],  // purple
        [0x9A, 0x63, 0x24],  // brown
        [0xF0, 0x32, 0xE6],  // magenta
        [0x22, 0xB8, 0xE0],  // cyan
        [0x80, 0x80, 0x00],  // olive
        [0x00, 0x00, 0x75],  // navy
        [0x80, 0x00, 0x00],  // maroon
        [0x46, 0x99, 0x90],  // teal
    ]

    /// Dash patterns matching ``Marker`` cases: solid, dashed, dotted, dash-dot.
    static let dashes: [[Int]] = [[], [6, 3], [2, 2], [8, 3, 2, 3]]

    /// The colour, marker and dash of the series at `index`.
    package static func style(for index: Int) -> Style {
        let cycle = (index / palette.count) % Marker.allCases.count
        return Style(color: palette[index % palette.count], marker: Marker.allCases[cycle], dash: dashes[cycle])
    }
}

// MARK: - Axes
