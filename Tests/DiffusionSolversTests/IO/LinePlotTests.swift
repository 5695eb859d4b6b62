import Foundation
import Testing
@testable import DiffusionSolvers
#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite("Line plot rendering")
struct LinePlotTests {
    /// Error against NFE for three solvers, the plot this type exists for.
    static let convergence = LinePlot(
        title: "Convergence on a 2-D mixture",
        xLabel: "NFE",
        yLabel: "RMSE to ground truth",
        series: [
            .init(label: "euler", points: [SIMD2(5, 0.2), SIMD2(10, 0.1), SIMD2(20, 0.05), SIMD2(40, 0.025)]),
            .init(label: "dpmpp_2m", points: [SIMD2(5, 0.05), SIMD2(10, 0.012), SIMD2(20, 0.003), SIMD2(40, 0.0008)]),
            .init(label: "uni_pc", points: [SIMD2(5, 0.03), SIMD2(10, 0.004), SIMD2(20, 0.0005), SIMD2(40, 0.0001)]),
        ])

    /// The text of every `<text>` and `<title>` element, in document order; throws if the
    /// document is not well-formed XML.
    static func svgTexts(_ svg: String) throws -> [String] {
        final class Collector: NSObject, XMLParserDelegate {
            var texts: [String] = []
            var current: String?
            var elements: Set<String> = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                elements.insert(name)
                if name == "text" || name == "title" { current = "" }
            }
            func parser(_ parser: XMLParser, foundCharacters string: String) {
                current? += string
            }
            func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
                if name == "text" || name == "title", let current {
                    texts.append(current)
                    self.current = nil
                }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = Collector()
        parser.delegate = collector
        guard parser.parse() else {
            throw RenderError(message: "svg does not parse: \(String(describing: parser.parserError))")
        }
        #expect(collector.elements.contains("svg"))
        return collector.texts
    }

    @Test("the SVG is well-formed XML with the title, axis titles and every series label")
    func svgParses() throws {
        let svg = Self.convergence.svg()
        #expect(svg.hasPrefix("<?xml"))
        #expect(svg.contains("width=\"800\" height=\"560\""))
        let texts = try Self.svgTexts(svg)
        for expected in ["Convergence on a 2-D mixture", "NFE", "RMSE to ground truth", "euler", "dpmpp_2m", "uni_pc"] {
            #expect(texts.contains(expected), "missing \(expected)")
        }
        // Tick labels: the NFE values themselves on x, powers of ten on y.
        for label in ["5", "10", "20", "40", "1e-4", "1e-3", "1e-2", "1e-1"] {
            #expect(texts.contains(label), "missing tick label \(label)")
        }
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 3)
        #expect(Self.convergence.svg() == svg)
    }

    @Test("XML special characters and control characters are escaped")
    func svgEscaping() throws {
        let label = "a<b & \"c\" 'd' > e"
        let plot = LinePlot(title: "<script>&amp;", xLabel: "x & y", yLabel: "p < 0.05", series: [
            .init(label: label, points: [SIMD2(1, 1), SIMD2(10, 0.1)]),
            .init(label: "tab\there\u{1}", points: [SIMD2(2, 1)]),
        ])
        let svg = plot.svg(width: 600, height: 300)
        #expect(svg.contains("a&lt;b &amp; &quot;c&quot; &apos;d&apos; &gt; e"))
        #expect(svg.contains("&lt;script&gt;&amp;amp;"))
        #expect(!svg.contains("<script"))
        let texts = try Self.svgTexts(svg)
        for expected in [label, "<script>&amp;", "x & y", "p < 0.05", "tab here "] {
            #expect(texts.contains(expected), "missing \(expected)")
        }
    }

    @Test("long legend labels are shortened to fit, keeping the full label as an SVG tooltip")
    func longLabels() throws {
        let label = "a very long series label that cannot fit in a narrow legend & more"
        let plot = LinePlot(title: "t", xLabel: "x", yLabel: "y", series: [.init(label: label, points: [SIMD2(1, 1), SIMD2(2, 2)])])
        let layout = LinePlot.Layout(plot, width: 400, height: 300)
        let shown = try #require(layout.legendEntries.first?.label)
        #expect(shown.text.hasSuffix("...") && label.hasPrefix(shown.text.dropLast(3)))
        let box = try #require(layout.legendBox)
        #expect(box.maxX < 400 && box.width <= 400 * 3 / 10)
        let texts = try Self.svgTexts(plot.svg(width: 400, height: 300))
        #expect(texts.contains(label) && texts.contains(shown.text))
    }

    @Test("the PNG has the requested size and draws the data points, with white away from the lines")
    func pngDrawsPoints() throws {
        let image = try Self.convergence.png(width: 640, height: 400)
        #expect(image.width == 640 && image.height == 400 && image.format == .rgb8)
        #expect(image.pixels.count == 640 * 400 * 3)
        let layout = LinePlot.Layout(Self.convergence, width: 640, height: 400)
        let white: [UInt8] = [255, 255, 255]
        let area = layout.plotArea
        for (trace, series) in zip(layout.traces, Self.convergence.series) {
            #expect(trace.runs.count == 1 && trace.runs[0].count == series.points.count)
            for (point, data) in zip(trace.runs[0], series.points) {
                // NFE 5...40 in log space, padded by 5% on each side.
                let fraction = (0.05 + log(data.x / 5) / log(8)) / 1.1
                #expect(abs(point.x - (Double(area.x) + fraction * Double(area.width))) < 1e-9)
                // Each data point carries its series' marker, in its colour.
                let color = trace.style.color
                #expect(image.pixel(x: Int(point.x), y: Int(point.y)) == [color.x, color.y, color.z], "\(series.label) at \(data)")
            }
        }

        // A pixel in the plot area's upper right, between gridlines and far from every series,
        // is white; so are the margins' corners.
        let gridX = Set(layout.xGrid + layout.xMinorGrid), gridY = Set(layout.yGrid + layout.yMinorGrid)
        let x = try #require((area.maxX - 30..<area.maxX - 5).first { c in !(c - 1...c + 1).contains { gridX.contains($0) } })
        let y = try #require((area.y + 5..<area.y + 30).first { r in !(r - 1...r + 1).contains { gridY.contains($0) } })
        #expect(image.pixel(x: x, y: y) == white)
        #expect(image.pixel(x: 1, y: 1) == white)
        #expect(image.pixel(x: 638, y: 398) == white)
        // The frame is black and text is drawn in the margins.
        #expect(image.pixel(x: area.x, y: (area.y + area.maxY) / 2) == [0, 0, 0])
        let marginRows = (area.maxY + 6)..<400
        #expect(marginRows.contains { row in (0..<640).contains { image.pixel(x: $0, y: row) == [0, 0, 0] } })
        #expect(try Self.convergence.png(width: 640, height: 400) == image)
    }

    @Test("the PNG encodes and decodes to the same pixels")
    func pngRoundTrip() throws {
        let image = try Self.convergence.png(width: 240, height: 180)
        #expect(try PNGDecoder.decode(image.encoded()) == image)
    }

    @Test("zero, negative and non-finite values are skipped on log axes, breaking the line")
    func skippedValues() throws {
        let plot = LinePlot(title: "gaps", xLabel: "x", yLabel: "y", series: [
            .init(label: "gappy", points: [SIMD2(1, 1), SIMD2(2, 0.5), SIMD2(3, 0), SIMD2(4, -1), SIMD2(5, 0.2), SIMD2(6, 0.1),
                                           SIMD2(.nan, 1), SIMD2(7, .infinity)]),
            .init(label: "nothing", points: [SIMD2(0, 1), SIMD2(-1, -1)]),
            .init(label: "empty", points: []),
        ])
        let layout = LinePlot.Layout(plot, width: 400, height: 300)
        #expect(layout.traces.map { $0.runs.map(\.count) } == [[2, 2], [], []])
        #expect(layout.legendEntries.count == 3)
        let image = try plot.png(width: 400, height: 300)
        #expect(image.width == 400)
        let svg = plot.svg(width: 400, height: 300)
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        _ = try Self.svgTexts(svg)

        // On linear axes zero and negative values are shown.
        let linear = LinePlot(title: "", xLabel: "x", yLabel: "y", series: plot.series, logX: false, logY: false)
        #expect(LinePlot.Layout(linear, width: 400, height: 300).traces[0].runs.map(\.count) == [6])
        _ = try linear.png(width: 400, height: 300)
        // Nothing drawable at all still renders.
        let blank = LinePlot(title: "none", xLabel: "x", yLabel: "y", series: [.init(label: "zero", points: [SIMD2(0, 0)])])
        _ = try blank.png(width: 200, height: 160)
        _ = try Self.svgTexts(blank.svg())
    }

    @Test("ranges are padded by 5% in log space; a single value gets one decade")
    func ranges() {
        let padded = LinePlot.Axis.fitted(to: [1e-3, 1e-1], isLog: true, labelDataValues: false)
        #expect(abs(padded.low - -3.1) < 1e-12 && abs(padded.high - -0.9) < 1e-12)
        #expect(padded.ticks.map(\.label) == ["1e-3", "1e-2", "1e-1"])
        let single = LinePlot.Axis.fitted(to: [20, 20, -3], isLog: true, labelDataValues: false)
        #expect(abs(single.low - (log10(20) - 0.5)) < 1e-12 && abs(single.high - (log10(20) + 0.5)) < 1e-12)
        #expect(single.ticks.count >= 2)
        let wide = LinePlot.Axis.fitted(to: [1, 2, 5, 10, 100, 1000], isLog: true, labelDataValues: true)
        #expect(wide.ticks.map(\.label) == ["1", "10", "100", "1000"])
        let many = LinePlot.Axis.fitted(to: (3...40).map(Double.init), isLog: true, labelDataValues: true)
        // More than 12 distinct values with only one power of ten inside: 1-2-5 multiples.
        #expect(many.ticks.map(\.label) == ["5", "10", "20"])
        let huge = LinePlot.Axis.fitted(to: [1e-300, 1e300], isLog: true, labelDataValues: false)
        #expect(huge.ticks.count <= 8 && huge.ticks.count >= 2)
        let linear = LinePlot.Axis.fitted(to: [0, 1], isLog: false, labelDataValues: false)
        #expect(linear.ticks.map(\.label) == ["0", "0.2", "0.4", "0.6", "0.8", "1"])
        let extreme = LinePlot.Axis.fitted(to: [-Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude], isLog: false, labelDataValues: false)
        #expect(extreme.low.isFinite && extreme.high.isFinite && extreme.low < extreme.high)
        #expect(LinePlot.Axis.fitted(to: [], isLog: true, labelDataValues: true).ticks.map(\.label) == ["1", "10"])
    }

    @Test("numbers are labelled compactly")
    func numberLabels() {
        let cases: [(Double, String)] = [
            (0, "0"), (5, "5"), (40, "40"), (1000, "1000"), (0.25, "0.25"), (0.1, "0.1"), (1e-3, "1e-3"),
            (2.5e-7, "2.5e-7"), (12345, "1.23e4"), (-0.05, "-5e-2"), (3.14159, "3.14"), (Double.leastNonzeroMagnitude, "4.94e-324"),
        ]
        for (value, label) in cases {
            #expect(LinePlot.formatNumber(value) == label, "\(value)")
        }
        #expect(LinePlot.Axis.powerLabel(-2) == "1e-2" && LinePlot.Axis.powerLabel(2) == "100" && LinePlot.Axis.powerLabel(4) == "1e4")
    }

    /// 24 series of errors at NFE 5, 10, 20, 40, 80 converging with orders 1, 2 and 3.
    static func manySeries(label: (Int) -> String) -> [LinePlot.Series] {
        (0..<24).map { i in
            let order = Double(1 + i % 3)
            let points: [SIMD2<Double>] = (0..<5).map { k in
                let nfe = Double(5 << k)
                return SIMD2(nfe, 0.3 * pow(5 / nfe, order) / Double(i + 1))
            }
            return LinePlot.Series(label: label(i), points: points)
        }
    }

    @Test("24 series get distinct styles and all fit in the legend")
    func manySeries() throws {
        let series = Self.manySeries(label: { "solver \($0)" })
        let plot = LinePlot(title: "many", xLabel: "NFE", yLabel: "error", series: series)
        let styles = (0..<24).map(LinePlot.style(for:))
        #expect(Set(styles.map { "\($0.hex) \($0.marker) \($0.dash)" }).count == 24)
        #expect(Set(LinePlot.palette.map { "\($0)" }).count == 12)
        let layout = LinePlot.Layout(plot, width: 800, height: 560)
        let box = try #require(layout.legendBox as LinePlot.Layout.Rect?)
        #expect(box.x > layout.plotArea.maxX && box.maxX < 800 && box.maxY < 560)
        #expect(layout.legendEntries.map { $0.label.text } == series.map { $0.label })
        let texts = try Self.svgTexts(plot.svg())
        #expect(series.allSatisfy { texts.contains($0.label) })
        let image = try plot.png()
        #expect(image.width == 800 && image.height == 560)
    }

    @Test("every printable ASCII glyph has its own bitmap; only the space is blank")
    func fontGlyphs() {
        #expect(BitmapFont.glyphs.count == 95)
        var seen: [[UInt8]: Character] = [:]
        for code in UInt8(32)...UInt8(126) {
            let character = Character(UnicodeScalar(code))
            let rows = BitmapFont.rows(for: character)
            #expect(rows.count == BitmapFont.glyphHeight)
            #expect(rows.allSatisfy { $0 < 1 << BitmapFont.glyphWidth })
            #expect(rows.contains { $0 != 0 } == (code != 32), "glyph \(character)")
            if let other = seen[rows] { Issue.record("glyphs \(other) and \(character) are identical") }
            seen[rows] = character
        }
        #expect(BitmapFont.rows(for: "é") == BitmapFont.rows(for: "?"))
        #expect(BitmapFont.width(of: "") == 0 && BitmapFont.width(of: "ab") == 11)
    }

    @Test("text is drawn in the PNG: the title's pixels match the font")
    func textPixels() throws {
        let plot = LinePlot(title: "A", xLabel: "", yLabel: "", series: [])
        let layout = LinePlot.Layout(plot, width: 200, height: 160)
        let title = try #require(layout.texts.last)
        #expect(title.text == "A" && title.scale == 2)
        let image = try plot.png(width: 200, height: 160)
        let left = title.x - title.startOffset
        for (row, bits) in BitmapFont.rows(for: "A").enumerated() {
            for column in 0..<5 {
                let ink = bits & (1 << (4 - column)) != 0
                let pixel = image.pixel(x: left + 2 * column + 1, y: title.y + 2 * row + 1)
                #expect(pixel == (ink ? [0, 0, 0] : [255, 255, 255]))
            }
        }
    }

    @Test("sizes outside the allowed range throw for PNG and are clamped for SVG")
    func invalidSizes() {
        #expect(throws: RenderError.self) { _ = try Self.convergence.png(width: 10, height: 560) }
        #expect(throws: RenderError.self) { _ = try Self.convergence.png(width: 800, height: 100_000) }
        #expect(Self.convergence.svg(width: 0, height: -5).contains("width=\"160\" height=\"160\""))
    }
}
