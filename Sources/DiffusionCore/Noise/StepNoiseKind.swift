/// How the fresh noise of a stochastic solver's steps is drawn.
public enum StepNoiseKind: String, Sendable, Equatable, CaseIterable {
    /// An independent standard-normal draw per step (``SeededNoise``).
    case independent
    /// Increments of one Brownian path per sample (``BrownianTreeNoise``): the draws of nearby
    /// steps are correlated as the SDE's Wiener process is, so the sample converges as the steps
    /// shrink. k-diffusion uses it for its SDE samplers (`BrownianTreeNoiseSampler`).
    case brownianTree
}
