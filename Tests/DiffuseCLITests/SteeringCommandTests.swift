import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("diffuse sample --steer")
struct SteeringCommandTests {
    /// `w = (1, 0.5)` as a file, in a fresh directory.
    func weights() throws -> (URL, URL) {
        let dir = try temporaryDirectory()
        let w = dir.appendingPathComponent("w.npy")
        try NPYArray(shape: [2], float32: [1, 0.5]).write(to: w)
        return (dir, w)
    }

    /// FK steering on mixture-2d moves the mean projection on w to the tilted mixture's (closed
    /// form, ``GaussianMixture/tilted(by:scale:)``): with 256 samples its standard error is about
    /// 0.06; 5 standard errors plus 0.1 for K = 16's particle bias and the 16-step sampler. The
    /// unsteered mean lies about 1.3 below, so the test can fail. K = 1 is the unsteered run, byte
    /// for byte, and the report counts particles × steps evaluations.
    @Test("fk on mixture-2d reaches the tilted mixture; K = 1 is the plain sampler")
    func feynmanKac() throws {
        let (dir, w) = try weights()
        let base = ["sample", "--model", "mixture-2d", "--solver", "euler_ancestral", "--steps", "16", "--count", "256", "--seed", "4"]
        let steer = ["--steer", "fk", "--reward", "linear:\(w.path)", "--reward-scale", "2"]
        let out = dir.appendingPathComponent("fk.npy"), report = dir.appendingPathComponent("fk.json")
        let result = try Diffuse.run(base + steer + ["--particles", "16", "--output", out.path, "--report", report.path])
        try #require(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        #expect(json["nfe"] as? Int == 16 * 16)
        let values = try NPYArray(contentsOf: out).float32Values.map(Double.init)
        let projections = stride(from: 0, to: values.count, by: 2).map { values[$0] + 0.5 * values[$0 + 1] }
        let mean = projections.reduce(0, +) / Double(projections.count)
        let target = try BuiltInModels.ring.tilted(by: [1, 0.5], scale: 2)
        var exact = 0.0
        for c in 0..<target.componentCount {
            let projection: Double = target.means[2 * c] + 0.5 * target.means[2 * c + 1]
            exact += target.weights[c] * projection
        }
        #expect(abs(mean - exact) < 0.4, "mean projection \(mean) vs tilted \(exact)")

        let one = dir.appendingPathComponent("one.npy"), plain = dir.appendingPathComponent("plain.npy")
        #expect(try Diffuse.run(base + steer + ["--particles", "1", "--output", one.path]).status == 0)
        #expect(try Diffuse.run(base + ["--output", plain.path]).status == 0)
        #expect(try Data(contentsOf: one) == Data(contentsOf: plain))
    }

    @Test("svdd runs and is reproducible")
    func softValueDecoding() throws {
        let (dir, w) = try weights()
        let args = ["sample", "--model", "mixture-2d", "--solver", "ddpm", "--noise-schedule", "vp-linear", "--steps", "10", "--count", "32",
                    "--steer", "svdd", "--particles", "4", "--reward", "linear:\(w.path)"]
        let a = dir.appendingPathComponent("a.npy"), b = dir.appendingPathComponent("b.npy")
        let result = try Diffuse.run(args + ["--output", a.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Diffuse.run(args + ["--output", b.path]).status == 0)
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
    }

    @Test("bad steering input gets one line and a non-zero exit")
    func badInput() throws {
        let (dir, w) = try weights()
        let wrong = dir.appendingPathComponent("w3.npy")
        try NPYArray(shape: [3], float32: [1, 2, 3]).write(to: wrong)
        let model = ["--model", "mixture-2d", "--solver", "euler_ancestral", "--steps", "4", "--count", "2"]
        let bad = BadInputTests()
        try bad.expectFailure(model + ["--steer", "fk", "--reward", "cubic:3"], mentions: ["unknown --reward kind", "cubic"])
        try bad.expectFailure(model + ["--steer", "fk", "--reward", "linear:\(wrong.path)"], mentions: ["w has shape [3]", "2"])
        try bad.expectFailure(model + ["--steer", "fk", "--reward", "linear:\(dir.path)/none.npy"], mentions: ["no such file"])
        try bad.expectFailure(model + ["--steer", "fk", "--particles", "0", "--reward", "linear:\(w.path)"], mentions: ["--particles", "0"])
        try bad.expectFailure(model + ["--steer", "beam", "--reward", "linear:\(w.path)"], mentions: ["unknown --steer", "beam"])
        try bad.expectFailure(model + ["--steer", "fk"], mentions: ["--reward"])
        try bad.expectFailure(model + ["--particles", "4"], mentions: ["need --steer"])
        try bad.expectFailure(model + ["--steer", "fk", "--reward", "linear:\(w.path)", "--potential", "min"], mentions: ["--potential", "min"])
        try bad.expectFailure(model + ["--steer", "fk", "--reward", "linear:\(w.path)", "--resample-every", "0"], mentions: ["--resample-every"])
        try bad.expectFailure(model + ["--steer", "fk", "--reward", "linear:\(w.path)", "--reward-scale", "nan"], mentions: ["--reward-scale"])
        try bad.expectFailure(model + ["--steer", "fk", "--reward", "class:3"], mentions: ["classifier", "mixture-2d"])
        try bad.expectFailure(["--model", Fixtures.url("mixture_labeled_2d.safetensors").path, "--class", "1", "--guidance", "3", "--solver", "euler_ancestral",
                               "--steer", "fk", "--reward", "linear:\(w.path)", "--apg-momentum", "-0.5"], mentions: ["--apg-momentum", "--steer"])
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "dpm_adaptive", "--steps", "4", "--count", "2", "--steer", "fk",
                               "--reward", "linear:\(w.path)"], mentions: ["dpm_adaptive", "cannot follow"])
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "dpmpp_2m", "--steps", "4", "--count", "2", "--steer", "svdd",
                               "--particles", "4", "--reward", "linear:\(w.path)"], mentions: ["svdd", "dpmpp_2m", "draws none"])
    }
}

@Suite("diffuse sample: CFG++, guidance interval, APG, CFG-Zero*")
struct GuidanceVariantCommandTests {
    static let labeled = ["--model", Fixtures.url("mixture_labeled_2d.safetensors").path, "--class", "1", "--steps", "8", "--count", "8"]

    /// Each variant runs, and each changes the samples from plain CFG at the same scale (so the flag is not ignored).
    @Test("the variants run and differ from plain CFG")
    func variants() throws {
        let dir = try temporaryDirectory()
        func sample(_ extra: [String], solver: String = "euler") throws -> Data {
            let out = dir.appendingPathComponent("\(UUID().uuidString).npy")
            let result = try Diffuse.run(["sample"] + Self.labeled + ["--solver", solver, "--guidance", "3", "--output", out.path] + extra)
            try #require(result.status == 0, "\(extra): \(result.stderr)")
            return try Data(contentsOf: out)
        }
        let plain = try sample([])
        #expect(try sample(["--guidance-interval", "0.5,5"]) != plain)
        #expect(try sample(["--apg-eta", "0", "--apg-norm-threshold", "1"]) != plain)
        #expect(try sample(["--apg-momentum", "-0.5"]) != plain)
        #expect(try sample(["--cfg-zero-star"]) != plain)
        #expect(try sample([], solver: "euler_cfg_pp") != plain)
        #expect(try sample(["--guidance-interval", "0,inf"]) == plain)
    }

    @Test("bad guidance-variant input gets one line and a non-zero exit")
    func badInput() throws {
        let bad = BadInputTests()
        try bad.expectFailure(Self.labeled + ["--guidance-interval", "5,1"], mentions: ["guidance interval", "5"])
        try bad.expectFailure(Self.labeled + ["--guidance-interval", "1"], mentions: ["--guidance-interval", "LOW,HIGH"])
        try bad.expectFailure(Self.labeled + ["--guidance-interval", "a,b"], mentions: ["--guidance-interval"])
        try bad.expectFailure(Self.labeled + ["--apg-norm-threshold", "-1"], mentions: ["norm threshold"])
        try bad.expectFailure(Self.labeled + ["--apg-eta", "0.5", "--cfg-zero-star"], mentions: ["APG", "cfg-zero-star"])
        try bad.expectFailure(Self.labeled + ["--zero-init-steps", "2"], mentions: ["--cfg-zero-star"])
        try bad.expectFailure(Self.labeled + ["--cfg-zero-star", "--zero-init-steps", "-1"], mentions: ["zero-init"])
        try bad.expectFailure(["--model", "mixture-2d", "--cfg-zero-star"], mentions: ["--class"])
    }
}

extension SteeringCommandTests {
    @Test("minority reward from the command line; a bad noise level is refused")
    func minorityReward() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("m.npy")
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--solver", "euler_ancestral", "--steps", "8", "--count", "16",
                                      "--steer", "fk", "--particles", "4", "--reward", "minority:1", "--reward-scale", "10", "--output", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let bad = BadInputTests()
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "euler_ancestral", "--steer", "fk", "--reward", "minority:-1"],
                              mentions: ["minority:SIGMA", "-1"])
    }
}

@Suite("diffuse sample --minority-guidance")
struct MinorityGuidanceCommandTests {
    @Test("scale 0 is the plain run byte for byte, another scale moves the samples; bad values are one line")
    func minorityGuidance() throws {
        let dir = try temporaryDirectory()
        let base = ["sample", "--model", "mixture-2d", "--solver", "heun", "--steps", "10", "--count", "64", "--seed", "3"]
        func run(_ extra: [String], _ name: String) throws -> Data {
            let out = dir.appendingPathComponent(name)
            let result = try Diffuse.run(base + extra + ["--output", out.path])
            try #require(result.status == 0, "\(result.stderr)")
            return try Data(contentsOf: out)
        }
        let plain = try run([], "plain.npy")
        #expect(try run(["--minority-guidance", "0"], "zero.npy") == plain)
        let guided = try run(["--minority-guidance", "2,0.5"], "guided.npy")
        #expect(guided != plain)
        #expect(try NPYArray(contentsOf: dir.appendingPathComponent("guided.npy")).float32Values.allSatisfy(\.isFinite))
        for bad in ["nan", "2,0", "2,-1", "x", "1,2,3"] {
            let result = try Diffuse.run(base + ["--minority-guidance", bad, "--output", dir.appendingPathComponent("bad.npy").path])
            #expect(result.status != 0 && result.stderr.contains("--minority-guidance"), "\(bad): \(result.stderr)")
            #expect(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.npy").path))
    }
}
