import Testing
import Foundation
import DiffusionSolvers

/// `diffuse` on the shipped network: guidance, Skip-Tuning, compare and skip-tune. Small counts and
/// budgets, as a debug build runs the network about 200× slower than release.
@Suite("diffuse with the built-in network")
struct NeuralCommandTests {
    @Test("--class 3 --guidance 3 draws threes (by the digit classifier); the report names the model")
    func guidedThrees() throws {
        let dir = try temporaryDirectory()
        let npy = dir.appendingPathComponent("threes.npy"), report = dir.appendingPathComponent("run.json")
        let result = try Diffuse.run(["sample", "--model", "digits", "--class", "3", "--guidance", "3", "--solver", "dpmpp_2m",
                                      "--nfe", "8", "--count", "3", "--output", npy.path, "--report", report.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("from digits class 3"), "\(result.stdout)")
        let array = try NPYArray(contentsOf: npy)
        #expect(array.shape == [3, 1, 8, 8])
        let classifier = try #require(try BuiltInModels.classifier(for: "digits"))
        let classes = try classifier.predictedClasses(of: SampleTensor(shape: array.shape, scalars: array.float32Values))
        #expect(classes == [3, 3, 3], "classified as \(classes)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        #expect(json["model"] as? String == "digits")
        #expect(json["class"] as? Int == 3 && json["guidance"] as? Double == 3)
        #expect(json["noise_schedule"] as? String == "vp-discrete(linear, T=1000)")
    }

    @Test("without --solver the network runs its own tuned configuration at a tuned budget, and the table's elsewhere or under guidance")
    func ownTunedDefault() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("x.npy").path, report = dir.appendingPathComponent("r.json").path
        let tuned = try Diffuse.run(["sample", "--model", "digits", "--nfe", "5", "--count", "2", "--output", out, "--report", report])
        #expect(tuned.status == 0 && tuned.stdout.contains("the model's own tuned.json, recommended for 5 NFE"), "\(tuned.stdout) \(tuned.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect((json["nfe"] as? Int ?? 99) <= 5 && json["step_schedule"] as? String == "tuned", "\(json)")
        // The message names what runs: a standard configuration the tuner kept by its own label.
        let tuning = try #require((try BuiltInModels.model(named: "digits") as? any TunedDiffusionModel)?.tuning)
        for c in tuning.file.configurations {
            let r = try Diffuse.run(["sample", "--model", "digits", "--nfe", "\(c.nfe)", "--count", "2", "--output", out])
            #expect(r.status == 0 && r.stdout.contains("with \(c.runLabel) (the model's own tuned.json"), "\(c.nfe): \(r.stdout) \(r.stderr)")
        }
        for extra in [["--nfe", "6"], ["--nfe", "5", "--class", "3"], ["--nfe", "5", "--schedule", "karras"]] {
            let r = try Diffuse.run(["sample", "--model", "digits", "--count", "2", "--output", out] + extra)
            #expect(r.status == 0 && r.stdout.contains("recommended for") && !r.stdout.contains("tuned"), "\(extra): \(r.stdout) \(r.stderr)")
        }
    }

    @Test("options that do not fit a network fail with one line", arguments: [
        (["--noise-schedule", "edm"], "own schedule"),
        (["--skip-scale", "1,0.9"], "3 finite factors"),
        (["--skip-scale", "1,x,1"], "not a number"),
        (["--class", "12"], "labels 0...9"),
    ])
    func badNetworkOptions(arguments: [String], mention: String) throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("x.npy")
        let result = try Diffuse.run(["sample", "--model", "digits", "--nfe", "2", "--count", "1"] + arguments + ["--output", out.path])
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(mention), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("--skip-scale needs a U-Net")
    func skipScaleOnMixture() throws {
        let result = try Diffuse.run(["sample", "--model", "glyphs-8x8", "--skip-scale", "1", "--output", "/tmp/never.npy"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no skip connections"), "\(result.stderr)")
    }

    @Test("Skip-Tuning factors change the samples; all ones leave them bit-identical")
    func skipScales() throws {
        let dir = try temporaryDirectory()
        func run(_ extra: [String], _ name: String) throws -> Data {
            let path = dir.appendingPathComponent(name).path
            let r = try Diffuse.run(["sample", "--model", "digits", "--solver", "ddim", "--steps", "2", "--count", "2", "--seed", "4"]
                                    + extra + ["--output", path])
            #expect(r.status == 0, "\(r.stderr)")
            return try Data(contentsOf: URL(fileURLWithPath: path))
        }
        let plain = try run([], "a.npy"), ones = try run(["--skip-scale", "1,1,1"], "b.npy"), tuned = try run(["--skip-scale", "1,0.9,0.8"], "c.npy")
        #expect(plain == ones)
        #expect(plain != tuned)
        // The report records the factors in use.
        let report = dir.appendingPathComponent("run.json")
        _ = try run(["--skip-scale", "1,0.9,0.8", "--report", report.path], "d.npy")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        #expect(json["skip_scales"] as? [Double] == [1, 0.9, 0.8])
    }

    @Test("compare on the network reports the feature Fréchet distance, and its JSON parses back")
    func compare() throws {
        let dir = try temporaryDirectory()
        let result = try Diffuse.run(["compare", "--model", "digits", "--solvers", "ddim,dpmpp_2m", "--schedules", "karras",
                                      "--nfe", "3", "--count", "3", "--tolerance", "1e-3", "--no-cache", "--output-dir", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("feature FD"), "\(result.stdout)")
        #expect(!result.stdout.contains("same mode"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("results.json"))) as? [String: Any])
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.count == 2)
        for r in results {
            #expect((r["feature_frechet_to_data"] as? Double).map { $0.isFinite && $0 > 0 } == true)
            #expect((r["rmse"] as? Double).map { $0.isFinite } == true)
        }
    }

    @Test("skip-tune searches on one noise, reports on held-out noise, and writes its trials")
    func skipTune() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("skip.json")
        let result = try Diffuse.run(["skip-tune", "--model", "digits", "--solver", "ddim", "--nfe", "2", "--count", "4",
                                      "--candidates", "1,0.9", "--rounds", "1", "--output", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("held-out"))
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[String: Any]])
        #expect(rows.count == 1)
        let search = try #require(rows[0]["search"] as? [String: Any])
        // The untuned network, then each of the 3 levels at 0.9.
        #expect((search["trials"] as? [Any])?.count == 4)
        #expect(rows[0]["held_out_baseline"] as? Double != nil && rows[0]["held_out_tuned"] as? Double != nil)
        let same = try Diffuse.run(["skip-tune", "--model", "digits", "--seed", "3", "--holdout-seed", "3"])
        #expect(same.status != 0 && same.stderr.contains("must differ"))
    }
}

@Suite("diffuse tune-steps")
struct TuneStepsCommandTests {
    @Test("searches a schedule on tuning noise, compares it on held-out noise, and writes usable sigmas")
    func tuneSteps() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("steps.json")
        let result = try Diffuse.run(["tune-steps", "--model", "glyphs-8x8", "--solver", "dpmpp_2m", "--nfe", "3,4", "--fine-steps", "12",
                                      "--count", "8", "--output", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("held-out"))
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[String: Any]])
        #expect(rows.count == 2)
        for (row, nfe) in zip(rows, [3, 4]) {
            let sigmas = try #require(row["sigmas"] as? [Double])
            #expect(sigmas.count == nfe + 1 && sigmas.last == 0)
            #expect(zip(sigmas, sigmas.dropFirst()).allSatisfy { $0 > $1 })
            #expect((row["held_out_rmse"] as? Double).map { $0.isFinite && $0 > 0 } == true)
            // The printed schedule samples as is.
            let sample = try Diffuse.run(["sample", "--model", "glyphs-8x8", "--solver", "dpmpp_2m", "--count", "2",
                                          "--sigmas", sigmas.map { "\($0)" }.joined(separator: ","),
                                          "--output", dir.appendingPathComponent("s\(nfe).npy").path])
            #expect(sample.status == 0 && sample.stdout.contains("\(nfe) model evaluations"), "\(sample.stdout)\(sample.stderr)")
        }
        let same = try Diffuse.run(["tune-steps", "--seed", "2", "--holdout-seed", "2"])
        #expect(same.status != 0 && same.stderr.contains("must differ"))
    }

    @Test("bad search arguments fail with one line", arguments: [
        (["tune-steps", "--nfe", "1e300"], "not a whole number"),
        (["skip-tune", "--nfe", "2.5"], "not a whole number"),
        (["tune-steps", "--model", "photos", "--count", "100000"], "in memory"),
        (["tune-steps", "--solver", "euler_ancestral"], "stochastic"),
        (["skip-tune", "--model", "glyphs-8x8"], "no skip connections"),
        (["skip-tune", "--count", "1"], "--count"),
    ])
    func badArguments(arguments: [String], mention: String) throws {
        let result = try Diffuse.run(arguments)
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(mention), "\(result.stderr)")
    }
}
