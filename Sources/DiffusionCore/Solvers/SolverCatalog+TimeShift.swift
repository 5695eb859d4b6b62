extension SolverCatalog {
    /// Samplers that move each sample to the training time step whose noise level fits it.
    static let timeShiftEntries: [Entry] = [
        Entry(name: "ts_ddim", summary: "time-shift DDIM (Li et al. 2024): steps to the time whose 1 - abar matches the sample's variance; --time-shift WINDOW,CUTOFF",
              evaluationsPerStep: 1, reference: "Mingxiao-Li/TS-DPM pnm_solver.py (euler)") { options in
            guard options.eta ?? 0 == 0 else {
                throw SamplingError.invalidConfiguration("ts_ddim is deterministic DDIM; --eta must be 0, got \(options.eta ?? 0)")
            }
            return TimeShiftDDIM(shift: options.timeShift ?? .paperDefault)
        },
        Entry(name: "ts_dpm_solver", summary: "time-shift DPM-Solver-2 multistep (Li et al. 2024): each sample steps to, and continues from, the time whose 1 - abar matches its variance; --time-shift WINDOW,CUTOFF (default 30,300)",
              evaluationsPerStep: 1, reference: "Mingxiao-Li/TS-DPM dpm_solver_utils.py (multistep, order 2)") { options in
            guard options.eta ?? 0 == 0, options.order ?? 2 == 2 else {
                throw SamplingError.invalidConfiguration("ts_dpm_solver is the deterministic second-order multistep DPM-Solver; --eta must be 0 and --order 2")
            }
            return TimeShiftDPMSolver(shift: options.timeShift ?? TimeShiftDPMSolver.paperDefault)
        },
    ]
}
