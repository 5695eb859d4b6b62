import Foundation
import DiffusionFormats

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
