extension SolverCatalog {
    /// DPM-Solver, DPM-Solver++, UniPC and DEIS.
    static let exponentialEntries: [Entry] = []
}
