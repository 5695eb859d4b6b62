import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `diffuse sample` on flow schedules: the grid a flow scheduler config or `--shift`,
/// `--image-seq-len`, `--shift-terminal` give is diffusers' (golden lists in `flow_sigmas.json`,
/// from `tools/fixtures_flow.py`), and what cannot be honoured is refused in one line.
@Suite("diffuse sample, flow matching")
struct FlowCommandTests {
    /// A golden case of `flow_sigmas.json`: its saved config and sigmas.
    static func golden(_ name: String) throws -> (config: [String: Any], sigmas: [Double]) {
        let file = try #require(try Fixtures.json("flow_sigmas.json") as? [String: Any])
        let cases = try #require(file["cases"] as? [[String: Any]])
        let c = try #require(cases.first { $0["name"] as? String == name })
        return (try #require(c["config"] as? [String: Any]), try #require(c["sigmas"] as? [Double]))
    }

    func write(_ config: [String: Any], in dir: URL) throws -> String {
        let url = dir.appendingPathComponent("scheduler_config.json")
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        return url.path
    }

    func expectClose(_ ours: [Double], _ expected: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(ours.count == expected.count, "\(ours.count) vs \(expected.count) levels", sourceLocation: sourceLocation)
        for (a, b) in zip(ours, expected) { #expect(abs(a - b) <= 2e-6 * b, "\(a) vs \(b)", sourceLocation: sourceLocation) }
    }

    @Test("--noise-schedule flow with --shift, --image-seq-len and --shift-terminal gives FlowMatchEuler's grid")
    func flags() throws {
        expectClose(try reportedSigmas(["--noise-schedule", "flow", "--shift", "3", "--solver", "euler", "--steps", "10"]),
                    try Self.golden("euler_shift3_n10").sigmas)
        expectClose(try reportedSigmas(["--noise-schedule", "flow", "--image-seq-len", "1024", "--solver", "euler", "--steps", "10"]),
                    try Self.golden("euler_dynamic_exponential_n10_seq1024").sigmas)
        expectClose(try reportedSigmas(["--noise-schedule", "flow", "--shift", "3", "--shift-terminal", "0.1", "--solver", "heun", "--steps", "5"]),
                    try Self.golden("euler_shift3_terminal_n5").sigmas)
    }

    @Test("a flow scheduler config gives its class's grid")
    func configs() throws {
        let dir = try temporaryDirectory()
        for (name, solver, steps, extra) in [("dpm_flow3_n10", "dpmpp_2m", "10", [String]()),
                                             ("unipc_flow3_n20", "uni_pc_bh2", "20", []),
                                             ("euler_shift3_karras_n5", "euler", "5", []),
                                             ("euler_dynamic_linear_n10_seq4096", "euler", "10", ["--image-seq-len", "4096"])] {
            let golden = try Self.golden(name)
            let path = try write(golden.config, in: dir)
            expectClose(try reportedSigmas(["--scheduler-config", path, "--solver", solver, "--steps", steps] + extra), golden.sigmas)
        }
    }

    @Test("a flow config or flow flag that cannot be honoured is refused in one line")
    func refusals() throws {
        let bad = BadInputTests()
        let dir = try temporaryDirectory()
        func config(_ json: String) throws -> String {
            let url = dir.appendingPathComponent("config-\(UUID().uuidString).json")
            try Data(json.utf8).write(to: url)
            return url.path
        }
        try bad.expectFailure(["--scheduler-config", try config(#"{"_class_name": "FlowMatchLCMScheduler", "shift": 3.0}"#), "--solver", "euler"],
                              mentions: ["FlowMatchLCMScheduler"])
        try bad.expectFailure(["--scheduler-config", try config(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "invert_sigmas": true}"#)],
                              mentions: ["invert_sigmas"])
        try bad.expectFailure(["--scheduler-config", try config(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "stochastic_sampling": true}"#)],
                              mentions: ["stochastic_sampling"])
        try bad.expectFailure(["--scheduler-config", try config(#"{"_class_name": "DPMSolverMultistepScheduler", "use_flow_sigmas": true, "use_karras_sigmas": true}"#)],
                              mentions: ["use_karras_sigmas"])
        let dynamic = try config(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true}"#)
        try bad.expectFailure(["--scheduler-config", dynamic, "--solver", "euler"], mentions: ["image-seq-len"])
        try bad.expectFailure(["--scheduler-config", dynamic, "--solver", "euler", "--shift", "3"], mentions: ["--shift", "image-seq-len"])
        try bad.expectFailure(["--shift", "3", "--solver", "euler"], mentions: ["--shift", "flow"])
        try bad.expectFailure(["--scheduler-config", Fixtures.url("scheduler_config_sd.json").path, "--image-seq-len", "1024"],
                              mentions: ["--image-seq-len", "flow"])
        try bad.expectFailure(["--noise-schedule", "flow", "--shift", "3", "--schedule", "karras"], mentions: ["--shift", "--schedule"])
        try bad.expectFailure(["--noise-schedule", "flow", "--shift", "0"], mentions: ["shift"])
        try bad.expectFailure(["--noise-schedule", "flow", "--shift-terminal", "2"], mentions: ["terminal"])
        try bad.expectFailure(["--noise-schedule", "flow", "--shift", "3", "--image-seq-len", "1024"], mentions: ["--shift", "--image-seq-len"])
        try bad.expectFailure(["--noise-schedule", "flow", "--shift", "3", "--sigma-min", "0.01"], mentions: ["--sigma-min"])
    }
}
