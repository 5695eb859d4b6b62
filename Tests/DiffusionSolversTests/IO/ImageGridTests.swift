import Foundation
import Testing
import DiffusionSolvers

@Suite("Image grid rendering")
struct ImageGridTests {
    @Test("gray images land at the expected places, magnified, with gray padding")
    func grayLayout() throws {
        // Three 2x2 one-channel images: values chosen to map to distinct bytes.
        let values: [Float] = [
            -1, 1, 0, 0.5,       // image 0
            1, 1, 1, 1,          // image 1
            -1, -1, -1, .nan,    // image 2
        ]
        let image = try ImageGrid.render(values: values, count: 3, channels: 1, height: 2, width: 2, scale: 3, padding: 1)
        // Default columns = ceil(sqrt(3)) = 2 -> 2 rows; width = 2 * 6 + 3 * 1 = 15, height = 15.
        #expect(image.format == .gray8)
        #expect(image.width == 15 && image.height == 15)
        let decoded = try PNGDecoder.decode(image.encoded())
        #expect(decoded == image)
        func at(_ x: Int, _ y: Int) -> UInt8? { decoded.pixel(x: x, y: y)?.first }
        #expect(at(0, 0) == 128)                  // border padding
        #expect(at(1, 1) == 0 && at(3, 3) == 0)   // image 0, pixel (0, 0) = -1, scaled 3x
        #expect(at(4, 1) == 255 && at(6, 3) == 255)  // image 0, pixel (1, 0) = 1
        #expect(at(1, 4) == 128)                  // image 0, pixel (0, 1) = 0 -> round(127.5) = 128
        #expect(at(4, 4) == 191)                  // 0.5 -> round(191.25)
        #expect(at(7, 1) == 128)                  // padding between columns
        #expect(at(8, 1) == 255 && at(13, 6) == 255)  // image 1
        #expect(at(1, 8) == 0 && at(4, 11) == 0)  // image 2, NaN -> 0
        #expect(at(8, 8) == 128 && at(14, 14) == 128)  // empty fourth cell stays background
    }

    @Test("three channels give RGB from CHW planes; other counts use the first channel")
    func channels() throws {
        // One 1x2 RGB image: red plane, green plane, blue plane.
        let values: [Float] = [1, -1, -1, 1, -1, -1]
        let rgb = try ImageGrid.render(values: values, count: 1, channels: 3, height: 1, width: 2, scale: 1, padding: 0)
        #expect(rgb.format == .rgb8 && rgb.width == 2 && rgb.height == 1)
        #expect(rgb.pixel(x: 0, y: 0) == [255, 0, 0])
        #expect(rgb.pixel(x: 1, y: 0) == [0, 255, 0])
        let two = try ImageGrid.render(values: [0, 10, -5, 3], count: 1, channels: 2, height: 1, width: 2, range: 0...10, scale: 1, padding: 0)
        #expect(two.format == .gray8 && two.pixels == [0, 255])
    }

    @Test("explicit columns, clamping and a degenerate range")
    func columnsAndRange() throws {
        let image = try ImageGrid.render(values: [-9, 0.25, 9], count: 3, channels: 1, height: 1, width: 1, range: 0...1, columns: 3, scale: 1, padding: 0)
        #expect(image.width == 3 && image.height == 1)
        #expect(image.pixels == [0, 64, 255])
        let flat = try ImageGrid.render(values: [0, 1], count: 2, channels: 1, height: 1, width: 1, range: 1...1, columns: 1, scale: 1, padding: 0)
        #expect(flat.width == 1 && flat.height == 2 && flat.pixels == [0, 255])
    }

    @Test("invalid sizes throw one-line errors instead of trapping")
    func invalidArguments() {
        func expectRenderError(_ mention: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("no error for \(mention)")
            } catch let error as RenderError {
                #expect(!error.description.contains("\n"))
                #expect(error.description.contains(mention), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        expectRenderError("expected 12") { _ = try ImageGrid.render(values: [Float](repeating: 0, count: 10), count: 2, channels: 1, height: 2, width: 3) }
        expectRenderError("at least 1") { _ = try ImageGrid.render(values: [], count: 0, channels: 1, height: 1, width: 1) }
        expectRenderError("scale") { _ = try ImageGrid.render(values: [0], count: 1, channels: 1, height: 1, width: 1, scale: 0) }
        expectRenderError("padding") { _ = try ImageGrid.render(values: [0], count: 1, channels: 1, height: 1, width: 1, padding: -1) }
        expectRenderError("columns") { _ = try ImageGrid.render(values: [0], count: 1, channels: 1, height: 1, width: 1, columns: 0) }
        expectRenderError("overflow") { _ = try ImageGrid.render(values: [0], count: Int.max, channels: 4, height: 1, width: 1) }
        expectRenderError("too large") { _ = try ImageGrid.render(values: [0], count: 1, channels: 1, height: 1, width: 1, scale: 1 << 40) }
    }
}
