/// Multistep DPM-Solver (noise prediction) and DPM-Solver++ (data prediction), orders 1 to 3.
///
/// Lu et al. 2022, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling in
/// Around 10 Steps" (NeurIPS), and Lu et al. 2022b, "DPM-Solver++: Fast Solver for Guided
/// Sampling of Diffusion Probabilistic Models", Algorithms 1–2. With `h = λ_t − λ_s₀`,
/// `rₖ = hₖ/h` the ratios of the previous steps, `Dₖ` the model's data predictions (`++`):
/// ```
/// x_t = (σ_t/σ_s₀)·x − α_t(e^{−h} − 1)·D₀                                      order 1 (= DDIM)
///       − ½·α_t(e^{−h} − 1)·D₁,          D₁ = (D₀ − D₋₁)/r₀                    2M, midpoint
///       + α_t((e^{−h} − 1)/h + 1)·D₁                                           2M, heun
///       + α_t((e^{−h} − 1)/h + 1)·D₁ − α_t((e^{−h} − 1 + h)/h² − ½)·D₂          3M
/// ```
/// and, with noise predictions `εₖ`, `x_t = (α_t/α_s₀)·x − σ_t(e^h − 1)·ε₀ − …` with the
/// mirrored coefficients. The 3M divided differences are
/// `D₁ = D₁⁰ + r₀/(r₀+r₁)·(D₁⁰ − D₁¹)`, `D₂ = (D₁⁰ − D₁¹)/(r₀+r₁)`.
///
/// Order selection follows diffusers' `DPMSolverMultistepScheduler`: warm-up at orders 1, 2, …;
/// with ``lowerOrderFinal`` and fewer than 15 steps the last step is first order and the one before
/// at most second order; the last step is always first order when it ends at `σ = 0` (there it
/// returns `x̂₀` exactly) or with ``eulerAtFinal``.
///
/// NFE per step: 1. Matches diffusers' `DPMSolverMultistepScheduler` (`algorithm_type`
/// `dpmsolver++` / `dpmsolver`, `solver_type` `midpoint` / `heun`) and k-diffusion's
/// `sample_dpmpp_2m`.
public struct DPMSolverMultistep: Solver {
    /// The second-order correction: the midpoint form, or the Taylor ("heun") form.
    public enum SecondOrderForm: String, Sendable { case midpoint, heun }
    /// The weight of the second divided difference in the third-order update.
    ///
    /// The backward difference `D₂ = (D₁⁰ − D₁¹)/(r₀ + r₁)` estimates `h²·m''/2`, while the
    /// exponential-integrator term `−α_t((e^{−h} − 1 + h)/h² − ½)` multiplies `h²·m''` (the integral
    /// of `e^λ(λ − λ_s)²/2`). `reference` uses `D₂` as diffusers and the official DPM-Solver code do,
    /// which makes the "3M" update globally second order (with a smaller constant than 2M); `taylor`
    /// uses `2·D₂` and is third order.
    public enum ThirdOrderForm: String, Sendable { case reference, taylor }

    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        var z: SampleTensor
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    public var prediction: PredictionKind
    public var solverOrder: Int
    public var secondOrderForm: SecondOrderForm
    /// Lower the order of the last two steps when there are fewer than 15 (diffusers' default).
    public var lowerOrderFinal: Bool
    /// Always take a first-order last step.
    public var eulerAtFinal: Bool
    public var thirdOrderForm: ThirdOrderForm
    /// An explicit order for each step, replacing the rules above (for example a per-step
    /// schedule found by a search, as in USF/S3); still capped by the history available.
    public var stepOrders: [Int]?
    /// SDE-DPM-Solver++ (Lu et al. 2022b, Sec. 3.3; diffusers' `algorithm_type="sde-dpmsolver++"`),
    /// data prediction only (with `.noise` a run fails): `x_t = (σ_t/σ_s)e^{−h}·x + α_t(1 − e^{−2h})·D₀ + … + σ_t√(1 − e^{−2h})·z`,
    /// with a draw at every step, including the last (where it is multiplied by 0). The catalog's
    /// `dpmpp_2m_sde_diffusers`, `dpmpp_2m_sde_heun_diffusers` and `dpmpp_3m_sde_diffusers` set it.
    public var stochastic: Bool = false

    public init(prediction: PredictionKind = .data, solverOrder: Int = 2, secondOrderForm: SecondOrderForm = .midpoint,
                lowerOrderFinal: Bool = true, eulerAtFinal: Bool = false, thirdOrderForm: ThirdOrderForm = .reference,
                stepOrders: [Int]? = nil) {
        self.thirdOrderForm = thirdOrderForm
        self.stepOrders = stepOrders
        self.prediction = prediction
        self.solverOrder = Swift.min(Swift.max(solverOrder, 1), 3)
        self.secondOrderForm = secondOrderForm
        self.lowerOrderFinal = lowerOrderFinal
        self.eulerAtFinal = eulerAtFinal
    }

    public var name: String {
        if stochastic { return "dpmpp_\(solverOrder)m_sde" + (secondOrderForm == .heun && solverOrder == 2 ? "_heun" : "") + "_diffusers" }
        let family = prediction == .data ? "dpmpp" : "dpm"
        let suffix = secondOrderForm == .heun && solverOrder == 2 ? "_heun" : thirdOrderForm == .taylor && solverOrder == 3 ? "_taylor" : ""
        return "\(family)_\(solverOrder)m" + suffix
    }
    /// The global order: 3 only with the Taylor third-order form (see ``ThirdOrderForm``).
    public var order: Int { solverOrder == 3 && thirdOrderForm == .reference ? 2 : solverOrder }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: solverOrder, like: x), z: SampleTensor(zeros: stochastic ? x.shape : [1]))
    }

    /// diffusers' order rule: warm-up, and with ``lowerOrderFinal`` lower orders over the last two
    /// steps of runs shorter than 15 steps.
    public var stepOrderRule: StepOrders {
        StepOrders(solverOrder: solverOrder, finalSteps: lowerOrderFinal ? .belowFifteenSteps : nil, explicit: stepOrders)
    }

    /// The order diffusers uses at step `i` of `n`: ``stepOrderRule``, with a first-order last step
    /// for ``eulerAtFinal`` or a run that ends at `σ = 0`.
    public func order(atStep i: Int, of n: Int, endsClean: Bool) -> Int {
        stepOrderRule.order(atStep: i, of: n, firstOrderLast: eulerAtFinal || endsClean)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid
        let s0 = grid[step], t = grid[step + 1]
        state.history.advance(to: s0)
        let fromPureNoise = !s0.lambda.isFinite
        let needs: PredictionNeeds = fromPureNoise ? .both : t.isClean ? .data : PredictionNeeds(prediction)
        try context.predict(x, at: s0, step: step, into: &state.history.newestSlot, needs: needs)
        let history = state.history
        if stochastic {
            guard prediction == .data else {
                throw SamplingError.invalidConfiguration("\(name) is defined for data prediction only (diffusers' sde-dpmsolver++)")
            }
            // diffusers draws before the update, on every step.
            try context.drawNoise(&state.z, step: step, from: s0.sigma / s0.alpha, to: t.isClean ? 0 : t.sigma / t.alpha, for: name)
        }
        if history.stepWithoutHistory(&x, from: s0, to: t) { return }
        let k = Swift.min(order(atStep: step, of: grid.steps, endsClean: grid.endsClean), history.usable(limit: solverOrder))

        let h = t.lambda - s0.lambda
        // x' = scale·x + c₀·m₀ + c₁·m₋₁ + c₂·m₋₂, with the divided differences expanded.
        var scale: Double, base: Double, cD1: Double, cD2: Double
        switch prediction {
        case .data where stochastic:
            let e2 = ExponentialIntegrator.expm1Neg(2 * h)  // e^{−2h} − 1
            scale = t.sigma / s0.sigma * Double.exp(-h)
            base = -t.alpha * e2
            cD1 = k == 2 && secondOrderForm == .midpoint ? 0.5 * base : t.alpha * (e2 / (2 * h) + 1)
            cD2 = t.alpha * ((-e2 - 2 * h) / (4 * h * h) - 0.5)
        case .data:
            scale = t.sigma / s0.sigma
            base = -t.alpha * ExponentialIntegrator.expm1Neg(h)
            cD1 = k == 2 && secondOrderForm == .midpoint ? 0.5 * base : t.alpha * ExponentialIntegrator.dataPhi2(h)
            cD2 = -t.alpha * ExponentialIntegrator.dataPhi3(h)
        case .noise:
            scale = t.alpha / s0.alpha
            base = -t.sigma * Double.expMinusOne(h)
            cD1 = k == 2 && secondOrderForm == .midpoint ? 0.5 * base : -t.sigma * ExponentialIntegrator.noisePhi2(h)
            cD2 = -t.sigma * ExponentialIntegrator.noisePhi3(h)
        }
        let c: SIMD4<Double>
        switch k {
        case 1:
            c = SIMD4(base, 0, 0, 0)
        case 2:
            let r0 = (s0.lambda - history.level(1).lambda) / h
            c = SIMD4(base + cD1 / r0, -cD1 / r0, 0, 0)
        default:
            let r0 = (s0.lambda - history.level(1).lambda) / h
            let r1 = (history.level(1).lambda - history.level(2).lambda) / h
            // D₁ = (1 + r₀/(r₀+r₁))·D₁⁰ − r₀/(r₀+r₁)·D₁¹,  D₂ = (D₁⁰ − D₁¹)/(r₀+r₁).
            // D₂ estimates h²·m''/2; the Taylor term needs h²·m'' (see ThirdOrderForm).
            let cD2 = thirdOrderForm == .taylor ? 2 * cD2 : cD2
            let a = cD1 * (1 + r0 / (r0 + r1)) + cD2 / (r0 + r1)
            let b = -cD1 * r0 / (r0 + r1) - cD2 / (r0 + r1)
            c = SIMD4(base + a / r0, -a / r0 + b / r1, -b / r1, 0)
        }
        history.combine(into: &x, scale: scale, c, count: k, prediction)
        if stochastic {
            x.update(scale: 1, (t.sigma * (-ExponentialIntegrator.expm1Neg(2 * h)).squareRoot(), state.z))
        }
    }
}
