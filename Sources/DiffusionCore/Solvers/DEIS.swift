import RealModule

/// DEIS, the diffusion exponential integrator sampler with the time-Adams–Bashforth (tAB)
/// multistep in `ρ = σ/α` (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential
/// Integrator", ICLR, Eq. 14 with polynomial extrapolation of `ε̂`), orders 1 to 3.
///
/// In the VE frame `y = x/α`, the probability-flow ODE is `dy/dρ = ε̂`. DEIS extrapolates the last
/// `p` noise predictions with the Lagrange polynomial in `log ρ` and integrates it exactly:
/// ```
/// x_t = α_t · (x/α_s₀ + Σⱼ cⱼ·ε₋ⱼ),   cⱼ = ∫_{ρ_s₀}^{ρ_t} ℓⱼ(log ρ) dρ
/// ```
/// with closed forms (diffusers' `ind_fn`): for `p = 2`,
/// `∫ (log ρ − log c)/(log b − log c) dρ = ρ(log ρ − log c − 1)/(log b − log c)`, and the
/// corresponding quadratic for `p = 3`. Order 1 is DDIM.
///
/// Order selection follows diffusers' `DEISMultistepScheduler` (warm-up; with ``lowerOrderFinal``
/// and fewer than 15 steps, a first-order last step and at most second order before it). A step to
/// `σ = 0` returns `x̂₀`.
///
/// NFE per step: 1. `deis` = order 3. Matches diffusers' `DEISMultistepScheduler`
/// (`algorithm_type="deis"`, `solver_type="logrho"`).
public struct DEIS: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    public var solverOrder: Int
    public var lowerOrderFinal: Bool
    /// An explicit order for each step, replacing the rules (still capped by history).
    public var stepOrders: [Int]?

    public init(solverOrder: Int = 3, lowerOrderFinal: Bool = true, stepOrders: [Int]? = nil) {
        self.stepOrders = stepOrders
        self.solverOrder = Swift.min(Swift.max(solverOrder, 1), 3)
        self.lowerOrderFinal = lowerOrderFinal
    }

    public var name: String { "deis" }
    public var order: Int { solverOrder }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: solverOrder, like: x))
    }

    /// diffusers' order rule (as ``DPMSolverMultistep``): warm-up, lower orders at the end below 15 steps.
    public var stepOrderRule: StepOrders {
        StepOrders(solverOrder: solverOrder, finalSteps: lowerOrderFinal ? .belowFifteenSteps : nil, explicit: stepOrders)
    }

    public func order(atStep i: Int, of n: Int) -> Int { stepOrderRule.order(atStep: i, of: n) }

    /// `∫ ℓ(log ρ) dρ` antiderivatives, evaluated at `t` (diffusers' `ind_fn`).
    static func antiderivative2(_ t: Double, _ b: Double, _ c: Double) -> Double {
        t * (-Double.log(c) + Double.log(t) - 1) / (Double.log(b) - Double.log(c))
    }

    static func antiderivative3(_ t: Double, _ b: Double, _ c: Double, _ d: Double) -> Double {
        let lt = Double.log(t), lc = Double.log(c), ld = Double.log(d), lb = Double.log(b)
        let numerator = t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2)
        return numerator / ((lb - lc) * (lb - ld))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid
        let s0 = grid[step], t = grid[step + 1]
        state.history.advance(to: s0)
        let fromPureNoise = !s0.lambda.isFinite
        try context.predict(x, at: s0, step: step, into: &state.history.newestSlot,
                            needs: fromPureNoise ? .both : t.isClean ? .data : .noise)
        let history = state.history
        if history.stepWithoutHistory(&x, from: s0, to: t) { return }
        let k = Swift.min(order(atStep: step, of: grid.steps), history.usable(limit: solverOrder))
        let rhoT = t.sigma / t.alpha, rho0 = s0.sigma / s0.alpha
        let scale = t.alpha / s0.alpha
        let c: SIMD4<Double>
        switch k {
        case 1:
            // DDIM: x_t = α_t(x/α_s + (ρ_t − ρ_s)·ε).
            c = SIMD4(rhoT - rho0, 0, 0, 0)
        case 2:
            let rho1 = history.level(1).sigma / history.level(1).alpha
            let f = Self.antiderivative2
            c = SIMD4(f(rhoT, rho0, rho1) - f(rho0, rho0, rho1), f(rhoT, rho1, rho0) - f(rho0, rho1, rho0), 0, 0)
        default:
            let rho1 = history.level(1).sigma / history.level(1).alpha
            let rho2 = history.level(2).sigma / history.level(2).alpha
            let f = Self.antiderivative3
            c = SIMD4(f(rhoT, rho0, rho1, rho2) - f(rho0, rho0, rho1, rho2), f(rhoT, rho1, rho2, rho0) - f(rho0, rho1, rho2, rho0),
                      f(rhoT, rho2, rho0, rho1) - f(rho0, rho2, rho0, rho1), 0)
        }
        history.combine(into: &x, scale: scale, t.alpha * c, count: k, .noise)
    }
}
