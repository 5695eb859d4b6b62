import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("diffuse optimize-noise")
struct OptimizeNoiseCommandTests {
    /// `w = (1, 0)` on mixture-2d: the mean of `x₀[0]` rises, and the written samples are the
    /// library's (`NoiseOptimization` with the same seed, grid and settings).
    @Test("raises a linear reward on a mixture and writes the optimized samples")
    func linearRewardOnMixture() throws {
        let dir = try temporaryDirectory()
        let w = dir.appendingPathComponent("w.npy")
        try NPYArray(shape: [2], float32: [1, 0]).write(to: w)
        let out = dir.appendingPathComponent("x.npy")
        let r = try Diffuse.run(["optimize-noise", "--model", "mixture-2d", "--reward", "linear:\(w.path)", "--iterations", "4",
                                 "--learning-rate", "0.3", "--steps", "8", "--count", "6", "--seed", "7", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("mean reward") && r.stdout.contains("exact") && r.stdout.contains("model evaluations per sample"), "\(r.stdout)")
        let written = try NPYArray(contentsOf: out)
        #expect(written.shape == [6, 2])

        let mixture = try #require(try BuiltInModels.model(named: "mixture-2d") as? GaussianMixture)
        let schedule = VESchedule()
        let plan = try SamplingResolver.resolve(SamplingRequest(solver: "ddim", steps: 8), model: mixture, schedule: schedule)
        let noise = SeededNoise(seed: 7).initialNoise(shape: [6, 2]).scalars.map(Double.init)
        let result = try NoiseOptimization(adjoint: try AdjointDPM(order: 1), iterations: 4, learningRate: 0.3)
            .run(noise: noise, batch: 6, denoiser: try MixturePullback(mixture: mixture), grid: plan.grid, schedule: plan.schedule,
                 reward: try LinearReward(weights: [1, 0]))
        #expect(result.meanRewards.last! > result.meanRewards.first!, "\(result.meanRewards)")
        for i in 0..<12 { #expect(abs(Double(written.float32Values[i]) - result.sample[i]) < 1e-5) }
    }

    @Test("digits with class:C runs through the central-difference pullback and reports p(class)")
    func digitsClassReward() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("x.png")
        let r = try Diffuse.run(["optimize-noise", "--model", "digits", "--reward", "class:3", "--iterations", "1", "--steps", "1",
                                 "--count", "1", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("p(class)") && r.stdout.contains("central differences") && r.stdout.contains("131 model evaluations"), "\(r.stdout)")
        #expect(FileManager.default.fileExists(atPath: out.path))
    }

    @Test("bad input gives one line and no file")
    func badInput() throws {
        let dir = try temporaryDirectory()
        let cases: [([String], [String])] = [
            (["--model", "mixture-2d", "--reward", "class:3"], ["classifier"]),
            (["--model", "digits", "--reward", "class:12"], ["class 12"]),
            (["--model", "digits", "--reward", "minority:0.5"], ["no gradient"]),
            (["--model", "digits", "--reward", "class:3", "--iterations", "-1"], ["--iterations"]),
            (["--model", "digits", "--reward", "class:3", "--learning-rate", "0"], ["--learning-rate"]),
            (["--model", "digits", "--reward", "class:3", "--learning-rate", "nan"], ["--learning-rate"]),
            (["--model", "digits", "--reward", "class:3", "--order", "3"], ["--order"]),
            (["--model", "digits", "--reward", "class:3", "--steps", "0"], ["--steps"]),
            (["--model", "digits", "--reward", "class:3", "--count", "0"], ["--count"]),
            (["--model", "digits", "--reward", "bogus"], ["KIND:VALUE"]),
        ]
        for (arguments, words) in cases {
            let out = dir.appendingPathComponent("out.png")
            let r = try Diffuse.run(["optimize-noise"] + arguments + ["--output", out.path])
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            for word in words { #expect(r.stderr.localizedCaseInsensitiveContains(word), "'\(r.stderr)' should mention \(word)") }
            #expect(!FileManager.default.fileExists(atPath: out.path), "no output for \(arguments)")
        }
        let r = try Diffuse.run(["optimize-noise", "--model", "digits", "--reward", "class:3", "--output", dir.appendingPathComponent("x.txt").path])
        #expect(r.status != 0 && r.stderr.contains(".png"), "\(r.stderr)")
    }
}
