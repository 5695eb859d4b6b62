extension SamplingPlan {
    /// The seeded step noise of this plan as `diffuse sample --seed` draws it (philox): independent
    /// draws (``SeededNoise``), or a Brownian tree (``BrownianTreeNoise``) over the grid's nonzero
    /// sigmas when the plan's step noise is one. The initial noise is a separate
    /// `SeededNoise(seed:).initialNoise(shape:)`.
    public func seededStepNoise(seed: UInt64, schedule: any NoiseSchedule) -> any NoiseSource {
        guard stepNoise == .brownianTree else { return SeededNoise(seed: seed) }
        let sigmas = grid.levels.filter { !$0.isClean }.map { schedule.displaySigma($0) }
        return BrownianTreeNoise(seed: seed, sigmaMin: sigmas.min() ?? 0, sigmaMax: sigmas.max() ?? 1)
    }
}
