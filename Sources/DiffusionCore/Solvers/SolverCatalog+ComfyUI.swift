extension SolverCatalog {
    /// ComfyUI's samplers beyond k-diffusion's (`comfy/k_diffusion/sampling.py`), under ComfyUI's names.
    static let comfyEntries: [Entry] = [
        Entry(name: "res_multistep", summary: "RES second-order multistep: exponential integrator with the exact phi_2 weight (Zhang et al. 2023)",
              evaluationsPerStep: 1, reference: "ComfyUI sample_res_multistep") { _ in RESMultistep() },
        Entry(name: "gradient_estimation", summary: "Euler with the derivative extrapolated from the last two, gamma = 2 (Permenter & Yuan 2024)",
              evaluationsPerStep: 1, reference: "ComfyUI sample_gradient_estimation") { _ in GradientEstimation() },
        Entry(name: "ipndm_v", summary: "iPNDM with variable-step Adams-Bashforth weights in sigma, order 4 (--order 1-4)",
              evaluationsPerStep: 1, reference: "ComfyUI sample_ipndm_v (zju-pi diff-sampler)") { options in
            let order = options.order ?? 4
            guard (1...4).contains(order) else { throw SamplingError.invalidConfiguration("--order for ipndm_v must be between 1 and 4, got \(order)") }
            return IPNDMV(solverOrder: order)
        },
        Entry(name: "heunpp2", summary: "Heun with a third stage one grid step further, weighted by noise level (sd-webui-samplers-scheduler)",
              evaluationsPerStep: 3, reference: "ComfyUI sample_heunpp2") { _ in HeunPlusPlus2() },
        Entry(name: "exp_heun_2_x0", summary: "exponential Heun in data prediction and log-SNR time: exponential Euler to the step's end, then the exponential trapezoid rule",
              evaluationsPerStep: 2, reference: "ComfyUI sample_exp_heun_2_x0") { _ in ExponentialHeun() },
        Entry(name: "deis_comfy", summary: "ComfyUI's deis: DEIS tAB in the time of a fixed VP SDE (Zhang & Chen 2023), order 3 (--order 1-4); `deis` is diffusers' form",
              evaluationsPerStep: 1, reference: "ComfyUI sample_deis deis_mode=tab (zju-pi diff-sampler)") { o in
            DEISVPTime(solverOrder: try order(o, default: 3, maximum: 4))
        },
    ]

    /// ComfyUI's stochastic samplers beyond k-diffusion's.
    static let comfyStochasticEntries: [Entry] = [
        Entry(name: "res_multistep_ancestral", summary: "RES multistep steps to sigma_down plus ancestral noise; --eta, --s-noise",
              evaluationsPerStep: 1, reference: "ComfyUI sample_res_multistep_ancestral") { o in
            RESMultistep(eta: try o.eta(default: 1), sNoise: o.sNoise)
        },
        Entry(name: "seeds_2", summary: "SEEDS-2: two-stage exponential SDE solver, data prediction (Gonzalez et al. 2023); --eta, --s-noise",
              evaluationsPerStep: 2, reference: "ComfyUI sample_seeds_2") { o in SEEDS(stages: 2, eta: try o.eta(default: 1), sNoise: o.sNoise) },
        Entry(name: "seeds_3", summary: "SEEDS-3: three-stage exponential SDE solver, data prediction (Gonzalez et al. 2023); --eta, --s-noise",
              evaluationsPerStep: 3, reference: "ComfyUI sample_seeds_3") { o in SEEDS(stages: 3, eta: try o.eta(default: 1), sNoise: o.sNoise) },
        Entry(name: "er_sde", summary: "ER-SDE-Solver-3: extended reverse-time SDE solver, three stages (Cui et al. 2025); --s-noise",
              evaluationsPerStep: 1, reference: "ComfyUI sample_er_sde") { o in ERSDE(sNoise: o.sNoise) },
        Entry(name: "exp_heun_2_x0_sde", summary: "exp_heun_2_x0 with SEEDS noise (SEEDS-2 at r = 1, phi_2 weights); --eta, --s-noise",
              evaluationsPerStep: 2, reference: "ComfyUI sample_exp_heun_2_x0_sde") { o in ExponentialHeun(eta: try o.eta(default: 1), sNoise: o.sNoise) },
        Entry(name: "sa_solver_pece", summary: "SA-Solver predictor 3, corrector 4, re-evaluated after each correction (PECE); tau = --eta within ComfyUI's 20-80% window; --s-noise",
              evaluationsPerStep: 2, reference: "ComfyUI sample_sa_solver_pece") { o in
            SASolverPECE(eta: try o.eta(default: 1), sNoise: o.sNoise)
        },
    ]
}
