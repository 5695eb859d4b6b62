/// DC-Solver: UniPC with dynamic compensation, from Zhao et al. 2024, "DC-Solver: Improving
/// Predictor-Corrector Diffusion Sampler via Dynamic Compensation" (ECCV), arXiv:2409.03755, Sec. 3.
///
/// The corrector of a predictor-corrector sampler reuses the model output at the *predicted*
/// sample, so the output that anchors the next step belongs to a slightly wrong point. Before the
/// predictor of step `i`, DC-Solver replaces the newest output `m₀` (at time `τ₀`) by the
/// Lagrange interpolation through the `K + 1` newest outputs `m₀ … m_K` (`K` = ``dcOrder``,
/// times `τ₀ … τ_K`), evaluated at a time shifted by the step's compensation ratio `ρᵢ`:
/// ```
/// τ* = τ₁ + ρᵢ·(τ₀ − τ₁)
/// m₀ ← Σₐ mₐ · Π_{b≠a} (τ* − τ_b)/(τₐ − τ_b)          (a, b = 0 … K)
/// ```
/// `ρ = 1` gives `τ* = τ₀` and leaves `m₀` unchanged. The compensated `m₀` is written back: the
/// predictor of step `i` uses it, the corrector of step `i` (applied at the start of step `i + 1`)
/// uses it as its anchor, and later steps see it as history, exactly as the reference
/// implementation (wl-zhao/DC-Solver, `DCSolverMultistepScheduler._step`, and the LDM
/// `DCSolver.sample`). The corrector of step `i − 1` uses the raw output, before compensation.
///
/// The time variable `τ` is the noise level's ``NoiseLevel/t``, the schedule's own time: training
/// timesteps for a discrete schedule (diffusers' `timesteps`, as the reference's scheduler uses),
/// `[0, 1]` for continuous VP (the LDM version's `t`), `σ` for VE. Lagrange weights are invariant
/// under affine maps of `τ`, so `t` and `t/T` give the same compensation.
///
/// Everything else is ``UniPC`` with the same settings; with every ratio 1 the two produce the
/// same samples bit for bit. Compensation needs `K + 1` outputs, so the first `K` steps always use
/// ratio 1 (the paper's `ρ₁ = ρ₂ = 1`), whatever ``ratios`` holds there; steps beyond the array
/// use 1. A step to `σ = 0` returns the (compensated, with data prediction) `x̂₀`, the
/// first-order limit of the predictor; with noise prediction that step ignores its ratio.
///
/// Ratios are found per model by `DynamicCompensationFit` (the paper's greedy search against a
/// ground-truth trajectory) or predicted for an unseen step count by
/// ``CascadePolynomialRegression``. NFE per step: 1.
public struct DCSolver: Solver {
    public typealias Variant = UniPC.Variant

    /// UniPC's state with room for the `K + 1` outputs the interpolation needs.
    public struct State: SolverState {
        package var history: MultistepHistory
        var previousOrder = 0
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    /// The UniPC this solver compensates (variant, order, prediction, lower-order final steps,
    /// disabled correctors); its update is the one every step uses.
    public var uniPC: UniPC
    /// The compensation ratio `ρᵢ` of each step (0-based); 1 is no compensation.
    public var ratios: [Double]
    /// The degree `K` of the interpolation through the `K + 1` newest outputs (the reference's
    /// `dc_order`, default 2), 1…3.
    public var dcOrder: Int

    /// The ratios a step may use; a ratio outside them (or not finite) is a configuration error.
    /// The reference's `tanh` bound keeps searched ratios in `[0.5, 1.5]`.
    public static let ratioRange: ClosedRange<Double> = 0...2

    /// - Parameters:
    ///   - variant: As ``UniPC``.
    ///   - solverOrder: As ``UniPC``.
    ///   - prediction: As ``UniPC``.
    ///   - lowerOrderFinal: As ``UniPC``.
    ///   - disabledCorrectorSteps: As ``UniPC``.
    ///   - ratios: the compensation ratio of each step; empty is plain UniPC.
    ///   - dcOrder: the interpolation degree `K` (1…3).
    public init(variant: Variant = .bh2, solverOrder: Int = 2, prediction: PredictionKind = .data,
                lowerOrderFinal: Bool = true, disabledCorrectorSteps: Set<Int> = [], ratios: [Double] = [],
                dcOrder: Int = 2) {
        self.uniPC = UniPC(variant: variant, solverOrder: solverOrder, prediction: prediction, lowerOrderFinal: lowerOrderFinal,
                           disabledCorrectorSteps: disabledCorrectorSteps)
        self.ratios = ratios
        self.dcOrder = dcOrder
    }

    public var name: String { "dc_solver" }
    /// The predictor-corrector pair converges at order `p + 1` when the corrector runs.
    public var order: Int { solverOrder + 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public var variant: Variant { uniPC.variant }
    public var solverOrder: Int { uniPC.solverOrder }
    public var prediction: PredictionKind { uniPC.prediction }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: Swift.max(solverOrder + 1, Swift.min(Swift.max(dcOrder, 1), 3) + 1), like: x))
    }

    /// The ratio step `step` uses: ``ratios`` where given, 1 beyond.
    public func ratio(atStep step: Int) -> Double { step < ratios.count ? ratios[step] : 1 }

    /// Checks ``dcOrder`` and every ratio, with a one-line message.
    public func validate() throws {
        guard (1...3).contains(dcOrder) else {
            throw SamplingError.invalidConfiguration("dc_solver: the compensation order must be 1, 2 or 3, not \(dcOrder)")
        }
        for (i, r) in ratios.enumerated() where !(r.isFinite && Self.ratioRange.contains(r)) {
            throw SamplingError.invalidConfiguration(
                "dc_solver: compensation ratio \(r) at step \(i + 1) is outside \(Self.ratioRange.lowerBound)...\(Self.ratioRange.upperBound)")
        }
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        if step == 0 { try validate() }
        try evaluate(step, x: x, state: &state, context: context)
        try advance(step, x: &x, state: &state, grid: context.grid, ratio: ratio(atStep: step))
    }

    /// The first half of a step: the model evaluation at `grid[step]`, stored as the newest output.
    package func evaluate(_ step: Int, x: SampleTensor, state: inout State, context: SolverContext) throws {
        let s0 = context.grid[step], t = context.grid[step + 1]
        state.history.advance(to: s0)
        try context.predict(x, at: s0, step: step, into: &state.history.newestSlot, needs: PredictionNeeds(prediction, from: s0, to: t))
    }

    /// The second half: the previous step's corrector, the compensation of the newest output with
    /// `ratio`, and the predictor to `grid[step + 1]`, in one pass over `x` (as ``UniPC``), plus
    /// one pass to write the compensated output back.
    package func advance(_ step: Int, x: inout SampleTensor, state: inout State, grid: TimeGrid, ratio: Double) throws {
        let s0 = grid[step], t = grid[step + 1]
        let weights = try compensationWeights(ratio, history: state.history)
        let k = Swift.min(uniPC.order(atStep: step, of: grid.steps), state.history.usable(limit: solverOrder))
        if t.isClean {
            // The predictor's first-order limit at σ = 0 is m₀ itself: return x̂₀, compensated.
            if let weights, prediction == .data { compensate(&state.history, weights: weights) }
            x.assign(state.history.prediction(0).data)
            return
        }
        if !s0.lambda.isFinite {
            state.previousOrder = 1
            FrameStep.fromPureNoise(&x, to: t, prediction: state.history.prediction(0))
            return
        }
        let corrects = correctorApplies(before: step, grid: grid)
        var terms = corrects ? uniPC.correction(levels: (grid[step - 1], s0), order: state.previousOrder, history: state.history,
                                               prediction: prediction) : .zero
        var (scale, predictor) = uniPC.coefficients(levels: (s0, t), order: k, history: state.history, historyOffset: 0, corrector: false,
                                                   prediction: prediction)
        if let weights {
            // The predictor's m₀ is Σₐ wₐ·mₐ: distribute its coefficient over the raw outputs.
            let c0 = predictor[0]
            predictor[0] = 0
            predictor += c0 * weights
        }
        terms = scale * terms + predictor
        state.previousOrder = k
        uniPC.combine(&x, scale: scale, terms, history: state.history, prediction: prediction)
        if let weights { compensate(&state.history, weights: weights) }
    }

    /// Whether the corrector of step `step − 1` is applied at the start of step `step` (a step that
    /// started at pure noise, λ = −∞, has no finite `h` to correct with).
    package func correctorApplies(before step: Int, grid: TimeGrid) -> Bool {
        step > 0 && step < grid.steps && !grid[step].isClean && !uniPC.disabledCorrectorSteps.contains(step - 1)
            && grid[step - 1].lambda.isFinite
    }

    /// `x ← x + Σ δⱼ·mⱼ`: the corrector of step `step − 1` on its own, for the ratio search, whose
    /// loss is the corrected state. `state` must hold the evaluation at `grid[step]`.
    package func correct(_ step: Int, x: inout SampleTensor, state: State, grid: TimeGrid) {
        guard correctorApplies(before: step, grid: grid) else { return }
        uniPC.combine(&x, scale: 1, uniPC.correction(levels: (grid[step - 1], grid[step]), order: state.previousOrder,
                                                   history: state.history, prediction: prediction),
                     history: state.history, prediction: prediction)
    }

    /// The Lagrange weights `wₐ` (lanes `0…K`) of the compensated output, or `nil` when the step
    /// does not compensate (ratio 1, or fewer than `K + 1` outputs).
    func compensationWeights(_ ratio: Double, history: MultistepHistory) throws -> SIMD4<Double>? {
        guard (1...3).contains(dcOrder) else {
            throw SamplingError.invalidConfiguration("dc_solver: the compensation order must be 1, 2 or 3, not \(dcOrder)")
        }
        let points = dcOrder + 1
        guard ratio != 1, history.count >= points else { return nil }
        guard ratio.isFinite && Self.ratioRange.contains(ratio) else {
            throw SamplingError.invalidConfiguration("dc_solver: compensation ratio \(ratio) is outside \(Self.ratioRange)")
        }
        var times = SIMD4<Double>.zero
        for a in 0..<points { times[a] = history.level(a).t }
        let weights = Self.lagrangeWeights(times: times, count: points, ratio: ratio)
        guard (0..<points).allSatisfy({ weights[$0].isFinite }) else {
            throw SamplingError.invalidConfiguration("dc_solver: the compensation needs distinct times, got \(times)")
        }
        return weights
    }

    /// The weights of `Σₐ wₐ·mₐ`, the interpolant through `(τₐ, mₐ)` (newest first, the first
    /// `count` lanes, 2…4) evaluated at `τ* = τ₁ + ratio·(τ₀ − τ₁)`, computed as
    /// `τ₀ + (ratio − 1)·(τ₀ − τ₁)` so that ratio 1 gives `τ* = τ₀` and the weights `(1, 0, 0, 0)`
    /// exactly.
    package static func lagrangeWeights(times tau: SIMD4<Double>, count: Int, ratio: Double) -> SIMD4<Double> {
        Lagrange.weights(at: tau[0] + (ratio - 1) * (tau[0] - tau[1]), nodes: tau, count: count)
    }

    /// `m₀ ← Σₐ wₐ·mₐ` in the newest slot, for the prediction the solver reads. Only the slots
    /// that enter are read, so the newest buffer stays uniquely referenced (no copy).
    private func compensate(_ history: inout MultistepHistory, weights w: SIMD4<Double>) {
        // The older outputs are read out first: the closure must not touch `history` while its
        // newest slot is being written.
        let m1 = history.output(1, prediction)
        let m2 = dcOrder >= 2 ? history.output(2, prediction) : m1, m3 = dcOrder >= 3 ? history.output(3, prediction) : m1
        func term(_ j: Int) -> SampleTensor.Term { (w[j + 1], j == 0 ? m1 : j == 1 ? m2 : m3) }
        switch prediction {
        case .data: history.newestSlot.data.update(scale: w[0], count: dcOrder, term)
        case .noise: history.newestSlot.noise.update(scale: w[0], count: dcOrder, term)
        }
    }
}
