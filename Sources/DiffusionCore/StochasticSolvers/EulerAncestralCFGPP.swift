/// Euler ancestral with CFG++ (Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free
/// Guidance for Diffusion Models", Algorithm 2; ComfyUI's `euler_ancestral_cfg_pp`, and with `η = 0`
/// `euler_cfg_pp`): the step lands on the guided clean estimate and re-noises along the
/// unconditional noise direction, in the VE frame `y = x/α`:
/// ```
/// y′ = x̂₀ᶜᶠᵍ + σ_down·(y − x̂₀ᵘ)/σ + s_noise·σ_up·z        (y′ = x̂₀ᶜᶠᵍ on the step to σ = 0)
/// ```
/// Guidance scales in `[0, 1]` play the role of CFG's usual 1–10 (λ of the paper). Noise is drawn
/// only when `η > 0` and `s_noise > 0`, as ComfyUI does. NFE per step: 1.
public struct EulerAncestralCFGPP: Solver {
    public var eta: Double
    public var sNoise: Double

    public init(eta: Double = 1, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    public var name: String { eta == 0 ? "euler_cfg_pp" : "euler_ancestral_cfg_pp" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> CFGPlusPlusState { CFGPlusPlusState(like: x) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout CFGPlusPlusState, context: SolverContext) throws {
        try state.begin(step, x: x, context: context, solver: name)
        let from = context.grid[step], to = context.grid[step + 1]
        guard !to.isClean else { x.assign(state.guided); return }
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let (down, up) = Ancestral.step(from: sigma, to: next, eta: eta)
        let a = to.alpha
        if eta > 0, sNoise > 0 {
            try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
        } else {
            state.z.scale(by: 0)
        }
        x.update(scale: a * down / sigma / from.alpha, (a, state.guided), (-a * down / sigma, state.unconditional), (a * sNoise * up, state.z))
    }
}
