import RealModule

/// Ancestral sampling with DPM-Solver-2-style steps (k-diffusion's `sample_dpm_2_ancestral`): a
/// midpoint step in log σ to `σ_down`, then fresh noise of scale `σ_up`, in the VE frame:
/// ```
/// σ_mid = √(σ·σ_down),   y₂ = y + (σ_mid − σ)·ε̂(y, σ)
/// y′    = y + (σ_down − σ)·ε̂(y₂, σ_mid) + s_noise·σ_up·z
/// ```
/// When `σ_down = 0` the step is Euler to the clean estimate and, as in k-diffusion, adds no
/// noise. On a flow schedule it is ComfyUI's `sample_dpm_2_ancestral_RF`: the same midpoint
/// `τ_mid = √(τ·τ_down)` with flow-frame Euler stages `y + (τ′ − τ)·(y − x̂₀)/τ`, then the flow
/// split of `Ancestral.flowStep(from:to:eta:)`. NFE per step: 2 (1 when `σ_down = 0`).
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
        let (sigma, next, down, up) = (l.sigma, l.next, l.down, l.up)
        let (s, s2) = l.scales
        if down == 0 {
            // Euler to σ_down = 0 is the clean estimate, rescaled to the next level's frame scale.
            x.set((s2, state.first.data))
            return
        }
        let mid = (sigma * down).squareRoot()
        let midLevel = context.denoiser.schedule.level(sigma: mid)
        let sMid = l.frame.scale(midLevel)
        if l.frame == .rectifiedFlow {
            // y₂ = (τ_mid/τ)·y + (1 − τ_mid/τ)·x̂₀;  y′ = y + (τ_down − τ)·(y₂ − x̂₀(y₂))/τ_mid, which is
            // (τ_down/τ)·y + (τ_down − τ)·(1/τ_mid − 1/τ)·x̂₀ − ((τ_down − τ)/τ_mid)·x̂₀(y₂).
            let r = mid / sigma
            state.stage.set((sMid * r / s, x), (sMid * (1 - r), state.first.data))
            try context.predict(state.stage, at: midLevel, step: step, into: &state.second, needs: .data)
            try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
            let g = s2 * l.rescale, h = down - sigma
            x.update(scale: g * down / sigma / s, (g * h * (1 / mid - 1 / sigma), state.first.data), (-g * h / mid, state.second.data),
                     (s2 * sNoise * up, state.z))
            return
        }
        // x₂ = α_mid·(y + (σ_mid − σ)·ε̂).
        state.stage.set((sMid / s, x), (sMid * (mid - sigma), state.first.noise))
        try context.predict(state.stage, at: midLevel, step: step, into: &state.second, needs: .noise)
        try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
        x.update(scale: s2 / s, (s2 * (down - sigma), state.second.noise), (s2 * sNoise * up, state.z))
    }
}
