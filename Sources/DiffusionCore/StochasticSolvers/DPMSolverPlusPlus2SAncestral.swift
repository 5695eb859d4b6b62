import RealModule

/// Ancestral sampling with DPM-Solver++(2S) steps (k-diffusion's `sample_dpmpp_2s_ancestral`):
/// a second-order data-prediction step to `σ_down` with the midpoint in `t = −log σ`, then fresh
/// noise of scale `σ_up`:
/// ```
/// t = −log σ, t′ = −log σ_down, h = t′ − t, s = t + h/2
/// y₂ = (σ_s/σ)·y − (e^{−h/2} − 1)·x̂₀(y, σ)
/// y′ = (σ_down/σ)·y − (e^{−h} − 1)·x̂₀(y₂, σ_s) + s_noise·σ_up·z
/// ```
/// With `η = 0` it is the deterministic `dpmpp_2s`. On a flow schedule it is ComfyUI's
/// `_RF` form (`flowStep(_:x:state:context:levels:)`). NFE per step: 2 (1 when `σ_down = 0`).
public struct DPMSolverPlusPlus2SAncestral: Solver {
    public var eta: Double
    public var sNoise: Double

    public init(eta: Double = 1, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    public var name: String { "dpmpp_2s_ancestral" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { Ancestral.twoStageEvaluations(on: grid, eta: eta) }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 2, noise: true) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let l = try Ancestral.begin(step, x: x, state: &state, context: context, eta: eta, noise: false, solver: name)
        if l.frame == .rectifiedFlow { return try flowStep(step, x: &x, state: &state, context: context, levels: l) }
        let (from, to, sigma, next, down, up) = (l.from, l.to, l.sigma, l.next, l.down, l.up)
        let a = to.alpha
        if down == 0 {
            x.set((a, state.first.data))
        } else {
            let h = Double.log(sigma) - Double.log(down)
            let mid = Double.exp(-(-Double.log(sigma) + h / 2))
            let midLevel = context.denoiser.schedule.level(sigma: mid)
            // x₂ = α_mid·((σ_mid/σ)·y − (e^{−h/2} − 1)·x̂₀)
            state.stage.set((midLevel.alpha * mid / sigma / from.alpha, x), (-midLevel.alpha * Double.expMinusOne(-h / 2), state.first.data))
            try context.predict(state.stage, at: midLevel, step: step, into: &state.second, needs: .data)
            x.update(scale: a * down / sigma / from.alpha, (-a * Double.expMinusOne(-h), state.second.data))
        }
        if !to.isClean {  // k-diffusion draws on every step that does not end at σ = 0
            try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
            x.update(scale: 1, (a * sNoise * up, state.z))
        }
    }

    /// ComfyUI's `sample_dpmpp_2s_ancestral_RF`: the stage at the half-way `λ = log((1 − τ)/τ)`
    /// between `τ` and `τ_down` (`τ_s = 0.9999` when `τ = 1`, where `λ = −∞`), both stages
    /// flow-frame Euler steps `y + (τ′ − τ)·(y − x̂₀)/τ` (the second with the stage's `x̂₀`), then
    /// the flow split; a draw only when `η > 0`.
    func flowStep(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext, levels l: Ancestral.Levels) throws {
        let (s, s2) = l.scales
        guard !l.to.isClean else { x.set((s2, state.first.data)); return }
        let tau = l.sigma
        let mid = tau == 1 ? 0.9999 : 1 / (1 + Double.exp((l.frame.lambda(tau: tau) + l.frame.lambda(tau: l.down)) / 2))
        let midLevel = context.denoiser.schedule.level(sigma: mid)
        let sMid = l.frame.scale(midLevel), r = mid / tau, rDown = l.down / tau
        state.stage.set((sMid * r / s, x), (sMid * (1 - r), state.first.data))
        try context.predict(state.stage, at: midLevel, step: step, into: &state.second, needs: .data)
        guard eta > 0 else { x.update(scale: s2 * rDown / s, (s2 * (1 - rDown), state.second.data)); return }
        try context.drawNoise(&state.z, step: step, from: tau, to: l.next, for: name)
        let g = s2 * l.rescale
        x.update(scale: g * rDown / s, (g * (1 - rDown), state.second.data), (s2 * sNoise * l.up, state.z))
    }
}
