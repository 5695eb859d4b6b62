import RealModule

/// DPM-Solver++(2M) with CFG++ (Chung et al. 2024), as ComfyUI's `dpmpp_2m_cfg_pp` runs it: the
/// multistep update with the unconditional estimate where the step keeps the current sample, in the
/// VE frame `y = x/α` with `h = log(σ/σ′)` and `r = h_prev/h`:
/// ```
/// y′ = x̂₀ᶜᶠᵍ + e^{−h}·(y − x̂₀ᵘ) − (e^{−h} − 1)/(2r)·(x̂₀ᶜᶠᵍ − x̂₀ᵘ_prev)
/// ```
/// The correction term is dropped on the first step and on the step to `σ = 0` (`y′ = x̂₀ᶜᶠᵍ`).
/// Without guidance it is `dpmpp_2m` in ComfyUI's form. NFE per step: 1.
public struct DPMSolverPlusPlus2MCFGPP: Solver {
    public init() {}

    public var name: String { "dpmpp_2m_cfg_pp" }
    public var order: Int { 2 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> CFGPlusPlusState { CFGPlusPlusState(like: x) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout CFGPlusPlusState, context: SolverContext) throws {
        try state.begin(step, x: x, context: context, solver: name)
        let from = context.grid[step], to = context.grid[step + 1]
        defer { state.previousUnconditional = state.unconditional }
        guard !to.isClean else { x.assign(state.guided); return }
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let a = to.alpha, decay = next / sigma
        x.update(scale: a * decay / from.alpha, (a, state.guided), (-a * decay, state.unconditional))
        if let previous = state.previousUnconditional, step > 0 {
            let h = Double.log(sigma / next), hPrevious = Double.log(Ancestral.sigma(context.grid[step - 1]) / sigma)
            let c = -a * Double.expMinusOne(-h) * h / (2 * hPrevious)
            x.update(scale: 1, (c, state.guided), (-c, previous))
        }
    }
}
