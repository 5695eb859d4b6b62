extension SolverCatalog {
    /// Solvers fitted to a model: DPM-Solver-v3 (with its statistics) and DC-Solver (with its ratios).
    static let tunedEntries: [Entry] = [
        Entry(name: "dpm_solver_v3", summary: "DPM-Solver-v3 with empirical model statistics, order 3 + corrector (Zheng et al. 2023); needs --statistics",
              evaluationsPerStep: 1, reference: "thu-ml/DPM-Solver-v3 dpm_solver_v3.py (parity fixtures)",
              needs: "model statistics (--statistics)") { o in
            guard let statistics = o.statistics else {
                throw SamplingError.invalidConfiguration("dpm_solver_v3 needs model statistics (--statistics FILE, written by `diffuse tune --statistics`)")
            }
            return DPMSolverV3(statistics: statistics, solverOrder: try order(o, default: 3))
        },
        Entry(name: "dc_solver", summary: "DC-Solver: UniPC bh2 with dynamic compensation ratios (Zhao et al. 2024); --dc-ratios, all 1 = uni_pc_bh2",
              evaluationsPerStep: 1, reference: "wl-zhao/DC-Solver DCSolverMultistepScheduler (parity fixtures)") { o in
            let solver = DCSolver(variant: .bh2, solverOrder: try order(o, default: 2), ratios: o.compensationRatios ?? [])
            try solver.validate()
            return solver
        },
    ]
}
