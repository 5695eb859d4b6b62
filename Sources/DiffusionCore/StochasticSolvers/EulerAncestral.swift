/// Ancestral sampling with Euler steps (k-diffusion's `sample_euler_ancestral`; the "Euler a" of
/// A1111 and ComfyUI): a deterministic Euler step to `σ_down`, then fresh noise of scale `σ_up`
/// (`Ancestral.step(from:to:eta:)`), in the VE frame `y = x/α`:
/// ```
/// y′ = y + (σ_down − σ)·ε̂ + s_noise·σ_up·z,    z ~ N(0, I)     (no noise on the step to σ = 0)
/// ```
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
        guard try Ancestral.evaluateFirst(step, x: &x, into: &state.first, needs: .noise, context: context, solver: name) else { return }
        let from = context.grid[step], to = context.grid[step + 1]
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let (down, up) = Ancestral.step(from: sigma, to: next, eta: eta)
        let a = to.alpha
        // As k-diffusion, a draw is taken on every step that does not end at σ = 0 (also when η = 0).
        try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
        x.update(scale: a / from.alpha, (a * (down - sigma), state.first.noise), (a * sNoise * up, state.z))
    }
}
