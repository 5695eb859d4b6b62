import Foundation
import DiffusionFormats

extension LinePlot {
    /// Everything both renderers draw, in pixel coordinates (x to the right, y down).
    package struct Layout {
        package struct Rect: Equatable {
            package var x: Int, y: Int, width: Int, height: Int
            package var maxX: Int { x + width }
            package var maxY: Int { y + height }
        }

        /// One line of text in the bitmap font (or a monospace font of the same advance).
        package struct Text: Equatable {
            enum Anchor { case start, middle, end }
            package var text: String
            /// Unrotated: the anchor's x. Rotated: the left edge of the glyph boxes.
            package var x: Int
            /// Unrotated: the top of the glyph boxes. Rotated: the anchor's y.
            package var y: Int
            package var scale: Int
            var anchor: Anchor
            /// Rotated a quarter turn counterclockwise, reading upwards.
            var rotated = false

            /// Length of the text run in pixels.
            var length: Int { BitmapFont.width(of: text) * scale }

            /// Offset from the anchor back to the start of the run.
            package var startOffset: Int {
                switch anchor {
                case .start: 0
                case .middle: length / 2
                case .end: length
                }
            }
        }

        package struct Trace {
            package var style: Style
            /// Runs of consecutive drawable points, in pixels.
            package var runs: [[SIMD2<Double>]]
        }

        package struct LegendEntry {
            var style: Style
            var lineStart: Int, lineEnd: Int, centerY: Int
            /// The label as shown, possibly shortened to fit.
            package var label: Text
            /// The label in full (on one line).
            var fullLabel: String
        }

        var width: Int
        var height: Int
        package var plotArea: Rect
        var xAxis: Axis
        var yAxis: Axis
        package var xGrid: [Int] = [], xMinorGrid: [Int] = []
        package var yGrid: [Int] = [], yMinorGrid: [Int] = []
        var tickLength: Int
        package var texts: [Text] = []
        package var traces: [Trace] = []
        package var legendBox: Rect?
        package var legendEntries: [LegendEntry] = []
        var markerRadius: Int
        var title: String

        package init(_ plot: LinePlot, width: Int, height: Int) {
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
