import RealModule

/// ComfyUI's `model_sampling` for a noise schedule (`comfy/model_sampling.py`): the increasing
/// sigma table its schedulers index, and `sigma(t)` / `timestep(σ)`, in the user-facing sigma.
///
/// | our schedule | ComfyUI class | table `σ_i` | `timestep(σ)` | `sigma(t)` |
/// |---|---|---|---|---|
/// | discrete VP (`T` training steps) | `ModelSamplingDiscrete` | `√((1 − ᾱ_i)/ᾱ_i)`, `i = 0…T−1` | nearest `i` in `log σ` | `exp` of `log σ` interpolated linearly in `t ∈ [0, T−1]` |
/// | rectified flow | `ModelSamplingDiscreteFlow` | `S·t/(1 + (S − 1)·t)` at `t = i/1000`, `i = 1…1000` | `1000·σ` | the shift at `t/1000` |
/// | EDM / VE | `ModelSamplingContinuousEDM` | `exp(linspace(log σ_min, log σ_max, 1000))` | `¼·log σ` | `exp(4t)` |
///
/// ComfyUI stores the tables in float32 and evaluates `sigma(t)` in float32; here everything is
/// `Double` (the two agree to the float32 rounding, see `ComfyScheduleTests`).
struct ComfyModelSampling {
    enum Kind { case discrete, flow, edm }
    let kind: Kind
    /// Increasing: `sigmas[0]` is `σ_min`, the last `σ_max`.
    let sigmas: [Double]
    let shift: Double
    private let logSigmas: [Double]

    init(_ schedule: any NoiseSchedule, shift: Double = 1) throws {
        guard shift.isFinite && shift > 0 else { throw ScheduleError("flow shift must be a positive number, got \(shift)") }
        if shift != 1 && schedule.frame != .rectifiedFlow {
            throw ScheduleError("--shift applies to ComfyUI schedules on a flow schedule, not '\(schedule.name)'")
        }
        self.shift = shift
        if let t = schedule.trainingTimesteps, schedule.frame == .varianceExploding {
            kind = .discrete
            sigmas = (0..<t).map { schedule.displaySigma(schedule.level(at: Double($0))) }
        } else if schedule.frame == .rectifiedFlow && schedule.trainingTimesteps == nil {
            kind = .flow
            let f = FlowShift.constant(shift)
            sigmas = (1...1000).map { f(Double($0) / 1000) }
        } else if let ve = schedule as? VESchedule {
            kind = .edm
            let lo = Double.log(ve.sigmaMin), hi = Double.log(ve.sigmaMax)
            sigmas = ComfySchedule.torchLinspace(lo, hi, 1000).map { Double.exp($0) }
        } else {
            throw ScheduleError("ComfyUI's schedules need a discrete VP, flow or EDM schedule; '\(schedule.name)' has no ComfyUI model_sampling")
        }
        logSigmas = sigmas.map { Double.log($0) }
    }

    var sigmaMin: Double { sigmas[0] }
    var sigmaMax: Double { sigmas[sigmas.count - 1] }

    func timestep(_ sigma: Double) -> Double {
        switch kind {
        case .discrete:
            let l = Double.log(sigma)
            var best = 0
            for i in logSigmas.indices where abs(l - logSigmas[i]) < abs(l - logSigmas[best]) { best = i }
            return Double(best)
        case .flow: return sigma * 1000
        case .edm: return 0.25 * .log(sigma)
        }
    }

    func sigma(_ t: Double) -> Double {
        switch kind {
        case .discrete:
            let t = Swift.min(Swift.max(t, 0), Double(sigmas.count - 1))
            let lo = Int(t.rounded(.down)), hi = Int(t.rounded(.up)), w = t - Double(lo)
            return .exp((1 - w) * logSigmas[lo] + w * logSigmas[hi])
        case .flow: return FlowShift.constant(shift)(t / 1000)
        case .edm: return .exp(t / 0.25)
        }
    }
}
