import RealModule

/// DPM-Solver++ (stochastic), k-diffusion's `sample_dpmpp_sde` ("DPM++ SDE"): two ancestral
/// data-prediction stages per step, the first to `s = t + r·h` in `t = −log σ`:
/// ```
/// (σ_d, σ_u) = ancestral(σ, σ_s, η):    y₂ = (σ_d/σ)·y − (e^{t − t_d} − 1)·x̂₀ + s_noise·σ_u·z₁
/// (σ_d, σ_u) = ancestral(σ, σ′, η):     y′ = (σ_d/σ)·y − (e^{t − t_d} − 1)·((1 − 1/(2r))·x̂₀ + 1/(2r)·x̂₀(y₂, σ_s)) + s_noise·σ_u·z₂
/// ```
/// with `z₁` drawn for the increment `σ → σ_s` and `z₂` for `σ → σ′` (a Brownian tree makes them
/// one path). The step to `σ = 0` is Euler (it returns `x̂₀`). NFE per step: 2.
public struct DPMSolverPlusPlusSDE: Solver {
    public var eta: Double
    public var sNoise: Double
    public var r: Double

    public init(eta: Double = 1, sNoise: Double = 1, r: Double = 0.5) { self.eta = eta; self.sNoise = sNoise; self.r = r }

    public var name: String { "dpmpp_sde" }
    public var stepNoise: StepNoiseKind { .brownianTree }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { 2 * grid.steps - (grid.endsClean ? 1 : 0) }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 2, noise: true) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        guard try Ancestral.evaluateFirst(step, x: &x, into: &state.first, context: context, solver: name) else { return }
        let from = context.grid[step], to = context.grid[step + 1]
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let t = -Double.log(sigma), tNext = -Double.log(next)
        let h = tNext - t
        let sMid = Double.exp(-(t + h * r))
        let fac = 1 / (2 * r)
        // Stage 1.
        let (d1, u1) = Ancestral.step(from: sigma, to: sMid, eta: eta)
        let midLevel = context.denoiser.schedule.level(sigma: sMid)
        let am = midLevel.alpha
        state.stage.set((am * d1 / sigma / from.alpha, x), (-am * Double.expMinusOne(t + Double.log(d1)), state.first.data))
        // Two draws on every step that does not end at σ = 0, as k-diffusion (also when η = 0).
        try context.drawNoise(&state.z, step: step, from: sigma, to: sMid, for: name)
        state.stage.update(scale: 1, (am * sNoise * u1, state.z))
        try context.predict(state.stage, at: midLevel, step: step, into: &state.second, needs: .data)
        // Stage 2.
        let (d2, u2) = Ancestral.step(from: sigma, to: next, eta: eta)
        let a = to.alpha
        let c = -a * Double.expMinusOne(t + Double.log(d2))
        x.update(scale: a * d2 / sigma / from.alpha, (c * (1 - fac), state.first.data), (c * fac, state.second.data))
        try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
        x.update(scale: 1, (a * sNoise * u2, state.z))
    }
}
