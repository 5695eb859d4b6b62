import RealModule

/// Singlestep DPM-Solver-1, -2 and -3 (Lu et al. 2022, "DPM-Solver", Algorithms 1–2) and their
/// data-prediction counterparts DPM-Solver++(2S), (3S) (Lu et al. 2022b, Algorithm 1), with the
/// intermediate points of the paper: `λ_{s₁} = λ_s + r₁h`, `λ_{s₂} = λ_s + r₂h` inside each step,
/// `r₁ = ½` for order 2 and `r₁ = ⅓`, `r₂ = ⅔` for order 3.
///
/// Noise prediction, order 3 (`φ₁ᵣ = e^{rh} − 1`, `φ₂ᵣ = (e^{rh} − 1)/(rh) − 1`):
/// ```
/// u₁  = (α_{s₁}/α_s)·x − σ_{s₁}·φ₁_{r₁}·ε_s
/// u₂  = (α_{s₂}/α_s)·x − σ_{s₂}·φ₁_{r₂}·ε_s − (r₂/r₁)·σ_{s₂}·φ₂_{r₂}·(ε(u₁, s₁) − ε_s)
/// x_t = (α_t/α_s)·x − σ_t·φ₁₁·ε_s − (1/r₂)·σ_t·φ₂₁·(ε(u₂, s₂) − ε_s)
/// ```
/// and order 2: `u₁` as above, `x_t = (α_t/α_s)·x − σ_t·φ₁₁·ε_s − (1/(2r₁))·σ_t·φ₁₁·(ε(u₁,s₁) − ε_s)`.
/// Data prediction replaces `(α, σ, ε, h)` by `(σ, α, x̂₀, −h)` (with the sign of the corrections
/// flipped accordingly). A step to `σ = 0` is first order (it returns `x̂₀`).
///
/// NFE per step: the order (1 on a final step to `σ = 0`). Global order: the order.
/// Names: `dpm_solver_1`, `dpm_solver_2`, `dpm_solver_3` (noise), `dpmpp_3s` (data).
/// Orders 2 and 3 of both forms match the official `dpm_solver_pytorch.py`'s
/// `singlestep_dpm_solver_update` step for step (tests); `dpm_solver_1` equals DDIM.
public struct DPMSolver: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var first: ModelPrediction
        var second: ModelPrediction
        var third: ModelPrediction
        var stage: SampleTensor
        public var denoised: SampleTensor { first.data }
    }

    public var prediction: PredictionKind
    public var solverOrder: Int

    public init(prediction: PredictionKind = .noise, solverOrder: Int = 3) {
        self.prediction = prediction
        self.solverOrder = Swift.min(Swift.max(solverOrder, 1), 3)
    }

    public var name: String { prediction == .noise ? "dpm_solver_\(solverOrder)" : "dpmpp_\(solverOrder)s" }
    public var order: Int { solverOrder }
    /// `order` per step, except 1 on a step to `σ = 0` and on a step from pure noise (`λ = −∞`).
    public func evaluations(on grid: TimeGrid) -> Int {
        (0..<grid.steps).reduce(0) { n, i in
            n + (grid[i + 1].isClean || !grid[i].lambda.isFinite ? 1 : solverOrder)
        }
    }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(first: ModelPrediction(like: x), second: ModelPrediction(like: x), third: ModelPrediction(like: x), stage: x)
    }

    private func output(_ p: ModelPrediction) -> SampleTensor { p.output(prediction) }

    /// `(scale, coefficient, e)` of the first-order map from `s` to `u` in the chosen prediction:
    /// `u = scale·x + coefficient·m_s`; `e = e^{±rh} − 1` for the corrections.
    private func firstOrder(from s: NoiseLevel, to u: NoiseLevel) -> (Double, Double, Double) {
        let h = u.lambda - s.lambda
        switch prediction {
        case .data:
            let e = ExponentialIntegrator.expm1Neg(h)
            return (u.sigma / s.sigma, -u.alpha * e, e)
        case .noise:
            let e = Double.expMinusOne(h)
            return (u.alpha / s.alpha, -u.sigma * e, e)
        }
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let s = context.grid[step], t = context.grid[step + 1]
        let schedule = context.denoiser.schedule
        let needs: PredictionNeeds = t.isClean || !s.lambda.isFinite ? .both : PredictionNeeds(prediction)
        try context.predict(x, at: s, step: step, into: &state.first, needs: needs)
        if t.isClean {
            x.assign(state.first.data)
            return
        }
        if !s.lambda.isFinite || solverOrder == 1 {
            if !s.lambda.isFinite { FrameStep.fromPureNoise(&x, to: t, prediction: state.first); return }
            let (a, c, _) = firstOrder(from: s, to: t)
            x.update(scale: a, (c, output(state.first)))
            return
        }
        let h = t.lambda - s.lambda
        let modelNeeds = PredictionNeeds(prediction)
        let sign = prediction == .data ? 1.0 : -1.0  // data: corrections add α·φ₂; noise: subtract σ·φ₂
        let (r1, r2) = solverOrder == 2 ? (0.5, 1.0) : (1.0 / 3, 2.0 / 3)
        let s1 = schedule.level(at: schedule.time(lambda: s.lambda + r1 * h))
        // Stage 1: u₁ by a first-order step to s₁.
        let (a1, c1, _) = firstOrder(from: s, to: s1)
        state.stage.set((a1, x), (c1, output(state.first)))
        try context.predict(state.stage, at: s1, step: step, into: &state.second, needs: modelNeeds)
        let (aT, cT, eT) = firstOrder(from: s, to: t)
        let edgeT = prediction == .data ? t.alpha : t.sigma
        if solverOrder == 2 {
            // x_t = first order − (1/(2r₁))·edge·e·(m₁ − m_s)  (midpoint form, `e` carries the sign).
            let k = -edgeT * eT / (2 * r1)
            x.update(scale: aT, (cT - k, output(state.first)), (k, output(state.second)))
            return
        }
        // Stage 2: u₂ at s₂ with the first correction.
        let s2 = schedule.level(at: schedule.time(lambda: s.lambda + r2 * h))
        let (a2, c2, e2) = firstOrder(from: s, to: s2)
        let edge2 = prediction == .data ? s2.alpha : s2.sigma
        let phi22 = prediction == .data ? e2 / (r2 * h) + 1 : e2 / (r2 * h) - 1
        let k2 = sign * (r2 / r1) * edge2 * phi22
        state.stage.set((a2, x), (c2 - k2, output(state.first)), (k2, output(state.second)))
        try context.predict(state.stage, at: s2, step: step, into: &state.third, needs: modelNeeds)
        let phi2 = prediction == .data ? eT / h + 1 : eT / h - 1
        let kT = sign * (1 / r2) * edgeT * phi2
        x.update(scale: aT, (cT - kT, output(state.first)), (kT, output(state.third)))
    }
}
