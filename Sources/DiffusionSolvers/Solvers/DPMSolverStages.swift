import RealModule

/// The noise-prediction DPM-Solver-1, -2 and -3 steps of k-diffusion's `DPMSolver` class (Lu et al.
/// 2022, "DPM-Solver", Algorithms 4–5 / Eqs. 3.7–3.9), shared by ``DPMSolverFast`` and
/// ``DPMSolverAdaptive``, with the stage buffers they reuse.
///
/// With `t = −log σ`, `h = t′ − t`, `E = expm1(h)` and `d` (k-diffusion's `eps`) in the frame of
/// ``KDiffusionFrame``:
/// ```
/// DPM-Solver-1:  y′ = y − σ′·E·d₀
/// DPM-Solver-2:  u₁ = y − σ(s₁)·expm1(r₁h)·d₀,  s₁ = t + r₁h
///                y′ = y − σ′·E·d₀ − σ′/(2r₁)·E·(d₁ − d₀)
/// DPM-Solver-3:  u₂ = y − σ(s₂)·expm1(r₂h)·d₀ − σ(s₂)·(r₂/r₁)·(expm1(r₂h)/(r₂h) − 1)·(d₁ − d₀)
///                y′ = y − σ′·E·d₀ − σ′/r₂·(E/h − 1)·(d₂ − d₀)
/// ```
/// Everything is written in model coordinates: a term `y` becomes `(s_out/s)·x` and each `d`
/// coefficient is multiplied by the output's scale `s_out`.
struct DPMSolverStages {
    /// `d₀` at the start of the step (and `x̂₀` there when asked for).
    var first: ModelPrediction
    /// `d₁` at `u₁`.
    var second: ModelPrediction
    /// `d₂` at `u₂`.
    var third: ModelPrediction
    /// The input `u₁` or `u₂`, in model coordinates.
    var stage: SampleTensor

    init(like x: SampleTensor) {
        first = ModelPrediction(like: x)
        second = ModelPrediction(like: x)
        third = ModelPrediction(like: x)
        stage = SampleTensor(zeros: x.shape)
    }

    /// A step from `from` to `to` in log-sigma time.
    struct Interval {
        var from: NoiseLevel
        var to: NoiseLevel
        var frame: ODEFrame
        var h: Double { KDiffusionFrame.logSigmaTime(to, frame: frame) - KDiffusionFrame.logSigmaTime(from, frame: frame) }
        var start: Double { KDiffusionFrame.logSigmaTime(from, frame: frame) }
        /// `s_out/s`, the factor of `x` in an output at `level`.
        func ratio(_ level: NoiseLevel) -> Double { frame.scale(level) / frame.scale(from) }
    }

    private static func evaluate(_ x: SampleTensor, at level: NoiseLevel, into prediction: inout ModelPrediction,
                                 step: Int, context: SolverContext) throws {
        try context.predict(x, at: level, step: step, into: &prediction, needs: KDiffusionFrame.derivativeNeeds(context.frame))
        KDiffusionFrame.makeDerivative(&prediction, frame: context.frame)
    }

    /// `d₀` at the start of the step.
    mutating func evaluateStart(_ x: SampleTensor, at level: NoiseLevel, step: Int, context: SolverContext) throws {
        try Self.evaluate(x, at: level, into: &first, step: step, context: context)
    }

    /// `u₁` and `d₁` at `s₁ = t + r₁h`.
    mutating func evaluateFirstStage(_ x: SampleTensor, _ interval: Interval, r1: Double, step: Int, context: SolverContext) throws {
        let level = KDiffusionFrame.level(logSigmaTime: interval.start + r1 * interval.h, context: context)
        let scale = interval.frame.scale(level), sigma = interval.frame.tau(level)
        stage.set((interval.ratio(level), x), (-scale * sigma * Double.expMinusOne(r1 * interval.h), first.noise))
        try Self.evaluate(stage, at: level, into: &second, step: step, context: context)
    }

    /// `u₂` and `d₂` at `s₂ = t + r₂h` (after ``evaluateFirstStage(_:_:r1:step:context:)``).
    mutating func evaluateSecondStage(_ x: SampleTensor, _ interval: Interval, r1: Double, r2: Double, step: Int,
                                      context: SolverContext) throws {
        let h = interval.h
        let level = KDiffusionFrame.level(logSigmaTime: interval.start + r2 * h, context: context)
        let scale = interval.frame.scale(level), sigma = interval.frame.tau(level)
        let e2 = Double.expMinusOne(r2 * h)
        let correction = sigma * (r2 / r1) * (e2 / (r2 * h) - 1)
        stage.set((interval.ratio(level), x), (scale * (-sigma * e2 + correction), first.noise), (-scale * correction, second.noise))
        try Self.evaluate(stage, at: level, into: &third, step: step, context: context)
    }

    /// DPM-Solver-1 from `x` over `interval`, written to `out`.
    func firstOrder(into out: inout SampleTensor, from x: SampleTensor, _ interval: Interval) {
        let scale = interval.frame.scale(interval.to), sigma = interval.frame.tau(interval.to)
        out.set((interval.ratio(interval.to), x), (-scale * sigma * Double.expMinusOne(interval.h), first.noise))
    }

    /// DPM-Solver-2 (after ``evaluateFirstStage(_:_:r1:step:context:)`` with the same `r1`).
    func secondOrder(into out: inout SampleTensor, from x: SampleTensor, _ interval: Interval, r1: Double) {
        let scale = interval.frame.scale(interval.to), sigma = interval.frame.tau(interval.to)
        let e = Double.expMinusOne(interval.h)
        let c1 = sigma / (2 * r1) * e
        out.set((interval.ratio(interval.to), x), (scale * (-sigma * e + c1), first.noise), (-scale * c1, second.noise))
    }

    /// DPM-Solver-3 (after both stages).
    func thirdOrder(into out: inout SampleTensor, from x: SampleTensor, _ interval: Interval, r2: Double) {
        let scale = interval.frame.scale(interval.to), sigma = interval.frame.tau(interval.to)
        let h = interval.h
        let e = Double.expMinusOne(h)
        let c2 = sigma / r2 * (e / h - 1)
        out.set((interval.ratio(interval.to), x), (scale * (-sigma * e + c2), first.noise), (-scale * c2, third.noise))
    }

    /// The index of the level a whole-range integration (``DPMSolverFast``, ``DPMSolverAdaptive``)
    /// ends at: the grid's last level, or the one before a final `σ = 0`.
    static func endIndex(of grid: TimeGrid) -> Int { grid.endsClean ? grid.steps - 1 : grid.steps }
}
