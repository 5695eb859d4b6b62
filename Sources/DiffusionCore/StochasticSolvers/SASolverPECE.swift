import RealModule

/// SA-Solver (Xue et al. 2023, "SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion
/// Models", NeurIPS) in PECE mode, as ComfyUI's `sample_sa_solver_pece`: predict, evaluate,
/// correct, evaluate again at the corrected sample, so that the next predictor and corrector use
/// the model's output at the corrected sample (PEC, ``SASolver``, reuses the output at the
/// predicted one).
///
/// Data prediction in `λ = log(α/σ)`; a step from `s` to `t` through the outputs `Dⱼ` at `λⱼ` is
/// ```
/// x_t = e^{−τ²h}(σ_t/σ_s)·x_s + α_t·Σⱼ bⱼ·Dⱼ + σ_t·√(1 − e^{−2τ²h})·s_noise·z
/// bⱼ = (1 + τ²)·∫_{λ_s}^{λ_t} e^{−(1 + τ²)(λ_t − λ)}·ℓⱼ(λ) dλ
/// ```
/// (`h = λ_t − λ_s`, `ℓⱼ` the Lagrange basis in `λ` through the nodes; no `O(h³)` modification of
/// the order-2 weights, ComfyUI's default `simple_order_2=False`). At step `i`, the model is
/// evaluated at the predicted `xᵢ`; from step 1 on the **corrector** redoes step `i − 1` from the
/// corrected `xᵢ₋₁` through the outputs at `λᵢ, λᵢ₋₁, …` (order `min(c, i + 1)`, and at most
/// `N − i` on a grid ending at `σ = 0`), with that step's `τ` and its noise; the model is
/// evaluated again there; then the **predictor** (order `min(p, i + 1)`, at most `N − 1 − i`)
/// extrapolates through the outputs at `λᵢ, λᵢ₋₁, …` to `λᵢ₊₁` with `τ = τ(σᵢ₊₁)`, the window
/// read at the step's end as ComfyUI does. The step to `σ = 0` (after its correction) returns
/// `x̂₀`. A draw is taken only on steps with `τ > 0`. NFE: `2N − 1`.
///
/// `τ` is ``eta`` inside ``window`` (VE sigmas, `σ/α`) and 0 outside; ComfyUI's default window is
/// from `percent_to_sigma(0.8)` to `percent_to_sigma(0.2)` of the model, which
/// ``comfyWindow(for:)`` reproduces. Needs a VP or VE schedule.
public struct SASolverPECE: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        /// The corrected sample the latest predictor started from.
        var previousSample: SampleTensor
        /// The latest predictor's draw, which the corrector adds again with the same weight.
        var z: SampleTensor
        var previousTau = 0.0
        /// The weight of `z` in the latest predictor, `σ_t·√(1 − e^{−2τ²h})·s_noise` (0 without noise).
        var previousNoise = 0.0
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    /// The number of outputs the predictor extrapolates, 1…4 (ComfyUI's `predictor_order`, 3).
    public var predictorOrder: Int
    /// The number of outputs the corrector interpolates, 1…4 (ComfyUI's `corrector_order`, 4).
    public var correctorOrder: Int
    /// `τ` inside the window (ComfyUI's `eta`); 0 is the probability-flow ODE.
    public var eta: Double
    /// The VE sigmas where `τ = eta`; `nil`: ComfyUI's default for the model's schedule.
    public var window: ClosedRange<Double>?
    public var sNoise: Double

    public init(predictorOrder: Int = 3, correctorOrder: Int = 4, eta: Double = 1, window: ClosedRange<Double>? = nil,
                sNoise: Double = 1) {
        precondition((1...4).contains(predictorOrder) && (1...4).contains(correctorOrder), "SA-Solver orders lie in 1...4")
        self.predictorOrder = predictorOrder; self.correctorOrder = correctorOrder
        self.eta = eta; self.window = window; self.sNoise = sNoise
    }

    public var name: String { "sa_solver_pece" }
    /// With `τ = 0`: `min(c, p + 1)`.
    public var order: Int { Swift.min(correctorOrder, predictorOrder + 1) }
    public func evaluations(on grid: TimeGrid) -> Int { 2 * grid.steps - 1 }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: Swift.max(predictorOrder, correctorOrder), like: x),
              previousSample: SampleTensor(zeros: x.shape), z: SampleTensor(zeros: x.shape))
    }

    /// ComfyUI's default window, `percent_to_sigma(0.8)…percent_to_sigma(0.2)`: the percent runs
    /// along `log σ` for a VE (EDM) schedule and along the schedule's time `t` otherwise (discrete
    /// timesteps, continuous VP), from the top of the range (0) to its bottom (1).
    public static func comfyWindow(for schedule: any NoiseSchedule) -> ClosedRange<Double> {
        let range = schedule.timeRange
        func sigma(percent p: Double) -> Double {
            if schedule.frame == .varianceExploding && schedule.trainingTimesteps == nil {
                let low = Double.log(schedule.displaySigma(schedule.level(at: range.lowerBound)))
                let high = Double.log(schedule.displaySigma(schedule.level(at: range.upperBound)))
                return .exp(low + (1 - p) * (high - low))
            }
            return schedule.displaySigma(schedule.level(at: range.lowerBound + (1 - p) * (range.upperBound - range.lowerBound)))
        }
        return sigma(percent: 0.8)...sigma(percent: 0.2)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        try Ancestral.requireVEFrame(context, solver: name)
        let grid = context.grid, n = grid.steps
        let s = grid[step], t = grid[step + 1]
        let lowerToEnd = grid.endsClean
        state.history.advance(to: s)
        try context.predict(x, at: s, step: step, into: &state.history.newestSlot, needs: .data)

        // Correct the previous step through the new output, then evaluate at the corrected sample.
        if step > 0 {
            var k = Swift.min(correctorOrder, state.history.count)
            if lowerToEnd { k = Swift.min(k, n - step) }
            let w = coefficients(from: grid[step - 1], to: s, history: state.history, count: k, tau: state.previousTau)
            let history = state.history
            state.previousSample.update(scale: w.scale, count: k) { (w.c[$0], history.output($0, .data)) }
            if state.previousNoise != 0 { state.previousSample.update(scale: 1, (state.previousNoise, state.z)) }
            x.assign(state.previousSample)
            try context.predict(x, at: s, step: step, into: &state.history.newestSlot, needs: .data)
        }
        if t.isClean {
            x.assign(state.history.prediction(0).data)
            return
        }
        // Predict the next sample.
        let range = window ?? Self.comfyWindow(for: context.denoiser.schedule)
        let tau = eta > 0 && range.contains(Ancestral.sigma(t)) ? eta : 0
        var k = Swift.min(predictorOrder, state.history.count)
        if lowerToEnd { k = Swift.min(k, n - 1 - step) }
        let w = coefficients(from: s, to: t, history: state.history, count: k, tau: tau)
        state.previousSample.assign(x)
        state.previousTau = tau
        state.previousNoise = tau > 0 && sNoise > 0 ? w.noise * sNoise : 0
        let history = state.history
        x.update(scale: w.scale, count: k) { (w.c[$0], history.output($0, .data)) }
        if state.previousNoise != 0 {
            try context.drawNoise(&state.z, step: step, from: Ancestral.sigma(s), to: Ancestral.sigma(t), for: name)
            x.update(scale: 1, (state.previousNoise, state.z))
        }
    }

    /// The step `x_t = scale·x_s + Σⱼ c[j]·Dⱼ + noise·z` from `s` to `t` through the first `count`
    /// outputs of the history.
    func coefficients(from s: NoiseLevel, to t: NoiseLevel, history: MultistepHistory, count n: Int,
                      tau: Double) -> (scale: Double, c: SIMD4<Double>, noise: Double) {
        let h = t.lambda - s.lambda, tau2 = tau * tau
        var v = SIMD4<Double>.zero
        for j in 0..<n { v[j] = (t.lambda - history.level(j).lambda) / h }
        let c = (1 + tau2) * t.alpha * h * SASolver.lagrangeWeights(nodes: v, count: n, a: (1 + tau2) * h)
        return (Double.exp(-tau2 * h) * t.sigma / s.sigma, c, t.sigma * (-Double.expMinusOne(-2 * tau2 * h)).squareRoot())
    }
}
