/// A deterministic single-step solver made stochastic for particle steering: each step runs the
/// solver to `σ_down` and adds fresh noise of scale `σ_up` (`Ancestral.step(from:to:eta:)`), in the
/// VE frame `y = x/α`:
/// ```
/// y_down = solver step σ → σ_down;    y′ = y_down + σ_up·z
/// ```
/// The marginals stay those of the data at every level (for an exact model), but copies of a
/// resampled particle now part ways, which FK steering and SVDD need (Singhal et al. 2025 step
/// their deterministic samplers with stochastic transitions; with η = 1 Euler becomes Euler
/// ancestral). The step to `σ = 0` is the solver's own.
public struct AncestralTransitions<Base: Solver>: Solver where Base.State == StageState {
    public let base: Base
    public let eta: Double

    public init(_ base: Base, eta: Double = 1) { self.base = base; self.eta = eta }

    public var name: String { "\(base.name) with ancestral transitions" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { base.evaluations(on: grid) }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { base.makeState(for: x, grid: grid) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        try Ancestral.requireVEFrame(context, solver: name)
        let from = context.grid[step], to = context.grid[step + 1]
        let sigma = Ancestral.sigma(from), next = to.isClean ? 0 : Ancestral.sigma(to)
        let (down, up) = Ancestral.step(from: sigma, to: next, eta: eta)
        guard !to.isClean, up > 0 else {
            try base.step(step, x: &x, state: &state, context: context)
            return
        }
        let downLevel = context.denoiser.schedule.level(sigma: down)
        let sub = SolverContext(grid: try TimeGrid(levels: [from, downLevel]), denoiser: context.denoiser, noise: context.noise,
                                frame: context.frame, alwaysNeeds: context.alwaysNeeds)
        try base.step(0, x: &x, state: &state, context: sub)
        var z = SampleTensor(zeros: x.shape)
        try context.drawNoise(&z, step: step, from: sigma, to: next, for: name)
        x.update(scale: to.alpha / downLevel.alpha, (to.alpha * up, z))
    }
}

extension AncestralTransitions {
    /// The solver a steered run uses for `solver`: the deterministic single-step ODE solvers (Euler
    /// and Heun without churn, DPM-2, DPM-Solver++(2S)) with ancestral transitions, any other as it is.
    public static func forSteering(_ solver: any Solver) -> any Solver {
        switch solver {
        case let s as Euler where s.churn == nil: AncestralTransitions<Euler>(s)
        case let s as Heun where s.churn == nil: AncestralTransitions<Heun>(s)
        case let s as DPM2: AncestralTransitions<DPM2>(s)
        case let s as DPMSolverPlusPlus2S: AncestralTransitions<DPMSolverPlusPlus2S>(s)
        default: solver
        }
    }
}
