/// Ancestral sampling with Euler steps (k-diffusion's `sample_euler_ancestral`; the "Euler a" of
/// A1111 and ComfyUI): a deterministic Euler step to `σ_down`, then fresh noise of scale `σ_up`
/// (`Ancestral.Levels`), in the VE frame `y = x/α`:
/// ```
/// y′ = y + (σ_down − σ)·ε̂ + s_noise·σ_up·z,    z ~ N(0, I)     (no noise on the step to σ = 0)
/// ```
/// On a flow schedule it is ComfyUI's `sample_euler_ancestral_RF`, in the flow frame
/// `y = (1 − τ)·x₀ + τ·ε`: `y′ = r·((τ_down/τ)·y + (1 − τ_down/τ)·x̂₀) + s_noise·σ_up·z`, with `r`
/// the signal rescale of `Ancestral.flowStep(from:to:eta:)`.
/// `η = 1` samples the reverse SDE's marginals; `η = 0` is Euler. NFE per step: 1.
public struct EulerAncestral: Solver {
    public var eta: Double
    public var sNoise: Double

    public init(eta: Double = 1, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    public var name: String { "euler_ancestral" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let l = Ancestral.Levels(step, context: context, eta: eta)
        let flow = l.frame == .rectifiedFlow
        guard try Ancestral.evaluateFirst(step, x: &x, into: &state.first, needs: flow ? .data : .noise, context: context,
                                          solver: name, hasFlowForm: true) else { return }
        let (sigma, next, down, up) = (l.sigma, l.next, l.down, l.up)
        let (s, s2) = l.scales
        if flow {
            // ComfyUI draws only when η > 0.
            let r = down / sigma
            guard eta > 0 else { x.update(scale: s2 * r / s, (s2 * (1 - r), state.first.data)); return }
            try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
            x.update(scale: s2 * l.rescale * r / s, (s2 * l.rescale * (1 - r), state.first.data), (s2 * sNoise * up, state.z))
            return
        }
        // As k-diffusion, a draw is taken on every step that does not end at σ = 0 (also when η = 0).
        try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
        x.update(scale: s2 / s, (s2 * (down - sigma), state.first.noise), (s2 * sNoise * up, state.z))
    }
}
