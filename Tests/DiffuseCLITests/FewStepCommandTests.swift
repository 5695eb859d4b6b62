import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `diffuse sample --scheduler-config C --solver lcm|tcd --steps N --step-noise Z.npy` reproduces
/// diffusers' `LCMScheduler` and `TCDScheduler` (the cases of `parity_fewstep.json`), on the
/// schedulers' own time steps, `--solver cm_multistep --sigmas …` its
/// `CMStochasticIterativeScheduler`, and bad few-step options are refused in one line.
@Suite("diffuse sample, few-step samplers")
struct FewStepCommandTests {
    static let file = try! ParityFile.load("parity_fewstep.json")

    @Test("lcm and tcd from the command line match diffusers fed the same draws",
          arguments: ["lcm_mixture_2d_sd_n4", "tcd_gamma0.3_mixture_2d_sd_n4", "tcd_gamma0.0_mixture_16d_lin_n2", "lcm_mixture_16d_lin_n8"])
    func matchesDiffusers(_ name: String) throws {
        let c = try #require(Self.file.cases.first { $0.name == name })
        let dir = try temporaryDirectory()
        let ns = c.noise_schedule
        let config: [String: Any] = ["_class_name": c.solver == "lcm" ? "LCMScheduler" : "TCDScheduler", "beta_schedule": ns.beta_schedule!,
                                     "beta_start": ns.beta_start!, "beta_end": ns.beta_end!, "num_train_timesteps": ns.num_train_timesteps!,
                                     "steps_offset": ns.steps_offset ?? 0, "prediction_type": "epsilon", "original_inference_steps": 50]
        let configURL = dir.appendingPathComponent("scheduler_config.json")
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let b = c.x_init.count, d = c.x_init[0].count
        let initURL = dir.appendingPathComponent("z.npy"), stepURL = dir.appendingPathComponent("steps.npy")
        try NPYArray(shape: [b, d], float32: c.x_init.flatMap { $0 }).write(to: initURL)
        var args = ["sample", "--model", Fixtures.url("\(c.mixture).safetensors").path, "--scheduler-config", configURL.path,
                    "--solver", c.solver, "--steps", "\(c.steps)", "--initial-noise", initURL.path]
        if let draws = c.step_noise, !draws.isEmpty {
            try NPYArray(shape: [draws.count, b, d], float32: draws.flatMap { $0.flatMap { $0 } }).write(to: stepURL)
            args += ["--step-noise", stepURL.path]
        }
        if c.solver == "tcd" { args += ["--eta", "\(c.number("gamma") ?? 0)"] }
        let out = dir.appendingPathComponent("o.npy")
        let result = try Diffuse.run(args + ["--output", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let values = try NPYArray(contentsOf: out).float32Values.map(Double.init)
        let error = Compare.relativeRMS(values, c.expected)
        #expect(error <= 5e-5, "relative RMS \(error)")
    }

    @Test("cm_multistep on EDM with the consistency model's sigmas matches diffusers", arguments: ["cm_multistep_mixture_2d_points_22-0", "cm_multistep_mixture_16d_n4"])
    func consistencyMultistep(_ name: String) throws {
        let c = try #require(Self.file.cases.first { $0.name == name })
        let dir = try temporaryDirectory()
        let b = c.x_init.count, d = c.x_init[0].count
        let initURL = dir.appendingPathComponent("z.npy"), stepURL = dir.appendingPathComponent("steps.npy")
        // --initial-noise is standard normal, scaled by the first sigma (80) as the scheduler's init_noise_sigma.
        try NPYArray(shape: [b, d], float32: c.x_init.flatMap { $0 }.map { $0 / Float(c.sigmas[0]) }).write(to: initURL)
        let draws = try #require(c.step_noise)
        try NPYArray(shape: [draws.count, b, d], float32: draws.flatMap { $0.flatMap { $0 } }).write(to: stepURL)
        let out = dir.appendingPathComponent("o.npy")
        let result = try Diffuse.run(["sample", "--model", Fixtures.url("\(c.mixture).safetensors").path, "--noise-schedule", "edm",
                                      "--solver", "cm_multistep", "--sigmas", c.sigmas.map { "\($0)" }.joined(separator: ","),
                                      "--initial-noise", initURL.path, "--step-noise", stepURL.path, "--output", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let error = Compare.relativeRMS(try NPYArray(contentsOf: out).float32Values.map(Double.init), c.expected)
        #expect(error <= 5e-5, "relative RMS \(error)")
    }

    @Test("bad few-step options are refused in one line")
    func refusals() throws {
        let bad = BadInputTests()
        let dir = try temporaryDirectory()
        let config = dir.appendingPathComponent("lcm.json")
        try Data(#"{"_class_name": "LCMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}"#.utf8).write(to: config)
        try bad.expectFailure(["--scheduler-config", config.path, "--solver", "lcm", "--steps", "60"], mentions: ["lcm", "60"])
        try bad.expectFailure(["--scheduler-config", config.path, "--solver", "tcd", "--eta", "1.5"], mentions: ["--eta"])
        let scaled = dir.appendingPathComponent("scaled.json")
        try Data(#"{"_class_name": "LCMScheduler", "timestep_scaling": 5}"#.utf8).write(to: scaled)
        try bad.expectFailure(["--scheduler-config", scaled.path, "--solver", "lcm"], mentions: ["timestep_scaling"])
        try bad.expectFailure(["--model", "mixture-2d", "--noise-schedule", "flow", "--solver", "cm_multistep"], mentions: ["cm_multistep"])
    }
}
