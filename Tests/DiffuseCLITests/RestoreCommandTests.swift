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
}
