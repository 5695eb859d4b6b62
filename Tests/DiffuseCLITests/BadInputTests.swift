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
        try expectFailure(["--steps", "-3"], mentions: ["steps", "at least 1"])  // a negative number is a value, not a flag
        try expectFailure(["--nfe", "-5"], mentions: ["nfe", "-5"])
        try expectFailure(["--steps", "many"], mentions: ["steps"])
        try expectFailure(["--sigma-min", "5", "--sigma-max", "1"], mentions: ["sigma-min", "sigma-max"])
        try expectFailure(["--sigma-min", "2", "--sigma-max", "2"], mentions: ["sigma-min"])
        try expectFailure(["--sigma-min", "-1"], mentions: ["sigma-min", "-1"])
        try expectFailure(["--count", "0"], mentions: ["count"])
        try expectFailure(["--eta", "2", "--solver", "ddim"], mentions: ["eta"])
        try expectFailure(["--sigmas", "5,3,3,0"], mentions: ["decrease"])
        try expectFailure(["--sigmas", "5,abc,0"], mentions: ["abc"])
        try expectFailure(["--sigmas", "5,0,1"], mentions: ["decrease"])
        // Found by the request fuzzer: a level far beyond a discrete schedule's range trapped.
        try expectFailure(["--scheduler-config", Fixtures.url("scheduler_config_sd.json").path, "--solver", "ts_ddim",
                           "--sigmas", "1e86,3,8"], mentions: ["decrease"])
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

    @Test("Gaussian-mixture files with non-finite means, non-positive stds or weights, or a shape that does not fit")
    func badMixtures() throws {
        let dir = try temporaryDirectory()
        let base = try SafetensorsFile(contentsOf: Fixtures.url("mixture_2d.safetensors"))
        let (_, means) = try base.float32Tensor("means")
        let (_, stds) = try base.float32Tensor("stds")
        let (_, weights) = try base.float32Tensor("weights")
        let k = weights.count, d = means.count / k
        /// The fixture with `name` replaced by `values` (same shape) and `metadata` merged in.
        func variant(_ file: String, _ name: String? = nil, _ values: [Float] = [], metadata: [String: String] = [:]) throws -> String {
            var tensors = base
            if let name { tensors.tensors[name] = SafetensorsFile.float32(values, shape: name == "weights" ? [k] : [k, d]) }
            tensors.metadata.merge(metadata) { $1 }
            let url = dir.appendingPathComponent(file)
            try tensors.write(to: url)
            return url.path
        }
        func with(_ values: [Float], _ index: Int, _ value: Float) -> [Float] {
            var v = values
            v[index] = value
            return v
        }
        try expectFailure(["--model", try variant("nan-mean.safetensors", "means", with(means, 3, .nan))], mentions: ["nan-mean", "means", "NaN"])
        try expectFailure(["--model", try variant("inf-mean.safetensors", "means", with(means, 0, .infinity))], mentions: ["inf-mean", "means", "Inf"])
        try expectFailure(["--model", try variant("zero-std.safetensors", "stds", with(stds, 1, 0))], mentions: ["zero-std", "stds", "positive"])
        try expectFailure(["--model", try variant("negative-std.safetensors", "stds", with(stds, 2, -0.5))], mentions: ["negative-std", "stds", "positive"])
        try expectFailure(["--model", try variant("nan-std.safetensors", "stds", with(stds, 2, .nan))], mentions: ["nan-std", "stds"])
        try expectFailure(["--model", try variant("negative-weight.safetensors", "weights", with(weights, 0, -0.2))],
                          mentions: ["negative-weight", "weights", "non-negative"])
        try expectFailure(["--model", try variant("zero-weights.safetensors", "weights", Array(repeating: 0, count: k))],
                          mentions: ["zero-weights", "weights", "zero"])
        try expectFailure(["--model", try variant("nan-weight.safetensors", "weights", with(weights, 1, .nan))], mentions: ["nan-weight", "weights"])
        try expectFailure(["--model", try variant("shape-3.safetensors", metadata: ["shape": "3"])], mentions: ["shape-3", "shape", "D=2"])
        try expectFailure(["--model", try variant("shape-2x2.safetensors", metadata: ["shape": "2,2"])], mentions: ["shape-2x2", "shape"])
        try expectFailure(["--model", try variant("shape-zero.safetensors", metadata: ["shape": "0,2"])], mentions: ["shape-zero", "shape"])
        try expectFailure(["--model", try variant("shape-text.safetensors", metadata: ["shape": "two"])], mentions: ["shape-text", "shape", "two"])
    }

    @Test("initial and step noise files with NaN, infinity or the wrong shape")
    func badNoiseFiles() throws {
        let dir = try temporaryDirectory()
        func npy(_ name: String, shape: [Int], poison: Float? = nil, at index: Int = 0) throws -> String {
            var values = (0..<shape.reduce(1, *)).map { Float($0 % 5) * 0.3 - 0.6 }
            if let poison { values[index] = poison }
            let url = dir.appendingPathComponent(name)
            try NPYArray(shape: shape, float32: values).write(to: url)
            return url.path
        }
        let model = ["--model", "mixture-2d"]
        try expectFailure(model + ["--initial-noise", try npy("init-nan.npy", shape: [4, 2], poison: .nan, at: 5)], mentions: ["initial noise", "NaN"])
        try expectFailure(model + ["--initial-noise", try npy("init-inf.npy", shape: [4, 2], poison: -.infinity, at: 0)], mentions: ["initial noise", "Inf"])
        try expectFailure(model + ["--initial-noise", try npy("init-3d.npy", shape: [4, 2, 1])], mentions: ["initial noise", "shape", "[4, 2, 1]"])

        // ddim with eta 1 over 5 steps to sigma = 0 draws 4 times; 3 samples of the 2-D mixture.
        let stochastic = model + ["--solver", "ddim", "--eta", "1", "--count", "3", "--steps", "5"]
        try expectFailure(stochastic + ["--step-noise", try npy("step-nan.npy", shape: [4, 3, 2], poison: .nan, at: 13)],
                          mentions: ["step noise", "NaN"])
        try expectFailure(stochastic + ["--step-noise", try npy("step-inf.npy", shape: [4, 3, 2], poison: .infinity, at: 23)],
                          mentions: ["step noise", "Inf"])
        try expectFailure(stochastic + ["--step-noise", try npy("step-wide.npy", shape: [4, 3, 3])], mentions: ["step noise", "shape", "[4, 3, 3]"])
        try expectFailure(stochastic + ["--step-noise", try npy("step-batch.npy", shape: [4, 2, 2])], mentions: ["step noise", "shape", "[4, 2, 2]"])
        try expectFailure(stochastic + ["--step-noise", try npy("step-flat.npy", shape: [24])], mentions: ["step noise", "shape", "[24]"])
    }

    @Test("numeric flags given NaN, infinity, or a negative value where that has no meaning")
    func badNumericFlags() throws {
        let labeled = ["--model", Fixtures.url("mixture_labeled_2d.safetensors").path, "--class", "0"]
        try expectFailure(labeled + ["--guidance", "nan"], mentions: ["guidance", "nan"])
        try expectFailure(labeled + ["--guidance", "inf"], mentions: ["guidance", "inf"])
        try expectFailure(labeled + ["--guidance-rescale", "2"], mentions: ["guidance rescale", "2"])
        try expectFailure(labeled + ["--guidance-rescale", "nan"], mentions: ["guidance rescale", "nan"])
        try expectFailure(labeled + ["--guidance-rescale", "-0.5"], mentions: ["guidance rescale", "-0.5"])
        try expectFailure(["--guidance", "nan"], mentions: ["--guidance", "--class"])
        try expectFailure(["--class", "-1", "--model", Fixtures.url("mixture_labeled_2d.safetensors").path], mentions: ["class", "-1"])
        for solver in ["ddim", "euler_ancestral", "dpmpp_2m"] {
            try expectFailure(["--solver", solver, "--eta", "-1"], mentions: ["eta", "-1"])
            try expectFailure(["--solver", solver, "--eta", "nan"], mentions: ["eta", "nan"])
        }
        try expectFailure(["--eta", "nan"], mentions: ["eta", "nan"])
        try expectFailure(["--eta", "inf"], mentions: ["eta", "inf"])
        try expectFailure(["--s-noise", "inf"], mentions: ["s-noise", "inf"])
        try expectFailure(["--s-noise", "nan"], mentions: ["s-noise", "nan"])
        try expectFailure(["--s-noise", "-1"], mentions: ["s-noise", "-1"])
        try expectFailure(["--s-churn", "-1", "--solver", "euler"], mentions: ["s-churn", "-1"])
        try expectFailure(["--s-churn", "1", "--s-tmin", "nan", "--solver", "euler"], mentions: ["s-tmin", "nan"])
        try expectFailure(["--s-churn", "1", "--s-tmax", "nan", "--solver", "euler"], mentions: ["s-tmax", "nan"])
        try expectFailure(["--sigma-min", "nan"], mentions: ["sigma-min", "nan"])
        try expectFailure(["--sigma-max", "inf"], mentions: ["sigma-max", "inf"])
        try expectFailure(["--count", "0"], mentions: ["count", "0"])
        try expectFailure(["--count", "-2"], mentions: ["count", "-2"])
        try expectFailure(["--seed", "-1"], mentions: ["seed", "-1"])
        try expectFailure(["--seed", "nan"], mentions: ["seed", "nan"])
    }

    @Test("a truncated or corrupt --statistics file, and a --tuned file that is JSON of the wrong shape")
    func badConfigurationFiles() throws {
        let dir = try temporaryDirectory()
        let statistics = try ModelStatistics.degenerate(lambdaStart: -4, lambdaEnd: 4, intervals: 20, dimension: 2)
        let good = dir.appendingPathComponent("good.safetensors")
        try statistics.write(to: good)
        let bytes = try Data(contentsOf: good)
        let v3 = ["--model", "mixture-2d", "--solver", "dpm_solver_v3", "--steps", "5"]
        for cut in [0, 7, 40, bytes.count - 8] {
            let file = dir.appendingPathComponent("stats-cut\(cut).safetensors")
            try bytes.prefix(cut).write(to: file)
            try expectFailure(v3 + ["--statistics", file.path], mentions: ["--statistics", "stats-cut\(cut)"])
        }
        var garbage = bytes
        garbage.replaceSubrange(8..<24, with: Data(repeating: 0x7B, count: 16))
        let corrupt = dir.appendingPathComponent("stats-corrupt.safetensors")
        try garbage.write(to: corrupt)
        try expectFailure(v3 + ["--statistics", corrupt.path], mentions: ["--statistics", "stats-corrupt"])
        // A valid mixture file is not statistics.
        try expectFailure(v3 + ["--statistics", Fixtures.url("mixture_2d.safetensors").path], mentions: ["--statistics", "metadata"])
        // Statistics whose values are not finite.
        var poisoned = try SafetensorsFile(contentsOf: good)
        let name = try #require(poisoned.tensors.keys.sorted().first)
        let tensor = try poisoned.float64Tensor(name)
        poisoned.tensors[name] = SafetensorsFile.float64([.nan] + tensor.values.dropFirst(), shape: tensor.shape)
        let nanFile = dir.appendingPathComponent("stats-nan.safetensors")
        try poisoned.write(to: nanFile)
        try expectFailure(v3 + ["--statistics", nanFile.path], mentions: ["--statistics", "finite"])

        // Valid JSON of the wrong shape.
        let cases: [(String, String, [String])] = [
            ("array", "[1, 2, 3]", ["tuned"]),
            ("empty-file", "", ["tuned"]),
            ("empty", "{}", ["tuned", "missing"]),
            ("string", "\"diffuse-tuned/1\"", ["tuned"]),
            ("format-number", #"{"format": 1}"#, ["tuned", "format"]),
            ("configurations-object", #"{"format": "diffuse-tuned/1", "model": "m", "schedule": "edm", "tolerance": 1e-7, "seconds": 1, "configurations": {"nfe": 5}}"#,
             ["tuned", "configurations"]),
            ("configuration-fields", #"{"format": "diffuse-tuned/1", "model": "m", "schedule": "edm", "tolerance": 1e-7, "seconds": 1, "configurations": [{"nfe": "five"}]}"#,
             ["tuned", "nfe"]),
            ("no-configurations", #"{"format": "diffuse-tuned/1", "model": "m", "schedule": "edm", "tolerance": 1e-7, "seconds": 1, "configurations": []}"#,
             ["tuned", "missing field"]),
        ]
        for (label, json, words) in cases {
            let file = dir.appendingPathComponent("tuned-\(label).json")
            try Data(json.utf8).write(to: file)
            try expectFailure(["--model", "mixture-2d", "--tuned", file.path, "--nfe", "5"], mentions: words + ["tuned-\(label)"])
        }
    }

    @Test("every error path of scheduler_config.json: not JSON, wrong types, unknown names, absurd values")
    func badSchedulerConfigs() throws {
        let dir = try temporaryDirectory()
        let cases: [(String, String, [String])] = [
            ("not-json", "{beta_start: 0.1", ["not valid JSON"]),
            ("empty-file", "", ["not valid JSON"]),
            ("array", "[0.00085, 0.012]", ["JSON object"]),
            ("beta-start-string", #"{"beta_start": "0.1"}"#, ["beta_start", "number"]),
            ("beta-schedule-number", #"{"beta_schedule": 3}"#, ["beta_schedule", "string"]),
            ("zero-snr-string", #"{"rescale_betas_zero_snr": "yes"}"#, ["rescale_betas_zero_snr", "true or false"]),
            ("beta-schedule-unknown", #"{"beta_schedule": "cubic"}"#, ["beta_schedule", "cubic"]),
            ("prediction-unknown", #"{"prediction_type": "score"}"#, ["prediction_type", "score"]),
            ("class-unknown", #"{"_class_name": "KarrasVeScheduler"}"#, ["_class_name", "KarrasVeScheduler"]),
            ("trained-betas", #"{"trained_betas": [0.1, 0.2]}"#, ["trained_betas"]),
            ("train-steps-one", #"{"num_train_timesteps": 1}"#, ["num_train_timesteps", "1"]),
            ("train-steps-huge", #"{"num_train_timesteps": 1e12}"#, ["num_train_timesteps"]),
            ("train-steps-fraction", #"{"num_train_timesteps": 999.5}"#, ["num_train_timesteps", "999.5"]),
            ("offset-negative", #"{"steps_offset": -1}"#, ["steps_offset"]),
            ("beta-start-negative", #"{"beta_start": -0.001}"#, ["beta"]),
            ("beta-end-above-one", #"{"beta_end": 1.5}"#, ["beta"]),
            ("spacing-unknown", #"{"timestep_spacing": "cubic"}"#, ["timestep_spacing", "cubic"]),
            ("flow-shift-negative", #"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": -3}"#, ["shift"]),
            ("flow-shift-string", #"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": "3"}"#, ["shift", "number"]),
        ]
        for (label, json, words) in cases {
            let file = dir.appendingPathComponent("config-\(label).json")
            try Data(json.utf8).write(to: file)
            try expectFailure(["--model", "mixture-2d", "--scheduler-config", file.path, "--steps", "4"], mentions: words)
        }
        try expectFailure(["--model", "mixture-2d", "--scheduler-config", dir.appendingPathComponent("missing.json").path], mentions: ["missing.json"])
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
