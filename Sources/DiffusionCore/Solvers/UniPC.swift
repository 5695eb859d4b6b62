import RealModule

/// UniPC: the unified predictor (UniP) and corrector (UniC) of Zhao et al. 2023, "UniPC: A Unified
/// Predictor-Corrector Framework for Fast Sampling of Diffusion Models" (NeurIPS), Algorithms 1–3.
///
/// With `h = λ_t − λ_s₀`, `hh = −h` for data prediction (`h` for noise), `rₖ = (λ_{s₋ₖ} − λ_s₀)/h`,
/// `Dₖ = (m₋ₖ − m₀)/rₖ` and `B(h) = hh` (bh1) or `e^{hh} − 1` (bh2), the predictor of order `p` is
/// ```
/// x_t = (σ_t/σ_s₀)·x − α_t(e^{hh} − 1)·m₀ − α_t·B(h)·Σₖ ρₖᵖ·Dₖ          (data prediction)
/// ```
/// where `ρᵖ` solves `R·ρ = b` on the first `p−1` rows (`ρ = ½` at order 2),
/// `R_{ik} = rₖ^{i−1}`, `bᵢ = h·φ_{i+1}(hh)·i!/B(h)`. After the model is evaluated at the
/// predicted `x_t` (output `m_t`), the corrector recomputes the same step with one more point:
/// ```
/// x_t ← (σ_t/σ_s₀)·x − α_t(e^{hh} − 1)·m₀ − α_t·B(h)·(Σₖ ρₖᶜ·Dₖ + ρ_pᶜ·(m_t − m₀))
/// ```
/// `m_t` is kept for the next step, so the corrector costs no evaluation; it is skipped after the
/// last step. Noise prediction mirrors this with `α/α`, `σ_t` and `hh = h`.
///
/// Order selection follows diffusers' `UniPCMultistepScheduler`: warm-up, and with
/// ``lowerOrderFinal`` the order of step `i` of `N` is at most `N − i`. Unlike diffusers, a step
/// to `σ = 0` returns `x̂₀` (the first-order limit) instead of producing NaN.
///
/// NFE per step: 1. `uni_pc` = bh1, order 3; `uni_pc_bh2` = bh2, order 2 (diffusers' defaults).
public struct UniPC: Solver {
    /// UniPC's `B(h)`: `bh1` (`B(h) = h`) or `bh2` (`B(h) = e^h − 1`).
    public enum Variant: String, Sendable { case bh1, bh2 }

    /// The sample the state carries is the predicted one, where the model is evaluated; the
    /// corrected sample is folded into the next predictor's pass (``step(_:x:state:context:)``).
    public struct State: SolverState {
        var history: MultistepHistory
        var previousOrder = 0
        /// The previous step's predictor terms (history offset 0): the next corrector's predictor
        /// part, shifted by one output, so it is not computed twice.
        var previousPredictor: SIMD4<Double>?
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    public var variant: Variant
    public var solverOrder: Int
    public var prediction: PredictionKind
    public var lowerOrderFinal: Bool
    /// Steps (0-based) after which the corrector is not applied (diffusers' `disable_corrector`).
    public var disabledCorrectorSteps: Set<Int>
    /// Evaluate the model once more at the end and apply the corrector to the final sample too
    /// (one extra evaluation; not on a run that ends at `σ = 0`, where the last step returns `x̂₀`).
    /// diffusers does this implicitly when its grid repeats the last sigma (Karras with `sigma_min`).
    public var finalCorrector: Bool
    /// An explicit predictor order for each step, replacing the rules (still capped by history).
    public var stepOrders: [Int]?
    /// An explicit prediction type for each step (its predictor and the corrector of that step),
    /// replacing ``prediction`` there: one of the per-step decisions of a searched solver schedule
    /// (USF, Liu et al. 2024). Steps beyond the array use ``prediction``.
    public var stepPredictions: [PredictionKind]?

    public init(variant: Variant = .bh2, solverOrder: Int = 2, prediction: PredictionKind = .data,
                lowerOrderFinal: Bool = true, disabledCorrectorSteps: Set<Int> = [], finalCorrector: Bool = false,
                stepOrders: [Int]? = nil, stepPredictions: [PredictionKind]? = nil) {
        self.finalCorrector = finalCorrector
        self.stepOrders = stepOrders
        self.stepPredictions = stepPredictions
        self.variant = variant
        self.solverOrder = Swift.min(Swift.max(solverOrder, 1), 3)
        self.prediction = prediction
        self.lowerOrderFinal = lowerOrderFinal
        self.disabledCorrectorSteps = disabledCorrectorSteps
    }

    public var name: String { variant == .bh1 ? "uni_pc" : "uni_pc_bh2" }
    /// The predictor-corrector pair converges at order `p + 1` when the corrector runs.
    public var order: Int { solverOrder + 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps + (finalCorrector && !grid.endsClean ? 1 : 0) }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: solverOrder + 1, like: x))
    }

    /// diffusers' order rule for the predictor: warm-up, and with ``lowerOrderFinal`` at most
    /// `n − i` at step `i` of `n`, on runs of any length.
    public var stepOrderRule: StepOrders {
        StepOrders(solverOrder: solverOrder, finalSteps: lowerOrderFinal ? .always : nil, explicit: stepOrders)
    }

    /// The predictor's order at step `i` of `n`.
    public func order(atStep i: Int, of n: Int) -> Int { stepOrderRule.order(atStep: i, of: n) }

    /// The prediction type of step `i`.
    public func prediction(atStep i: Int) -> PredictionKind {
        if let stepPredictions, i >= 0, i < stepPredictions.count { return stepPredictions[i] }
        return prediction
    }

    /// What every evaluation must write: both predictions when the steps mix the two types (an
    /// output serves the predictors and correctors of several steps).
    private var mixesPredictions: Bool {
        guard let stepPredictions else { return false }
        return stepPredictions.contains { $0 != prediction }
    }

    /// The ρ coefficients for ratios `rks` (its first `count` lanes; for the corrector the last of
    /// them is 1) at `hh`: `R ρ = b` with `R_{ik} = r_k^i`, `bᵢ = hh·φ_{i+1}(hh)·i!/B(h)`, solved on
    /// the first `count − 1` rows (predictor) or all `count` rows (corrector), with UniPC's
    /// shortcuts ρ = ½ for a second-order predictor and a first-order corrector.
    ///
    /// `R` is the transpose of a Vandermonde matrix, so the solution is read off the Lagrange basis
    /// `L_k(t) = Π_{j≠k} (t − r_j)/(r_k − r_j)`: `ρ_k = Σᵢ bᵢ·[tⁱ]L_k` (`Σ_k r_kⁱ L_k(t) = tⁱ`
    /// for `i < n`). For `n ≤ 3` that is a few operations in `Double`, without an elimination.
    ///
    /// - Parameters:
    ///   - expMinusOneHH: `e^{hh} − 1`, which the caller has computed already.
    package static func rhos(rks: SIMD4<Double>, count order: Int, hh: Double, expMinusOneHH: Double, variant: Variant,
                     corrector: Bool) -> SIMD4<Double> {
        let n = corrector ? order : order - 1
        if n <= 0 { return .zero }
        if corrector && order == 1 { return SIMD4(0.5, 0, 0, 0) }
        if !corrector && order == 2 { return SIMD4(0.5, 0, 0, 0) }
        let bh = variant == .bh1 ? hh : expMinusOneHH
        // bᵢ = hh·φ_{i+2}(hh)·(i+1)!/B(h) from hh·φ₂ = (e^{hh} − 1)/hh − 1 and
        // hh·φ_{k+1} = hh·φ_k/hh − 1/k!, in scalars (SIMD lanes written one at a time stall on
        // store forwarding).
        let hPhi2 = expMinusOneHH / hh - 1
        let hPhi3 = hPhi2 / hh - 0.5
        let b0 = hPhi2 / bh, b1 = hPhi3 * 2 / bh
        let r0 = rks[0], r1 = rks[1], r2 = rks[2]
        switch n {
        case 1:
            return SIMD4(b0, 0, 0, 0)
        case 2:
            // L₀(t) = (t − r₁)/(r₀ − r₁), L₁(t) = (t − r₀)/(r₁ − r₀).
            return SIMD4((b1 - r1 * b0) / (r0 - r1), (b1 - r0 * b0) / (r1 - r0), 0, 0)
        default:
            let b2 = (hPhi3 / hh - 1.0 / 6) * 6 / bh
            // L_k(t) = (t² − (r_a + r_b)·t + r_a·r_b)/((r_k − r_a)(r_k − r_b)) for {a, b} the other two.
            func rho(_ rk: Double, _ ra: Double, _ rb: Double) -> Double {
                (b2 - (ra + rb) * b1 + ra * rb * b0) / ((rk - ra) * (rk - rb))
            }
            return SIMD4(rho(r0, r1, r2), rho(r1, r0, r2), rho(r2, r0, r1), 0)
        }
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid
        let s0 = grid[step], t = grid[step + 1]
        let current = prediction(atStep: step)
        state.history.advance(to: s0)
        let needs = mixesPredictions ? .both : PredictionNeeds(current, from: s0, to: t)
        try context.predict(x, at: s0, step: step, into: &state.history.newestSlot, needs: needs)
        let k = Swift.min(order(atStep: step, of: grid.steps), state.history.usable(limit: solverOrder))
        // On a step to σ = 0 the corrected sample would be replaced by x̂₀, which the model computed
        // from x itself, so no corrector runs there.
        if state.history.stepWithoutHistory(&x, from: s0, to: t) {
            state.previousOrder = 1
            return
        }
        // The corrector of the previous step, with the output just computed (no extra evaluation).
        // A step that started at pure noise (λ = −∞) has no finite h to correct with.
        let corrects = step > 0 && !disabledCorrectorSteps.contains(step - 1) && grid[step - 1].lambda.isFinite
        let previous = prediction(atStep: step - 1)
        let cachedPredictor = state.previousPredictor
        state.previousPredictor = nil
        var terms = corrects ? correction(levels: (grid[step - 1], s0), order: state.previousOrder, history: state.history,
                                          prediction: previous, previousPredictor: cachedPredictor) : .zero
        if corrects && previous != current {
            // The correction combines the other prediction type's outputs: a pass of its own.
            combine(&x, scale: 1, terms, history: state.history, prediction: previous)
            terms = .zero
        }
        // The predictor starts from the corrected sample x + Σ δⱼ·mⱼ, so one pass computes
        // x_t = scale·(x + Σ δⱼ·mⱼ) + Σ pⱼ·mⱼ.
        let (scale, predictor) = coefficients(levels: (s0, t), order: k, history: state.history, historyOffset: 0, corrector: false,
                                              prediction: current)
        terms = scale * terms + predictor
        state.previousOrder = k
        state.previousPredictor = predictor
        combine(&x, scale: scale, terms, history: state.history, prediction: current)
        if finalCorrector && step == grid.steps - 1 {
            // Evaluate at the final level and correct the last step with that output.
            state.history.advance(to: t)
            try context.predict(x, at: t, step: step, into: &state.history.newestSlot, needs: PredictionNeeds(current))
            combine(&x, scale: 1, correction(levels: (s0, t), order: k, history: state.history, prediction: current,
                                             previousPredictor: predictor),
                    history: state.history, prediction: current)
        }
    }

    /// `x ← scale·x + Σⱼ terms[j]·mⱼ` over the outputs `mⱼ = history.prediction(j)`, newest first.
    /// Trailing zero coefficients are left out, so the pass reads only the outputs that enter.
    func combine(_ x: inout SampleTensor, scale: Double, _ terms: SIMD4<Double>, history: MultistepHistory,
                 prediction: PredictionKind) {
        let used = ((0..<4).last { terms[$0] != 0 } ?? -1) + 1
        history.combine(into: &x, scale: scale, terms, count: used, prediction)
    }

    /// What the corrector adds to the predicted sample at `levels.1`: UniC minus UniP over the same
    /// step, both from the same start, so `x_corrected = x_predicted + Σⱼ δⱼ·mⱼ` (outputs newest
    /// first; `m₀` is the output at the predicted sample).
    ///
    /// - Parameter previousPredictor: The predictor terms of the step being corrected, computed
    ///   then with history offset 0; the same numbers one output further back are the predictor
    ///   part here, so they are shifted instead of computed again.
    func correction(levels: (NoiseLevel, NoiseLevel), order: Int, history: MultistepHistory,
                    prediction: PredictionKind, previousPredictor: SIMD4<Double>? = nil) -> SIMD4<Double> {
        let (_, corrector) = coefficients(levels: levels, order: order, history: history, historyOffset: 1, corrector: true,
                                          prediction: prediction)
        if let p = previousPredictor, p[3] == 0 { return corrector - SIMD4(0, p[0], p[1], p[2]) }
        let (_, predictor) = coefficients(levels: levels, order: order, history: history, historyOffset: 1, corrector: false,
                                          prediction: prediction)
        return corrector - predictor
    }

    /// One UniP (or UniC) update from `x_s₀` at `levels.0` to `levels.1` as
    /// `scale·x_s₀ + Σⱼ cⱼ·history.prediction(j)`: `history.prediction(historyOffset)` is the output
    /// at `levels.0`; with the corrector, `history.prediction(0)` is the output at `levels.1`.
    func coefficients(levels: (NoiseLevel, NoiseLevel), order: Int, history: MultistepHistory, historyOffset o: Int,
                              corrector: Bool, prediction: PredictionKind) -> (scale: Double, terms: SIMD4<Double>) {
        let (s0, t) = levels
        let h = t.lambda - s0.lambda
        // rₖ for the previous outputs (at most two: the order is at most 3), then 1 (the step's end)
        // in the next lane; scalars first, as SIMD lanes written one at a time stall on store forwarding.
        let previous = Swift.max(order, 1) - 1
        let r1 = previous >= 1 ? (history.level(o + 1).lambda - s0.lambda) / h : 1
        let r2 = previous >= 2 ? (history.level(o + 2).lambda - s0.lambda) / h : 1
        let rks = previous == 0 ? SIMD4<Double>(1, 0, 0, 0) : previous == 1 ? SIMD4(r1, 1, 0, 0) : SIMD4(r1, r2, 1, 0)
        let hh = prediction == .data ? -h : h
        let expMinusOneHH = Double.expMinusOne(hh)
        let rho = Self.rhos(rks: rks, count: previous + 1, hh: hh, expMinusOneHH: expMinusOneHH, variant: variant,
                            corrector: corrector)
        let bh = variant == .bh1 ? hh : expMinusOneHH
        let (scale, edge) = prediction == .data ? (t.sigma / s0.sigma, t.alpha) : (t.alpha / s0.alpha, t.sigma)
        // x' = scale·x_s₀ − edge·(e^{hh}−1)·m₀ − edge·B·(Σ ρₖ (m₋ₖ − m₀)/rₖ [+ ρ_last (m_t − m₀)]).
        let g = -edge * bh
        let d1 = previous >= 1 ? g * rho[0] / r1 : 0
        let d2 = previous >= 2 ? g * rho[1] / r2 : 0
        let dc = corrector ? g * rho[previous] : 0
        let c0 = -edge * expMinusOneHH - d1 - d2 - dc
        // Outputs newest first: with offset 1 the output at the step's end (the corrector's) leads.
        return (scale, o == 0 ? SIMD4(c0, d1, d2, 0) : SIMD4(dc, c0, d1, d2))
    }
}
