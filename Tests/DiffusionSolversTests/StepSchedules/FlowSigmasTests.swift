import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// One golden grid of `flow_sigmas.json` (`tools/fixtures_flow.py`): a diffusers flow scheduler's
/// saved config, the step count, and its `sigmas` and `timesteps` after `set_timesteps`.
struct FlowGridCase: Sendable, CustomStringConvertible {
    var name: String
    var className: String
    var config: Data
    var steps: Int
    var imageSequenceLength: Int?
    var mu: Double?
    var sigmas: [Double]
    var timesteps: [Double]
    var description: String { name }

    static let fileName = "flow_sigmas.json"

    static func load() throws -> [FlowGridCase] {
        guard let file = try Fixtures.json(fileName) as? [String: Any], let cases = file["cases"] as? [[String: Any]] else {
            throw ScheduleError("\(fileName): no cases")
        }
        return try cases.map { c in
            guard let name = c["name"] as? String, let className = c["class"] as? String, let config = c["config"] as? [String: Any],
                  let steps = c["steps"] as? Int, let sigmas = c["sigmas"] as? [Double], let timesteps = c["timesteps"] as? [Double] else {
                throw ScheduleError("\(fileName): malformed case")
            }
            return FlowGridCase(name: name, className: className, config: try JSONSerialization.data(withJSONObject: config), steps: steps,
                                imageSequenceLength: c["image_seq_len"] as? Int, mu: c["mu"] as? Double, sigmas: sigmas, timesteps: timesteps)
        }
    }

    /// FlowMatchHeun holds each inner sigma and timestep twice; ours are the distinct levels.
    var distinctSigmas: [Double] {
        guard className == "FlowMatchHeunDiscreteScheduler" else { return sigmas }
        return [sigmas[0]] + stride(from: 1, to: sigmas.count - 1, by: 2).map { sigmas[$0] } + [sigmas[sigmas.count - 1]]
    }
    var distinctTimesteps: [Double] {
        guard className == "FlowMatchHeunDiscreteScheduler" else { return timesteps }
        return [timesteps[0]] + stride(from: 1, to: timesteps.count, by: 2).map { timesteps[$0] }
    }
}

@Suite("Flow sigmas: diffusers' FlowMatch and use_flow_sigmas grids")
struct FlowSigmasTests {
    static let cases: [FlowGridCase] = (try? FlowGridCase.load()) ?? []

    /// diffusers stores its sigmas in float32 (relative rounding 6e-8) and computes FlowMatchEuler's
    /// end points in float32 before shifting them again; 2e-6 relative bounds both.
    static let tolerance = 2e-6

    @Test("the fixture holds every configured grid")
    func fixtureLoads() throws {
        let cases = try FlowGridCase.load()
        #expect(cases.count == 63)
        #expect(Set(cases.map(\.className)) == ["FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler", "DPMSolverMultistepScheduler",
                                                 "UniPCMultistepScheduler", "DEISMultistepScheduler", "SASolverScheduler"])
    }

    @Test("the saved config read as it is gives diffusers' sigmas and timesteps", arguments: cases)
    func golden(_ c: FlowGridCase) throws {
        let config = try DiffusersSchedulerConfig(json: c.config)
        #expect(config.className == c.className)
        let flow = try #require(config.flow)
        if let mu = c.mu, let length = c.imageSequenceLength {
            let dynamic = try #require(flow.dynamicShifting)
            #expect(abs(dynamic.mu(imageSequenceLength: length) - mu) <= 1e-12 * abs(mu))
        }
        let rule = try flow.sigmas(imageSequenceLength: c.imageSequenceLength)
        let ours = try rule.sigmas(steps: c.steps)
        let expected = c.distinctSigmas
        try #require(ours.count == expected.count, "\(ours.count) sigmas, diffusers \(expected.count)")
        for (i, (a, b)) in zip(ours, expected).enumerated() {
            #expect(abs(a - b) <= Self.tolerance * b, "sigma \(i): \(a) vs \(b)")
        }
        let timesteps = try rule.timesteps(steps: c.steps)
        try #require(timesteps.count == c.distinctTimesteps.count)
        for (i, (a, b)) in zip(timesteps, c.distinctTimesteps).enumerated() {
            if rule.rule == .flowMatch {
                #expect(abs(a - b) <= Self.tolerance * b, "timestep \(i): \(a) vs \(b)")
            } else {
                #expect(a == b, "timestep \(i): \(a) vs \(b)")
            }
        }
        // The run's grid: the same levels, without a repeated last one.
        let schedule = RectifiedFlowSchedule()
        let grid = try rule.grid(steps: c.steps, on: schedule)
        let levels = expected.last == 0 ? expected : Array(expected.dropLast())
        #expect(grid.levels.count == levels.count)
        for (a, b) in zip(grid.levels.map { schedule.displaySigma($0) }, levels) { #expect(abs(a - b) <= Self.tolerance * b) }
    }

    @Test("the resolver places the flow sigmas on --noise-schedule flow with a shift, with or without a named solver")
    func resolver() throws {
        let schedule = RectifiedFlowSchedule()
        let golden = try #require(try FlowGridCase.load().first { $0.name == "euler_shift3_n5" })
        for solver in [nil, "euler"] as [String?] {
            var request = SamplingRequest(solver: solver, nfe: solver == nil ? 5 : nil)
            request.steps = solver == nil ? nil : 5
            request.shift = 3
            let plan = try SamplingResolver.resolve(request, model: BuiltInModels.glyphs, schedule: schedule)
            let ours = plan.grid.levels.map { schedule.displaySigma($0) }
            #expect(ours.count == golden.sigmas.count)
            for (a, b) in zip(ours, golden.sigmas) { #expect(abs(a - b) <= Self.tolerance * b, "\(a) vs \(b)") }
            #expect(plan.spacing == "flow-match")
        }
        // Without a flow flag, --noise-schedule flow keeps the spacings (default karras).
        let plain = try SamplingResolver.resolve(SamplingRequest(solver: "euler", steps: 5), model: BuiltInModels.glyphs, schedule: schedule)
        #expect(plain.spacing == "karras")
    }

    @Test("the shift maps 0 and 1 to themselves and its three forms agree where they should")
    func shiftForms() throws {
        for s in [0.0, 0.25, 0.5, 0.999, 1.0] {
            #expect(abs(FlowShift.exponential(mu: Double.log(3))(s) - FlowShift.constant(3)(s)) <= 1e-15)
            #expect(abs(FlowShift.linear(mu: 3)(s) - FlowShift.constant(3)(s)) <= 1e-15)
        }
        #expect(FlowShift.constant(3)(0) == 0 && FlowShift.constant(3)(1) == 1)
        // SD3's shift 3 moves the midpoint to 3/4.
        #expect(FlowShift.constant(3)(0.5) == 0.75)
        #expect(throws: ScheduleError.self) { try FlowShift.constant(0).validated() }
        #expect(throws: ScheduleError.self) { try FlowShift.linear(mu: -1).validated() }
    }

    @Test("configs that cannot be honoured are refused in one line naming the class or key")
    func refusals() throws {
        func message(_ json: String) -> String? {
            do { _ = try DiffusersSchedulerConfig(json: Data(json.utf8)); return nil } catch { return "\(error)" }
        }
        let cases: [(String, String)] = [
            (#"{"_class_name": "FlowMatchLCMScheduler", "shift": 3}"#, "FlowMatchLCMScheduler"),
            (#"{"_class_name": "EDMEulerScheduler"}"#, "EDMEulerScheduler"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "invert_sigmas": true}"#, "invert_sigmas"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "stochastic_sampling": true}"#, "stochastic_sampling"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_karras_sigmas": true, "use_beta_sigmas": true}"#, "use_beta_sigmas"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true, "time_shift_type": "cubic"}"#, "time_shift_type"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": -1}"#, "shift"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift_terminal": 1.5}"#, "shift terminal"),
            (#"{"_class_name": "DPMSolverMultistepScheduler", "use_flow_sigmas": true, "use_karras_sigmas": true}"#, "use_karras_sigmas"),
            (#"{"_class_name": "DPMSolverMultistepScheduler", "use_flow_sigmas": true, "final_sigmas_type": "sigma_min"}"#, "final_sigmas_type"),
            (#"{"_class_name": "DEISMultistepScheduler", "use_flow_sigmas": true, "use_dynamic_shifting": true, "time_shift_type": "linear"}"#, "time_shift_type"),
            (#"{"_class_name": "DPMSolverSinglestepScheduler", "use_flow_sigmas": true, "flow_shift": 3}"#, "DPMSolverSinglestepScheduler"),
            (#"{"use_flow_sigmas": true, "flow_shift": 3}"#, "use_flow_sigmas"),
        ]
        for (json, named) in cases {
            let m = try #require(message(json), "accepted: \(json)")
            #expect(m.contains(named), "\(m)")
            #expect(!m.contains("\n"))
        }
        // A VP class, and a file without a class, read as before; a flow config has no VP schedule.
        #expect(try DiffusersSchedulerConfig(json: Data(#"{"_class_name": "EulerDiscreteScheduler", "beta_schedule": "scaled_linear"}"#.utf8)).flow == nil)
        #expect(try DiffusersSchedulerConfig(json: Data(#"{"beta_end": 0.012}"#.utf8)).flow == nil)
        let flow = try DiffusersSchedulerConfig(json: Data(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}"#.utf8))
        #expect(throws: ScheduleError.self) { try flow.schedule() }
        #expect(try flow.noiseSchedule().frame == .rectifiedFlow)
        #expect(flow.predictionType == .flowVelocity)
        // Dynamic shifting needs the image size, a fixed shift refuses one.
        let dynamic = try DiffusersSchedulerConfig(json: Data(#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true}"#.utf8))
        #expect(throws: ScheduleError.self) { try dynamic.flow?.sigmas(imageSequenceLength: nil) }
        #expect(throws: ScheduleError.self) { try flow.flow?.sigmas(imageSequenceLength: 1024) }
    }
}
