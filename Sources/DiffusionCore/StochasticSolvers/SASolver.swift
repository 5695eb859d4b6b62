import RealModule

/// SA-Solver: the stochastic Adams predictor and corrector of Xue et al. 2023, "SA-Solver:
/// Stochastic Adams Solver for Fast Sampling of Diffusion Models" (NeurIPS), as diffusers 0.42.1's
/// `SASolverScheduler` implements them.
///
/// It solves the family of reverse SDEs `dx = [f·x − ½(1 + τ²)g²∇log p]dt + τ·g·dw̄` (`τ = 0` is the
/// probability-flow ODE, `τ = 1` the reverse diffusion SDE) with exponential integrators in the
/// half log-SNR `λ = log(α/σ)`. With `h = λ_t − λ_s`, `c = 1 + τ²` and `ℓⱼ` the Lagrange basis
/// polynomials (in `λ`) through the nodes of the outputs it uses, a step from `s` to `t` is
/// ```
/// data (x̂₀ = Dⱼ):  x_t = e^{−τ²h}(σ_t/σ_s)·x_s + c·σ_t·e^{−τ²λ_t}·Σⱼ bⱼ·Dⱼ + σ_t·√(1 − e^{−2τ²h})·z
///                  bⱼ = ∫_{λ_s}^{λ_t} e^{cλ}·ℓⱼ(λ) dλ
/// noise (ε̂ = εⱼ):  x_t = (α_t/α_s)·x_s − c·α_t·Σⱼ bⱼ·εⱼ + τ·σ_t·√(e^{2h} − 1)·z
///                  bⱼ = ∫_{λ_s}^{λ_t} e^{−λ}·ℓⱼ(λ) dλ
/// ```
/// The **predictor** (SA-Predictor, order `p`) at step `i` goes from `λᵢ` to `λᵢ₊₁` through the
/// outputs at `λᵢ, λᵢ₋₁, …, λᵢ₋ₚ₊₁` (extrapolation). After the model is evaluated at the
/// predicted sample, the **corrector** (SA-Corrector, order `c`) redoes that step, from the
/// sample before the predictor, through the new output and the previous ones (`λᵢ₊₁, λᵢ, …`,
/// interpolation), with the same `τ` and the same draw `z`; the corrected sample starts the next
/// predictor. The new output is not recomputed after correction, so a step costs one evaluation.
/// For the order-2 data-prediction predictor and corrector, diffusers (after the official code)
/// adds an `O(h³)` term to the two weights, ±`c·e^{cλ_t}·(h²/2 − (ch − 1 + e^{−ch})/c²)/(λ₀ − λ₁)`
/// with `λ₀, λ₁` the two nodes; it is reproduced here.
///
/// The weights are computed in `Double`, in the variable `v = (λ_t − λ)/h ∈ [0, 1]`, from the
/// moments `∫₀¹ e^{−av}vᵏ dv` (`a = ch` or `−h`; closed form, or its series when `|a| < 1`), not
/// from diffusers' expanded monomials in `λ` (equal in exact arithmetic, without their
/// cancellation).
///
/// Per step `i`: evaluate the model at `xᵢ`, correct `xᵢ` (from step 1 on), draw `z`, predict
/// `xᵢ₊₁`. One draw per step, including the last (where it may be multiplied by 0), as diffusers
/// does; it needs no noise source where `τ = 0`. Orders as diffusers: the predictor warms up
/// (`min(p, i + 1)`), the corrector at step `i` uses `min(c, i + 1)` outputs, and with
/// ``lowerOrderFinal`` the predictor of step `i` of `N` is at most `N − i` (last step first
/// order), the corrector at most `N − i + 2`. The last predicted sample is not corrected.
///
/// Differences from diffusers, which never steps to `σ = 0` (its last level is `σ(t = 0)`):
/// a step to `σ = 0` returns `x̂₀` (the data form's first-order limit, whatever ``prediction``; the
/// noise form's limit would keep `τ·σ_s/α_s` of noise); a step from pure noise
/// (`α = 0`, flow) takes the first-order data-form step, `α_t·x̂₀ + σ_t·z` (or `+ σ_t·ε̂` when
/// `τ = 0`), and the next step skips its corrector.
///
/// NFE per step: 1. Matches diffusers' `SASolverScheduler` (`algorithm_type` `data_prediction` /
/// `noise_prediction`).
public struct SASolver: Solver {
    /// The amount of stochasticity `τ` of a step, as a function of its starting timestep.
    ///
    /// The timestep is the one diffusers passes to its `tau_func`: for a discrete-time schedule
    /// the level's training timestep `t`, rounded to an integer (as diffusers' timesteps are, also
    /// on Karras grids); for a continuous one the level's `t` as it is, in the schedule's units
    /// (`[0, 1]` for continuous VP and rectified flow, `t = σ` for VE/EDM). The default window
    /// `200…800` is meant for 1000-step discrete schedules: on continuous schedules it contains no
    /// level (`t ≤ 1`, or `σ ≤ 80` for EDM), so there the default SA-Solver takes `τ = 0` everywhere,
    /// the deterministic SA-Solver on the probability-flow ODE. Use ``constant(_:)`` or a window in
    /// the schedule's units (for example `.window(0.2...0.8)` on continuous VP) to sample
    /// stochastically there.
    public enum Tau: Sendable {
        /// `τ = 1` for timesteps inside the range, `0` outside.
        case window(ClosedRange<Double>)
        /// The same `τ` at every step: `0` is the ODE, `1` the reverse diffusion SDE.
        case constant(Double)
        /// Any function of the timestep (diffusers' `tau_func`).
        case custom(@Sendable (Double) -> Double)

        /// diffusers' default `tau_func`: `1 if 200 <= t <= 800 else 0`.
        public static let diffusersDefault = Tau.window(200...800)

        /// `τ` at `timestep`.
        public func callAsFunction(_ timestep: Double) -> Double {
            switch self {
            case .window(let range): return range.contains(timestep) ? 1 : 0
            case .constant(let value): return value
            case .custom(let function): return function(timestep)
            }
        }
    }

    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        /// The sample at the start of the latest predictor (corrected), which the corrector restarts from.
        var previousSample: SampleTensor
        /// The latest draw: used by the predictor that drew it and again by the next corrector.
        var z: SampleTensor
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    /// The number of outputs the predictor extrapolates, 1…4 (diffusers' `predictor_order`).
    public var solverOrder: Int
    /// The number of outputs the corrector interpolates, the new one included (1…4).
    public var correctorOrder: Int
    /// What the update integrates: `x̂₀` (diffusers' `data_prediction`, the default) or `ε̂`.
    public var prediction: PredictionKind
    public var tau: Tau
    /// Lower the predictor's order over the last steps (diffusers' `lower_order_final`, default on).
    public var lowerOrderFinal: Bool

    public init(solverOrder: Int = 2, correctorOrder: Int = 2, prediction: PredictionKind = .data,
                tau: Tau = .diffusersDefault, lowerOrderFinal: Bool = true) {
        self.solverOrder = Swift.min(Swift.max(solverOrder, 1), 4)
        self.correctorOrder = Swift.min(Swift.max(correctorOrder, 1), 4)
        self.prediction = prediction
        self.tau = tau
        self.lowerOrderFinal = lowerOrderFinal
    }

    public var name: String { "sa_solver" }
    /// The global order with `τ = 0` (the ODE): `min(c, p + 1)` for predictor order `p` and
    /// corrector order `c` (SASolverTests measures both pairs). With `τ > 0` the samples converge in distribution, at a lower rate.
    public var order: Int { Swift.min(correctorOrder, solverOrder + 1) }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: Swift.max(solverOrder, correctorOrder), like: x),
              previousSample: SampleTensor(zeros: x.shape), z: SampleTensor(zeros: x.shape))
    }

    /// The predictor's order at step `i` of `n` (before capping by usable history): warm-up, and
    /// with ``lowerOrderFinal`` at most `n − i`.
    public func predictorOrder(atStep i: Int, of n: Int) -> Int {
        StepOrders(solverOrder: solverOrder, finalSteps: lowerOrderFinal ? .always : nil).order(atStep: i, of: n)
    }

    /// The corrector's order at step `i ≥ 1` of `n`, which corrects the sample step `i − 1`
    /// predicted (diffusers fixes it at step `i − 1`): at most `i + 1`, and `n − i + 2` with
    /// ``lowerOrderFinal``.
    public func correctorOrder(atStep i: Int, of n: Int) -> Int {
        StepOrders(solverOrder: correctorOrder, finalSteps: lowerOrderFinal ? StepOrders.FinalSteps(allowance: 2) : nil).order(atStep: i, of: n)
    }

    /// `τ` for a step starting at `level`.
    package func tauValue(at level: NoiseLevel, discrete: Bool) throws -> Double {
        let value = tau(discrete ? level.t.rounded(.toNearestOrEven) : level.t)
        guard value.isFinite else {
            throw SamplingError.invalidConfiguration("\(name): tau is \(value) at t = \(level.t)")
        }
        return value
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid
        let s0 = grid[step], t = grid[step + 1]
        let discrete = context.denoiser.schedule.trainingTimesteps != nil
        state.history.advance(to: s0)
        let fromPureNoise = !s0.lambda.isFinite
        try context.predict(x, at: s0, step: step, into: &state.history.newestSlot, needs: PredictionNeeds(prediction, from: s0, to: t))
        let history = state.history
        let tauNow = try tauValue(at: s0, discrete: discrete)

        // Corrector: redo the previous step through the new output, from the sample it started at,
        // with the previous step's τ and draw. Pointless before a step to σ = 0 (which returns x̂₀).
        if step > 0 && !t.isClean && !fromPureNoise && grid[step - 1].lambda.isFinite {
            let previous = grid[step - 1]
            let k = Swift.min(correctorOrder(atStep: step, of: grid.steps), history.usable(limit: correctorOrder))
            let w = coefficients(from: previous, to: s0, nodes: history, count: k, tau: try tauValue(at: previous, discrete: discrete))
            Self.accumulate(&state.previousSample, scale: w.scale, outputs: w.c, count: k, history: history,
                            prediction: prediction, noise: (w.noise, state.z))
        } else if !t.isClean && !fromPureNoise {
            state.previousSample.assign(x)
        }

        // One draw per step, as diffusers; without a noise source only where it would be scaled by 0.
        if let source = context.noise {
            try source.fill(&state.z, step: step, from: context.frame.tau(s0), to: t.isClean ? 0 : context.frame.tau(t))
        } else if tauNow != 0 && !t.isClean {
            throw SamplingError.invalidConfiguration("\(name) needs a noise source (a seed or recorded step noise) where tau > 0")
        }

        if t.isClean {
            x.assign(history.prediction(0).data)
            return
        }
        if fromPureNoise {
            // h = ∞: e^{−τ²h} = 0 and √(1 − e^{−2τ²h}) = 1 for τ > 0; for τ = 0 the DDIM step.
            if tauNow == 0 {
                x.set((t.alpha, history.prediction(0).data), (t.sigma, history.prediction(0).noise))
            } else {
                x.set((t.alpha, history.prediction(0).data), (t.sigma, state.z))
            }
            return
        }
        // Predictor from the (corrected) sample at s0.
        let k = Swift.min(predictorOrder(atStep: step, of: grid.steps), history.usable(limit: solverOrder))
        let w = coefficients(from: s0, to: t, nodes: history, count: k, tau: tauNow)
        Self.combine(into: &x, base: (w.scale, state.previousSample), outputs: w.c, count: k, history: history,
                     prediction: prediction, noise: (w.noise, state.z))
    }

    /// The update `x_t = scale·x_s + Σⱼ c[j]·mⱼ + noise·z` from `s` to `t`, where `mⱼ` is the
    /// output at `history.level(j)`, `j < count`.
    package func coefficients(from s: NoiseLevel, to t: NoiseLevel, nodes history: MultistepHistory, count n: Int,
                      tau: Double) -> (scale: Double, c: SIMD4<Double>, noise: Double) {
        let h = t.lambda - s.lambda
        let tau2 = tau * tau
        var v = SIMD4<Double>.zero
        for j in 0..<n { v[j] = (t.lambda - history.level(j).lambda) / h }
        switch prediction {
        case .data:
            let a = (1 + tau2) * h
            var c = (1 + tau2) * t.alpha * h * Self.lagrangeWeights(nodes: v, count: n, a: a)
            if n == 2 {
                // diffusers' O(h³) modification of the order-2 predictor and corrector.
                let nodeGap = history.level(0).lambda - history.level(1).lambda
                let delta = (1 + tau2) * t.alpha * h * h * Self.psi(a) / nodeGap
                c[0] += delta
                c[1] -= delta
            }
            let scale = Double.exp(-tau2 * h) * t.sigma / s.sigma
            let noise = t.sigma * (-Double.expMinusOne(-2 * tau2 * h)).squareRoot()
            return (scale, c, noise)
        case .noise:
            let c = -(1 + tau2) * t.sigma * h * Self.lagrangeWeights(nodes: v, count: n, a: -h)
            let noise = tau * t.sigma * Double.expMinusOne(2 * h).squareRoot()
            return (t.alpha / s.alpha, c, noise)
        }
    }

    /// `Wⱼ = ∫₀¹ e^{−av}·ℓⱼ(v) dv` for the Lagrange basis `ℓⱼ` through the first `n` nodes.
    static func lagrangeWeights(nodes v: SIMD4<Double>, count n: Int, a: Double) -> SIMD4<Double> {
        let moments = exponentialMoments(a)
        var w = SIMD4<Double>.zero
        for j in 0..<n {
            let (poly, denominator) = Lagrange.basis(j, nodes: v, count: n)
            w[j] = (poly * moments).sum() / denominator
        }
        return w
    }

    /// `Jₖ(a) = ∫₀¹ e^{−av}·vᵏ dv` for `k = 0…3`: the series `Σₘ (−a)ᵐ/(m!(m + k + 1))` for
    /// `|a| < 1`, else `J₀ = (1 − e^{−a})/a`, `Jₖ = (k·Jₖ₋₁ − e^{−a})/a`.
    static func exponentialMoments(_ a: Double) -> SIMD4<Double> {
        var j = SIMD4<Double>.zero
        if abs(a) < 1 {
            var term = 1.0
            for m in 0..<24 {
                for k in 0..<4 { j[k] += term / Double(m + k + 1) }
                term *= -a / Double(m + 1)
            }
        } else {
            let e = Double.exp(-a)
            j[0] = -Double.expMinusOne(-a) / a
            for k in 1..<4 { j[k] = (Double(k) * j[k - 1] - e) / a }
        }
        return j
    }

    /// `ψ(a) = ½ − (a − 1 + e^{−a})/a² = −Σ_{m≥1} (−a)ᵐ/(m + 2)!`.
    static func psi(_ a: Double) -> Double {
        if abs(a) < 1 {
            var sum = 0.0, term = 1.0 / 2  // (−a)^m/(m+2)! at m = 0
            for m in 1..<24 {
                term *= -a / Double(m + 2)
                sum += term
            }
            return -sum
        }
        return 0.5 - (Double.expMinusOne(-a) + a) / (a * a)
    }

    /// `x ← scale·x + Σⱼ c[j]·mⱼ + noise·z` (the noise term left out when its coefficient is 0).
    private static func accumulate(_ x: inout SampleTensor, scale: Double, outputs c: SIMD4<Double>, count n: Int,
                                   history: MultistepHistory, prediction: PredictionKind,
                                   noise: SampleTensor.Term) {
        x.update(scale: scale, count: noise.coefficient != 0 ? n + 1 : n) { j in
            j < n ? (c[j], history.output(j, prediction)) : noise
        }
    }

    /// `x ← base + Σⱼ c[j]·mⱼ + noise·z`, not reading the old `x`.
    private static func combine(into x: inout SampleTensor, base: SampleTensor.Term, outputs c: SIMD4<Double>, count n: Int,
                                history: MultistepHistory, prediction: PredictionKind,
                                noise: SampleTensor.Term) {
        x.set(count: noise.coefficient != 0 ? n + 2 : n + 1) { j in
            j == 0 ? base : j <= n ? (c[j - 1], history.output(j - 1, prediction)) : noise
        }
    }
}
