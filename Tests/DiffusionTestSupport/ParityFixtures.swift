import Foundation
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
    public var x_final: [[Double]]

    public var description: String { name }

    /// Which library's spacing rules the case follows.
    public var isDDIM: Bool { reference.hasSuffix("DDIMScheduler") }

    /// The noise schedule the case ran on.
    public func schedule() throws -> any NoiseSchedule {
        switch noise_schedule.kind {
        case "vp-discrete":
            guard let name = noise_schedule.beta_schedule, let kind = DiscreteVPSchedule.BetaSchedule(rawValue: name) else {
                throw ScheduleError("fixture \(self.name): unknown beta schedule")
            }
            return try DiscreteVPSchedule(betaSchedule: kind, betaStart: noise_schedule.beta_start!, betaEnd: noise_schedule.beta_end!,
                                          trainingSteps: noise_schedule.num_train_timesteps!)
        case "edm": return VESchedule()
        default: throw ScheduleError("fixture \(name): unknown noise schedule \(noise_schedule.kind)")
        }
    }

    /// Our step schedule for the reference's spacing name.
    public func stepSchedule() -> StepSchedule {
        let ours: StepSpacing
        switch (sigma_schedule, self.spacing) {
        case ("karras", _): ours = .karras(rho: 7)
        case ("exponential", _): ours = .exponential
        case (_, "karras"): ours = .karras(rho: 7)
        case (_, "exponential"): ours = .exponential
        case (_, "leading"): ours = isDDIM || reference.contains("Euler") || reference.contains("Heun") ? .ddimLeading : .leading
        case (_, "trailing"): ours = .trailing
        case (_, "linspace"): ours = isDDIM ? .ddimLinspace : .timeUniform
        default: ours = .timeUniform
        }
        return StepSchedule(spacing: ours, steps: steps, final: final == "zero" ? .zero : .minimum,
                            stepsOffset: noise_schedule.steps_offset ?? 0)
    }

    public var initialSample: SampleTensor {
        SampleTensor(shape: [x_init.count, x_init[0].count], scalars: x_init.flatMap { $0 })
    }

    public var expected: [Double] { x_final.flatMap { $0 } }

    public var recordedNoise: RecordedNoise? {
        step_noise.map { draws in
            RecordedNoise(draws: draws.map { SampleTensor(shape: [$0.count, $0[0].count], scalars: $0.flatMap { $0 }) })
        }
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
