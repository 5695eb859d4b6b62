/// How a network takes its noise level: the number a pipeline passes as the model's `timestep`.
///
/// ``SolverScheduler/timeSteps`` lists the levels it wants the model at in this convention, as
/// ml-stable-diffusion's `Scheduler.timeSteps` does (integer training timesteps there).
public enum TimestepConvention: String, Sendable, Equatable, CaseIterable {
    /// The integer training timestep, `t` rounded (Stable Diffusion 1.x/2.x U-Nets, DDPM-trained
    /// networks). Exact only on grids whose times are integers (diffusers' `leading`, `trailing`
    /// and `linspace` spacings); elsewhere the network sees `t` rounded while the solver uses `t`.
    case trainingTimestep
    /// The schedule's own time `t`: fractional training timesteps of a discrete schedule (this
    /// package's networks), `t ∈ [0, 1]` of a continuous VP or flow schedule, `σ` of VE / EDM.
    case time
    /// `1000·σ`, with `σ` the user-facing noise level (``NoiseSchedule/displaySigma(_:)``): the flow
    /// time `t` for rectified flow, which SD3 and Flux take as `1000·t`.
    case sigmaTimes1000
    /// The user-facing noise level itself: k-diffusion's `σ = σ/α`, or the flow time.
    case sigma

    /// The value of `level` in this convention.
    public func timeStep(for level: NoiseLevel, schedule: any NoiseSchedule) -> Double {
        switch self {
        case .trainingTimestep: return level.t.rounded()
        case .time: return level.t
        case .sigmaTimes1000: return 1000 * schedule.displaySigma(level)
        case .sigma: return schedule.displaySigma(level)
        }
    }
}
