import Foundation
import Testing
import DiffusionSolvers

@Suite("Scatter plot rendering")
struct ScatterPlotTests {
    static let bounds = ScatterPlot.Bounds(xMin: -1, xMax: 1, yMin: -1, yMax: 1)

    @Test("a point is drawn as a dark dot at its pixel, the rest stays white")
    func dotAtKnownPoint() throws {
        // (0.5, 0.5) in [-1, 1]^2 on 64 pixels -> column 48, row 16 (y grows upwards).
        let image = try ScatterPlot.render(points: [SIMD2(0.5, 0.5)], bounds: Self.bounds, size: 64)
        #expect(image.format == .rgb8 && image.width == 64 && image.height == 64)
        let decoded = try PNGDecoder.decode(image.encoded())
        #expect(decoded == image)
        let dot = try #require(decoded.pixel(x: 48, y: 16))
        #expect(dot[0] > 100 && dot[1] < 60 && dot[2] < 60)
        #expect(decoded.pixel(x: 47, y: 15) == dot)
        #expect(decoded.pixel(x: 48, y: 20) == [255, 255, 255])
        #expect(decoded.pixel(x: 16, y: 48) == [255, 255, 255])
        let darkPixels = stride(from: 0, to: image.pixels.count, by: 3).filter { image.pixels[$0 + 1] < 128 }.count
        #expect(darkPixels >= 9 && darkPixels <= 16)
    }

    @Test("points outside the bounds or not finite are skipped")
    func skippedPoints() throws {
        let image = try ScatterPlot.render(points: [SIMD2(3, 0), SIMD2(.nan, 0), SIMD2(0, -.infinity)], bounds: Self.bounds, size: 16)
        #expect(image.pixels.allSatisfy { $0 == 255 })
    }

    @Test("density shading is darkest at the mode and white far away")
    func densityShading() throws {
        let gaussian: (Double, Double) -> Double = { x, y in exp(-((x - 0.5) * (x - 0.5) + y * y) / 0.02) }
        let image = try ScatterPlot.render(points: [], density: gaussian, bounds: Self.bounds, size: 40)
        // The mode (0.5, 0) sits between pixels 29 and 30 in x and 19 and 20 in y.
        let mode = try #require(image.pixel(x: 30, y: 20))
        let far = try #require(image.pixel(x: 2, y: 2))
        #expect(far == [255, 255, 255])
        #expect(mode[0] < 120 && mode[2] > mode[0])
        let nearMode = try #require(image.pixel(x: 33, y: 20))
        #expect(nearMode[0] > mode[0] && nearMode[0] < 255)
        // Rendering is deterministic.
        #expect(try ScatterPlot.render(points: [], density: gaussian, bounds: Self.bounds, size: 40) == image)
    }

    @Test("dots are drawn over the density")
    func dotsOverDensity() throws {
        let image = try ScatterPlot.render(points: [SIMD2(0, 0)], density: { _, _ in 1 }, bounds: Self.bounds, size: 32)
        let dot = try #require(image.pixel(x: 16, y: 16))
        let background = try #require(image.pixel(x: 2, y: 2))
        #expect(dot[0] > 100 && dot[1] < 60)
        #expect(background[0] < 255 && background[2] > background[0])
    }

    @Test("default bounds fit the points in a square with a margin")
    func fittedBounds() throws {
        let points: [SIMD2<Double>] = [SIMD2(0, 0), SIMD2(10, 2), SIMD2(.nan, 100)]
        let bounds = ScatterPlot.Bounds.fitting(points)
        #expect(bounds.xMax - bounds.xMin == bounds.yMax - bounds.yMin)
        #expect(abs(bounds.xMin - -1) < 1e-12 && abs(bounds.xMax - 11) < 1e-12)
        #expect(abs((bounds.yMin + bounds.yMax) / 2 - 1) < 1e-12)
        #expect(ScatterPlot.Bounds.fitting([]) == Self.bounds)
        let single = ScatterPlot.Bounds.fitting([SIMD2(3, 3)])
        #expect(single.xMin < 3 && single.xMax > 3)
        let image = try ScatterPlot.render(points: points, size: 50)
        #expect(image.pixels.contains { $0 < 128 })
    }

    @Test("invalid size or bounds throw instead of trapping")
    func invalidArguments() {
        #expect(throws: RenderError.self) { _ = try ScatterPlot.render(points: [], size: 0) }
        #expect(throws: RenderError.self) {
            _ = try ScatterPlot.render(points: [], bounds: ScatterPlot.Bounds(xMin: 1, xMax: 1, yMin: 0, yMax: 1))
        }
        #expect(throws: RenderError.self) {
            _ = try ScatterPlot.render(points: [], bounds: ScatterPlot.Bounds(xMin: 0, xMax: .infinity, yMin: 0, yMax: 1))
        }
        #expect(throws: Never.self) {
            _ = try ScatterPlot.render(points: [SIMD2(0, 0)], bounds: Self.bounds, size: 8, dotRadius: 1e300)
        }
    }
}
