import Foundation

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
    enum Marker: CaseIterable {
        case circle, square, triangle, diamond
    }

    /// How one series is drawn.
    struct Style: Equatable {
        var color: SIMD3<UInt8>
        var marker: Marker
        /// Alternating on and off lengths in pixels; empty for a solid line.
        var dash: [Int]

        /// `#rrggbb`.
        var hex: String {
            "#" + [color.x, color.y, color.z].map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
        }
    }

    /// Twelve colours that stay apart from each other and from white (after Sasha Trubetskoy's
    /// "20 simple, distinct colors", with the pale ones left out).
    static let palette: [SIMD3<UInt8>] = [
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
    static func style(for index: Int) -> Style {
        let cycle = (index / palette.count) % Marker.allCases.count
        return Style(color: palette[index % palette.count], marker: Marker.allCases[cycle], dash: dashes[cycle])
    }
}

// MARK: - Axes

extension LinePlot {
    /// One axis: its range and ticks, in axis coordinates (log10 of the value on a log axis).
    struct Axis: Equatable {
        struct Tick: Equatable {
            var position: Double
            var label: String
        }

        var isLog: Bool
        var low: Double
        var high: Double
        /// Labelled ticks with gridlines, in increasing order.
        var ticks: [Tick]
        /// Positions of unlabelled, lighter gridlines.
        var minorTicks: [Double]

        /// The axis coordinate of `value`, or `nil` if the axis cannot show it.
        static func coordinate(_ value: Double, isLog: Bool) -> Double? {
            guard value.isFinite else { return nil }
            if isLog { return value > 0 ? log10(value) : nil }
            return value
        }

        /// Where `coordinate` lies between `low` (0) and `high` (1), kept within -1...2.
        /// Halving first keeps the difference finite for ranges as wide as the doubles.
        func fraction(_ coordinate: Double) -> Double {
            let f = (coordinate * 0.5 - low * 0.5) / (high * 0.5 - low * 0.5)
            return f.isFinite ? min(max(f, -1), 2) : 0
        }

        /// Fits an axis to `values` (those the axis cannot show are ignored).
        /// - Parameter labelDataValues: Whether a few distinct values within two decades on a log
        ///   axis become the ticks themselves.
        static func fitted(to values: [Double], isLog: Bool, labelDataValues: Bool) -> Axis {
            let shown = values.filter { coordinate($0, isLog: isLog) != nil }
            let coordinates = shown.map { coordinate($0, isLog: isLog)! }
            var low = 0.0, high = 1.0
            if let lo = coordinates.min(), let hi = coordinates.max() {
                if hi > lo {
                    let pad = 0.1 * (hi * 0.5 - lo * 0.5)  // 5% of the span
                    low = lo - pad
                    high = hi + pad
                } else if isLog {
                    low = lo - 0.5
                    high = hi + 0.5
                } else {
                    let half = lo == 0 ? 1 : abs(lo) * 0.5
                    low = lo - half
                    high = hi + half
                }
                low = max(low, -Double.greatestFiniteMagnitude)
                high = min(high, Double.greatestFiniteMagnitude)
                if !(high > low) {  // half of a subnormal rounds to zero
                    low = lo - 1
                    high = lo + 1
                }
            }
            var axis = Axis(isLog: isLog, low: low, high: high, ticks: [], minorTicks: [])
            if isLog {
                let distinct = Array(Set(shown)).sorted()
                if labelDataValues, let first = distinct.first, let last = distinct.last,
                   distinct.count <= 12, log10(last) - log10(first) <= 2 {
                    axis.ticks = distinct.map { Tick(position: log10($0), label: formatNumber($0)) }
                } else {
                    axis.setLogTicks()
                }
            } else {
                axis.ticks = linearTicks(low: low, high: high).map { Tick(position: $0.value, label: $0.label) }
            }
            return axis
        }

        /// Powers of ten in the range, or 1-2-5 or 1...9 multiples when fewer than two powers fit,
        /// or linear ticks for a range narrower than that.
        private mutating func setLogTicks() {
            // The range lies within about -330...330 (log10 of positive finite doubles).
            let lowPower = Int(low.rounded(.up)), highPower = Int(high.rounded(.down))
            if highPower - lowPower >= 1 {
                let count = highPower - lowPower + 1
                let step = max(1, (count + 7) / 8)
                for k in lowPower...highPower {
                    if k.isMultiple(of: step) {
                        ticks.append(Tick(position: Double(k), label: Self.powerLabel(k)))
                    } else {
                        minorTicks.append(Double(k))
                    }
                }
                if step == 1 && high - low <= 12 {
                    for k in (lowPower - 1)...highPower {
                        for m in 2...9 {
                            let p = Double(k) + log10(Double(m))
                            if p >= low && p <= high { minorTicks.append(p) }
                        }
                    }
                }
                return
            }
            for multiples in [[1, 2, 5], Array(1...9)] {
                var candidates: [Tick] = []
                for k in Int(low.rounded(.down))...Int(high.rounded(.up)) {
                    for m in multiples {
                        let p = Double(k) + log10(Double(m))
                        if p >= low && p <= high {
                            candidates.append(Tick(position: p, label: formatNumber(Double(m) * pow(10, Double(k)))))
                        }
                    }
                }
                if candidates.count >= 2 {
                    ticks = candidates
                    return
                }
            }
            ticks = Self.linearTicks(low: pow(10, low), high: pow(10, high))
                .filter { $0.value > 0 }
                .map { Tick(position: log10($0.value), label: $0.label) }
        }

        /// `1`, `10`, `100`, `1000` for 10^0...10^3 and `1e<k>` otherwise.
        static func powerLabel(_ k: Int) -> String {
            (0...3).contains(k) ? "1" + String(repeating: "0", count: k) : "1e\(k)"
        }

        /// Multiples of a step of 1, 2 or 5 times a power of ten, about five to ten of them,
        /// labelled with as many decimals as the step needs. Consecutive equal labels are merged.
        static func linearTicks(low: Double, high: Double) -> [(value: Double, label: String)] {
            let half = high * 0.5 - low * 0.5
            guard half > 0, half.isFinite else { return [] }
            let raw = half * 0.4  // a fifth of the span
            let exponent = log10(raw).rounded(.down)
            let base = pow(10, exponent)
            guard base > 0, base.isFinite else { return [] }
            let f = raw / base
            let step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * base
            let first = (low / step).rounded(.up), last = (high / step).rounded(.down)
            guard step > 0, step.isFinite, first.isFinite, last.isFinite, last >= first, last - first <= 50 else { return [] }
            let decimals = max(0, -Int((log10(step) + 1e-9).rounded(.down)))
            let plain = max(abs(low), abs(high)) < 1e7 && decimals <= 6
            var result: [(value: Double, label: String)] = []
            var i = first
            while i <= last {
                let value = i * step
                let label = plain ? decimalString(value, decimals: decimals) : formatNumber(value)
                if result.last?.label != label { result.append((value, label)) }
                i += 1
            }
            return result
        }
    }

    /// A short label for `value`: integers below 10^4 as they are, otherwise three significant
    /// digits, in plain decimals for 0.1 <= |value| < 10^4 and as `2.5e-7` beyond.
    static func formatNumber(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        if value == 0 { return "0" }
        if value == value.rounded(), abs(value) < 1e4 { return String(Int(value)) }
        var exponent = Int(log10(abs(value)).rounded(.down))
        // Two factors keep 10^-exponent finite for subnormal values.
        var mantissa = value / pow(10, Double(exponent / 2)) / pow(10, Double(exponent - exponent / 2))
        mantissa = (mantissa * 100).rounded() / 100
        if abs(mantissa) >= 10 {
            mantissa /= 10
            exponent += 1
        }
        if (-1...3).contains(exponent) { return decimalString(value, decimals: 2 - exponent) }
        return decimalString(mantissa, decimals: 2) + "e\(exponent)"
    }

    /// `value` rounded to `decimals` places with trailing zeros dropped, without locale or
    /// exponent notation; for |value| * 10^decimals >= 9e15 it falls back to Swift's description.
    static func decimalString(_ value: Double, decimals: Int) -> String {
        let decimals = min(max(decimals, 0), 15)
        var power = 1
        for _ in 0..<decimals { power *= 10 }
        let scaled = (abs(value) * Double(power)).rounded()
        guard scaled.isFinite, scaled < 9e15 else { return "\(value)" }
        let n = Int(scaled)
        var text = String(n / power)
        if decimals > 0 {
            var fraction = String(n % power)
            fraction = String(repeating: "0", count: decimals - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            if !fraction.isEmpty { text += "." + fraction }
        }
        return value < 0 && n != 0 ? "-" + text : text
    }
}

// MARK: - Layout

extension LinePlot {
    /// Everything both renderers draw, in pixel coordinates (x to the right, y down).
    struct Layout {
        struct Rect: Equatable {
            var x: Int, y: Int, width: Int, height: Int
            var maxX: Int { x + width }
            var maxY: Int { y + height }
        }

        /// One line of text in the bitmap font (or a monospace font of the same advance).
        struct Text: Equatable {
            enum Anchor { case start, middle, end }
            var text: String
            /// Unrotated: the anchor's x. Rotated: the left edge of the glyph boxes.
            var x: Int
            /// Unrotated: the top of the glyph boxes. Rotated: the anchor's y.
            var y: Int
            var scale: Int
            var anchor: Anchor
            /// Rotated a quarter turn counterclockwise, reading upwards.
            var rotated = false

            /// Length of the text run in pixels.
            var length: Int { BitmapFont.width(of: text) * scale }

            /// Offset from the anchor back to the start of the run.
            var startOffset: Int {
                switch anchor {
                case .start: 0
                case .middle: length / 2
                case .end: length
                }
            }
        }

        struct Trace {
            var style: Style
            /// Runs of consecutive drawable points, in pixels.
            var runs: [[SIMD2<Double>]]
        }

        struct LegendEntry {
            var style: Style
            var lineStart: Int, lineEnd: Int, centerY: Int
            /// The label as shown, possibly shortened to fit.
            var label: Text
            /// The label in full (on one line).
            var fullLabel: String
        }

        var width: Int
        var height: Int
        var plotArea: Rect
        var xAxis: Axis
        var yAxis: Axis
        var xGrid: [Int] = [], xMinorGrid: [Int] = []
        var yGrid: [Int] = [], yMinorGrid: [Int] = []
        var tickLength: Int
        var texts: [Text] = []
        var traces: [Trace] = []
        var legendBox: Rect?
        var legendEntries: [LegendEntry] = []
        var markerRadius: Int
        var title: String

        init(_ plot: LinePlot, width: Int, height: Int) {
            self.width = width
            self.height = height
            title = Self.singleLine(plot.title)
            let s = width >= 1600 && height >= 1000 ? 2 : 1  // text scale
            let glyphHeight = BitmapFont.glyphHeight * s
            let advance = BitmapFont.advance * s
            let pad = 10 * s, gap = 4 * s
            tickLength = 5 * s
            markerRadius = 2 + s

            // Only points drawn (both coordinates showable) set the ranges.
            let drawn = plot.series.flatMap(\.points).filter {
                Axis.coordinate($0.x, isLog: plot.logX) != nil && Axis.coordinate($0.y, isLog: plot.logY) != nil
            }
            let xAxis = Axis.fitted(to: drawn.map(\.x), isLog: plot.logX, labelDataValues: true)
            let yAxis = Axis.fitted(to: drawn.map(\.y), isLog: plot.logY, labelDataValues: false)
            self.xAxis = xAxis
            self.yAxis = yAxis

            // Title: scale 2 if it fits, else 1, truncated to the width.
            var titleText: Text?
            if !title.isEmpty {
                let titleScale = BitmapFont.width(of: title) * 2 + 2 * pad <= width ? 2 : 1
                let fitted = Self.truncated(title, toWidth: width - 2 * pad, scale: titleScale)
                titleText = Text(text: fitted, x: 0, y: pad, scale: titleScale, anchor: .middle)
            }
            let top = titleText.map { pad + BitmapFont.glyphHeight * $0.scale + pad } ?? pad + glyphHeight
            let bottom = tickLength + gap + glyphHeight + 2 * gap + glyphHeight + pad
            let plotTop = top, plotBottom = max(top + 1, height - bottom)
            let plotHeight = plotBottom - plotTop

            // Left margin: y axis title (rotated), y tick labels, tick marks.
            let yLabelWidth = yAxis.ticks.map { BitmapFont.width(of: $0.label) * s }.max() ?? 0
            let plotLeft = pad + glyphHeight + 2 * gap + yLabelWidth + gap + tickLength

            // Legend to the right, at most 30% of the width, in as many columns as the height needs.
            let count = plot.series.count
            let rowHeight = glyphHeight + gap
            let boxPad = 6 * s, columnGap = 12 * s, swatch = 20 * s
            var legendWidth = 0, rowsPerColumn = 1, columnWidth = 0, labelChars = 0
            if count > 0 {
                rowsPerColumn = max(1, (plotHeight - 2 * boxPad + gap) / rowHeight)
                let columns = (count + rowsPerColumn - 1) / rowsPerColumn
                let budget = (width * 3 / 10 - 2 * boxPad + columnGap) / columns - columnGap
                let longest = plot.series.map { Self.singleLine($0.label).count }.max() ?? 0
                labelChars = max(4, min(longest, (budget - swatch - gap + s) / advance))
                columnWidth = swatch + gap + labelChars * advance - s
                legendWidth = 2 * boxPad + columns * columnWidth + (columns - 1) * columnGap
            }
            let right = count > 0 ? 3 * gap + legendWidth + pad : 2 * pad
            let plotRight = max(plotLeft + 1, width - right)
            plotArea = Rect(x: plotLeft, y: plotTop, width: plotRight - plotLeft, height: plotHeight)

            // Gridlines, ticks and their labels; labels that would overlap a neighbour are dropped.
            let xPixel = { (position: Double) in Self.pixel(Double(plotLeft) + xAxis.fraction(position) * Double(plotRight - plotLeft)) }
            let yPixel = { (position: Double) in Self.pixel(Double(plotBottom) - yAxis.fraction(position) * Double(plotHeight)) }
            xGrid = xAxis.ticks.map { xPixel($0.position) }
            xMinorGrid = xAxis.minorTicks.map(xPixel)
            yGrid = yAxis.ticks.map { yPixel($0.position) }
            yMinorGrid = yAxis.minorTicks.map(yPixel)
            var lastRight = Int.min
            for (tick, x) in zip(xAxis.ticks, xGrid) {
                let label = Text(text: tick.label, x: x, y: plotBottom + tickLength + gap, scale: s, anchor: .middle)
                let left = x - label.startOffset
                if left >= lastRight + advance, left >= 0, left + label.length <= width {
                    texts.append(label)
                    lastRight = left + label.length
                }
            }
            var lastTop = Int.max
            for (tick, y) in zip(yAxis.ticks, yGrid) {  // bottom to top
                let labelTop = y - BitmapFont.capHeight * s / 2
                if labelTop + glyphHeight + gap / 2 <= lastTop, labelTop >= 0 {
                    texts.append(Text(text: tick.label, x: plotLeft - tickLength - gap, y: labelTop, scale: s, anchor: .end))
                    lastTop = labelTop
                }
            }

            // Axis titles and the plot title.
            let xTitle = Self.truncated(Self.singleLine(plot.xLabel), toWidth: width - 2 * pad, scale: s)
            let xTitleCenter = Self.centered((plotLeft + plotRight) / 2, length: BitmapFont.width(of: xTitle) * s, within: pad, width - pad)
            texts.append(Text(text: xTitle, x: xTitleCenter, y: plotBottom + tickLength + 3 * gap + glyphHeight, scale: s, anchor: .middle))
            // The y title may run down past the plot area into the empty lower-left corner.
            let yTitle = Self.truncated(Self.singleLine(plot.yLabel), toWidth: height - pad - plotTop, scale: s)
            let yTitleCenter = Self.centered((plotTop + plotBottom) / 2, length: BitmapFont.width(of: yTitle) * s, within: plotTop, height - pad)
            texts.append(Text(text: yTitle, x: pad, y: yTitleCenter, scale: s, anchor: .middle, rotated: true))
            if var titleText {
                titleText.x = Self.centered((plotLeft + plotRight) / 2, length: titleText.length, within: pad, width - pad)
                texts.append(titleText)
            }

            // Series.
            for (index, series) in plot.series.enumerated() {
                var runs: [[SIMD2<Double>]] = []
                var run: [SIMD2<Double>] = []
                for point in series.points {
                    if let x = Axis.coordinate(point.x, isLog: xAxis.isLog), let y = Axis.coordinate(point.y, isLog: yAxis.isLog) {
                        run.append(SIMD2(Double(plotLeft) + xAxis.fraction(x) * Double(plotRight - plotLeft),
                                         Double(plotBottom) - yAxis.fraction(y) * Double(plotHeight)))
                    } else if !run.isEmpty {
                        runs.append(run)
                        run = []
                    }
                }
                if !run.isEmpty { runs.append(run) }
                traces.append(Trace(style: LinePlot.style(for: index), runs: runs))
            }

            // Legend entries, column by column.
            if count > 0 {
                let rows = min(count, rowsPerColumn)
                let box = Rect(x: plotRight + 3 * gap, y: plotTop, width: legendWidth, height: 2 * boxPad + rows * rowHeight - gap)
                legendBox = box
                for (index, series) in plot.series.enumerated() {
                    let column = index / rowsPerColumn, row = index % rowsPerColumn
                    let left = box.x + boxPad + column * (columnWidth + columnGap)
                    let top = box.y + boxPad + row * rowHeight
                    let fullLabel = Self.singleLine(series.label)
                    let label = Self.truncated(fullLabel, toCharacters: labelChars)
                    legendEntries.append(LegendEntry(
                        style: LinePlot.style(for: index), lineStart: left, lineEnd: left + swatch,
                        centerY: top + BitmapFont.capHeight * s / 2,
                        label: Text(text: label, x: left + swatch + gap, y: top, scale: s, anchor: .start),
                        fullLabel: fullLabel))
                }
            }
        }

        /// The pixel column or row containing `coordinate` (kept finite and within reach).
        static func pixel(_ coordinate: Double) -> Int {
            guard coordinate.isFinite else { return 0 }
            return Int(min(max(coordinate, -1e6), 1e6).rounded(.down))
        }

        /// The centre of a run of `length` pixels placed as near `center` as fits within `low...high`.
        static func centered(_ center: Int, length: Int, within low: Int, _ high: Int) -> Int {
            let start = min(max(center - length / 2, low), max(low, high - length))
            return start + length / 2
        }

        /// `text` with control characters (line breaks, tabs, ...) replaced by spaces.
        static func singleLine(_ text: String) -> String {
            String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
                scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) ? " " : scalar
            }))
        }

        /// `text` cut to at most `limit` characters, ending in `...` when cut.
        static func truncated(_ text: String, toCharacters limit: Int) -> String {
            guard text.count > limit else { return text }
            guard limit > 3 else { return String(text.prefix(max(limit, 0))) }
            return String(text.prefix(limit - 3)) + "..."
        }

        /// `text` cut to fit `width` pixels at `scale`.
        static func truncated(_ text: String, toWidth width: Int, scale: Int) -> String {
            truncated(text, toCharacters: (width + scale) / (BitmapFont.advance * scale))
        }
    }
}

// MARK: - SVG

extension LinePlot.Layout {
    /// The layout as an SVG document; lines on pixel rows and columns are offset by half a pixel
    /// so they cover the same pixels as in the PNG.
    func svg() -> String {
        func n(_ value: Double) -> String { LinePlot.decimalString(value, decimals: 2) }
        func mid(_ value: Int) -> String { n(Double(value) + 0.5) }
        let area = plotArea
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(width)\" height=\"\(height)\""
        out += " viewBox=\"0 0 \(width) \(height)\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\">\n"
        if !title.isEmpty { out += "<title>\(Self.escaped(title))</title>\n" }
        out += "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>\n"
        out += "<defs><clipPath id=\"plot-area\"><rect x=\"\(area.x)\" y=\"\(area.y)\" width=\"\(area.width + 1)\" height=\"\(area.height + 1)\"/></clipPath></defs>\n"

        func gridPath(_ xs: [Int], _ ys: [Int], color: String) -> String {
            var d = xs.map { "M\(mid($0)) \(area.y)V\(area.maxY + 1)" }
            d += ys.map { "M\(area.x) \(mid($0))H\(area.maxX + 1)" }
            if d.isEmpty { return "" }
            return "<path d=\"\(d.joined())\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1\"/>\n"
        }
        out += gridPath(xMinorGrid, yMinorGrid, color: LinePlot.Raster.hex(LinePlot.Raster.minorGridColor))
        out += gridPath(xGrid, yGrid, color: LinePlot.Raster.hex(LinePlot.Raster.gridColor))
        out += "<rect x=\"\(mid(area.x))\" y=\"\(mid(area.y))\" width=\"\(area.width)\" height=\"\(area.height)\" fill=\"none\" stroke=\"#000000\" stroke-width=\"1\"/>\n"
        var ticks = xGrid.map { "M\(mid($0)) \(area.maxY + 1)v\(tickLength)" }
        ticks += yGrid.map { "M\(area.x) \(mid($0))h-\(tickLength)" }
        if !ticks.isEmpty {
            out += "<path d=\"\(ticks.joined())\" fill=\"none\" stroke=\"#000000\" stroke-width=\"1\"/>\n"
        }

        func textElement(_ item: Text) -> String {
            let anchor = switch item.anchor {
            case .start: "start"
            case .middle: "middle"
            case .end: "end"
            }
            let size = 10 * item.scale
            let content = Self.escaped(item.text)
            if item.rotated {
                let baseline = item.x + BitmapFont.capHeight * item.scale
                return "<text x=\"\(baseline)\" y=\"\(item.y)\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" transform=\"rotate(-90 \(baseline) \(item.y))\">\(content)</text>\n"
            }
            return "<text x=\"\(item.x)\" y=\"\(item.y + BitmapFont.capHeight * item.scale)\" font-size=\"\(size)\" text-anchor=\"\(anchor)\">\(content)</text>\n"
        }
        out += "<g fill=\"#000000\" style=\"white-space:pre\">\n"
        for item in texts { out += textElement(item) }
        out += "</g>\n"

        // Pixel (i, j) of the PNG covers [i, i+1] x [j, j+1]; markers and lines are centred on it.
        func markerElement(_ marker: LinePlot.Marker, at pixel: SIMD2<Int>) -> String {
            let x = Double(pixel.x), y = Double(pixel.y), r = Double(markerRadius)
            switch marker {
            case .circle:
                return "<circle cx=\"\(n(x + 0.5))\" cy=\"\(n(y + 0.5))\" r=\"\(n(r + 0.5))\"/>"
            case .square:
                return "<rect x=\"\(n(x - r))\" y=\"\(n(y - r))\" width=\"\(n(2 * r + 1))\" height=\"\(n(2 * r + 1))\"/>"
            case .triangle:
                return "<polygon points=\"\(n(x + 0.5)),\(n(y - r)) \(n(x + r + 1)),\(n(y + r + 1)) \(n(x - r)),\(n(y + r + 1))\"/>"
            case .diamond:
                let d = r + 1.5
                return "<polygon points=\"\(n(x + 0.5)),\(n(y + 0.5 - d)) \(n(x + 0.5 + d)),\(n(y + 0.5)) \(n(x + 0.5)),\(n(y + 0.5 + d)) \(n(x + 0.5 - d)),\(n(y + 0.5))\"/>"
            }
        }
        func strokeAttributes(_ style: LinePlot.Style) -> String {
            var attributes = "fill=\"none\" stroke=\"\(style.hex)\" stroke-width=\"2\" stroke-linejoin=\"round\""
            if !style.dash.isEmpty { attributes += " stroke-dasharray=\"\(style.dash.map(String.init).joined(separator: " "))\"" }
            return attributes
        }
        func pixel(_ point: SIMD2<Double>) -> SIMD2<Int> { SIMD2(Self.pixel(point.x), Self.pixel(point.y)) }
        out += "<g clip-path=\"url(#plot-area)\">\n"
        for trace in traces where !trace.runs.isEmpty {
            out += "<g>\n"
            for run in trace.runs where run.count > 1 {
                let points = run.map { let p = pixel($0); return "\(mid(p.x)),\(mid(p.y))" }.joined(separator: " ")
                out += "<polyline points=\"\(points)\" \(strokeAttributes(trace.style))/>\n"
            }
            out += "<g fill=\"\(trace.style.hex)\">"
            for run in trace.runs {
                for point in run { out += markerElement(trace.style.marker, at: pixel(point)) }
            }
            out += "</g>\n</g>\n"
        }
        out += "</g>\n"

        if let box = legendBox {
            out += "<g>\n<rect x=\"\(mid(box.x))\" y=\"\(mid(box.y))\" width=\"\(box.width)\" height=\"\(box.height)\" fill=\"#ffffff\" stroke=\"\(LinePlot.Raster.hex(LinePlot.Raster.legendBorderColor))\" stroke-width=\"1\"/>\n"
            for entry in legendEntries {
                let y = mid(entry.centerY)
                // The full label as a tooltip, since the text may be shortened.
                out += "<g><title>\(Self.escaped(entry.fullLabel))</title>"
                out += "<line x1=\"\(entry.lineStart)\" y1=\"\(y)\" x2=\"\(entry.lineEnd + 1)\" y2=\"\(y)\" \(strokeAttributes(entry.style))/>"
                out += "<g fill=\"\(entry.style.hex)\">\(markerElement(entry.style.marker, at: SIMD2((entry.lineStart + entry.lineEnd) / 2, entry.centerY)))</g>"
                out += "<g fill=\"#000000\" style=\"white-space:pre\">\(textElement(entry.label))</g></g>\n"
            }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }

    /// `text` with the five XML special characters escaped and characters XML 1.0 forbids
    /// (controls other than tab and line breaks, U+FFFE, U+FFFF) replaced by U+FFFD.
    static func escaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    result += "\u{FFFD}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}

// MARK: - PNG

extension LinePlot.Layout {
    /// The layout drawn into an RGB image.
    func raster() -> PNGImage {
        var canvas = LinePlot.Raster(width: width, height: height)
        let area = plotArea
        for (lines, color) in [(xMinorGrid, LinePlot.Raster.minorGridColor), (xGrid, LinePlot.Raster.gridColor)] {
            for x in lines { canvas.line(SIMD2(x, area.y), SIMD2(x, area.maxY), color: color) }
        }
        for (lines, color) in [(yMinorGrid, LinePlot.Raster.minorGridColor), (yGrid, LinePlot.Raster.gridColor)] {
            for y in lines { canvas.line(SIMD2(area.x, y), SIMD2(area.maxX, y), color: color) }
        }
        canvas.rectangle(area, color: LinePlot.Raster.black)
        for x in xGrid { canvas.line(SIMD2(x, area.maxY + 1), SIMD2(x, area.maxY + tickLength), color: LinePlot.Raster.black) }
        for y in yGrid { canvas.line(SIMD2(area.x - tickLength, y), SIMD2(area.x - 1, y), color: LinePlot.Raster.black) }
        for item in texts { canvas.text(item, color: LinePlot.Raster.black) }

        canvas.clip = area
        for trace in traces {
            for run in trace.runs {
                var phase = 0.0
                let pixels = run.map { SIMD2(Self.pixel($0.x), Self.pixel($0.y)) }
                for (a, b) in zip(pixels, pixels.dropFirst()) {
                    canvas.line(a, b, color: trace.style.color, thick: true, dash: trace.style.dash, phase: &phase)
                }
                for p in pixels { canvas.marker(trace.style.marker, at: p, radius: markerRadius, color: trace.style.color) }
            }
        }
        canvas.clip = nil

        if let box = legendBox {
            canvas.rectangle(box, color: LinePlot.Raster.legendBorderColor)
            for entry in legendEntries {
                var phase = 0.0
                canvas.line(SIMD2(entry.lineStart, entry.centerY), SIMD2(entry.lineEnd, entry.centerY),
                            color: entry.style.color, thick: true, dash: entry.style.dash, phase: &phase)
                canvas.marker(entry.style.marker, at: SIMD2((entry.lineStart + entry.lineEnd) / 2, entry.centerY),
                              radius: markerRadius, color: entry.style.color)
                canvas.text(entry.label, color: LinePlot.Raster.black)
            }
        }
        return PNGImage(width: width, height: height, format: .rgb8, pixels: canvas.pixels)
    }
}

extension LinePlot {
    /// A white RGB pixel buffer with the few drawing operations the plot needs; everything outside
    /// the image (or outside `clip`, inclusive of its edges) is silently skipped.
    struct Raster {
        static let black: SIMD3<UInt8> = [0, 0, 0]
        static let gridColor: SIMD3<UInt8> = [0xD4, 0xD4, 0xD4]
        static let minorGridColor: SIMD3<UInt8> = [0xEE, 0xEE, 0xEE]
        static let legendBorderColor: SIMD3<UInt8> = [0xA0, 0xA0, 0xA0]

        static func hex(_ color: SIMD3<UInt8>) -> String {
            LinePlot.Style(color: color, marker: .circle, dash: []).hex
        }

        let width: Int
        let height: Int
        var pixels: [UInt8]
        var clip: LinePlot.Layout.Rect?

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            pixels = [UInt8](repeating: 255, count: width * height * 3)
        }

        mutating func set(_ x: Int, _ y: Int, _ color: SIMD3<UInt8>) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            if let clip, x < clip.x || x > clip.maxX || y < clip.y || y > clip.maxY { return }
            let index = (y * width + x) * 3
            pixels[index] = color.x
            pixels[index + 1] = color.y
            pixels[index + 2] = color.z
        }

        /// The outline of `rect`, covering columns `x...maxX` and rows `y...maxY`.
        mutating func rectangle(_ rect: LinePlot.Layout.Rect, color: SIMD3<UInt8>) {
            line(SIMD2(rect.x, rect.y), SIMD2(rect.maxX, rect.y), color: color)
            line(SIMD2(rect.x, rect.maxY), SIMD2(rect.maxX, rect.maxY), color: color)
            line(SIMD2(rect.x, rect.y), SIMD2(rect.x, rect.maxY), color: color)
            line(SIMD2(rect.maxX, rect.y), SIMD2(rect.maxX, rect.maxY), color: color)
        }

        mutating func line(_ a: SIMD2<Int>, _ b: SIMD2<Int>, color: SIMD3<UInt8>) {
            var phase = 0.0
            line(a, b, color: color, thick: false, dash: [], phase: &phase)
        }

        /// Bresenham's line from `a` to `b`, both ends included. A thick line adds the pixel below
        /// (mostly horizontal lines) or to the right (mostly vertical ones). `dash` alternates on and
        /// off lengths along the line, starting `phase` pixels into the pattern; `phase` is advanced
        /// by the line's length so a polyline's dashes continue across its corners.
        mutating func line(_ a: SIMD2<Int>, _ b: SIMD2<Int>, color: SIMD3<UInt8>, thick: Bool, dash: [Int], phase: inout Double) {
            let dx = abs(b.x - a.x), dy = -abs(b.y - a.y)
            let sx = a.x < b.x ? 1 : -1, sy = a.y < b.y ? 1 : -1
            let steps = max(dx, -dy)
            let stepLength = steps > 0 ? (Double(dx * dx + dy * dy)).squareRoot() / Double(steps) : 0
            let horizontal = dx >= -dy
            let period = dash.reduce(0, +)
            var x = a.x, y = a.y, error = dx + dy
            while true {
                if period == 0 || Self.isOn(dash, period: period, at: phase) {
                    set(x, y, color)
                    if thick { horizontal ? set(x, y + 1, color) : set(x + 1, y, color) }
                }
                if x == b.x && y == b.y { break }
                let twice = 2 * error
                if twice >= dy {
                    error += dy
                    x += sx
                }
                if twice <= dx {
                    error += dx
                    y += sy
                }
                phase += stepLength
            }
        }

        /// Whether `position` falls in an "on" stretch of the dash pattern.
        private static func isOn(_ dash: [Int], period: Int, at position: Double) -> Bool {
            var offset = position.truncatingRemainder(dividingBy: Double(period))
            for (index, length) in dash.enumerated() {
                if offset < Double(length) { return index.isMultiple(of: 2) }
                offset -= Double(length)
            }
            return true
        }

        /// A filled marker centred on pixel `p`.
        mutating func marker(_ shape: LinePlot.Marker, at p: SIMD2<Int>, radius r: Int, color: SIMD3<UInt8>) {
            for dy in -(r + 1)...(r + 1) {
                for dx in -(r + 1)...(r + 1) {
                    let inside = switch shape {
                    case .circle: dx * dx + dy * dy <= r * r + r
                    case .square: abs(dx) <= r && abs(dy) <= r
                    case .triangle: dy >= -r && dy <= r && 2 * abs(dx) <= dy + r + 1
                    case .diamond: abs(dx) + abs(dy) <= r + 1
                    }
                    if inside { set(p.x + dx, p.y + dy, color) }
                }
            }
        }

        /// Draws `item` in the bitmap font, each font pixel as a `scale` x `scale` block.
        mutating func text(_ item: LinePlot.Layout.Text, color: SIMD3<UInt8>) {
            let s = item.scale
            let start = item.rotated ? item.y + item.startOffset : item.x - item.startOffset
            for (index, character) in item.text.enumerated() {
                let rows = BitmapFont.rows(for: character)
                for (row, bits) in rows.enumerated() where bits != 0 {
                    for column in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - column)) != 0 {
                        let along = (index * BitmapFont.advance + column) * s
                        let across = row * s
                        for i in 0..<s {
                            for j in 0..<s {
                                if item.rotated {
                                    set(item.x + across + j, start - along - i, color)
                                } else {
                                    set(start + along + i, item.y + across + j, color)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
