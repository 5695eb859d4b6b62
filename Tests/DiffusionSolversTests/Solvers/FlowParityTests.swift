import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Euler, Heun, DPM-Solver++(2M) and UniPC-bh2 on rectified flow against diffusers'
/// `FlowMatchEulerDiscreteScheduler`, `FlowMatchHeunDiscreteScheduler`, and
/// `DPMSolverMultistepScheduler` / `UniPCMultistepScheduler` with `use_flow_sigmas` and shift 3,
/// each driving the exact flow velocity of a Gaussian mixture from the same initial noise
/// (fixtures from `tools/fixtures_flow.py`). The grid and solver come from the scheduler config the
/// reference saved, through the resolver, as `diffuse sample --scheduler-config` runs them.
@Suite("Parity with diffusers: flow matching")
struct FlowParityTests {
    static let fileName = "parity_flow.json"
    static let cases: [ParityCase] = (try? ParityFile.load(fileName))?.cases ?? []

    /// Each case's saved scheduler config, as JSON bytes, by case name.
    static func configs() throws -> [String: Data] {
        guard let file = try Fixtures.json(fileName) as? [String: Any], let cases = file["cases"] as? [[String: Any]] else {
            throw ScheduleError("\(fileName): no cases")
        }
        var result: [String: Data] = [:]
        for c in cases {
            guard let name = c["name"] as? String, let options = c["options"] as? [String: Any], let config = options["config"] as? [String: Any] else {
                throw ScheduleError("\(fileName): a case without its config")
            }
            result[name] = try JSONSerialization.data(withJSONObject: config)
        }
        return result
    }

    static let mixtures: [String: GaussianMixture] = [
        "mixture_2d": try? GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")),
        "mixture_16d": try? GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")),
    ].compactMapValues { $0 }

    @Test("the fixture holds four solvers on two mixtures at 5, 10 and 20 steps")
    func fixtureLoads() throws {
        let cases = try ParityFile.load(Self.fileName).cases
        #expect(cases.count == 24)
        #expect(Set(cases.map(\.solver)) == ["euler", "heun", "dpmpp_2m", "uni_pc_bh2"])
        #expect(Set(cases.map(\.steps)) == [5, 10, 20])
        #expect(Self.mixtures.count == 2)
    }

    @Test("endpoint within 5e-5 relative RMS of diffusers on the config's own grid", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let data = try #require(try Self.configs()[c.name])
        let config = try DiffusersSchedulerConfig(json: data)
        let schedule = try config.noiseSchedule()
        let mixture = try #require(Self.mixtures[c.mixture])
        let plan = try SamplingResolver.resolve(SamplingRequest(solver: c.solver, steps: c.steps), model: mixture, schedule: schedule,
                                                config: config)
        let ours = plan.grid.levels.map { schedule.displaySigma($0) }
        try #require(ours.count == c.sigmas.count, "grid has \(ours.count) levels, reference \(c.sigmas.count)")
        for (a, b) in zip(ours, c.sigmas) { #expect(abs(a - b) <= 2e-6 * b, "sigma \(a) vs \(b)") }
        let (out, evaluations) = try run(plan.solver, model: mixture, schedule: schedule, grid: plan.grid, x: c.initialSample)
        let error = Compare.relativeRMS(out, c.expected)
        #expect(error <= 5e-5, "relative RMS \(error)")
        #expect(evaluations == c.nfe)
    }

    func run<S: Solver>(_ solver: S, model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid,
                        x: SampleTensor) throws -> (SampleTensor, Int) {
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x)
        return (try run.finish(), run.evaluations)
    }
}
