import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `diffuse sample` with the stochastic samplers on flow schedules: ComfyUI's `_RF` ancestral
/// forms, `lcm` and `si_sde` with `--interpolant-eps`.
@Suite("diffuse sample, stochastic samplers on flow")
struct FlowStochasticCommandTests {
    func sample(_ arguments: [String]) throws -> [Float] {
        let dir = try temporaryDirectory()
        let npy = dir.appendingPathComponent("out.npy")
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--noise-schedule", "flow", "--shift", "3", "--count", "16",
                                      "--seed", "4", "--output", npy.path] + arguments)
        try #require(result.status == 0, "\(result.stderr)")
        return try NPYArray(contentsOf: npy).float32Values
    }

    @Test("the ancestral samplers, lcm and si_sde run on a shifted flow grid; si_sde with eps 0 is euler")
    func run() throws {
        for solver in ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "lcm", "si_sde"] {
            let out = try sample(["--solver", solver, "--steps", "8"])
            #expect(out.count == 32 && out.allSatisfy { $0.isFinite }, "\(solver)")
        }
        let ode = try sample(["--solver", "euler", "--steps", "8"])
        let zero = try sample(["--solver", "si_sde", "--interpolant-eps", "0", "--steps", "8"])
        let noisy = try sample(["--solver", "si_sde", "--interpolant-eps", "0.5*t", "--steps", "8"])
        #expect(Compare.relativeRMS(zero.map(Double.init), ode.map(Double.init)) <= 1e-6)
        #expect(Compare.relativeRMS(noisy.map(Double.init), ode.map(Double.init)) > 1e-2)
    }

    @Test("--interpolant-eps that is not a number, negative, or given to another solver is refused in one line")
    func refusals() throws {
        let bad = BadInputTests()
        for value in ["-1", "abc", "1*s"] {
            try bad.expectFailure(["--noise-schedule", "flow", "--solver", "si_sde", "--interpolant-eps", value], mentions: ["--interpolant-eps", value])
        }
        try bad.expectFailure(["--noise-schedule", "flow", "--solver", "euler", "--interpolant-eps", "0.5"], mentions: ["--interpolant-eps", "euler"])
        try bad.expectFailure(["--noise-schedule", "flow", "--solver", "dpmpp_sde"], mentions: ["dpmpp_sde", "flow"])
    }
}

/// `diffuse sample --time`: the model's schedule in another ODE frame, decided by the resolver.
@Suite("diffuse sample --time")
struct TimeFrameCommandTests {
    func run(_ arguments: [String]) throws -> (samples: [Double], sigmas: [Double]) {
        let dir = try temporaryDirectory()
        let npy = dir.appendingPathComponent("out.npy"), report = dir.appendingPathComponent("r.json")
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--count", "32", "--seed", "2", "--output", npy.path,
                                      "--report", report.path] + arguments)
        try #require(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        return (try NPYArray(contentsOf: npy).float32Values.map(Double.init), try #require(json["sigmas"] as? [Double]))
    }

    @Test("a VP model with --time flow --shift 3 steps on FlowMatchEuler's shifted sigmas scaled to its largest flow time")
    func vpInFlowTime() throws {
        let file = try #require(try Fixtures.json("flow_sigmas.json") as? [String: Any])
        let golden = try #require((file["cases"] as? [[String: Any]])?.first { $0["name"] as? String == "euler_shift3_n10" }?["sigmas"] as? [Double])
        let top = ContinuousVPSchedule.linear().level(at: 1)
        let tauMax = top.sigma / (top.alpha + top.sigma)
        let ours = try run(["--noise-schedule", "vp-linear", "--time", "flow", "--shift", "3", "--solver", "euler", "--steps", "10"]).sigmas
        try #require(ours.count == golden.count)
        for (a, b) in zip(ours, golden) { #expect(abs(a - b * tauMax) <= 1e-6 * b, "\(a) vs \(b) x \(tauMax)") }
    }

    @Test("the same model and noise in flow time and in its own time reach the same ODE solution")
    func sameSolution() throws {
        let native = try run(["--noise-schedule", "vp-linear", "--solver", "heun", "--steps", "128"]).samples
        let flow = try run(["--noise-schedule", "vp-linear", "--time", "flow", "--shift", "3", "--solver", "heun", "--steps", "128"]).samples
        #expect(Compare.relativeRMS(flow, native) <= 0.01)
        let sigma = try run(["--noise-schedule", "flow", "--time", "sigma", "--schedule", "karras", "--solver", "heun", "--steps", "8"])
        #expect(sigma.sigmas.first! > 100 && sigma.samples.allSatisfy { $0.isFinite }, "\(sigma.sigmas)")
    }

    @Test("compare --times native,flow shows both times for one model, each row against the model's own ground truth")
    func compareBoth() throws {
        let dir = try temporaryDirectory()
        let result = try Diffuse.run(["compare", "--model", "mixture-2d", "--noise-schedule", "vp-linear", "--solvers", "euler,heun",
                                      "--schedules", "karras", "--nfe", "8,64", "--times", "native,flow", "--count", "16",
                                      "--output-dir", dir.path, "--no-cache"])
        try #require(result.status == 0, "\(result.stderr)")
        struct Document: Decodable {
            struct Row: Decodable { var solver: String; var schedule: String; var nfe: Int; var rmse: Double }
            var results: [Row]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let rows = try decoder.decode(Document.self, from: Data(contentsOf: dir.appendingPathComponent("results.json"))).results
        #expect(Set(rows.map(\.schedule)) == ["karras", "karras in flow time"])
        #expect(rows.count == 8)
        for time in ["karras", "karras in flow time"] {
            // More steps, smaller error: each time converges to the same ODE solution.
            let heun = rows.filter { $0.schedule == time && $0.solver == "heun" }.sorted { $0.nfe < $1.nfe }
            #expect(heun.count == 2 && heun[1].rmse < heun[0].rmse / 4 && heun[1].rmse < 0.05, "\(time): \(heun)")
        }
        let bad = try Diffuse.run(["compare", "--model", "mixture-2d", "--times", "later", "--output-dir", dir.path])
        #expect(bad.status != 0 && bad.stderr.contains("--times") && bad.stderr.contains("later"))
    }

    @Test("an unknown --time is refused in one line")
    func refusals() throws {
        try BadInputTests().expectFailure(["--time", "banana"], mentions: ["--time", "banana"])
    }
}

/// ComfyUI's schedule names on a flow scheduler config take the config's own shift, as ComfyUI's
/// `ModelSamplingDiscreteFlow` takes the model's.
@Suite("diffuse sample, ComfyUI schedules with a flow config's shift")
struct ComfyConfigShiftCommandTests {
    func config(_ json: String) throws -> String {
        let url = try temporaryDirectory().appendingPathComponent("scheduler_config.json")
        try Data(json.utf8).write(to: url)
        return url.path
    }

    @Test("a FlowMatchEuler config with shift 3 and --schedule beta gives ComfyUI's shift-3 beta sigmas; --shift overrides it")
    func configShift() throws {
        let file = try #require(try Fixtures.json("comfy_schedules.json") as? [String: Any])
        func golden(_ model: String) throws -> [Double] {
            let c = try #require((file["cases"] as? [[String: Any]])?.first {
                $0["model"] as? String == model && $0["schedule"] as? String == "beta" && $0["steps"] as? Int == 10
            })
            return try #require(c["sigmas"] as? [Double])
        }
        let path = try config(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}"#)
        for (arguments, expected) in [([String](), try golden("flow_shift3")), (["--shift", "1"], try golden("flow"))] {
            let ours = try reportedSigmas(["--scheduler-config", path, "--schedule", "beta", "--solver", "euler", "--steps", "10"] + arguments)
            try #require(ours.count == expected.count)
            for (a, b) in zip(ours, expected) { #expect(abs(a - b) <= 3 * 0x1p-24 * b, "\(arguments): \(a) vs \(b)") }
        }
    }

    @Test("a config that shifts by the image size needs --shift with a ComfyUI name")
    func dynamicRefused() throws {
        let path = try config(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true}"#)
        try BadInputTests().expectFailure(["--scheduler-config", path, "--schedule", "beta", "--solver", "euler"],
                                          mentions: ["beta", "use_dynamic_shifting", "--shift"])
    }
}
