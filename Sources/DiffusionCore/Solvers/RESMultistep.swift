import RealModule

/// The refined exponential solver's second-order multistep method (RES; Zhang, Tao et al. 2023,
/// "Improved Order Analysis and Design of Exponential Integrator for Diffusion Models Sampling",
/// arXiv:2308.02157), as ComfyUI's `sample_res_multistep` and, with `η > 0`,
/// `sample_res_multistep_ancestral` run it.
///
/// In the VE frame (`y = x/α`, `σ` = `σ/α`, `λ = −log σ`), a step from `σ` to `σ_down` (to `σ′`
/// itself when `η = 0`; else `Ancestral.step(from:to:eta:)`), with `h = log(σ/σ_down)` and the
/// previous step's `h₋ = log(σ₋/σ_down,₋)`:
/// ```
/// y′ = e^{−h}·y + (1 − e^{−h})·x̂₀ + h·φ₂(−h)·(h/h₋)·(x̂₀ − x̂₀,₋)  +  s_noise·σ_up·z
/// h·φ₂(−h) = (e^{−h} − 1)/h + 1
/// ```
/// the exponential integrator with the data prediction interpolated linearly in `λ` and its
/// integral taken exactly (the paper's `b₁ = φ₁ − φ₂/c₂`, `b₂ = φ₂/c₂`, `c₂ = −h₋/h`). The first
/// step, and a step with `σ_down = 0`, take the first-order part alone (Euler in `σ`, which is
/// DDIM); the step to `σ = 0` returns `x̂₀`. Unlike DPM-Solver++(2M), whose correction weight is
/// `h/2`, the weight is the exact `h·φ₂(−h)`.
///
/// NFE per step: 1. Order 2 (`η = 0`). With `η > 0` noise is drawn on every step that does not end
/// at `σ = 0`, as ComfyUI does. The data-prediction update is the same in any frame; a flow
/// schedule's first point (pure noise) takes a DDIM step. The ancestral form needs a VP or VE
/// schedule.
public struct RESMultistep: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        var z: SampleTensor
        /// `h₋`, the λ-length of the previous step's deterministic part (ComfyUI's `old_sigma_down`).
        var previousH = Double.infinity
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    /// Fresh noise: 0 is ComfyUI's `res_multistep`, 1 its `res_multistep_ancestral`.
    public var eta: Double
    public var sNoise: Double

    public init(eta: Double = 0, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    public var name: String { eta == 0 ? "res_multistep" : "res_multistep_ancestral" }
    public var order: Int { eta == 0 ? 2 : 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: 2, like: x), z: SampleTensor(zeros: eta == 0 ? [1] : x.shape))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        if eta != 0 { try Ancestral.requireVEFrame(context, solver: name) }
        let from = context.grid[step], to = context.grid[step + 1]
        state.history.advance(to: from)
        try context.predict(x, at: from, step: step, into: &state.history.newestSlot, needs: PredictionNeeds(.data, from: from, to: to))
        if state.history.stepWithoutHistory(&x, from: from, to: to) { return }
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let (down, up) = Ancestral.step(from: sigma, to: next, eta: eta)
        let h = Double.log(sigma / down), decay = down / sigma, a = to.alpha
        var p = Swift.min(StepOrders(solverOrder: 2).order(atStep: step, of: context.grid.steps), state.history.usable(limit: 2))
        if down == 0 { p = 1 }
        let w = p == 2 ? ExponentialIntegrator.dataPhi2(h) * h / state.previousH : 0
        state.previousH = h
        let x0 = state.history.output(0, .data), previous = state.history.output(p - 1, .data)
        if eta == 0 {
            x.update(scale: a * decay / from.alpha, (a * (1 - decay + w), x0), (-a * w, previous))
            return
        }
        try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
        x.update(scale: a * decay / from.alpha, (a * (1 - decay + w), x0), (-a * w, previous), (a * sNoise * up, state.z))
    }
}
