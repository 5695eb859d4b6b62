extension SolverCatalog {
    /// Ancestral and SDE samplers (they consume fresh noise every step).
    static let stochasticEntries: [Entry] = [
        Entry(name: "euler_ancestral", summary: "Euler steps with ancestral noise (\"Euler a\"); --eta, --s-noise", evaluationsPerStep: 1,
              reference: "k-diffusion sample_euler_ancestral") { o in EulerAncestral(eta: try o.eta(default: 1), sNoise: o.sNoise) },
        Entry(name: "dpm_2_ancestral", summary: "DPM-Solver-2-style steps with ancestral noise", evaluationsPerStep: 2,
              reference: "k-diffusion sample_dpm_2_ancestral") { o in DPM2Ancestral(eta: try o.eta(default: 1), sNoise: o.sNoise) },
        Entry(name: "dpmpp_2s_ancestral", summary: "DPM-Solver++(2S) with ancestral noise", evaluationsPerStep: 2,
              reference: "k-diffusion sample_dpmpp_2s_ancestral") { o in
            DPMSolverPlusPlus2SAncestral(eta: try o.eta(default: 1), sNoise: o.sNoise)
        },
        Entry(name: "dpmpp_sde", aliases: ["dpmpp_sde_gpu"], summary: "DPM-Solver++ stochastic (two ancestral stages, r = 1/2)", evaluationsPerStep: 2,
              reference: "k-diffusion sample_dpmpp_sde") { o in DPMSolverPlusPlusSDE(eta: try o.eta(default: 1), sNoise: o.sNoise) },
        Entry(name: "dpmpp_2m_sde", aliases: ["dpmpp_2m_sde_gpu"], summary: "SDE-DPM-Solver++(2M), midpoint", evaluationsPerStep: 1,
              reference: "k-diffusion sample_dpmpp_2m_sde") { o in
            DPMSolverPlusPlusMultistepSDE(variant: .midpoint, eta: try o.eta(default: 1, maximum: 10), sNoise: o.sNoise)
        },
        Entry(name: "dpmpp_2m_sde_heun", aliases: ["dpmpp_2m_sde_heun_gpu"], summary: "SDE-DPM-Solver++(2M), heun form", evaluationsPerStep: 1,
              reference: "k-diffusion sample_dpmpp_2m_sde(solver_type='heun')") { o in
            DPMSolverPlusPlusMultistepSDE(variant: .heun, eta: try o.eta(default: 1, maximum: 10), sNoise: o.sNoise)
        },
        Entry(name: "dpmpp_3m_sde", aliases: ["dpmpp_3m_sde_gpu"], summary: "SDE-DPM-Solver++(3M)", evaluationsPerStep: 1,
              reference: "k-diffusion sample_dpmpp_3m_sde") { o in
            DPMSolverPlusPlusMultistepSDE(variant: .thirdOrder, eta: try o.eta(default: 1, maximum: 10), sNoise: o.sNoise)
        },
        Entry(name: "dpmpp_2m_sde_diffusers", summary: "SDE-DPM-Solver++(2M) as diffusers runs it (its coefficients, a draw every step)",
              evaluationsPerStep: 1, reference: "diffusers DPMSolverMultistepScheduler(algorithm_type=\"sde-dpmsolver++\")") { o in
            try diffusersSDE(solverOrder: o.order ?? 2, form: .midpoint)
        },
        Entry(name: "dpmpp_2m_sde_heun_diffusers", summary: "SDE-DPM-Solver++(2M), heun form, as diffusers runs it", evaluationsPerStep: 1,
              reference: "diffusers DPMSolverMultistepScheduler(algorithm_type=\"sde-dpmsolver++\", solver_type=\"heun\")") { o in
            try diffusersSDE(solverOrder: 2, form: .heun)
        },
        Entry(name: "dpmpp_3m_sde_diffusers", summary: "SDE-DPM-Solver++(3M) as diffusers runs it", evaluationsPerStep: 1,
              reference: "diffusers DPMSolverMultistepScheduler(algorithm_type=\"sde-dpmsolver++\", solver_order=3)") { o in
            try diffusersSDE(solverOrder: 3, form: .midpoint)
        },
        Entry(name: "ddpm", summary: "DDPM posterior sampling; --variance fixed_small (default) or fixed_large", evaluationsPerStep: 1,
              reference: "diffusers DDPMScheduler") { o in
            guard let variance = DDPM.Variance(rawValue: o.variance ?? "fixed_small") else {
                throw SamplingError.invalidConfiguration("--variance must be fixed_small or fixed_large, got \(o.variance ?? "")")
            }
            return DDPM(variance: variance)
        },
        Entry(name: "si_sde", summary: "stochastic-interpolant SDE, Euler-Maruyama, drift v + eps(t)*score; --interpolant-eps", evaluationsPerStep: 1,
              reference: "Albergo, Boffi, Vanden-Eijnden 2023, stochastic interpolants") { o in try StochasticInterpolantSDE(options: o) },
        Entry(name: "restart", summary: "Restart (Xu et al. 2023): Heun steps; from the grid level nearest 0.06, two jumps forward to 0.30 with fresh noise, each followed by 2 Heun steps back; --s-noise",
              evaluationsPerStep: 2, reference: "Newbeeer/diffusion_restart_sampling restart_sampler") { o in Restart(sNoise: o.sNoise) },
    ]
}

extension SolverCatalog {
    /// diffusers' `sde-dpmsolver++`: ``DPMSolverMultistep`` in data prediction with its stochastic
    /// update, which differs from k-diffusion's ``DPMSolverPlusPlusMultistepSDE`` in the heun and 3M
    /// coefficients and in drawing on every step; diffusers draws independent Gaussian noise.
    static func diffusersSDE(solverOrder: Int, form: DPMSolverMultistep.SecondOrderForm) throws -> DPMSolverMultistep {
        guard (1...3).contains(solverOrder) else {
            throw SamplingError.invalidConfiguration("--order must be 1, 2 or 3 for SDE-DPM-Solver++, got \(solverOrder)")
        }
        var solver = DPMSolverMultistep(prediction: .data, solverOrder: solverOrder, secondOrderForm: form)
        solver.stochastic = true
        return solver
    }

    /// The names of the samplers that draw fresh noise every step.
    public static var stochasticNames: [String] { (stochasticEntries + predictorCorrectorEntries + comfyStochasticEntries + cfgPlusPlusStochasticEntries + fewStepEntries).map(\.name) }
}
