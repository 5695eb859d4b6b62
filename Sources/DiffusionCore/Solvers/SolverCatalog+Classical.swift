extension SolverCatalog {
    /// Linear multistep and k-diffusion's DPM samplers: lms, ipndm, plms, dpm_2, dpmpp_2s, dpm_fast, dpm_adaptive.
    static let classicalEntries: [Entry] = [
        Entry(name: "lms", summary: "linear multistep in sigma, exact Lagrange coefficients, order 4 (--order 1-6)",
              evaluationsPerStep: 1, reference: "k-diffusion sample_lms") { options in
            LMS(solverOrder: try classicalOrder(options, default: 4, allowed: 1...6, solver: "lms"))
        },
        Entry(name: "ipndm", summary: "improved PNDM: fixed Adams-Bashforth weights in sigma, order 4 (--order 1-4)",
              evaluationsPerStep: 1, reference: "ComfyUI sample_ipndm (zju-pi diff-sampler)") { options in
            IPNDM(solverOrder: try classicalOrder(options, default: 4, allowed: 1...4, solver: "ipndm"))
        },
        Entry(name: "plms", summary: "pseudo linear multistep (Liu et al. 2022); one extra evaluation on the first step",
              evaluationsPerStep: 1, reference: "diffusers PNDMScheduler skip_prk_steps=True") { options in
            PLMS(solverOrder: try classicalOrder(options, default: 4, allowed: 1...4, solver: "plms"))
        },
        Entry(name: "dpm_2", summary: "DPM-Solver-2-style midpoint in log sigma (Euler on the step to 0)",
              evaluationsPerStep: 2, reference: "k-diffusion sample_dpm_2") { _ in DPM2() },
        Entry(name: "dpmpp_2s", summary: "DPM-Solver++(2S), data prediction, midpoint in lambda",
              evaluationsPerStep: 2, reference: "k-diffusion sample_dpmpp_2s_ancestral, eta = 0") { _ in DPMSolverPlusPlus2S() },
        Entry(name: "dpm_fast", summary: "DPM-Solver-fast between the grid's first and last nonzero sigma; --steps is the NFE",
              evaluationsPerStep: 1, reference: "k-diffusion sample_dpm_fast") { _ in DPMSolverFast() },
        Entry(name: "dpm_adaptive", summary: "DPM-Solver-23 with adaptive steps between the grid's first and last nonzero sigma",
              evaluationsPerStep: 3, reference: "k-diffusion sample_dpm_adaptive") { options in
            DPMSolverAdaptive(order: try classicalOrder(options, default: 3, allowed: 2...3, solver: "dpm_adaptive"))
        },
    ]

    /// `--order` for the classical solvers, checked against `allowed`, or the default.
    private static func classicalOrder(_ options: Options, default value: Int, allowed: ClosedRange<Int>,
                                       solver: String) throws -> Int {
        guard let order = options.order else { return value }
        guard allowed.contains(order) else {
            throw SamplingError.invalidConfiguration("--order for \(solver) must be between \(allowed.lowerBound) and \(allowed.upperBound), got \(order)")
        }
        return order
    }
}
