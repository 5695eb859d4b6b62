import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("diffuse restore")
struct RestoreCommandTests {
    static let mu: [Float] = [1.5, 0.2, -0.3, 1.4, 0.0, 0.0]

    /// A fresh directory holding `mu.npy` with ``mu``.
    func meanFile() throws -> (dir: URL, mean: URL) {
        let dir = try temporaryDirectory()
        let mean = dir.appendingPathComponent("mu.npy")
        try NPYArray(shape: [3, 2], float32: Self.mu).write(to: mean)
        return (dir, mean)
    }

    @Test("writes the MR Sampler's samples from the documented prior, reproducibly")
    func writesSamples() throws {
        let (dir, mean) = try meanFile()
        let out = dir.appendingPathComponent("x.npy")
        let arguments = ["restore", "--model", "mixture-2d", "--mean", mean.path, "--solver", "mrs_sde", "--order", "2",
                         "--steps", "12", "--sigma-inf", "0.3", "--seed", "4", "--output", out.path]
        let r = try Diffuse.run(arguments)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("mrs_sde order 2") && r.stdout.contains("NFE 12"), "\(r.stdout)")
        let first = try NPYArray(contentsOf: out)
        #expect(first.shape == [3, 2])
        // The library run the command documents: x = μ + σ_∞·ε (draw 0 of the seed), then the sampler.
        let schedule = try MeanRevertingSchedule(sigmaInfinity: 0.3)
        let model = MeanRevertingMixture(mixture: try #require(BuiltInModels.mixture(named: "mixture-2d")), sigmaInfinity: 0.3)
        let noise = SeededNoise(seed: 4)
        let mu = SampleTensor(shape: [3, 2], scalars: Self.mu)
        let x = SampleTensor(shape: [3, 2], scalars: zip(noise.initialNoise(shape: [3, 2]).scalars, Self.mu).map { 0.3 * $0 + $1 })
        let expected = try MRSampler(.init(kind: .sde, order: 2)).sample(model: model, mean: mu, from: x,
                                                                          grid: schedule.grid(steps: 12), noise: noise)
        #expect(first.float64Values.map(Float.init) == expected.scalars)
        _ = try Diffuse.run(arguments)
        #expect(try NPYArray(contentsOf: out).float64Values == first.float64Values, "same seed, same samples")
    }

    @Test("bad input gives one line and no file")
    func badInput() throws {
        let (dir, good) = try meanFile()
        let wrong = dir.appendingPathComponent("wrong.npy")
        try NPYArray(shape: [2, 3], float32: Array(repeating: 0, count: 6)).write(to: wrong)
        let cases: [([String], [String])] = [
            (["--model", "digits", "--mean", good.path], ["not a mean-reverting model"]),
            (["--model", "mixture-2d", "--mean", wrong.path], ["shape", "[2, 3]"]),
            (["--model", "mixture-2d", "--mean", good.path, "--solver", "mrs_sde", "--order", "3"], ["orders 1-2"]),
            (["--model", "mixture-2d", "--mean", good.path, "--solver", "dpmpp_2m"], ["unknown solver"]),
            (["--model", "mixture-2d", "--mean", good.path, "--order", "3", "--steps", "2"], ["at least 3 steps"]),
            (["--model", "mixture-2d", "--mean", good.path, "--fit", "score"], ["--fit"]),
            (["--model", "mixture-2d", "--mean", good.path, "--degradation-sigma", "-1"], ["--degradation-sigma"]),
            (["--model", "mixture-2d", "--mean", good.path, "--prediction", "noise", "--thresholding"], ["thresholding", "data"]),
            (["--model", "mixture-2d", "--mean", good.path, "--sigma-inf", "0"], ["sigma_inf"]),
            (["--model", "mixture-2d", "--mean", good.path, "--lambda-min", "40"], ["lambda_min"]),
        ]
        for (arguments, words) in cases {
            let out = dir.appendingPathComponent("out.npy")
            let r = try Diffuse.run(["restore"] + arguments + ["--output", out.path])
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            for word in words { #expect(r.stderr.localizedCaseInsensitiveContains(word), "'\(r.stderr)' should mention \(word)") }
            #expect(!FileManager.default.fileExists(atPath: out.path), "no output for \(arguments)")
        }
    }

    /// Three digits degraded by noise of std 0.5 (the network's training degradation) and their clean
    /// originals, from `digits-mr-forward.safetensors` (`tools/neural/fixtures_mr.py`).
    static func digits() throws -> (clean: [Float], degraded: [Float]) {
        let file = try SafetensorsFile(contentsOf: Fixtures.url("neural/digits-mr-forward.safetensors"))
        return (Array(try file.float32Tensor("clean").values.prefix(192)), Array(try file.float32Tensor("mu").values.prefix(192)))
    }

    @Test("restores noisy digits with the shipped digits-mr network: the library's run, closer to the clean digits")
    func restoresDigits() throws {
        let dir = try temporaryDirectory()
        let (clean, degraded) = try Self.digits()
        let input = dir.appendingPathComponent("noisy.npy"), out = dir.appendingPathComponent("restored.npy")
        try NPYArray(shape: [3, 1, 8, 8], float32: degraded).write(to: input)
        let r = try Diffuse.run(["restore", "--model", "digits-mr", "--input", input.path, "--solver", "mrs_ode", "--order", "2",
                                 "--steps", "5", "--seed", "1", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("digits-mr") && r.stdout.contains("NFE 5"), "\(r.stdout)")
        let restored = try NPYArray(contentsOf: out)
        #expect(restored.shape == [3, 1, 8, 8])
        let model = try #require(try BuiltInModels.meanRevertingModel(named: "digits-mr"))
        let noise = SeededNoise(seed: 1)
        let mu = SampleTensor(shape: [3, 1, 8, 8], scalars: degraded)
        let x = SampleTensor(shape: mu.shape, scalars: zip(noise.initialNoise(shape: mu.shape).scalars, degraded).map { Float(50.0 / 255) * $0 + $1 })
        let expected = try MRSampler(.init(kind: .ode, order: 2)).sample(model: model, mean: mu, from: x,
                                                                          grid: model.schedule.grid(steps: 5), noise: noise)
        #expect(restored.float64Values.map(Float.init) == expected.scalars)
        func rms(_ a: [Float]) -> Double { (zip(a, clean).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / Double(a.count)).squareRoot() }
        #expect(rms(restored.float64Values.map(Float.init)) < 0.6 * rms(degraded), "restored \(rms(restored.float64Values.map(Float.init))) vs degraded \(rms(degraded))")
    }

    @Test("a PNG of 8x8 tiles is read as the inputs, and a PNG grid is written")
    func pngInput() throws {
        let dir = try temporaryDirectory()
        let (_, degraded) = try Self.digits()
        // Two digits side by side in one 16x8 gray PNG, pixel = (v + 1)·127.5 clamped.
        var pixels = [UInt8](repeating: 0, count: 16 * 8)
        for tile in 0..<2 { for y in 0..<8 { for x in 0..<8 {
            pixels[y * 16 + tile * 8 + x] = UInt8(max(0, min(255, ((degraded[tile * 64 + y * 8 + x] + 1) * 127.5).rounded())))
        } } }
        let png = dir.appendingPathComponent("noisy.png"), npy = dir.appendingPathComponent("noisy.npy")
        try PNGImage(width: 16, height: 8, format: .gray8, pixels: pixels).write(to: png)
        try NPYArray(shape: [2, 1, 8, 8], float32: pixels.indices.map { i in
            let (tile, y, x) = (i / 64, i % 64 / 8, i % 8)
            return Float(pixels[y * 16 + tile * 8 + x]) / 127.5 - 1
        }).write(to: npy)
        let arguments = ["restore", "--model", "digits-mr", "--solver", "mrs_sde", "--order", "1", "--steps", "3"]
        let a = try Diffuse.run(arguments + ["--input", png.path, "--output", dir.appendingPathComponent("a.npy").path])
        let b = try Diffuse.run(arguments + ["--input", npy.path, "--output", dir.appendingPathComponent("b.npy").path])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        #expect(try NPYArray(contentsOf: dir.appendingPathComponent("a.npy")).float64Values
                == NPYArray(contentsOf: dir.appendingPathComponent("b.npy")).float64Values, "the PNG holds the same two inputs")
        let grid = try Diffuse.run(arguments + ["--input", png.path, "--output", dir.appendingPathComponent("a.png").path])
        #expect(grid.status == 0, "\(grid.stderr)")
        #expect(try PNGDecoder.decode(contentsOf: dir.appendingPathComponent("a.png")).width > 16)
    }

    @Test("digits-mr refuses a schedule it was not trained on, and inputs that do not fit, in one line")
    func networkBadInput() throws {
        let dir = try temporaryDirectory()
        let good = dir.appendingPathComponent("noisy.npy"), odd = dir.appendingPathComponent("odd.png")
        try NPYArray(shape: [1, 64], float32: Array(repeating: 0, count: 64)).write(to: good)
        try PNGImage(width: 12, height: 8, format: .gray8, pixels: Array(repeating: 0, count: 96)).write(to: odd)
        let cases: [([String], [String])] = [
            (["--input", good.path, "--sigma-inf", "0.3"], ["trained with --sigma-inf", "0.3"]),
            (["--input", good.path, "--theta", "linear"], ["--theta cosine"]),
            (["--input", good.path, "--fit", "noise"], ["--fit data"]),
            (["--input", good.path, "--degradation-sigma", "0.5"], ["--degradation-sigma"]),
            (["--input", odd.path], ["12x8", "multiple of 8x8"]),
        ]
        for (arguments, words) in cases {
            let out = dir.appendingPathComponent("out.npy")
            let r = try Diffuse.run(["restore", "--model", "digits-mr"] + arguments + ["--output", out.path])
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            for word in words { #expect(r.stderr.localizedCaseInsensitiveContains(word), "'\(r.stderr)' should mention \(word)") }
            #expect(!FileManager.default.fileExists(atPath: out.path), "no output for \(arguments)")
        }
    }
}
