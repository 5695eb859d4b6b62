import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Bad input gets one line on standard error, a non-zero status, and no output file.
@Suite("diffuse sample, bad input")
struct BadInputTests {
    /// Runs `diffuse sample` with `arguments` and an output path; checks the failure contract.
    func expectFailure(_ arguments: [String], mentions words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out.npy")
        // A mixture unless the case names a model: the checks concern the arguments, not the network.
        let model = arguments.contains("--model") ? [] : ["--model", "glyphs-8x8"]
        let result = try Diffuse.run(["sample"] + model + arguments + ["--output", out.path])
        #expect(result.status != 0, "expected failure for \(arguments)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr should be one line, got: \(result.stderr)", sourceLocation: sourceLocation)
        for word in words {
            #expect(result.stderr.localizedCaseInsensitiveContains(word), "'\(result.stderr)' should mention '\(word)'",
                    sourceLocation: sourceLocation)
        }
        #expect(!FileManager.default.fileExists(atPath: out.path), "no output on failure", sourceLocation: sourceLocation)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(leftovers.isEmpty, "no temporary files left: \(leftovers)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
    }

    @Test func unknownNames() throws {
        try expectFailure(["--solver", "dpmpp_9m"], mentions: ["unknown solver", "dpmpp_9m", "heun"])
        try expectFailure(["--schedule", "cubic"], mentions: ["unknown step schedule", "cubic", "karras"])
        try expectFailure(["--noise-schedule", "vp-quadratic"], mentions: ["unknown noise schedule", "vp-quadratic"])
        try expectFailure(["--model", "no-such-model"], mentions: ["no-such-model", "glyphs-8x8"])
        try expectFailure(["--final-sigma", "max"], mentions: ["final-sigma"])
        try expectFailure(["--no-such-flag", "3"], mentions: ["no-such-flag"])
    }

    @Test func badNumbers() throws {
        try expectFailure(["--steps", "0"], mentions: ["steps", "at least 1"])
        try expectFailure(["--steps", "-3"], mentions: ["steps"])
        try expectFailure(["--steps", "many"], mentions: ["steps"])
        try expectFailure(["--sigma-min", "5", "--sigma-max", "1"], mentions: ["sigma-min", "sigma-max"])
        try expectFailure(["--sigma-min", "2", "--sigma-max", "2"], mentions: ["sigma-min"])
        try expectFailure(["--sigma-min", "-1"], mentions: ["sigma-min"])
        try expectFailure(["--count", "0"], mentions: ["count"])
        try expectFailure(["--eta", "2", "--solver", "ddim"], mentions: ["eta"])
        try expectFailure(["--sigmas", "5,3,3,0"], mentions: ["decrease"])
        try expectFailure(["--sigmas", "5,abc,0"], mentions: ["abc"])
        try expectFailure(["--sigmas", "5,0,1"], mentions: ["decrease"])
        try expectFailure(["--noise-schedule", "flow", "--sigma-max", "3"], mentions: ["sigma-max"])
        try expectFailure(["--schedule", "leading"], mentions: ["discrete-time"])
        try expectFailure(["--noise-schedule", "flow", "--schedule", "logsnr"], mentions: ["logsnr", "sigma-max"])
        try expectFailure(["--scheduler-config", Fixtures.url("scheduler_config_sd.json").path, "--timesteps", "5000"], mentions: ["5000"])
    }

    @Test func badFiles() throws {
        let dir = try temporaryDirectory()
        // A noise file whose shape does not fit the model.
        let wrongShape = dir.appendingPathComponent("noise.npy")
        try NPYArray(shape: [4, 3], float32: Array(repeating: 0.5, count: 12)).write(to: wrongShape)
        try expectFailure(["--model", "mixture-2d", "--initial-noise", wrongShape.path], mentions: ["shape", "[4, 3]"])

        // Truncated and corrupt npy files.
        let good = NPYArray(shape: [4, 2], float32: Array(repeating: 0.5, count: 8)).serialized()
        for cut in [5, 20, good.count - 3] {
            let file = dir.appendingPathComponent("cut\(cut).npy")
            try good.prefix(cut).write(to: file)
            try expectFailure(["--model", "mixture-2d", "--initial-noise", file.path], mentions: ["npy"])
        }
        var wrongType = good
        if let range = wrongType.range(of: Data("<f4".utf8)) { wrongType.replaceSubrange(range, with: Data("<i8".utf8)) }
        let wrongTypeFile = dir.appendingPathComponent("int.npy")
        try wrongType.write(to: wrongTypeFile)
        try expectFailure(["--model", "mixture-2d", "--initial-noise", wrongTypeFile.path], mentions: ["dtype"])

        // Truncated, corrupt and absurd safetensors models.
        let model = try Data(contentsOf: Fixtures.url("mixture_2d.safetensors"))
        for cut in [0, 4, 12, model.count - 8] {
            let file = dir.appendingPathComponent("cut\(cut).safetensors")
            try model.prefix(cut).write(to: file)
            try expectFailure(["--model", file.path], mentions: ["safetensors"])
        }
        var absurd = model
        absurd.replaceSubrange(0..<8, with: Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))
        let absurdFile = dir.appendingPathComponent("absurd.safetensors")
        try absurd.write(to: absurdFile)
        try expectFailure(["--model", absurdFile.path], mentions: ["header"])

        // A mixture file without 'stds'.
        var tensors = try SafetensorsFile(contentsOf: Fixtures.url("mixture_2d.safetensors"))
        tensors.tensors["stds"] = nil
        let missing = dir.appendingPathComponent("missing.safetensors")
        try tensors.write(to: missing)
        try expectFailure(["--model", missing.path], mentions: ["stds"])

        // A step-noise file that runs out.
        let shortNoise = dir.appendingPathComponent("short.npy")
        try NPYArray(shape: [2, 3, 2], float32: Array(repeating: 0.1, count: 12)).write(to: shortNoise)
        try expectFailure(["--model", "mixture-2d", "--solver", "ddim", "--eta", "1", "--count", "3", "--steps", "5",
                           "--step-noise", shortNoise.path], mentions: ["step noise"])

        // Output to a missing directory or with an unknown extension.
        let r = try Diffuse.run(["sample", "--output", "/nonexistent-dir/x.png"])
        #expect(r.status != 0 && r.stderr.split(separator: "\n").count == 1)
        let jpg = try Diffuse.run(["sample", "--output", dir.appendingPathComponent("x.jpg").path])
        #expect(jpg.status != 0 && jpg.stderr.split(separator: "\n").count == 1 && jpg.stderr.contains(".npy or .png"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.jpg").path))
    }

    @Test("a model whose output overflows is reported with the step and noise level")
    func nonFiniteOutput() throws {
        let dir = try temporaryDirectory()
        // Means near float32's limit: the clean estimate is finite, but eps = (x - alpha*x0)/sigma overflows.
        let mixture = try GaussianMixture(weights: [1], means: [3e38, -3e38], stds: [1, 1])
        let file = dir.appendingPathComponent("huge.safetensors")
        try mixture.safetensors().write(to: file)
        try expectFailure(["--model", file.path, "--solver", "heun", "--count", "2"], mentions: ["NaN or Inf", "step", "sigma"])
    }
}
