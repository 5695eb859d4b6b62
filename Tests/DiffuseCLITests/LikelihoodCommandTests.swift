import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("diffuse likelihood")
struct LikelihoodCommandTests {
    static let points: [Float] = [-1.2, -0.8, 1.0, 1.3, 0.9, -1.1, 0.2, 0.1, -0.5, 1.4]

    func writeData(_ values: [Float], shape: [Int], in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("data.npy")
        try NPYArray(shape: shape, float32: values).write(to: url)
        return url
    }

    @Test("writes float64 nats per point that match the mixture's closed form")
    func writesLogLikelihoods() throws {
        let dir = try temporaryDirectory()
        let data = try writeData(Self.points, shape: [5, 2], in: dir)
        let out = dir.appendingPathComponent("ll.npy")
        let r = try Diffuse.run(["likelihood", "--model", "mixture-2d", "--noise-schedule", "flow", "--data", data.path,
                                 "--data-sigma", "0.001", "--tolerance", "1e-6", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("bits/dim") && r.stdout.contains("exact trace"), "\(r.stdout)")
        let array = try NPYArray(contentsOf: out)
        #expect(array.shape == [5])
        guard case let .float64(values) = array.storage else { Issue.record("not float64"); return }
        let mixture = try #require(try BuiltInModels.model(named: "mixture-2d") as? GaussianMixture)
        let level = RectifiedFlowSchedule().level(sigma: 0.001)
        for b in 0..<5 {
            let truth = mixture.logDensity(at: [Double(Self.points[2 * b]), Double(Self.points[2 * b + 1])], level: level)
            #expect(abs(values[b] - truth) < 2e-3, "point \(b): \(values[b]) vs \(truth)")
        }
    }

    @Test("probes report a standard error; --dequantize uniform states its offset")
    func probesAndDequantization() throws {
        let dir = try temporaryDirectory()
        let data = try writeData(Self.points, shape: [5, 2], in: dir)
        let out = dir.appendingPathComponent("ll.npy")
        let r = try Diffuse.run(["likelihood", "--model", "mixture-2d", "--data", data.path, "--probes", "8", "--output", out.path])
        #expect(r.status == 0 && r.stdout.contains("±") && r.stdout.contains("8 probes"), "\(r.stdout) \(r.stderr)")
        #expect(try NPYArray(contentsOf: out).shape == [5])
        let q = try Diffuse.run(["likelihood", "--model", "mixture-2d", "--data", data.path, "--dequantize", "uniform", "--output", out.path])
        #expect(q.status == 0 && q.stdout.contains("+7 bits/dim"), "\(q.stdout) \(q.stderr)")
    }

    @Test("bad input gives one line and no file")
    func badInput() throws {
        let dir = try temporaryDirectory()
        let good = try writeData(Self.points, shape: [5, 2], in: dir)
        let wrong = dir.appendingPathComponent("wrong.npy")
        try NPYArray(shape: [4, 3], float32: Array(repeating: 0.5, count: 12)).write(to: wrong)
        let nan = dir.appendingPathComponent("nan.npy")
        try NPYArray(shape: [2, 2], float64: [0, .nan, 1, 1]).write(to: nan)
        let cases: [([String], [String])] = [
            (["--model", "mixture-2d", "--data", wrong.path], ["shape", "[4, 3]"]),
            (["--model", "mixture-2d", "--data", nan.path], ["NaN"]),
            (["--model", "mixture-2d", "--data", good.path, "--probes", "0"], ["probes", "at least 1"]),
            (["--model", "no-such-model", "--data", good.path], ["no-such-model"]),
            (["--model", "mixture-2d", "--data", good.path, "--probes", "2", "--exact-divergence"], ["either"]),
            (["--model", "mixture-2d", "--data", good.path, "--dequantize", "gaussian"], ["dequantization", "gaussian"]),
            (["--model", "mixture-2d", "--data", dir.appendingPathComponent("missing.npy").path], ["missing.npy"]),
        ]
        for (arguments, words) in cases {
            let out = dir.appendingPathComponent("out.npy")
            let r = try Diffuse.run(["likelihood"] + arguments + ["--output", out.path])
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
            for word in words { #expect(r.stderr.localizedCaseInsensitiveContains(word), "'\(r.stderr)' should mention \(word)") }
            #expect(!FileManager.default.fileExists(atPath: out.path), "no output for \(arguments)")
        }
    }
}
