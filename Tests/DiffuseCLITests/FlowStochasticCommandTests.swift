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
