import Testing
import Foundation
import DiffusionSolvers

/// `diffuse sample --init-image --strength --mask`: img2img and inpainting on the image models.
/// Few steps and one sample, as a debug build runs the network slowly.
@Suite("diffuse sample --init-image")
struct ImageToImageCommandTests {
    /// An 8x8 gray ramp (pixel values 0...252), written to `dir`.
    static func ramp(in dir: URL, width: Int = 8, height: Int = 8, format: PNGImage.Format = .gray8, name: String = "init.png") throws -> (URL, PNGImage) {
        let n = width * height * format.channels
        let image = PNGImage(width: width, height: height, format: format, pixels: (0..<n).map { UInt8(($0 * 4) % 256) })
        let url = dir.appendingPathComponent(name)
        try image.write(to: url)
        return (url, image)
    }

    @Test("a mask that keeps the left half gives the init image exactly there on digits, and new pixels on the right")
    func maskKeepsPixels() throws {
        let dir = try temporaryDirectory()
        let (initURL, image) = try Self.ramp(in: dir)
        let mask = PNGImage(width: 8, height: 8, format: .gray8, pixels: (0..<64).map { $0 % 8 < 4 ? 0 : 255 })
        let maskURL = dir.appendingPathComponent("mask.png")
        try mask.write(to: maskURL)
        let out = dir.appendingPathComponent("x.npy")
        let r = try Diffuse.run(["sample", "--model", "digits", "--solver", "ddim", "--steps", "2", "--count", "1", "--seed", "3",
                                 "--init-image", initURL.path, "--mask", maskURL.path, "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let values = try NPYArray(contentsOf: out).float32Values
        #expect(values.count == 64)
        let kept = (0..<64).filter { $0 % 8 < 4 }, regenerated = (0..<64).filter { $0 % 8 >= 4 }
        #expect(kept.allSatisfy { values[$0] == Float(image.pixels[$0]) / 127.5 - 1 }, "\(values)")
        #expect(regenerated.contains { values[$0] != Float(image.pixels[$0]) / 127.5 - 1 }, "\(values)")
    }

    @Test("strength s runs floor(steps * s) steps of the grid, as the report says", arguments: [
        (5, 0.6, 3), (4, 1.0, 4), (10, 0.25, 2), (3, 0.1, 1),
    ])
    func strengthSteps(steps: Int, strength: Double, expected: Int) throws {
        let dir = try temporaryDirectory()
        let (initURL, _) = try Self.ramp(in: dir)
        let out = dir.appendingPathComponent("x.png"), report = dir.appendingPathComponent("r.json")
        let r = try Diffuse.run(["sample", "--model", "glyphs-8x8", "--solver", "ddim", "--steps", "\(steps)", "--count", "1",
                                 "--init-image", initURL.path, "--strength", "\(strength)", "--output", out.path, "--report", report.path])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        #expect(json["steps"] as? Int == expected && json["nfe"] as? Int == expected, "\(json)")
        #expect(r.stdout.contains("\(expected) steps, \(expected) model evaluations"), "\(r.stdout)")
        #expect(FileManager.default.fileExists(atPath: out.path))
    }

    @Test("bad img2img input fails with one line and writes nothing", arguments: [
        (["--model", "digits", "--init-image", "MISSING"], "no such file"),
        (["--model", "digits", "--init-image", "BIG"], "the model takes 8x8 grayscale"),
        (["--model", "photos", "--init-image", "INIT"], "the model takes 32x32 RGB"),
        (["--model", "digits", "--init-image", "INIT", "--strength", "1.5"], "(0, 1]"),
        (["--model", "digits", "--init-image", "INIT", "--strength", "0"], "(0, 1]"),
        (["--model", "digits", "--mask", "INIT"], "need --init-image"),
        (["--model", "digits", "--strength", "0.5"], "need --init-image"),
        (["--model", "digits", "--init-image", "INIT", "--mask", "BIG"], "the model takes 8x8"),
        (["--model", "digits", "--init-image", "NOTPNG"], "png:"),
        (["--model", "mixture-2d", "--init-image", "INIT"], "needs an image model"),
    ])
    func badInput(arguments: [String], mention: String) throws {
        let dir = try temporaryDirectory()
        let (initURL, _) = try Self.ramp(in: dir)
        let (bigURL, _) = try Self.ramp(in: dir, width: 16, height: 16, format: .rgb8, name: "big.png")
        let notPNG = dir.appendingPathComponent("not.png")
        try Data("not a png".utf8).write(to: notPNG)
        let paths = ["MISSING": dir.appendingPathComponent("missing.png").path, "BIG": bigURL.path, "INIT": initURL.path, "NOTPNG": notPNG.path]
        let out = dir.appendingPathComponent("x.npy")
        let r = try Diffuse.run(["sample", "--solver", "ddim", "--steps", "2", "--count", "1"] + arguments.map { paths[$0] ?? $0 }
                                + ["--output", out.path])
        #expect(r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(mention), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
