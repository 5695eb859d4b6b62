import RealModule

/// The sigma-space view that k-diffusion's samplers take of a schedule, in an ``ODEFrame``.
///
/// k-diffusion integrates `dx/dσ = d = (x − D(x, σ))/σ` with `x` in VE coordinates. Here `σ` is
/// the frame time `τ` and `x` is `y = x/s`, which covers both frames with one formula:
/// ```
/// dy/dτ = d = (y − x̂₀)/τ = ε̂ + a′·x̂₀        (a′ = 0 for VE, −1 for rectified flow)
/// ```
/// For VP schedules this is k-diffusion's VE wrapper (`x̃ = x/α`, `σ̃ = σ/α`, `d = ε̂`); for
/// rectified flow it is how ComfyUI runs k-diffusion samplers on flow (CONST) models: `σ = t`,
/// `x` unscaled, `d = ε̂ − x̂₀`, the flow velocity. k-diffusion's log-sigma time
/// `t = −log σ` becomes `−log τ` (the half log-SNR in the VE frame, not in the flow frame).
enum KDiffusionFrame {
    /// What reading `d` needs: `ε̂` in the VE frame, both predictions in the flow frame.
    static func derivativeNeeds(_ frame: ODEFrame) -> PredictionNeeds {
        frame.dataSlope == 0 ? .noise : .both
    }

    /// Rewrites `prediction.noise` as `d = ε̂ + a′·x̂₀` (nothing to do in the VE frame).
    static func makeDerivative(_ prediction: inout ModelPrediction, frame: ODEFrame) {
        let slope = frame.dataSlope
        guard slope != 0 else { return }
        let data = prediction.data
        prediction.noise.update(scale: 1, (slope, data))
    }

    /// The level whose frame time is `tau` (through the schedule's exact inverse).
    static func level(tau: Double, context: SolverContext) -> NoiseLevel {
        context.denoiser.schedule.level(sigma: tau)
    }

    /// The level at k-diffusion's log-sigma time `t = −log τ`.
    static func level(logSigmaTime t: Double, context: SolverContext) -> NoiseLevel {
        level(tau: .exp(-t), context: context)
    }

    /// k-diffusion's `t = −log σ` of a level, in the frame.
    static func logSigmaTime(_ level: NoiseLevel, frame: ODEFrame) -> Double {
        -Double.log(frame.tau(level))
    }
}

/// The last few derivatives `d` of a linear multistep method, newest first, in buffers allocated
/// once (in the solver's `makeState`).
///
/// Each slot is a ``ModelPrediction`` whose `noise` holds `d` after ``evaluate(_:at:step:context:)``
/// (in the VE frame `d` is `ε̂` itself, so nothing is copied) and whose `data` holds `x̂₀` when
/// it was asked for.
struct DerivativeHistory {
    private var slots: [ModelPrediction]
    private var newestIndex = 0
    /// How many derivatives are stored (at most the capacity).
    private(set) var count = 0

    init(capacity: Int, like x: SampleTensor) {
        slots = (0..<Swift.max(capacity, 1)).map { _ in ModelPrediction(like: x) }
    }

    var capacity: Int { slots.count }

    /// Makes row `i` of every stored derivative a copy of row `indices[i]` (``ParticleState``).
    mutating func gather(_ indices: [Int]) { for i in slots.indices { slots[i].gather(indices) } }

    /// Evaluates the model at `x` and `level` into the oldest slot, which becomes the newest, and
    /// turns its `ε̂` into `d`.
    mutating func evaluate(_ x: SampleTensor, at level: NoiseLevel, step: Int, context: SolverContext) throws {
        newestIndex = (newestIndex + capacity - 1) % capacity
        count = Swift.min(count + 1, capacity)
        try context.predict(x, at: level, step: step, into: &slots[newestIndex],
                            needs: KDiffusionFrame.derivativeNeeds(context.frame))
        KDiffusionFrame.makeDerivative(&slots[newestIndex], frame: context.frame)
    }

    /// Evaluates only `x̂₀` at `x` and `level`, for a final step that returns it. The oldest slot
    /// becomes the newest, with its `d` left stale: no step reads the history after this one.
    mutating func denoise(_ x: SampleTensor, at level: NoiseLevel, step: Int, context: SolverContext) throws {
        newestIndex = (newestIndex + capacity - 1) % capacity
        count = Swift.min(count + 1, capacity)
        try context.predict(x, at: level, step: step, into: &slots[newestIndex], needs: .data)
    }

    /// The evaluation that starts step `step`: on a step to `σ = 0` it evaluates `x̂₀` and puts it
    /// in `x` (the denoising step, as k-diffusion and ComfyUI end) and returns `false`; otherwise it
    /// stores the derivative at `grid[step]` and returns `true`, for the step to go on.
    mutating func begin(_ step: Int, x: inout SampleTensor, context: SolverContext) throws -> Bool {
        let from = context.grid[step]
        guard !context.grid[step + 1].isClean else {
            try denoise(x, at: from, step: step, context: context)
            x.assign(denoised)
            return false
        }
        try evaluate(x, at: from, step: step, context: context)
        return true
    }

    /// The `k`-th newest derivative (`k = 0` is the newest).
    func derivative(_ k: Int) -> SampleTensor { slots[(newestIndex + k) % capacity].noise }

    /// The newest prediction's `x̂₀` (current when the run asks for previews, or in the flow frame).
    var denoised: SampleTensor { slots[newestIndex].data }

    /// `x ← scale·x + Σ_{j<n} cⱼ·d_j` with the `n` newest derivatives and `coefficients[j]`, in
    /// one pass for up to four terms (two passes for more); allocates nothing.
    func combine(into x: inout SampleTensor, scale: Double, coefficients c: [Double], count n: Int) {
        precondition(n >= 1 && n <= count && n <= c.count, "DerivativeHistory.combine: \(n) terms of \(count)")
        var scale = scale
        var j = 0
        while j < n {
            switch n - j {
            case 1:
                x.update(scale: scale, (c[j], derivative(j)))
                j += 1
            case 2:
                x.update(scale: scale, (c[j], derivative(j)), (c[j + 1], derivative(j + 1)))
                j += 2
            case 3:
                x.update(scale: scale, (c[j], derivative(j)), (c[j + 1], derivative(j + 1)), (c[j + 2], derivative(j + 2)))
                j += 3
            default:
                x.update(scale: scale, (c[j], derivative(j)), (c[j + 1], derivative(j + 1)),
                         (c[j + 2], derivative(j + 2)), (c[j + 3], derivative(j + 3)))
                j += 4
            }
            scale = 1
        }
    }
}
