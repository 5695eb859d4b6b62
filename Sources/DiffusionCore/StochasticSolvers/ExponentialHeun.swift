import RealModule

/// The exponential Heun method in data prediction and log-SNR time, ComfyUI's `sample_exp_heun_2_x0`
/// and, with noise, `sample_exp_heun_2_x0_sde` (both `sample_seeds_2` with `r = 1` and the `φ₂`
/// weights): an exponential Euler step to the end of the step, then the exponential trapezoid
/// rule through the model's output there (the 2-stage exponential Runge–Kutta method of
/// Hochbruck & Ostermann 2005, "Explicit exponential Runge–Kutta methods for semilinear parabolic
/// problems", with `c₂ = 1`; in the SDE form, the SEEDS-2 noise of Gonzalez et al. 2023).
///
/// In the VE frame (`y = x/α`, `σ` = `σ/α`, `λ = −log σ`), with `h = λ_t − λ_s`, `h_η = (1 + η)·h`,
/// `φ(u) = (e^{−u} − 1)/u + 1` and one draw `n = √(1 − e^{−2ηh})·z` for the whole step:
/// ```
/// y₁ = (σ_t/σ_s)·e^{−ηh}·y + (1 − e^{−h_η})·x̂₀(y, σ_s) + s_noise·σ_t·n
/// y′ = (σ_t/σ_s)·e^{−ηh}·y + (1 − e^{−h_η} − φ(h_η))·x̂₀(y, σ_s) + φ(h_η)·x̂₀(y₁, σ_t) + s_noise·σ_t·n
/// ```
/// The step to `σ = 0` returns `x̂₀`. `η = 0` draws nothing and is order 2. With noise, ComfyUI
/// asks its sampler twice per step (the second draw, for the empty segment from `σ_t` to `σ_t`,
/// is multiplied by 0); so does this, so that a seeded noise sampler feeds both the same draws.
/// NFE per step: 2 (1 on the last). Needs a VP or VE schedule.
public struct ExponentialHeun: Solver {
    public var eta: Double
    public var sNoise: Double

    public init(eta: Double = 0, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    public var name: String { eta > 0 ? "exp_heun_2_x0_sde" : "exp_heun_2_x0" }
    public var order: Int { eta == 0 ? 2 : 1 }
    public func evaluations(on grid: TimeGrid) -> Int { 2 * grid.steps - (grid.endsClean ? 1 : 0) }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState {
        StageState(like: x, stages: 2, noise: eta > 0 && sNoise > 0)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        guard try Ancestral.evaluateFirst(step, x: &x, into: &state.first, context: context, solver: name) else { return }
        let from = context.grid[step], to = context.grid[step + 1]
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let h = Double.log(sigma / next), inject = eta > 0 && sNoise > 0
        let keep = to.alpha / from.alpha * (next / sigma) * .exp(-h * eta)
        let e = -Double.expMinusOne(-h * (1 + eta)), b = ExponentialIntegrator.dataPhi2(h * (1 + eta))
        var noise = 0.0
        if inject {
            try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
            noise = to.alpha * next * sNoise * (-Double.expMinusOne(-2 * h * eta)).squareRoot()
        }
        if inject {
            state.stage.set((keep, x), (to.alpha * e, state.first.data), (noise, state.z))
        } else {
            state.stage.set((keep, x), (to.alpha * e, state.first.data))
        }
        try context.predict(state.stage, at: to, step: step, into: &state.second, needs: .data)
        guard inject else {
            x.update(scale: keep, (to.alpha * (e - b), state.first.data), (to.alpha * b, state.second.data))
            return
        }
        // ComfyUI's second draw, for the zero-length segment σ_t → σ_t, whose weight √(1 − e⁰) is 0
        // (drawn into the stage buffer, which is free again).
        try context.drawNoise(&state.stage, step: step, from: next, to: next, for: name)
        x.update(scale: keep, (to.alpha * (e - b), state.first.data), (to.alpha * b, state.second.data), (noise, state.z))
    }
}
