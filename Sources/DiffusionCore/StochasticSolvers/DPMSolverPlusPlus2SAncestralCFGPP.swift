import RealModule

/// DPM-Solver++(2S) ancestral with CFG++ (Chung et al. 2024), as ComfyUI's
/// `dpmpp_2s_ancestral_cfg_pp` runs it: the unconditional estimate `x̂₀ᵘ` replaces `x̂₀` where the
/// step re-noises, in the VE frame `y = x/α` with `t = −log σ`, `h = −log σ_down − t`, `s = t + h/2`:
/// ```
/// y₂ = (σ_s/σ)·(y + x̂₀ᶜᶠᵍ − x̂₀ᵘ) − (e^{−h/2} − 1)·x̂₀ᶜᶠᵍ
/// y′ = (σ_down/σ)·(y + x̂₀ᶜᶠᵍ − x̂₀ᵘ(y₂)) − (e^{−h} − 1)·x̂₀ᶜᶠᵍ(y₂) + s_noise·σ_up·z
/// ```
/// The final update reads the unconditional estimate of the *second* evaluation (`x̂₀ᵘ(y₂)`), as
/// ComfyUI's hook leaves it. Where `σ_down = 0`, `y′ = x̂₀ᶜᶠᵍ` (+ noise). NFE per step: 2 (1 where `σ_down = 0`).
public struct DPMSolverPlusPlus2SAncestralCFGPP: Solver {
    public var eta: Double
    public var sNoise: Double

    public init(eta: Double = 1, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    public var name: String { "dpmpp_2s_ancestral_cfg_pp" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { Ancestral.twoStageEvaluations(on: grid, eta: eta) }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> CFGPlusPlusState { CFGPlusPlusState(like: x) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout CFGPlusPlusState, context: SolverContext) throws {
        try state.begin(step, x: x, context: context, solver: name)
        let from = context.grid[step], to = context.grid[step + 1]
        let sigma = Ancestral.sigma(from), next = to.isClean ? 0 : Ancestral.sigma(to)
        let (down, up) = Ancestral.step(from: sigma, to: next, eta: eta)
        let a = to.alpha
        if down == 0 {
            x.set((a, state.guided))
        } else {
            let h = Double.log(sigma) - Double.log(down)
            let mid = Double.exp(Double.log(sigma) - h / 2)
            let midLevel = context.denoiser.schedule.level(sigma: mid)
            let ratio = mid / sigma
            // x₂ = α_mid·((σ_mid/σ)·(y + x̂₀ᶜᶠᵍ − x̂₀ᵘ) − (e^{−h/2} − 1)·x̂₀ᶜᶠᵍ)
            state.stage.set((midLevel.alpha * ratio / from.alpha, x), (midLevel.alpha * (ratio - Double.expMinusOne(-h / 2)), state.guided),
                            (-midLevel.alpha * ratio, state.unconditional))
            context.denoiser.currentStep = step
            try context.denoiser.predictWithUnconditional(state.stage, at: midLevel, guided: &state.stageGuided,
                                                          unconditional: &state.unconditional, solver: name)
            let r = down / sigma
            x.update(scale: a * r / from.alpha, (a * r, state.guided), (-a * r, state.unconditional), (-a * Double.expMinusOne(-h), state.stageGuided))
        }
        if !to.isClean {
            try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
            x.update(scale: 1, (a * sNoise * up, state.z))
        }
    }
}
