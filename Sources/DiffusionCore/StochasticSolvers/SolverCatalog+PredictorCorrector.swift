extension SolverCatalog {
    /// Stochastic predictor-corrector samplers: SA-Solver and the score-SDE PC sampler.
    static let predictorCorrectorEntries: [Entry] = [
        Entry(name: "sa_solver",
              summary: "SA-Solver (Xue et al. 2023): stochastic Adams predictor-corrector, data prediction, tau = 1 for timesteps 200-800; --order sets the predictor order (1-4)",
              evaluationsPerStep: 1, reference: "diffusers SASolverScheduler") { o in
            SASolver(solverOrder: try order(o, default: 2, maximum: 4))
        },
        Entry(name: "score_sde_pc", summary: "Score-SDE predictor-corrector (Song et al. 2021): Langevin corrector (snr 0.16) + reverse-diffusion predictor; VE and VP",
              evaluationsPerStep: 2, reference: "diffusers ScoreSdeVeScheduler + ScoreSdeVePipeline") { _ in ScoreSDEPredictorCorrector() },
    ]
}
