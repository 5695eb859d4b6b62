/// Singlestep DPM-Solver(++) whose intermediate points are the grid's own points, as diffusers'
/// `DPMSolverSinglestepScheduler` runs it: every grid step costs one evaluation, and the grid is
/// cut into macro steps of orders `1, 2, 3, 1, 2, 3, …`.
///
/// A macro step of order `k` starts at `s = grid[i]` with sample `x_s`; its sub-step `j` (order
/// `j + 1`) goes from `x_s` to `grid[i + j + 1]` using the outputs at `grid[i…i+j]`, so each
/// sub-step's result is the next intermediate sample. With `h = λ_t − λ_s`, `rⱼ` the positions of
/// the intermediates and the midpoint form (data prediction, `e = e^{−h} − 1`):
/// ```
/// order 2:  x_t = (σ_t/σ_s)·x_s − α_t·e·m_s − ½·α_t·e·(m₁ − m_s)/r₀
/// order 3:  x_t = (σ_t/σ_s)·x_s − α_t·e·m_s + α_t(e/h + 1)·(m₂ − m_s)/r₁
/// ```
/// (the Taylor form also uses `m₁`). The order list follows diffusers' `get_order_list`, and a
/// last step to `σ = 0` is first order. NFE per step: 1.
///
/// Names: `dpmpp_2s_diffusers`, `dpmpp_3s_diffusers` (data), `dpm_solver_2_diffusers`,
/// `dpm_solver_3_diffusers` (noise). Matches diffusers' `DPMSolverSinglestepScheduler`.
public struct DPMSolverSinglestepGrid: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        var start: SampleTensor
        /// The order of each grid step, computed once per run.
        var orders: [Int]
        var startLevel = NoiseLevel(t: 0, alpha: 1, sigma: 0, lambda: .infinity)
        /// Evaluations made since the macro step started (1 after its first; 0 before any).
        var inMacro = 0
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    public var prediction: PredictionKind
    public var solverOrder: Int
    public var secondOrderForm: DPMSolverMultistep.SecondOrderForm
    /// diffusers' `lower_order_final` (default false for this scheduler).
    public var lowerOrderFinal: Bool
    /// An explicit order list (one entry per grid step), replacing ``orderList(steps:endsClean:)``.
    public var stepOrders: [Int]?

    public init(prediction: PredictionKind = .data, solverOrder: Int = 2,
                secondOrderForm: DPMSolverMultistep.SecondOrderForm = .midpoint, lowerOrderFinal: Bool = false,
                stepOrders: [Int]? = nil) {
        self.stepOrders = stepOrders
        self.prediction = prediction
        self.solverOrder = Swift.min(Swift.max(solverOrder, 1), 3)
        self.secondOrderForm = secondOrderForm
        self.lowerOrderFinal = lowerOrderFinal
    }

    public var name: String { (prediction == .data ? "dpmpp_\(solverOrder)s" : "dpm_solver_\(solverOrder)") + "_diffusers" }
    public var order: Int { solverOrder }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    /// diffusers' `get_order_list` for `n` evaluations.
    public func orderList(steps n: Int, endsClean: Bool) -> [Int] {
        if let stepOrders, stepOrders.count >= n { return Array(stepOrders.prefix(n)) }
        var orders: [Int]
        let cycle = Array(1...solverOrder)
        if lowerOrderFinal {
            switch solverOrder {
            case 3:
                switch n % 3 {
                case 0: orders = Array(repeating: cycle, count: n / 3 - 1).flatMap { $0 } + [1, 2, 1]
                case 1: orders = Array(repeating: cycle, count: n / 3).flatMap { $0 } + [1]
                default: orders = Array(repeating: cycle, count: n / 3).flatMap { $0 } + [1, 2]
                }
            case 2:
                orders = n % 2 == 0 ? Array(repeating: cycle, count: n / 2 - 1).flatMap { $0 } + [1, 1]
                                    : Array(repeating: cycle, count: n / 2).flatMap { $0 } + [1]
            default: orders = Array(repeating: 1, count: n)
            }
        } else {
            orders = Array(repeating: cycle, count: n / solverOrder).flatMap { $0 }
            // diffusers leaves a remainder unscheduled; finish it with the start of a new cycle.
            orders += Array(cycle.prefix(n - orders.count))
        }
        if endsClean, !orders.isEmpty { orders[orders.count - 1] = 1 }
        return orders
    }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: solverOrder, like: x), start: x,
              orders: orderList(steps: grid.steps, endsClean: grid.endsClean))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid
        let level = grid[step], t = grid[step + 1]
        var k = state.orders[step]
        state.history.advance(to: level)
        let needs: PredictionNeeds = t.isClean || !level.lambda.isFinite ? .both : PredictionNeeds(prediction)
        try context.predict(x, at: level, step: step, into: &state.history.newestSlot, needs: needs)
        if k == 1 || state.inMacro == 0 {
            // A new macro step starts here (also after a step from pure noise, which ends any macro step).
            // Keep x as the macro start without copying; every update below writes x from `start`.
            swap(&x, &state.start)
            state.startLevel = level
            state.inMacro = 1
            k = 1
        } else {
            state.inMacro += 1
            k = Swift.min(k, state.inMacro)
        }
        let h = state.history
        if t.isClean {
            x.assign(h.prediction(0).data)
            return
        }
        if !state.startLevel.lambda.isFinite {
            // A macro step from pure noise (λ = −∞) cannot use λ differences: take the DDIM step.
            FrameStep.fromPureNoise(&x, to: t, prediction: h.prediction(0))
            state.inMacro = 0
            return
        }
        func output(_ j: Int) -> SampleTensor { h.output(j, prediction) }
        let s = state.startLevel
        let span = t.lambda - s.lambda
        let (scale, edge, e) = prediction == .data
            ? (t.sigma / s.sigma, t.alpha, ExponentialIntegrator.expm1Neg(span))
            : (t.alpha / s.alpha, t.sigma, Double.expMinusOne(span))
        let base = -edge * e
        let phi2 = prediction == .data ? ExponentialIntegrator.dataPhi2(span) : -ExponentialIntegrator.noisePhi2(span)
        switch k {
        case 1:
            x.set((scale, state.start), (base, output(0)))
        case 2:
            // m_s = output(1) (start), m₀ = output(0) at grid[step].
            let r0 = (h.level(0).lambda - s.lambda) / span
            let c = secondOrderForm == .midpoint ? 0.5 * base / r0 : edge * phi2 / r0
            x.set((scale, state.start), (base - c, output(1)), (c, output(0)))
        default:
            // m_s = output(2), m₁ = output(1) at grid[step−1], m₂ = output(0) at grid[step].
            let r1 = (h.level(1).lambda - s.lambda) / span, r0 = (h.level(0).lambda - s.lambda) / span
            if secondOrderForm == .midpoint {
                let c = edge * phi2 / r0
                x.set((scale, state.start), (base - c, output(2)), (c, output(0)))
            } else {
                let phi3 = prediction == .data ? -ExponentialIntegrator.dataPhi3(span) : -ExponentialIntegrator.noisePhi3(span)
                // D1 = (r0·D1_0 − r1·D1_1)/(r0 − r1), D2 = 2(D1_1 − D1_0)/(r0 − r1), D1_0 = (m₁−m_s)/r1, D1_1 = (m₂−m_s)/r0.
                let cD1 = edge * phi2, cD2 = edge * phi3
                let a = cD1 * r0 / (r0 - r1) - 2 * cD2 / (r0 - r1)   // on D1_0
                let b = -cD1 * r1 / (r0 - r1) + 2 * cD2 / (r0 - r1)  // on D1_1
                x.set((scale, state.start), (base - a / r1 - b / r0, output(2)), (a / r1, output(1)), (b / r0, output(0)))
            }
        }
    }
}
