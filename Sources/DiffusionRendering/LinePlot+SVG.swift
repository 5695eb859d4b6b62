import Foundation
import DiffusionFormats

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
