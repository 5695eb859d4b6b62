import Foundation

/// The parts of a diffusers `scheduler_config.json` that define a model's noise schedule and how
/// its sampling grid is spaced: a discrete VP schedule, or a rectified flow with diffusers' flow
/// sigmas (``flow``). `_class_name` decides how the file is read: the VP scheduler classes as
/// before (a file without it is read as one), `FlowMatchEulerDiscreteScheduler` and
/// `FlowMatchHeunDiscreteScheduler` as flow, and the multistep classes (DPM-Solver, UniPC, DEIS,
/// SA-Solver) as flow when `use_flow_sigmas` is set. Any other class, or an option that would change
/// the samples and that the package does not reproduce, is refused in one line naming it; keys
/// that do not change the schedule are ignored, as diffusers ignores keys a class does not take.
public struct DiffusersSchedulerConfig: Sendable, Equatable {
    /// `_class_name`, when the file has one.
    public var className: String?
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    public var betaSchedule: DiscreteVPSchedule.BetaSchedule = .linear
    public var numTrainTimesteps: Int = 1000
    public var predictionType: Parameterization = .noise
    public var timestepSpacing: String?
    public var stepsOffset: Int = 0
    public var rescaleBetasZeroSNR: Bool = false
    public var setAlphaToOne: Bool?
    /// LCM's and TCD's `original_inference_steps` (their time steps' rule, ``StepSpacing/lcm(originalSteps:)``).
    public var originalInferenceSteps: Int?
    /// The flow sigma rule of a flow-matching config; `nil` for a VP schedule.
    public var flow: FlowConfiguration?

    /// The diffusers classes read as a discrete VP schedule (their `beta_*` keys).
    public static let vpClasses: Set<String> = [
        "DDPMScheduler", "DDIMScheduler", "PNDMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
        "HeunDiscreteScheduler", "LMSDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
        "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler", "DPMSolverSDEScheduler", "UniPCMultistepScheduler",
        "DEISMultistepScheduler", "SASolverScheduler", "LCMScheduler", "TCDScheduler", "DDIMParallelScheduler",
        "DDPMParallelScheduler",
    ]
    /// The sampler a few-step scheduler class stands for (`LCMScheduler`: `lcm`, `TCDScheduler`:
    /// `tcd`): a distilled model shipped with one is sampled by it, not by an ODE solver.
    public var fewStepSolverName: String? {
        switch className {
        case "LCMScheduler": return "lcm"
        case "TCDScheduler": return "tcd"
        default: return nil
        }
    }

    /// The flow-matching classes whose sigmas ``FlowSigmas`` reproduces.
    public static let flowClasses: Set<String> = ["FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler"]
    /// The multistep classes whose `use_flow_sigmas` option ``FlowSigmas`` reproduces.
    public static let flowSigmaClasses: Set<String> = [
        "DPMSolverMultistepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler", "SASolverScheduler",
    ]

    /// The `timestep_spacing` values diffusers' schedulers take (any other raises there).
    public static let timestepSpacings = ["linspace", "leading", "trailing"]

    public init() {}

    /// Parses a config from JSON bytes; every problem is a one-line ``ScheduleError``.
    public init(json data: Data) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ScheduleError("scheduler config: not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw ScheduleError("scheduler config: expected a JSON object") }
        let reader = ConfigReader(dict: dict)
        func number(_ key: String) throws -> Double? { try reader.number(key) }
        func string(_ key: String) throws -> String? { try reader.string(key) }
        func bool(_ key: String) throws -> Bool? { try reader.bool(key) }
        if let v = try number("beta_start") { betaStart = v }
        if let v = try number("beta_end") { betaEnd = v }
        if let v = try string("beta_schedule") {
            guard let s = DiscreteVPSchedule.BetaSchedule(rawValue: v) else {
                throw ScheduleError("scheduler config: unsupported beta_schedule '\(v)' (supported: linear, scaled_linear, squaredcos_cap_v2)")
            }
            betaSchedule = s
        }
        if let v = try number("num_train_timesteps") {
            guard v >= 2, v <= 1_000_000, v == v.rounded() else {
                throw ScheduleError("scheduler config: num_train_timesteps must be an integer from 2 to 1000000, got \(v)")
            }
            numTrainTimesteps = Int(v)
        }
        if let v = try string("prediction_type") {
            guard let p = Parameterization(diffusersName: v) else {
                throw ScheduleError("scheduler config: unsupported prediction_type '\(v)' (supported: epsilon, sample, v_prediction, flow_prediction)")
            }
            predictionType = p
        }
        timestepSpacing = try string("timestep_spacing")
        if let v = timestepSpacing, !Self.timestepSpacings.contains(v) {
            throw ScheduleError("scheduler config: unsupported timestep_spacing '\(v)' (supported: \(Self.timestepSpacings.joined(separator: ", ")))")
        }
        if let v = try number("steps_offset") {
            guard v >= 0, v < 1_000_000, v == v.rounded() else { throw ScheduleError("scheduler config: steps_offset must be a non-negative integer") }
            stepsOffset = Int(v)
        }
        if let v = try bool("rescale_betas_zero_snr") { rescaleBetasZeroSNR = v }
        setAlphaToOne = try bool("set_alpha_to_one")
        if dict["trained_betas"].map({ !($0 is NSNull) }) == true {
            throw ScheduleError("scheduler config: trained_betas is not supported; use beta_start, beta_end and beta_schedule")
        }
        className = try string("_class_name")
        if let name = className, !Self.vpClasses.contains(name), !Self.flowClasses.contains(name) {
            throw ScheduleError("scheduler config: _class_name '\(name)' is not supported (flow: \(Self.flowClasses.sorted().joined(separator: ", ")); "
                                + "VP: \(Self.vpClasses.sorted().joined(separator: ", ")))")
        }
        if let v = try number("original_inference_steps") {
            guard v >= 1, v <= Double(numTrainTimesteps), v == v.rounded() else {
                throw ScheduleError("scheduler config: original_inference_steps must be an integer from 1 to num_train_timesteps, got \(v)")
            }
            originalInferenceSteps = Int(v)
        }
        if let v = try number("timestep_scaling"), v != 10 {
            throw ScheduleError("scheduler config: timestep_scaling \(v) is not supported (LCM's boundary scalings use 10)")
        }
        flow = try FlowConfiguration.read(className: className, trainingSteps: numTrainTimesteps, reader: reader)
        if flow != nil, Self.flowClasses.contains(className ?? "") { predictionType = .flowVelocity }
    }

    /// Reads and parses a config file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ScheduleError("scheduler config: cannot read \(url.path)")
        }
        try self.init(json: data)
    }

    /// The noise schedule the config describes: rectified flow for a flow config, else discrete VP.
    public func noiseSchedule() throws -> any NoiseSchedule {
        flow != nil ? RectifiedFlowSchedule() : try schedule()
    }

    /// The discrete VP schedule the config describes.
    ///
    /// - Throws: ``ScheduleError`` for a flow config, which has none.
    public func schedule() throws -> DiscreteVPSchedule {
        if flow != nil {
            throw ScheduleError("scheduler config: \(className ?? "this config") describes a rectified flow, not a discrete VP schedule")
        }
        return try DiscreteVPSchedule(betaSchedule: betaSchedule, betaStart: betaStart, betaEnd: betaEnd,
                               trainingSteps: numTrainTimesteps, rescaleToZeroTerminalSNR: rescaleBetasZeroSNR)
    }
}

/// The flow options of a diffusers scheduler config: the sigma rule with the config's constant
/// shift, and the dynamic shifting that replaces it once the image size is known.
public struct FlowConfiguration: Sendable, Equatable {
    /// The sigma rule (with `shift` / `flow_shift` as a constant shift).
    public var sigmas: FlowSigmas
    /// `use_dynamic_shifting`: the shift follows the image's token count (``DynamicShifting``).
    public var dynamicShifting: DynamicShifting?

    public init(sigmas: FlowSigmas, dynamicShifting: DynamicShifting? = nil) {
        self.sigmas = sigmas; self.dynamicShifting = dynamicShifting
    }

    /// The sigma rule for an image of `length` tokens, which dynamic shifting needs (diffusers'
    /// `set_timesteps(mu=...)`, μ computed as Flux does).
    public func sigmas(imageSequenceLength length: Int?) throws -> FlowSigmas {
        var result = sigmas
        if let dynamic = dynamicShifting {
            guard let length else {
                throw ScheduleError("scheduler config: use_dynamic_shifting needs the image size; give --image-seq-len")
            }
            result.shift = try dynamic.shift(imageSequenceLength: length)
        } else if length != nil {
            throw ScheduleError("--image-seq-len applies to a config with use_dynamic_shifting; this one has a fixed shift")
        }
        return try result.validated()
    }

    /// Reads the flow options of a config of class `className`; `nil` when it is not a flow config.
    static func read(className: String?, trainingSteps: Int, reader: ConfigReader) throws -> FlowConfiguration? {
        func number(_ key: String) throws -> Double? { try reader.number(key) }
        func string(_ key: String) throws -> String? { try reader.string(key) }
        func bool(_ key: String) throws -> Bool? { try reader.bool(key) }
        let flowSigmas = try bool("use_flow_sigmas") == true
        let flowMatch = DiffusersSchedulerConfig.flowClasses.contains(className ?? "")
        if flowSigmas && !flowMatch && !DiffusersSchedulerConfig.flowSigmaClasses.contains(className ?? "") {
            throw ScheduleError("scheduler config: use_flow_sigmas is not supported for \(className ?? "a config without _class_name") "
                                + "(supported: \(DiffusersSchedulerConfig.flowSigmaClasses.sorted().joined(separator: ", ")))")
        }
        guard let className, flowMatch || flowSigmas else { return nil }
        func refuse(_ message: String) -> ScheduleError { ScheduleError("scheduler config: \(className): \(message)") }
        var rule: FlowSigmas.Rule
        switch className {
        case "FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler": rule = .flowMatch
        case "UniPCMultistepScheduler": rule = .uniPC
        default: rule = .multistep
        }
        let isHeun = className == "FlowMatchHeunDiscreteScheduler"
        let shift = try number(flowMatch ? "shift" : "flow_shift") ?? 1
        var result = FlowSigmas(rule: rule, shift: .constant(shift), trainingSteps: trainingSteps)
        var dynamicShifting: DynamicShifting?
        // Options that take effect in this class (diffusers ignores the keys a class does not take).
        let takesDynamic = !isHeun && className != "SASolverScheduler"
        let takesTerminal = className == "FlowMatchEulerDiscreteScheduler" || className == "UniPCMultistepScheduler"
        if takesDynamic, try bool("use_dynamic_shifting") == true {
            let kindName = try string("time_shift_type") ?? "exponential"
            guard let kind = DynamicShifting.Kind(rawValue: kindName), kind == .exponential || rule != .multistep else {
                throw refuse("time_shift_type '\(kindName)' is not supported (\(rule == .multistep ? "exponential" : "exponential, linear"))")
            }
            let defaults = DynamicShifting()
            dynamicShifting = DynamicShifting(baseShift: try number("base_shift") ?? defaults.baseShift,
                                              maxShift: try number("max_shift") ?? defaults.maxShift,
                                              baseImageSequenceLength: try number("base_image_seq_len") ?? defaults.baseImageSequenceLength,
                                              maxImageSequenceLength: try number("max_image_seq_len") ?? defaults.maxImageSequenceLength,
                                              kind: kind)
        } else if let kindName = try string("time_shift_type"), takesDynamic, DynamicShifting.Kind(rawValue: kindName) == nil {
            throw refuse("time_shift_type '\(kindName)' is not supported (exponential, linear)")
        }
        if takesTerminal, let terminal = try number("shift_terminal"), terminal != 0 { result.shiftTerminal = terminal }
        let spacings: [(String, FlowSigmas.Spacing)] = [("use_karras_sigmas", .karras), ("use_exponential_sigmas", .exponential),
                                                         ("use_beta_sigmas", .beta)]
        if !isHeun {
            let on = try spacings.filter { try bool($0.0) == true }
            if on.count > 1 { throw refuse("only one of \(on.map(\.0).joined(separator: ", ")) may be set") }
            if let first = on.first {
                let (key, spacing) = first
                guard rule == .flowMatch else { throw refuse("\(key) with use_flow_sigmas is not supported (diffusers then spaces VP sigmas)") }
                result.spacing = spacing
            }
            if !flowMatch, try bool("use_lu_lambdas") == true { throw refuse("use_lu_lambdas with use_flow_sigmas is not supported") }
        }
        if className == "FlowMatchEulerDiscreteScheduler" {
            if try bool("invert_sigmas") == true { throw refuse("invert_sigmas (sampling from data to noise) is not supported") }
            if try bool("stochastic_sampling") == true { throw refuse("stochastic_sampling is not read from a config; its update is --solver lcm on the same config without it") }
        }
        switch className {
        case "DEISMultistepScheduler", "SASolverScheduler":
            result.ending = .lastSigma
        case "DPMSolverMultistepScheduler", "UniPCMultistepScheduler":
            let final = try string("final_sigmas_type") ?? "zero"
            switch (final, rule) {
            case ("zero", _): result.ending = .zero
            case ("sigma_min", .uniPC): result.ending = .lastSigma
            default: throw refuse("final_sigmas_type '\(final)' with use_flow_sigmas is not supported (zero)")
            }
        default: break
        }
        do { return FlowConfiguration(sigmas: try result.validated(), dynamicShifting: dynamicShifting) } catch { throw refuse("\(error)") }
    }
}

/// Typed access to the keys of a config's JSON object; a key of the wrong type is a one-line error.
struct ConfigReader {
    let dict: [String: Any]

    func number(_ key: String) throws -> Double? {
        guard let value = dict[key], !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber else { throw ScheduleError("scheduler config: '\(key)' must be a number") }
        return n.doubleValue
    }
    func string(_ key: String) throws -> String? {
        guard let value = dict[key], !(value is NSNull) else { return nil }
        guard let s = value as? String else { throw ScheduleError("scheduler config: '\(key)' must be a string") }
        return s
    }
    func bool(_ key: String) throws -> Bool? {
        guard let value = dict[key], !(value is NSNull) else { return nil }
        guard let b = value as? Bool else { throw ScheduleError("scheduler config: '\(key)' must be true or false") }
        return b
    }
}
