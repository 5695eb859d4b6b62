import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `lcm`, `tcd` (γ = 0 and 0.3) and `cm_multistep` against diffusers' `LCMScheduler`,
/// `TCDScheduler` and `CMStochasticIterativeScheduler` at 2, 4 and 8 steps, fed the draws the
/// reference consumed, in order, and the schedulers' time steps against their golden lists
/// (`tools/fixtures_fewstep.py`).
@Suite("Parity with diffusers: few-step samplers")
struct FewStepParityTests {
    static let file = try! ParityFile.load("parity_fewstep.json")
    static let mixtures: [String: GaussianMixture] = [
        "mixture_2d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")),
        "mixture_16d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")),
    ]

    /// Our grid for a case: LCM's rule on the discrete schedule, or the consistency model's Karras
    /// sigmas at its time points on EDM's.
    static func grid(_ c: ParityCase, schedule: any NoiseSchedule) throws -> TimeGrid {
        guard c.solver == "cm_multistep" else {
            return try StepSchedule(spacing: .lcm(originalSteps: 50), steps: c.steps, final: c.final == "min" ? .minimum : .zero).grid(on: schedule)
        }
        let points = c.integers("time_points") ?? ConsistencyMultistep.timePoints(steps: c.steps)
        return try StepSchedule.grid(sigmas: try ConsistencyMultistep.karrasSigmas(timePoints: points), on: schedule)
    }

    @Test("endpoint within 5e-5 relative RMS of the reference fed the same draws", arguments: file.cases)
    func parity(_ c: ParityCase) throws {
        let schedule = try c.schedule()
        let grid = try Self.grid(c, schedule: schedule)
        let sigmas = grid.levels.map { schedule.displaySigma($0) }
        #expect(sigmas.count == c.sigmas.count)
        // diffusers keeps ᾱ and the consistency sigmas in float32.
        for (a, b) in zip(sigmas, c.sigmas) { #expect(abs(a - b) <= 1e-4 * b, "sigma \(a) vs \(b)") }
        if c.solver != "cm_multistep" { #expect((grid.endsClean ? grid.levels.dropLast() : grid.levels[...]).map(\.t) == c.timesteps) }
        let solver = try SolverCatalog.solver(named: c.solver, options: .init(eta: c.solver == "tcd" ? c.number("gamma") : nil))
        let model = try #require(Self.mixtures[c.mixture])
        let (out, nfe) = try c.run(solver, model: model, schedule: schedule, grid: grid)
        let error = Compare.relativeRMS(out, c.expected)
        #expect(error <= Swift.max(5e-5, 3 * (c.f64_check_rel_rms ?? 0)), "relative RMS \(error)")
        #expect(nfe == c.nfe)
    }

    @Test("LCM's and TCD's time steps and the consistency models' sigmas equal diffusers' golden lists")
    func goldenLists() throws {
        let json = try #require(try Fixtures.json("parity_fewstep.json") as? [String: Any])
        for key in ["lcm_timesteps", "tcd_timesteps"] {
            for entry in try #require(json[key] as? [[String: Any]]) {
                let n = try #require(entry["steps"] as? Int), m = try #require(entry["original_inference_steps"] as? Int)
                let expected = try #require(entry["timesteps"] as? [Double])
                #expect(StepSchedule.diffusersTimesteps(.lcm(originalSteps: m), steps: n, trainingSteps: 1000) == expected, "\(key) N=\(n) M=\(m)")
            }
        }
        for entry in try #require(json["cm_sigmas"] as? [[String: Any]]) {
            let points = try (entry["time_points"] as? [Int]) ?? ConsistencyMultistep.timePoints(steps: try #require(entry["steps"] as? Int))
            let ours = try ConsistencyMultistep.karrasSigmas(timePoints: points)
            let expected = try #require(entry["sigmas"] as? [Double])
            #expect(ours.count == expected.count, "\(points)")
            // diffusers rounds its sigmas to float32.
            for (a, b) in zip(ours, expected) { #expect(abs(a - b) <= 1e-6 * b, "\(points): \(a) vs \(b)") }
        }
    }

    @Test("with a scheduler config, lcm and tcd run on their own time steps; what cannot run is refused")
    func resolver() throws {
        var config = DiffusersSchedulerConfig()
        config.betaSchedule = .scaledLinear; config.betaStart = 0.00085; config.betaEnd = 0.012
        config.timestepSpacing = "leading"; config.stepsOffset = 1
        let schedule = try config.schedule()
        let model = try #require(Self.mixtures["mixture_2d"])
        let lcm = try SamplingResolver.resolve(SamplingRequest(solver: "lcm", steps: 4), model: model, schedule: schedule, config: config)
        #expect(lcm.grid.levels.map(\.t) == [999, 759, 499, 259, schedule.cleanLevel.t] && lcm.grid.endsClean)
        #expect(lcm.spacing == "lcm")
        let tcd = try SamplingResolver.resolve(SamplingRequest(solver: "tcd", steps: 4), model: model, schedule: schedule, config: config)
        #expect(tcd.grid.levels.map(\.t) == [999, 759, 499, 259, 0])
        config.originalInferenceSteps = 25
        let short = try SamplingResolver.resolve(SamplingRequest(solver: "lcm", steps: 2), model: model, schedule: schedule, config: config)
        #expect(short.grid.levels.dropLast().map(\.t) == [999, 519])
        // A spacing given by hand is honoured.
        let karras = try SamplingResolver.resolve(SamplingRequest(solver: "lcm", steps: 4, spacing: "karras"), model: model, schedule: schedule,
                                                  config: config)
        #expect(karras.spacing == "karras")
        // LCM's rule places no sigma range: --sigma-min is refused, not dropped.
        #expect(throws: (any Error).self) {
            try SamplingResolver.resolve(SamplingRequest(solver: "lcm", steps: 4, sigmaMin: 0.1), model: model, schedule: schedule, config: config)
        }
        #expect(throws: (any Error).self) { try SamplingResolver.resolve(SamplingRequest(solver: "lcm", steps: 26), model: model, schedule: schedule, config: config) }
        #expect(throws: (any Error).self) { try SolverCatalog.solver(named: "tcd", options: .init(eta: 1.5)) }
        #expect(throws: (any Error).self) { try ConsistencyMultistep.karrasSigmas(timePoints: [10, 20]) }
        #expect(throws: (any Error).self) { try ConsistencyMultistep.karrasSigmas(timePoints: [40, 0]) }
        #expect(throws: (any Error).self) { try DiffusersSchedulerConfig(json: Data(#"{"_class_name": "LCMScheduler", "timestep_scaling": 5}"#.utf8)) }
    }

    @Test("a few-step config runs its own sampler without --solver; lcm takes LCM's scalings on a discrete schedule only")
    func fewStepConfigs() throws {
        let model = try #require(Self.mixtures["mixture_2d"])
        for (className, expected) in [("LCMScheduler", "lcm"), ("TCDScheduler", "tcd"), ("DDIMScheduler", nil)] {
            let config = try DiffusersSchedulerConfig(json: Data(#"{"_class_name": "\#(className)"}"#.utf8))
            let plan = try SamplingResolver.resolve(SamplingRequest(steps: 4), model: model, schedule: try config.schedule(), config: config)
            #expect(config.fewStepSolverName == expected)
            #expect((plan.solver is LCM || plan.solver is TCD) == (expected != nil), "\(className): \(plan.label)")
            if expected != nil { #expect(plan.grid.levels.dropLast().map(\.t) == [999, 759, 499, 259], "\(className)") }
        }
        let discrete = try DiffusersSchedulerConfig().schedule()
        #expect((SolverCatalog.solver(LCM(), on: discrete) as? LCM)?.timestepScaling == 10)
        #expect((SolverCatalog.solver(LCM(), on: VESchedule()) as? LCM)?.timestepScaling == nil)
        #expect((SolverCatalog.solver(LCM(), on: ReframedSchedule(discrete, frame: .rectifiedFlow)) as? LCM)?.timestepScaling == nil)
        #expect(SolverCatalog.solver(Euler(), on: discrete) is Euler)
    }
}
