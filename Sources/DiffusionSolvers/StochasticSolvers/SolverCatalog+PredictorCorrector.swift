extension SolverCatalog {
    /// Stochastic predictor-corrector samplers: SA-Solver and the score-SDE PC sampler.
    static let predictorCorrectorEntries: [Entry] = []
}
