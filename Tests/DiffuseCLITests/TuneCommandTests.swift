import Testing
import Foundation
import DiffusionSolvers

/// `diffuse tune` and its file in `diffuse sample --tuned` and `diffuse compare --tuned`.
@Suite("diffuse tune, sample --tuned, compare --tuned")
struct TuneCommandTests {
    static let tunedArguments = ["--model", "mixture-2d", "--nfe", "4,6", "--count", "16", "--holdout-count", "16", "--generations", "2",
                                 "--population", "8", "--fine-steps", "30", "--no-cache"]

    /// Tunes once into a fresh directory.
    static func tune() throws -> (directory: URL, file: URL, result: Diffuse.Result) {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("tuned.json")
        return (dir, file, try Diffuse.run(["tune"] + tunedArguments + ["--output", file.path]))
    }

    @Test("tune writes a file whose configurations sample within their NFE and compare on held-out noise")
    func tuneSampleCompare() throws {
        let (dir, file, result) = try Self.tune()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("held-out") && result.stdout.contains("wrote"), "\(result.stdout)")
        let tuned = try TunedFile(contentsOf: file)
        #expect(tuned.configurations.map(\.nfe) == [4, 6])

        let out = dir.appendingPathComponent("s.npy").path, report = dir.appendingPathComponent("r.json").path
        let sample = try Diffuse.run(["sample", "--model", "mixture-2d", "--tuned", file.path, "--nfe", "6", "--count", "8",
                                      "--output", out, "--report", report])
        #expect(sample.status == 0, "\(sample.stderr)")
        // It names what runs: a tuned solver, or a standard configuration the tuner kept by its label.
        let six = try #require(tuned.configurations.first { $0.nfe == 6 })
        #expect(sample.stdout.contains("with \(six.runLabel) on "), "\(sample.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect(json["nfe"] as? Int == 6)
        #expect((try NPYArray(contentsOf: URL(fileURLWithPath: out))).float32Values.allSatisfy { $0.isFinite })

        // A budget without a configuration: DC-Solver with ratios from the file's regression.
        #expect(tuned.compensation?.fittedSteps == [4, 6])
        let predicted = try Diffuse.run(["sample", "--model", "mixture-2d", "--tuned", file.path, "--nfe", "5", "--count", "8",
                                         "--output", out, "--report", report])
        #expect(predicted.status == 0 && predicted.stdout.contains("with tuned dc_solver (ratios by cascade polynomial regression"), "\(predicted.stdout) \(predicted.stderr)")

        // The DPM-Solver-v3 statistics written next to the file serve the solver by name too.
        let ems = dir.appendingPathComponent("tuned.ems.safetensors")
        #expect(FileManager.default.fileExists(atPath: ems.path))
        let v3 = try Diffuse.run(["sample", "--model", "mixture-2d", "--solver", "dpm_solver_v3", "--statistics", ems.path, "--nfe", "6",
                                  "--count", "8", "--output", out, "--report", report])
        #expect(v3.status == 0, "\(v3.stderr)")
        let v3Report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect(v3Report["nfe"] as? Int == 6)

        let compareDir = dir.appendingPathComponent("cmp")
        let compare = try Diffuse.run(["compare", "--model", "mixture-2d", "--tuned", file.path, "--solvers", "dpmpp_2m",
                                       "--schedules", "karras", "--nfe", "4,6", "--count", "16", "--no-cache", "--output-dir", compareDir.path])
        #expect(compare.status == 0, "\(compare.stderr)")
        #expect(compare.stdout.contains("seed \(tuned.holdoutSeed) (held out)"), "\(compare.stdout)")
        struct Document: Decodable { struct Row: Decodable { var solver: String; var nfe: Int; var rmse: Double }; var results: [Row] }
        let document = try JSONDecoder().decode(Document.self, from: Data(contentsOf: compareDir.appendingPathComponent("results.json")))
        let rows = document.results.filter { $0.solver == "tuned" }
        #expect(rows.map(\.nfe) == [4, 6])
        // On held-out noise of the same count and seed, compare reproduces the file's own figure.
        for (row, c) in zip(rows, tuned.configurations) { #expect(row.rmse == c.heldOutRMSE) }
    }

    @Test("tuning is reproducible: the same arguments give the same configurations")
    func reproducible() throws {
        let (_, a, r1) = try Self.tune()
        let (_, b, r2) = try Self.tune()
        #expect(r1.status == 0 && r2.status == 0)
        #expect(try TunedFile(contentsOf: a).configurations == TunedFile(contentsOf: b).configurations)
    }

    /// DPM-Solver-v3's statistics need a finite log-SNR at the start: on a flow schedule the
    /// tuning leaves them out unless asked, and refuses them when asked.
    @Test("on a flow schedule tune runs without DPM-Solver-v3's statistics, and refuses --statistics")
    func flowSchedule() throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("tuned.json")
        let arguments = ["tune", "--model", "mixture-2d", "--noise-schedule", "flow", "--nfe", "4", "--count", "8", "--validation-count", "8",
                         "--holdout-count", "8", "--generations", "1", "--population", "4", "--fine-steps", "20", "--no-cache", "--output", file.path]
        let result = try Diffuse.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("DPM-Solver-v3 is not tuned"), "\(result.stdout)")
        #expect(try TunedFile(contentsOf: file).configurations.map(\.nfe) == [4])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("tuned.ems.safetensors").path))
        let asked = try Diffuse.run(arguments.map { $0 == file.path ? dir.appendingPathComponent("asked.json").path : $0 } + ["--statistics"])
        #expect(asked.status != 0 && asked.stderr.contains("--no-statistics") && asked.stderr.split(separator: "\n").count == 1, "\(asked.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("asked.json").path))
    }

    @Test("bad uses of a tuned file fail with one line and write nothing")
    func badUses() throws {
        let (dir, file, result) = try Self.tune()
        #expect(result.status == 0, "\(result.stderr)")
        let out = dir.appendingPathComponent("never.npy")
        // The same file without its compensation rule has nothing for other budgets.
        var bare = try TunedFile(contentsOf: file)
        bare.compensation = nil
        let bareFile = dir.appendingPathComponent("bare.json")
        try bare.encoded().write(to: bareFile)
        // A configuration whose steps need more evaluations than its budget says.
        var over = bare
        over.configurations[0].nfe = 2
        let overFile = dir.appendingPathComponent("over.json")
        try over.encoded().write(to: overFile)
        let cases: [([String], String)] = [
            (["sample", "--model", "mixture-2d", "--tuned", file.path, "--nfe", "4", "--solver", "ddim"], "drop --solver"),
            (["sample", "--model", "mixture-2d", "--tuned", bareFile.path, "--nfe", "7"], "no configuration for 7 NFE"),
            (["sample", "--model", "mixture-2d", "--tuned", file.path], "give --nfe"),
            (["sample", "--model", "mixture-2d", "--tuned", overFile.path, "--nfe", "2"], "for 2 NFE needs"),
            (["sample", "--model", "mixture-2d", "--tuned", file.path, "--nfe", "4", "--class", "1"], "unguided model"),
            (["sample", "--model", "glyphs-8x8", "--tuned", file.path, "--nfe", "4"], "made for model"),
            (["sample", "--model", "mixture-2d", "--noise-schedule", "vp-linear", "--tuned", file.path, "--nfe", "4"], "noise schedule"),
            (["sample", "--model", "mixture-2d", "--tuned", dir.appendingPathComponent("missing.json").path, "--nfe", "4"], "cannot read"),
            (["compare", "--model", "mixture-2d", "--tuned", file.path, "--seed", "0", "--output-dir", dir.path], "tuned on"),
            (["tune", "--model", "mixture-2d", "--seed", "3", "--holdout-seed", "3"], "must differ"),
            (["sample", "--model", "mixture-2d", "--solver", "dpm_solver_v3", "--nfe", "4"], "needs model statistics"),
            (["sample", "--model", "glyphs-8x8", "--solver", "dpm_solver_v3", "--statistics", dir.appendingPathComponent("tuned.ems.safetensors").path,
              "--nfe", "4"], "2 values per sample"),
            (["sample", "--model", "mixture-2d", "--solver", "dc_solver", "--dc-ratios", "1,1,7", "--nfe", "4"], "outside"),
            (["tune", "--model", "mixture-2d", "--nfe", "5", "--fine-steps", "4"], "--nfe"),
            (["tune", "--model", "mixture-2d", "--budget-seconds", "-1"], "--budget-seconds"),
            (["tune", "--model", "mixture-2d", "--validation-count", "0"], "--validation-count"),
            (["tune", "--model", "mixture-2d", "--rare-draw-count", "-1"], "--rare-draw-count"),
            (["tune", "--model", "mixture-2d", "--confidence", "1"], "--confidence"),
        ]
        for (arguments, mention) in cases {
            let r = try Diffuse.run(arguments + (arguments[0] == "sample" ? ["--output", out.path] : []))
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(mention), "\(arguments): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
