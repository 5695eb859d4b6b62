extension SolverCatalog {
    /// Samplers of few-step (consistency-distilled) models: each step jumps to the model's `x̂₀`
    /// and draws fresh noise for the next level.
    static let fewStepEntries: [Entry] = [
        Entry(name: "lcm", summary: "consistency-model multistep sampling: denoise, renoise to the next level (LCM's scalings and time steps on a discrete schedule; flow: diffusers' stochastic_sampling)",
              evaluationsPerStep: 1, reference: "diffusers LCMScheduler; ComfyUI sample_lcm; diffusers FlowMatchEulerDiscreteScheduler(stochastic_sampling=True)") { _ in LCM() },
        Entry(name: "tcd", summary: "trajectory consistency distillation sampling; --eta is its gamma (default 0.3, 0 deterministic)",
              evaluationsPerStep: 1, reference: "diffusers TCDScheduler") { o in TCD(gamma: try o.eta(default: 0.3)) },
        Entry(name: "cm_multistep", summary: "consistency models' multistep sampling (Song et al. 2023, Algorithm 1); --s-noise",
              evaluationsPerStep: 1, reference: "diffusers CMStochasticIterativeScheduler") { o in ConsistencyMultistep(sNoise: o.sNoise) },
    ]

    /// The step schedule a few-step sampler runs on by its own rule when the user gives no spacing
    /// or grid and the schedule is discrete: LCM's time steps, ending where `final` says for LCM and
    /// at timestep 0 for TCD (whose last step targets timestep 0 in diffusers); `nil` for every
    /// other solver.
    public static func ownStepSchedule(of solver: any Solver, steps: Int, originalSteps: Int?, final: FinalNoise = .zero) -> StepSchedule? {
        let spacing = StepSpacing.lcm(originalSteps: originalSteps ?? 50)
        switch solver {
        case is LCM: return StepSchedule(spacing: spacing, steps: steps, final: final)
        case is TCD: return StepSchedule(spacing: spacing, steps: steps, final: .minimum)
        default: return nil
        }
    }
}

extension SolverCatalog {
    /// `solver` as it runs on `schedule`: on a discrete schedule stepped in its own time (diffusers'
    /// domain) `lcm` takes LCMScheduler's boundary-condition scalings (`timestep_scaling` 10, the
    /// only value a config may give); every other solver, and `lcm` elsewhere, is returned as it is.
    public static func solver(_ solver: any Solver, on schedule: any NoiseSchedule) -> any Solver {
        solver is LCM && schedule.trainingTimesteps != nil && !(schedule is ReframedSchedule) ? LCM(timestepScaling: 10) : solver
    }
}
