extension SolverCatalog {
    /// DPM-Solver, DPM-Solver++, UniPC and DEIS.
    static let exponentialEntries: [Entry] = [
        Entry(name: "dpmpp_2m", aliases: ["dpmpp_2m_karras"], summary: "DPM-Solver++(2M), data prediction, midpoint form (Lu et al. 2022b)",
              evaluationsPerStep: 1, reference: "diffusers DPMSolverMultistepScheduler, k-diffusion sample_dpmpp_2m") { o in
            DPMSolverMultistep(prediction: .data, solverOrder: try order(o, default: 2))
        },
        Entry(name: "dpmpp_2m_heun", summary: "DPM-Solver++(2M) with the Taylor (heun) second-order form",
              evaluationsPerStep: 1, reference: "diffusers DPMSolverMultistepScheduler solver_type=heun") { o in
            DPMSolverMultistep(prediction: .data, solverOrder: try order(o, default: 2), secondOrderForm: .heun)
        },
        Entry(name: "dpmpp_3m", summary: "DPM-Solver++(3M), data prediction (Lu et al. 2022b)",
              evaluationsPerStep: 1, reference: "diffusers DPMSolverMultistepScheduler solver_order=3") { o in
            DPMSolverMultistep(prediction: .data, solverOrder: try order(o, default: 3))
        },
        Entry(name: "dpmpp_3m_taylor", summary: "DPM-Solver++(3M) with the exact third-order Taylor weight (globally 3rd order)",
              evaluationsPerStep: 1, reference: "our correction of the 3M update; see DPMSolverMultistep.ThirdOrderForm") { o in
            DPMSolverMultistep(prediction: .data, solverOrder: try order(o, default: 3), thirdOrderForm: .taylor)
        },
        Entry(name: "dpm_2m", summary: "multistep DPM-Solver-2, noise prediction (Lu et al. 2022)",
              evaluationsPerStep: 1, reference: "diffusers DPMSolverMultistepScheduler algorithm_type=dpmsolver") { o in
            DPMSolverMultistep(prediction: .noise, solverOrder: try order(o, default: 2))
        },
        Entry(name: "dpm_3m", summary: "multistep DPM-Solver-3, noise prediction (Lu et al. 2022)",
              evaluationsPerStep: 1, reference: "diffusers DPMSolverMultistepScheduler algorithm_type=dpmsolver, order 3") { o in
            DPMSolverMultistep(prediction: .noise, solverOrder: try order(o, default: 3))
        },
        Entry(name: "uni_pc", summary: "UniPC, B(h) = bh1, order 3 (Zhao et al. 2023)",
              evaluationsPerStep: 1, reference: "diffusers UniPCMultistepScheduler solver_type=bh1") { o in
            UniPC(variant: .bh1, solverOrder: try order(o, default: 3))
        },
        Entry(name: "uni_pc_bh2", summary: "UniPC, B(h) = bh2, order 2 (Zhao et al. 2023)",
              evaluationsPerStep: 1, reference: "diffusers UniPCMultistepScheduler (defaults)") { o in
            UniPC(variant: .bh2, solverOrder: try order(o, default: 2))
        },
        Entry(name: "dpm_solver_1", summary: "DPM-Solver-1 (= DDIM), noise prediction", evaluationsPerStep: 1,
              reference: "official DPM-Solver; equals ddim") { o in DPMSolver(prediction: .noise, solverOrder: try order(o, default: 1)) },
        Entry(name: "dpm_solver_2", summary: "singlestep DPM-Solver-2, r1 = 1/2 (Lu et al. 2022)", evaluationsPerStep: 2,
              reference: "official DPM-Solver singlestep; equivalences tested") { o in DPMSolver(prediction: .noise, solverOrder: try order(o, default: 2)) },
        Entry(name: "dpm_solver_3", summary: "singlestep DPM-Solver-3, r1 = 1/3, r2 = 2/3 (Lu et al. 2022)", evaluationsPerStep: 3,
              reference: "official DPM-Solver singlestep; equivalences tested") { o in DPMSolver(prediction: .noise, solverOrder: try order(o, default: 3)) },
        Entry(name: "dpmpp_3s", summary: "singlestep DPM-Solver++(3S), data prediction, r1 = 1/3, r2 = 2/3", evaluationsPerStep: 3,
              reference: "official DPM-Solver++ singlestep") { o in DPMSolver(prediction: .data, solverOrder: try order(o, default: 3)) },
        Entry(name: "dpmpp_2s_diffusers", summary: "singlestep DPM-Solver++(2S) on grid intermediates", evaluationsPerStep: 1,
              reference: "diffusers DPMSolverSinglestepScheduler solver_order=2") { o in
            DPMSolverSinglestepGrid(prediction: .data, solverOrder: try order(o, default: 2))
        },
        Entry(name: "dpmpp_3s_diffusers", summary: "singlestep DPM-Solver++(3S) on grid intermediates", evaluationsPerStep: 1,
              reference: "diffusers DPMSolverSinglestepScheduler solver_order=3") { o in
            DPMSolverSinglestepGrid(prediction: .data, solverOrder: try order(o, default: 3))
        },
        Entry(name: "dpm_solver_2_diffusers", summary: "singlestep DPM-Solver-2 (noise) on grid intermediates", evaluationsPerStep: 1,
              reference: "diffusers DPMSolverSinglestepScheduler algorithm_type=dpmsolver") { o in
            DPMSolverSinglestepGrid(prediction: .noise, solverOrder: try order(o, default: 2))
        },
        Entry(name: "dpm_solver_3_diffusers", summary: "singlestep DPM-Solver-3 (noise) on grid intermediates", evaluationsPerStep: 1,
              reference: "diffusers DPMSolverSinglestepScheduler algorithm_type=dpmsolver, order 3") { o in
            DPMSolverSinglestepGrid(prediction: .noise, solverOrder: try order(o, default: 3))
        },
        Entry(name: "deis", summary: "DEIS tAB in log rho, order 3 (Zhang & Chen 2023)",
              evaluationsPerStep: 1, reference: "diffusers DEISMultistepScheduler solver_order=3") { o in
            DEIS(solverOrder: try order(o, default: 3))
        },
    ]

    /// `--order`, checked to lie in `1...maximum`, or the family's default.
    static func order(_ options: Options, default value: Int, maximum: Int = 3) throws -> Int {
        guard let order = options.order else { return value }
        guard (1...maximum).contains(order) else {
            throw SamplingError.invalidConfiguration("--order must be between 1 and \(maximum), got \(order)")
        }
        return order
    }
}
