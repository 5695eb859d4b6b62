import Testing
import Foundation
import DiffusionSolvers

/// `Examples/inpaint` (inpainting in a pipeline's own loop: a ``SolverScheduler`` stepped by the
/// caller, who puts the known pixels back between steps) writes what `diffuse sample --init-image
/// --mask --strength 1` (the pull-style ``ImageToImage`` run) writes, bit for bit, and keeps the
/// known half exactly. Three steps of two samples: the debug network is slow.
@Suite("Examples/inpaint")
struct InpaintExampleTests {
    static let binary = Diffuse.binary.deletingLastPathComponent().appendingPathComponent("inpaint")

    @Test("the inpaint loop equals diffuse sample's inpainting and keeps the top half", arguments: ["dpmpp_2m", "heun"])
    func equalsDiffuseSample(solver: String) throws {
        let dir = try temporaryDirectory()
        let image = dir.appendingPathComponent("digit.png"), mask = dir.appendingPathComponent("mask.png")
        let pixels: [UInt8] = (0..<64).map { UInt8(($0 * 37 + 11) % 256) }
        try PNGImage(width: 8, height: 8, format: .gray8, pixels: pixels).write(to: image)
        try PNGImage(width: 8, height: 8, format: .gray8, pixels: (0..<64).map { $0 < 32 ? 0 : 255 }).write(to: mask)
        let a = dir.appendingPathComponent("a.npy"), b = dir.appendingPathComponent("b.npy")
        let common = ["--solver", solver, "--steps", "3", "--seed", "0", "--count", "2"]
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = common + ["--image", image.path, "--output", a.path]
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let sampled = try Diffuse.run(["sample", "--model", "digits", "--init-image", image.path, "--mask", mask.path, "--strength", "1"]
                                      + common + ["--output", b.path])
        #expect(sampled.status == 0, "\(sampled.stderr)")
        let loop = try NPYArray(contentsOf: a).float32Values, run = try NPYArray(contentsOf: b).float32Values
        #expect(loop.count == 128 && loop == run, "\(solver): the inpaint loop differs from diffuse sample")
        let known = try SampleTensor(image: PNGDecoder.decode(contentsOf: image), sampleShape: [1, 8, 8]).scalars
        for sample in 0..<2 {  // the kept half is the image exactly
            #expect(Array(loop[(64 * sample)..<(64 * sample + 32)]) == Array(known[0..<32]), "sample \(sample)")
        }
        #expect(loop[32..<64] != loop[96..<128], "the two completions of the bottom half differ")
    }
}
