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
    ]
}
