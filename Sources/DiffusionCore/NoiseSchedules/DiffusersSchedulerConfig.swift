import Foundation

/// The parts of a diffusers `scheduler_config.json` that define a discrete VP model's noise
/// schedule and how its sampling grid is usually spaced. Unknown keys are ignored, so a config
/// saved by any diffusers scheduler class can be read.
public struct DiffusersSchedulerConfig: Sendable, Equatable {
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    public var betaSchedule: DiscreteVPSchedule.BetaSchedule = .linear
    public var numTrainTimesteps: Int = 1000
    public var predictionType: Parameterization = .noise
    public var timestepSpacing: String?
    public var stepsOffset: Int = 0
    public var rescaleBetasZeroSNR: Bool = false
    public var setAlphaToOne: Bool?

    public init() {}

    /// Parses a config from JSON bytes; every problem is a one-line ``ScheduleError``.
    public init(json data: Data) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ScheduleError("scheduler config: not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw ScheduleError("scheduler config: expected a JSON object") }
        func number(_ key: String) throws -> Double? {
            guard let value = dict[key], !(value is NSNull) else { return nil }
            guard let n = value as? NSNumber else {
                throw ScheduleError("scheduler config: '\(key)' must be a number")
            }
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
        if let v = try number("steps_offset") {
            guard v >= 0, v < 1_000_000, v == v.rounded() else { throw ScheduleError("scheduler config: steps_offset must be a non-negative integer") }
            stepsOffset = Int(v)
        }
        if let v = try bool("rescale_betas_zero_snr") { rescaleBetasZeroSNR = v }
        setAlphaToOne = try bool("set_alpha_to_one")
        if dict["trained_betas"].map({ !($0 is NSNull) }) == true {
            throw ScheduleError("scheduler config: trained_betas is not supported; use beta_start, beta_end and beta_schedule")
        }
    }

    /// Reads and parses a config file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ScheduleError("scheduler config: cannot read \(url.path)")
        }
        try self.init(json: data)
    }

    /// The noise schedule the config describes.
    public func schedule() throws -> DiscreteVPSchedule {
        try DiscreteVPSchedule(betaSchedule: betaSchedule, betaStart: betaStart, betaEnd: betaEnd,
                               trainingSteps: numTrainTimesteps, rescaleToZeroTerminalSNR: rescaleBetasZeroSNR)
    }
}
