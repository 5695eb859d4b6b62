import RealModule

/// DDIM, the denoising diffusion implicit model sampler (Song, Meng & Ermon 2021, "Denoising
/// Diffusion Implicit Models", Eq. 12), for any schedule.
///
/// With the model's predictions `(x̂₀, ε̂)` at `(α, σ)`, one step to `(α′, σ′)` is
/// ```
/// c  = η · σ′ · √(1 − e^{2(λ − λ′)})
/// x′ = α′·x̂₀ + √(σ′² − c²)·ε̂ + c·z,     z ~ N(0, I)
/// ```
/// For VP schedules `c` is DDIM's `σ_t(η) = η·√((1−ᾱ′)/(1−ᾱ))·√(1 − ᾱ/ᾱ′)`; in general it is `η`
/// times the DDPM posterior standard deviation, so `η = 1` is ancestral sampling (k-diffusion's
/// `get_ancestral_step` in the VE frame). `η = 0` is deterministic and first order; it is the
/// exact solution of the probability-flow ODE when `x̂₀` is constant over the step.
///
/// It is computed from `x̂₀` alone, with `ε̂ = (x − α·x̂₀)/σ` and `d = √(σ′² − c²)`:
/// `x′ = (d/σ)·x + (α′ − d·α/σ)·x̂₀ + c·z` (DPM-Solver++'s first-order form, exact at `σ′ = 0`).
///
/// NFE per step: 1. Matches diffusers' `DDIMScheduler` (`clip_sample=False`) on the same grid.
public struct DDIM: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var prediction: ModelPrediction
        var noise: SampleTensor?
        public var denoised: SampleTensor { prediction.data }
    }

    /// The amount of fresh noise, from 0 (deterministic) to 1 (ancestral).
    public let eta: Double

    public init(eta: Double = 0) { self.eta = eta }

    public var name: String { "ddim" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(prediction: ModelPrediction(like: x), noise: eta > 0 ? SampleTensor(zeros: x.shape) : nil)
    }

    /// The standard deviation of the fresh noise for a step from `from` to `to`.
    public func noiseScale(from: NoiseLevel, to: NoiseLevel) -> Double {
        guard eta > 0, !to.isClean else { return 0 }
        let c = eta * to.sigma * (-Double.expMinusOne(2 * (from.lambda - to.lambda))).squareRoot()
        return Swift.min(c, to.sigma)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let from = context.grid[step], to = context.grid[step + 1]
        try context.predict(x, at: from, step: step, into: &state.prediction, needs: .data)
        let c = noiseScale(from: from, to: to)
        let direction = (Swift.max(to.sigma * to.sigma - c * c, 0)).squareRoot()
        let keep = direction / from.sigma, dataCoefficient = to.alpha - keep * from.alpha
        if c > 0, var z = state.noise {
            state.noise = nil  // keep `z` uniquely referenced while it is filled
            guard let source = context.noise else {
                throw SamplingError.invalidConfiguration("ddim with eta > 0 needs a noise source (a seed or recorded step noise)")
            }
            try source.fill(&z, step: step)
            x.update(scale: keep, (dataCoefficient, state.prediction.data), (c, z))
            state.noise = z
        } else {
            x.update(scale: keep, (dataCoefficient, state.prediction.data))
        }
    }
}
