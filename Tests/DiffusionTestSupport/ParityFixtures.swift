import Foundation
import Testing
import DiffusionSolvers

/// One reference trajectory written by `tools/fixtures_foundation.py` (and later scripts):
/// a peer library's sampler run on an exact mixture denoiser from recorded initial noise.
public struct ParityCase: Decodable, Sendable, CustomStringConvertible {
    public struct NoiseScheduleSpec: Decodable, Sendable {
        public var kind: String
        public var beta_schedule: String?
        public var beta_start: Double?
        public var beta_end: Double?
        public var num_train_timesteps: Int?
        public var steps_offset: Int?
        public var beta_min: Double?
        public var beta_max: Double?
    }
    public var name: String
    public var reference: String
    public var solver: String
    public var eta: Double
    public var mixture: String
    public var noise_schedule: NoiseScheduleSpec
    public var spacing: String
    public var sigma_schedule: String?
    public var final: String
    public var steps: Int
    public var timesteps: [Double]?
    public var sigmas: [Double]
    public var nfe: Int
    public var x_init: [[Float]]
    public var step_noise: [[[Float]]]?
    public var x_final: [[Double]]?
    /// The reference produced NaN (x_final is null): only finiteness of ours is checked.
    public var reference_nan: Bool?
    public var options: [String: JSONValue]?
    /// The reference's distance to an independent float64 recomputation on the same grid.
    public var f64_check_rel_rms: Double?
    /// The order the reference used at each step, where it records it.
    public var step_orders: [Int]?

    public var description: String { name }

    public func option(_ key: String) -> JSONValue? { options?[key] ?? nil }
    public func number(_ key: String) -> Double? { if case .number(let v)? = option(key) { return v }; return nil }
    public func string(_ key: String) -> String? { if case .string(let v)? = option(key) { return v }; return nil }
    public func bool(_ key: String) -> Bool? { if case .bool(let v)? = option(key) { return v }; return nil }
    public func integers(_ key: String) -> [Int]? {
        if case .array(let values)? = option(key) { return values.compactMap { if case .number(let v) = $0 { return Int(v) }; return nil } }
        return nil
    }

    /// Which library's spacing rules the case follows.
    public var isDDIM: Bool { reference.hasSuffix("DDIMScheduler") || reference.hasSuffix("DDPMScheduler") }

    /// The noise schedule the case ran on.
    public func schedule() throws -> any NoiseSchedule {
        switch noise_schedule.kind {
        case "vp-discrete":
            guard let name = noise_schedule.beta_schedule, let kind = DiscreteVPSchedule.BetaSchedule(rawValue: name) else {
                throw ScheduleError("fixture \(self.name): unknown beta schedule")
            }
            return try DiscreteVPSchedule(betaSchedule: kind, betaStart: noise_schedule.beta_start!, betaEnd: noise_schedule.beta_end!,
                                          trainingSteps: noise_schedule.num_train_timesteps!)
        case "vp-continuous-linear":
            return ContinuousVPSchedule.linear(betaMin: noise_schedule.beta_min ?? 0.1, betaMax: noise_schedule.beta_max ?? 20)
        case "edm": return VESchedule()
        case "flow": return RectifiedFlowSchedule()
        default: throw ScheduleError("fixture \(name): unknown noise schedule \(noise_schedule.kind)")
        }
    }

    /// Our step schedule for the reference's spacing name.
    public func stepSchedule() -> StepSchedule {
        let ours: StepSpacing
        let kDiffusionPorts = isDDIM || reference.contains("Euler") || reference.contains("Heun") || reference.contains("PNDM")
        switch (sigma_schedule, self.spacing) {
        case ("karras", _): ours = .karras(rho: 7)
        case ("exponential", _): ours = .exponential
        case ("lu", _): ours = .logSNR
        case (_, "karras"): ours = .karras(rho: 7)
        case (_, "exponential"): ours = .exponential
        case (_, "leading"): ours = kDiffusionPorts ? .ddimLeading : .leading
        case (_, "trailing"): ours = .trailing
        case (_, "linspace"): ours = isDDIM ? .ddimLinspace : kDiffusionPorts ? .timeUniform : .linspace
        default: ours = .timeUniform
        }
        return StepSchedule(spacing: ours, steps: steps, final: final == "zero" ? .zero : .minimum,
                            stepsOffset: noise_schedule.steps_offset ?? 0)
    }

    public var initialSample: SampleTensor {
        SampleTensor(shape: [x_init.count, x_init[0].count], scalars: x_init.flatMap { $0 })
    }

    public var expected: [Double] { (x_final ?? []).flatMap { $0 } }

    public var recordedNoise: RecordedNoise? {
        step_noise.map { draws in
            RecordedNoise(draws: draws.map { SampleTensor(shape: [$0.count, $0[0].count], scalars: $0.flatMap { $0 }) })
        }
    }
}

/// A reference's grid as our grids express it, and what the run should then cost.
public struct ReconciledGrid: Sendable {
    public var stepSchedule: StepSchedule
    /// The reference's user-facing sigmas, without a repeated final value.
    public var sigmas: [Double]
    public var nfe: Int
    /// The reference's per-step orders without the dropped last step, when one was dropped.
    public var orders: [Int]?
    /// Whether the reference repeated its final sigma (a zero-length last step).
    public var droppedRepeatedFinal: Bool

    /// Checks that `grid` has the reference's sigmas. diffusers accumulates ᾱ in float32, which
    /// moves its sigmas by up to 8.3e-5 relative (linear betas at t = 0, measured by the fixture
    /// scripts), hence 1e-4.
    public func expectMatches(_ grid: TimeGrid, schedule: any NoiseSchedule) -> String? {
        let ours = grid.levels.map { schedule.displaySigma($0) }
        guard ours.count == sigmas.count else { return "grid has \(ours.count) levels, reference \(sigmas.count)" }
        for (a, b) in zip(ours, sigmas) where abs(a - b) > 1e-4 * b { return "sigma \(a) vs \(b)" }
        return nil
    }
}

extension ParityCase {
    /// The grid and expected NFE of this case in our terms. A reference that repeats its last sigma
    /// takes a zero-length step that leaves the sample unchanged and costs one evaluation (DDIM with
    /// `set_alpha_to_one=False` ending at t = 0; diffusers' Karras or exponential points with
    /// `sigma_min`, which are N points ending at σ_min — our spacing with N − 1 steps and `min`);
    /// our grids never repeat a level and end one level earlier.
    public func reconciled() -> ReconciledGrid {
        var result = ReconciledGrid(stepSchedule: stepSchedule(), sigmas: sigmas, nfe: nfe, orders: nil, droppedRepeatedFinal: false)
        let n = sigmas.count
        if n >= 2, abs(sigmas[n - 1] - sigmas[n - 2]) <= 1e-6 * sigmas[n - 1] {
            result.sigmas.removeLast()
            result.nfe -= 1
            if !result.stepSchedule.spacing.isTimestepRule { result.stepSchedule.steps -= 1 }
            result.orders = step_orders.map { Array($0.dropLast()) }
            result.droppedRepeatedFinal = true
        }
        return result
    }
}

/// Any JSON value (for the free-form `options` of a case).
public enum JSONValue: Decodable, Sendable, Equatable {
    case number(Double), string(String), bool(Bool), array([JSONValue]), object([String: JSONValue]), null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}

/// A file of parity cases.
public struct ParityFile: Decodable, Sendable {
    public var generator: String
    public var cases: [ParityCase]

    public static func load(_ name: String) throws -> ParityFile {
        try JSONDecoder().decode(ParityFile.self, from: Data(contentsOf: Fixtures.url(name)))
    }
}

extension Fixtures {
    /// The sigma of every model call of each case of a parity file, in call order (its
    /// `model_sigma` lists), by case name; empty if the file is missing.
    public static func modelCallSigmas(_ fileName: String) -> [String: [Double]] {
        struct Calls: Decodable { var name: String; var model_sigma: [Double] }
        struct CallsFile: Decodable { var cases: [Calls] }
        guard let data = try? Data(contentsOf: url(fileName)), let file = try? JSONDecoder().decode(CallsFile.self, from: data) else { return [:] }
        return Dictionary(file.cases.map { ($0.name, $0.model_sigma) }, uniquingKeysWith: { a, _ in a })
    }
}

extension ParityCase {
    /// Runs `solver` on `grid` from this case's initial sample, fed `noise` (default: the case's
    /// recorded step noise), as the reference did; returns the endpoint and the model evaluations.
    public func run(_ solver: any Solver, model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid,
                    noise: (any NoiseSource)? = nil) throws -> (SampleTensor, Int) {
        func pull<S: Solver>(_ solver: S) throws -> (SampleTensor, Int) {
            let r = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: initialSample,
                                    noise: noise ?? recordedNoise)
            return (try r.finish(), r.evaluations)
        }
        return try pull(solver)
    }
}

extension ParityCase {
    /// Runs `solver` on this case's own sigmas from its mixture and checks what a reference run
    /// fixes: the NFE, the level (`σ/α`) of every model call within `callTolerance` relative, and
    /// the endpoint within `tolerance` relative RMS.
    public func expectReferenceRun(_ solver: any Solver, calls expectedCalls: [Double]?, callTolerance: Double = 1e-4,
                                   tolerance: Double = 5e-5, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let schedule = try schedule()
        let grid = try StepSchedule.grid(sigmas: sigmas, on: schedule)
        let model = LevelRecordingModel(try GaussianMixture(contentsOf: Fixtures.url("\(mixture).safetensors")))
        let (out, evaluations) = try run(solver, model: model, schedule: schedule, grid: grid)
        #expect(evaluations == nfe, "NFE \(evaluations), reference \(nfe)", sourceLocation: sourceLocation)
        let calls = try #require(expectedCalls, "no model-call levels recorded for \(name)", sourceLocation: sourceLocation)
        try #require(model.sigmas.count == calls.count, sourceLocation: sourceLocation)
        for (a, b) in zip(model.sigmas, calls) where abs(a - b) > callTolerance * b {
            Issue.record("model called at \(a), reference \(b)", sourceLocation: sourceLocation)
        }
        let error = Compare.relativeRMS(out, expected)
        #expect(error <= tolerance, "relative RMS \(error)", sourceLocation: sourceLocation)
    }
}

/// Float64 recomputations on our grids of the parity cases whose reference no grid of ours
/// reproduces (`tools/fixtures_f64_grid.py`): diffusers' NaN endpoints, its repeated final sigmas,
/// and PLMS under `linspace`, which steps off its own grid. The same formulas as the reference,
/// without the defect; the expected endpoint of those cases, by case name.
public enum GridRecomputations {
    public struct Entry: Decodable, Sendable {
        public var name: String
        public var kind: String
        /// How far the same run moves in float32 arithmetic (the fixture script's emulation): the
        /// case's conditioning, which bounds what a float32 sampler can match.
        public var f32_rel_rms: Double
        var x_f64: [[Double]]
        public var endpoint: [Double] { x_f64.flatMap { $0 } }
        /// Float32 precision for this case: `floor`, or three times its float32 sensitivity.
        public func tolerance(floor: Double = 5e-5) -> Double { Swift.max(floor, 3 * f32_rel_rms) }
    }
    struct File: Decodable { var cases: [Entry] }

    public static let entries: [String: Entry] = {
        guard let data = try? Data(contentsOf: Fixtures.url("parity_f64_grid.json")),
              let file = try? JSONDecoder().decode(File.self, from: data) else { return [:] }
        return Dictionary(file.cases.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }()

    /// Checks `out` against the recomputation of `c` within ``Entry/tolerance(floor:)``; an issue
    /// when the fixture has none.
    public static func expectMatches(_ out: SampleTensor, _ c: ParityCase, floor: Double = 5e-5,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        guard let entry = entries[c.name] else {
            Issue.record("no float64 recomputation of \(c.name) in parity_f64_grid.json", sourceLocation: sourceLocation)
            return
        }
        let error = Compare.relativeRMS(out, entry.endpoint)
        #expect(error <= entry.tolerance(floor: floor), "relative RMS \(error) from the float64 recomputation on our grid", sourceLocation: sourceLocation)
    }
}
