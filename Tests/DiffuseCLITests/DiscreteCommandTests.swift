import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("diffuse sample, discrete models")
struct DiscreteCommandTests {
    /// The command: fhs on an exported categorical mixture writes int32 ids whose
    /// marginals and pairs match the exact mixture (chi-square, Bonferroni level 0.001 over
    /// 8 marginals and 28 pairs), with 8 evaluations per sample.
    @Test func fhsSamplesMatchTheExportedMixture() throws {
        let dir = try temporaryDirectory()
        let model = dir.appendingPathComponent("cat.safetensors").path
        let export = try Diffuse.run(["export-model", "categorical-8x6", model])
        try #require(export.status == 0, "\(export.stderr)")
        let out = dir.appendingPathComponent("t.npy").path
        let result = try Diffuse.run(["sample", "--model", model, "--solver", "fhs", "--count", "4096", "--seed", "1", "--output", out])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("8.00 model evaluations per sample (max 8)"), "\(result.stdout)")
        let array = try NPYArray(contentsOf: URL(fileURLWithPath: out))
        #expect(array.shape == [4096, 8])
        let tokens = try #require(array.int32Values)
        let exact = try #require(CategoricalMixture.builtIn(named: "categorical-8x6"))
        let level = 0.001 / 36
        for a in 0..<8 {
            for c in (a + 1)..<8 {
                var joint = [Int](repeating: 0, count: 36)
                for b in 0..<4096 { joint[Int(tokens[b * 8 + a]) * 6 + Int(tokens[b * 8 + c])] += 1 }
                let statistic = ChiSquare.statistic(counts: joint, probabilities: exact.pair(a, c))
                #expect(statistic < ChiSquare.critical(df: 35, level: level), "pair (\(a), \(c))")
            }
        }
        // The same seed gives the same file.
        let again = dir.appendingPathComponent("again.npy").path
        _ = try Diffuse.run(["sample", "--model", model, "--solver", "fhs", "--count", "4096", "--seed", "1", "--output", again])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: again)))
    }

    @Test func mdlmReportsTheEvaluationsItUsed() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("m.npy").path
        let report = dir.appendingPathComponent("r.json").path
        let result = try Diffuse.run(["sample", "--model", "categorical-8x6", "--solver", "mdlm", "--steps", "1000", "--count", "64",
                                      "--categorical-precision", "float32", "--output", out, "--report", report])
        try #require(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let nfe = try #require(json["nfe_mean"] as? Double)
        // Cached: one evaluation per step that reveals a token, at most L = 8 of the 1000 steps.
        #expect(nfe <= 8 && nfe > 6)
        #expect(json["categorical_precision"] as? String == "float32")
        #expect(try NPYArray(contentsOf: URL(fileURLWithPath: out)).shape == [64, 8])
    }

    @Test func compareDiscrete() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("c.json").path
        let result = try Diffuse.run(["compare-discrete", "--solvers", "fhs,mdlm", "--steps", "8", "--tokens-per-step", "1,8",
                                      "--count", "2000", "--output", out])
        try #require(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.count == 6)
        // Revealing all 8 tokens from one evaluation ignores their dependence: its pairs are far off, fhs's are not.
        let pairTV = rows.filter { $0["precision"] as? String == "float64" }.compactMap { $0["pair_tv"] as? Double }
        #expect(pairTV.count == 3 && pairTV[1] > 2 * pairTV[0])
    }

    @Test func badInput() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("o.npy").path
        func expectFailure(_ arguments: [String], mentions words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try Diffuse.run(arguments)
            #expect(result.status != 0, sourceLocation: sourceLocation)
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
            for word in words { #expect(result.stderr.contains(word), "'\(result.stderr)' should mention '\(word)'", sourceLocation: sourceLocation) }
            #expect(!FileManager.default.fileExists(atPath: out), sourceLocation: sourceLocation)
        }
        let sample = ["sample", "--model", "categorical-8x6", "--output", out]
        try expectFailure(sample + ["--eta", "1"], mentions: ["--eta", "discrete"])
        try expectFailure(sample + ["--noise-schedule", "edm"], mentions: ["--noise-schedule", "discrete"])
        try expectFailure(sample + ["--categorical-precision", "float16"], mentions: ["float16"])
        try expectFailure(sample + ["--solver", "fhs", "--steps", "10"], mentions: ["fhs", "--steps"])
        try expectFailure(sample + ["--solver", "mdlm", "--steps", "0"], mentions: ["--steps"])
        try expectFailure(sample + ["--solver", "euler"], mentions: ["unknown solver", "euler"])
        try expectFailure(sample + ["--tokens-per-step", "0"], mentions: ["--tokens-per-step"])
        try expectFailure(sample + ["--count", "0"], mentions: ["--count"])
        try expectFailure(["sample", "--model", "categorical-8x6", "--output", dir.appendingPathComponent("o.png").path], mentions: [".npy"])
        try expectFailure(["sample", "--model", "mixture-2d", "--categorical-precision", "float32", "--output", out], mentions: ["discrete"])
        try expectFailure(["compare", "--model", "categorical-8x6"], mentions: ["discrete", "compare-discrete"])
        try expectFailure(["compare-discrete", "--model", "mixture-2d"], mentions: ["not a categorical mixture"])
        // A file whose probabilities do not sum to 1.
        var probs = [Double](repeating: 0.25, count: 2 * 3 * 4)
        probs[7] = 0.3
        let bad = dir.appendingPathComponent("bad.safetensors")
        try SafetensorsFile(metadata: ["kind": "categorical-mixture"],
                            tensors: ["weights": SafetensorsFile.float64([0.5, 0.5], shape: [2]),
                                      "probs": SafetensorsFile.float64(probs, shape: [2, 3, 4])]).write(to: bad)
        try expectFailure(["sample", "--model", bad.path, "--output", out], mentions: ["probs[0, 1, :]", "sums to"])
    }
}

@Suite("diffuse sample, the masked-diffusion network")
struct MaskedNetworkCommandTests {
    @Test func digitsMaskedWritesAPictureAndTokens() throws {
        let dir = try temporaryDirectory()
        let png = dir.appendingPathComponent("d.png").path
        let result = try Diffuse.run(["sample", "--model", "digits-masked", "--solver", "fhs", "--tokens-per-step", "8", "--count", "2",
                                      "--class", "3", "--seed", "1", "--output", png])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("8.00 model evaluations per sample"), "\(result.stdout)")
        let header = try Data(contentsOf: URL(fileURLWithPath: png)).prefix(8)
        #expect(header == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let npy = dir.appendingPathComponent("d.npy").path
        let again = try Diffuse.run(["sample", "--model", "digits-masked", "--solver", "fhs", "--tokens-per-step", "8", "--count", "2",
                                     "--class", "3", "--seed", "1", "--output", npy])
        try #require(again.status == 0, "\(again.stderr)")
        let array = try NPYArray(contentsOf: URL(fileURLWithPath: npy))
        #expect(array.shape == [2, 64])
        #expect(try #require(array.int32Values).allSatisfy { (0..<4).contains($0) })
    }

    @Test func badInputIsOneLine() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("x.png").path
        for (flags, cause) in [(["--class", "10"], "class 10"), (["--eta", "0.5"], "--eta"), (["--output", dir.appendingPathComponent("x.txt").path], ".npy")] {
            var arguments = ["sample", "--model", "digits-masked", "--solver", "fhs", "--count", "1"] + flags
            if !flags.contains("--output") { arguments += ["--output", out] }
            let result = try Diffuse.run(arguments)
            #expect(result.status != 0)
            #expect(result.stderr.contains(cause), "\(result.stderr)")
            #expect(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
