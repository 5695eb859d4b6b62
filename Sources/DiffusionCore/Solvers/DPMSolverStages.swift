import RealModule

/// The noise-prediction DPM-Solver-1, -2 and -3 steps of k-diffusion's `DPMSolver` class (Lu et al.
/// 2022, "DPM-Solver", Algorithms 4–5 / Eqs. 3.7–3.9), shared by ``DPMSolverFast`` and
/// ``DPMSolverAdaptive``, with the stage buffers they reuse.
///
/// With `t = −log σ`, `h = t′ − t`, `E = expm1(h)` and `d` (k-diffusion's `eps`) in the frame of
/// `KDiffusionFrame`:
/// ```
/// DPM-Solver-1:  y′ = y − σ′·E·d₀
/// DPM-Solver-2:  u₁ = y − σ(s₁)·expm1(r₁h)·d₀,  s₁ = t + r₁h
///                y′ = y − σ′·E·d₀ − σ′/(2r₁)·E·(d₁ − d₀)
/// DPM-Solver-3:  u₂ = y − σ(s₂)·expm1(r₂h)·d₀ − σ(s₂)·(r₂/r₁)·(expm1(r₂h)/(r₂h) − 1)·(d₁ − d₀)
///                y′ = y − σ′·E·d₀ − σ′/r₂·(E/h − 1)·(d₂ − d₀)
/// ```
/// Because `dᵢ = (uᵢ − x̂₀ᵢ)/σᵢ` is affine, every stage and result is an exact linear combination
/// of `y` and the clean estimates `x̂₀₀, x̂₀₁, x̂₀₂`. The coefficients of that combination
/// (``Combination``) are computed in `Double` and applied in one fused pass, so a model evaluation
/// reads only `x̂₀`, and the float32 result avoids the eps form's cancellation: with large steps
/// its terms are `σ/σ′` times larger than `y′` (k-diffusion's own float32 result is 4e-5 relative
/// RMS off its float64 result at 5 evaluations over `σ ∈ [0.002, 80]`; this form stays within 1e-6).
/// In model coordinates a term `y` becomes `(s_out/s)·x` and each `x̂₀` coefficient is multiplied by
/// the output's scale `s_out`.
struct DPMSolverStages {
    /// `x̂₀` at the start of the step.
    var first: ModelPrediction
    /// `x̂₀` at `u₁`.
    var second: ModelPrediction
    /// `x̂₀` at `u₂`.
    var third: ModelPrediction
    /// The input `u₁` or `u₂`, in model coordinates.
    var stage: SampleTensor
    /// `d₀, d₁, d₂` and `u₁, u₂` of the current step as combinations.
    private var d0 = Combination(), d1 = Combination(), d2 = Combination()

    init(like x: SampleTensor) {
        first = ModelPrediction(like: x)
        second = ModelPrediction(like: x)
        third = ModelPrediction(like: x)
        stage = SampleTensor(zeros: x.shape)
    }

    /// `c_y·y + c₀·x̂₀₀ + c₁·x̂₀₁ + c₂·x̂₀₂`, with `y` the sample at the start of the step.
    struct Combination {
        var y = 0.0, c0 = 0.0, c1 = 0.0, c2 = 0.0
        static let sample = Combination(y: 1)
        static func + (a: Self, b: Self) -> Self { Self(y: a.y + b.y, c0: a.c0 + b.c0, c1: a.c1 + b.c1, c2: a.c2 + b.c2) }
        static func - (a: Self, b: Self) -> Self { Self(y: a.y - b.y, c0: a.c0 - b.c0, c1: a.c1 - b.c1, c2: a.c2 - b.c2) }
        static func * (k: Double, a: Self) -> Self { Self(y: k * a.y, c0: k * a.c0, c1: k * a.c1, c2: k * a.c2) }
    }

    /// A step from `from` to `to` in log-sigma time.
    struct Interval {
        var from: NoiseLevel
        var to: NoiseLevel
        var frame: ODEFrame
        var h: Double { KDiffusionFrame.logSigmaTime(to, frame: frame) - KDiffusionFrame.logSigmaTime(from, frame: frame) }
        var start: Double { KDiffusionFrame.logSigmaTime(from, frame: frame) }
    }

    /// `x̂₀` at the start of the step, and `d₀ = (y − x̂₀₀)/σ`.
    mutating func evaluateStart(_ x: SampleTensor, at level: NoiseLevel, step: Int, context: SolverContext) throws {
        try context.predict(x, at: level, step: step, into: &first, needs: .data)
        let sigma = context.frame.tau(level)
        d0 = Combination(y: 1 / sigma, c0: -1 / sigma)
    }

    /// `u₁ = y − σ(s₁)·expm1(r₁h)·d₀`, its `x̂₀` at `s₁ = t + r₁h`, and `d₁`.
    mutating func evaluateFirstStage(_ x: SampleTensor, _ interval: Interval, r1: Double, step: Int, context: SolverContext) throws {
        let level = KDiffusionFrame.level(logSigmaTime: interval.start + r1 * interval.h, context: context)
        let sigma = interval.frame.tau(level)
        let u1 = .sample - (sigma * Double.expMinusOne(r1 * interval.h)) * d0
        write(u1, into: &stage, from: x, interval, at: level)
        try context.predict(stage, at: level, step: step, into: &second, needs: .data)
        d1 = (1 / sigma) * (u1 - Combination(c1: 1))
    }

    /// `u₂`, its `x̂₀` at `s₂ = t + r₂h`, and `d₂` (after ``evaluateFirstStage(_:_:r1:step:context:)``).
    mutating func evaluateSecondStage(_ x: SampleTensor, _ interval: Interval, r1: Double, r2: Double, step: Int,
                                      context: SolverContext) throws {
        let h = interval.h
        let level = KDiffusionFrame.level(logSigmaTime: interval.start + r2 * h, context: context)
        let sigma = interval.frame.tau(level)
        let e2 = Double.expMinusOne(r2 * h)
        let u2 = .sample - (sigma * e2) * d0 - (sigma * (r2 / r1) * (e2 / (r2 * h) - 1)) * (d1 - d0)
        write(u2, into: &stage, from: x, interval, at: level)
        try context.predict(stage, at: level, step: step, into: &third, needs: .data)
        d2 = (1 / sigma) * (u2 - Combination(c2: 1))
    }

    /// DPM-Solver-1 from `x` over `interval`, written to `out`.
    func firstOrder(into out: inout SampleTensor, from x: SampleTensor, _ interval: Interval) {
        let sigma = interval.frame.tau(interval.to)
        let result = .sample - (sigma * Double.expMinusOne(interval.h)) * d0
        write(result, into: &out, from: x, interval, at: interval.to)
    }

    /// DPM-Solver-2 (after ``evaluateFirstStage(_:_:r1:step:context:)`` with the same `r1`).
    func secondOrder(into out: inout SampleTensor, from x: SampleTensor, _ interval: Interval, r1: Double) {
        let sigma = interval.frame.tau(interval.to)
        let e = Double.expMinusOne(interval.h)
        let result = .sample - (sigma * e) * d0 - (sigma / (2 * r1) * e) * (d1 - d0)
        write(result, into: &out, from: x, interval, at: interval.to)
    }

    /// DPM-Solver-3 (after both stages).
    func thirdOrder(into out: inout SampleTensor, from x: SampleTensor, _ interval: Interval, r2: Double) {
        let sigma = interval.frame.tau(interval.to)
        let h = interval.h
        let e = Double.expMinusOne(h)
        let result = .sample - (sigma * e) * d0 - (sigma / r2 * (e / h - 1)) * (d2 - d0)
        write(result, into: &out, from: x, interval, at: interval.to)
    }

    /// Writes `s_level·(c_y·x/s + c₀·x̂₀₀ + c₁·x̂₀₁ + c₂·x̂₀₂)` to `out`, reading only the estimates the
    /// combination uses.
    private func write(_ c: Combination, into out: inout SampleTensor, from x: SampleTensor, _ interval: Interval,
                       at level: NoiseLevel) {
        let scale = interval.frame.scale(level)
        let ratio = scale / interval.frame.scale(interval.from) * c.y
        if c.c2 != 0 {
            out.set((ratio, x), (scale * c.c0, first.data), (scale * c.c1, second.data), (scale * c.c2, third.data))
        } else if c.c1 != 0 {
            out.set((ratio, x), (scale * c.c0, first.data), (scale * c.c1, second.data))
        } else {
            out.set((ratio, x), (scale * c.c0, first.data))
        }
    }

    /// The index of the level a whole-range integration (``DPMSolverFast``, ``DPMSolverAdaptive``)
    /// ends at: the grid's last level, or the one before a final `σ = 0`.
    static func endIndex(of grid: TimeGrid) -> Int { grid.endsClean ? grid.steps - 1 : grid.steps }
}

/// The state of a solver that integrates its whole interval in one step.
protocol WholeIntervalState: SolverState {
    var stages: DPMSolverStages { get set }
}

/// A solver that integrates from the grid's first level to its last nonzero one inside step 0
/// (k-diffusion's `sample_dpm_fast` and `sample_dpm_adaptive` set their own steps); the other steps
/// do nothing, except that a grid ending at `σ = 0` returns `x̂₀` at its last step.
protocol WholeIntervalSolver: Solver where State: WholeIntervalState {
    func integrate(_ x: inout SampleTensor, from start: NoiseLevel, to end: NoiseLevel, state: inout State,
                   context: SolverContext) throws
}

extension WholeIntervalSolver {
    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid
        let end = DPMSolverStages.endIndex(of: grid)
        if step == 0 && end >= 1 {
            try integrate(&x, from: grid[0], to: grid[end], state: &state, context: context)
        }
        if grid.endsClean && step == grid.steps - 1 {
            try context.predict(x, at: grid[step], step: step, into: &state.stages.first, needs: .data)
            x.assign(state.stages.first.data)
        }
    }
}
