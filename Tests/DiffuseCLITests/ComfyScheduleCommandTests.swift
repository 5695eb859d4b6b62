import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `diffuse sample --schedule <ComfyUI name>` reports ComfyUI's sigmas (`comfy_schedules.json`, from
/// `tools/fixtures_comfy_schedules.py`), shifted by `--shift` on a flow schedule.
@Suite("diffuse sample, ComfyUI schedules")
struct ComfyScheduleCommandTests {
    static func golden(_ model: String, _ schedule: String, steps: Int) throws -> [Double] {
        let file = try #require(try Fixtures.json("comfy_schedules.json") as? [String: Any])
        let cases = try #require(file["cases"] as? [[String: Any]])
        let c = try #require(cases.first { $0["model"] as? String == model && $0["schedule"] as? String == schedule && $0["steps"] as? Int == steps })
        return try #require(c["sigmas"] as? [Double])
    }

    /// ComfyUI's float32 sigmas lie within 3 float32 roundings of ours on these cases (the flow table
    /// and `sigma(t)` run in float32; ComfyScheduleTests bounds every case).
    func expectClose(_ ours: [Double], _ expected: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(ours.count == expected.count, "\(ours.count) vs \(expected.count) levels", sourceLocation: sourceLocation)
        for (a, b) in zip(ours, expected) { #expect(abs(a - b) <= 3 * 0x1p-24 * b, "\(a) vs \(b)", sourceLocation: sourceLocation) }
    }

    @Test("--schedule beta --noise-schedule flow --shift 3 reports ComfyUI's shifted beta sigmas")
    func shiftedBeta() throws {
        let golden = try Self.golden("flow_shift3", "beta", steps: 10)
        expectClose(try reportedSigmas(["--schedule", "beta", "--noise-schedule", "flow", "--shift", "3", "--solver", "euler", "--steps", "10"]), golden)
        // Without --shift the same name gives the unshifted sigmas.
        expectClose(try reportedSigmas(["--schedule", "beta", "--noise-schedule", "flow", "--solver", "euler", "--steps", "10"]),
                    try Self.golden("flow", "beta", steps: 10))
    }

    @Test("on SD's discrete schedule (a scheduler config) the names give ComfyUI's ModelSamplingDiscrete sigmas")
    func discrete() throws {
        let config = Fixtures.url("scheduler_config_sd.json").path
        for name in ["simple", "normal", "sgm_uniform"] {
            expectClose(try reportedSigmas(["--scheduler-config", config, "--schedule", name, "--solver", "euler", "--steps", "10"]),
                        try Self.golden("sd1", name, steps: 10))
        }
    }

    @Test("what has no ComfyUI form is refused in one line")
    func refusals() throws {
        let bad = BadInputTests()
        try bad.expectFailure(["--noise-schedule", "vp-linear", "--schedule", "beta", "--steps", "5"], mentions: ["model_sampling"])
        try bad.expectFailure(["--noise-schedule", "edm", "--schedule", "beta", "--shift", "3", "--steps", "5"], mentions: ["--shift"])
        try bad.expectFailure(["--noise-schedule", "flow", "--schedule", "karras", "--shift", "3", "--steps", "5"], mentions: ["--shift"])
        try bad.expectFailure(["--noise-schedule", "flow", "--schedule", "beta", "--image-seq-len", "1024", "--steps", "5"], mentions: ["--image-seq-len"])
        try bad.expectFailure(["--noise-schedule", "flow", "--schedule", "kl_optimal", "--sigma-max", "0.5", "--steps", "5"], mentions: ["kl_optimal"])
    }
}
