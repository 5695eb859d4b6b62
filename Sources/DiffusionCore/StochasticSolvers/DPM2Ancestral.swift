import RealModule

/// Ancestral sampling with DPM-Solver-2-style steps (k-diffusion's `sample_dpm_2_ancestral`): a
/// midpoint step in log σ to `σ_down`, then fresh noise of scale `σ_up`, in the VE frame:
/// ```
/// σ_mid = √(σ·σ_down),   y₂ = y + (σ_mid − σ)·ε̂(y, σ)
/// y′    = y + (σ_down − σ)·ε̂(y₂, σ_mid) + s_noise·σ_up·z
/// ```
/// When `σ_down = 0` the step is Euler to the clean estimate and, as in k-diffusion, adds no
/// noise. NFE per step: 2 (1 when `σ_down = 0`).
public struct DPM2Ancestral: Solver {
    public var eta: Double
    public var sNoise: Double

    public init(eta: Double = 1, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    public var name: String { "dpm_2_ancestral" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { Ancestral.twoStageEvaluations(on: grid, eta: eta) }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 2, noise: true) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let l = try Ancestral.begin(step, x: x, state: &state, context: context, eta: eta, noise: true, solver: name)
        let (from, to, sigma, next, down, up) = (l.from, l.to, l.sigma, l.next, l.down, l.up)
        if down == 0 {
            // Euler to σ_down = 0 is the clean estimate, rescaled to the next level's α.
            x.set((to.alpha, state.first.data))
            return
        }
        let mid = (sigma * down).squareRoot()
        let midLevel = context.denoiser.schedule.level(sigma: mid)
        // x₂ = α_mid·(y + (σ_mid − σ)·ε̂).
        state.stage.set((midLevel.alpha / from.alpha, x), (midLevel.alpha * (mid - sigma), state.first.noise))
        try context.predict(state.stage, at: midLevel, step: step, into: &state.second, needs: .noise)
        let a = to.alpha
        try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
        x.update(scale: a / from.alpha, (a * (down - sigma), state.second.noise), (a * sNoise * up, state.z))
    }
}
