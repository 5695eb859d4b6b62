/// AdjointDPM (Pan et al. 2024, "AdjointDPM: Adjoint Sensitivity Method for Gradient
/// Backpropagation of Diffusion Probabilistic Models", ICLR): the gradient of a reward of the
/// sample, `∂r(x₀)/∂x_T` and `∂r/∂w` for a guidance scale, by solving the adjoint of the
/// probability-flow ODE backwards.
///
/// In exponential-integrator form (`y = x/α`, `λ = log(α/σ)`) the ODE and its adjoint `a = ∂r/∂y` are
/// ```
/// dy/dλ = x̂₀(y) − y,        da/dλ = a − (∂x̂₀/∂y)ᵀa,        d(∂r/∂w)/dλ = −aᵀ ∂x̂₀/∂w
/// ```
/// whose linear parts are solved exactly, as the forward solvers solve theirs. Order 1 freezes
/// the vector–Jacobian product over a step (the forward map is DDIM, `x′ = (σ′/σ)x + (α′ − α σ′/σ)x̂₀`);
/// order 2 takes it at the midpoint `τ_m = √(τ τ′)` of the frame time (the forward map is
/// DPM-Solver++(2S)). Each backward step is the exact transpose of its forward step, so the
/// gradient is that of the sample actually returned, and converges to the ODE's with the step's
/// order. The paper reconstructs the states by solving the ODE backwards; here the forward states
/// are kept (`N·D` values per sample), because the step to `σ = 0` cannot be run backwards.
///
/// Cost: the forward run's NFE, plus one pullback (``DenoiserPullback``) per forward evaluation.
public struct AdjointDPM: Sendable {
    /// 1 (DDIM's map) or 2 (DPM-Solver++(2S)'s).
    public let order: Int

    /// - Throws: `SamplingError.invalidConfiguration` for an order other than 1 or 2.
    public init(order: Int = 1) throws {
        guard order == 1 || order == 2 else { throw SamplingError.invalidConfiguration("adjoint: order must be 1 or 2, got \(order)") }
        self.order = order
    }

    /// A sample and the gradients of its reward.
    public struct Gradients: Sendable {
        /// `x₀`, `batch × D`.
        public var sample: [Double]
        /// `r(x₀)` per sample.
        public var rewards: [Double]
        /// `∂r/∂x_T`, `batch × D`.
        public var noise: [Double]
        /// `∂r/∂w` per sample, when the denoiser is guided.
        public var guidanceScale: [Double]?
        /// Model evaluations per sample of the forward run.
        public var forwardEvaluations: Int
        /// Model evaluations per sample of the pullbacks.
        public var backwardEvaluations: Int
    }

    /// One stage of a step from `x`: `keep·x + weight·x̂₀`, with `x̂₀` evaluated at `level` on the
    /// stage's input (`x` itself, or the midpoint state).
    struct Stage {
        var level: NoiseLevel
        var keep: Double
        var weight: Double
    }

    /// The stages of step `from → to`: DDIM's one, or (order 2, except on the step to `σ = 0`)
    /// the midpoint stage then the full step from the midpoint's `x̂₀`.
    func stages(from: NoiseLevel, to: NoiseLevel, schedule: any NoiseSchedule) -> [Stage] {
        func stage(_ at: NoiseLevel, _ target: NoiseLevel) -> Stage {
            let keep = target.sigma / from.sigma
            return Stage(level: at, keep: keep, weight: target.alpha - keep * from.alpha)
        }
        guard order == 2, !to.isClean else { return [stage(from, to)] }
        let frame = schedule.frame
        let mid = schedule.level(sigma: (frame.tau(from) * frame.tau(to)).squareRoot())
        return [stage(from, mid), stage(mid, to)]
    }

    /// Model evaluations per sample of the forward run on `grid`.
    public func evaluations(on grid: TimeGrid, schedule: any NoiseSchedule) -> Int {
        (0..<grid.steps).reduce(0) { $0 + stages(from: grid[$1], to: grid[$1 + 1], schedule: schedule).count }
    }

    /// `x₀` from `x_T` (`batch × D`, already scaled to the prior) on `grid`.
    public func sample(from noise: [Double], batch: Int, denoiser: any DenoiserPullback, grid: TimeGrid,
                       schedule: any NoiseSchedule) throws -> [Double] {
        try forward(noise, batch: batch, denoiser: denoiser, grid: grid, schedule: schedule).x
    }

    /// The states of the forward run: per step, the step's input and its midpoint state.
    private func forward(_ noise: [Double], batch: Int, denoiser: any DenoiserPullback, grid: TimeGrid,
                         schedule: any NoiseSchedule) throws -> (x: [Double], inputs: [[Double]], mids: [[Double]?], evaluations: Int) {
        let d = denoiser.sampleShape.reduce(1, *)
        guard noise.count == batch * d, batch >= 1 else {
            throw SamplingError.invalidConfiguration("adjoint: \(noise.count) noise values for \(batch) samples of \(d)")
        }
        var x = noise, inputs: [[Double]] = [], mids: [[Double]?] = [], evaluations = 0
        for i in 0..<grid.steps {
            let from = grid[i], stages = stages(from: from, to: grid[i + 1], schedule: schedule)
            inputs.append(x)
            var state = x, mid: [Double]?
            for (k, stage) in stages.enumerated() {
                let data = try denoiser.denoise(state, batch: batch, at: stage.level)
                evaluations += 1
                if k == 1 { mid = state }
                state = (0..<x.count).map { stage.keep * x[$0] + stage.weight * data[$0] }
            }
            mids.append(mid)
            x = state
        }
        return (x, inputs, mids, evaluations)
    }

    /// The sample from `noise`, its reward and the reward's gradients with respect to the noise
    /// (`x_T`, as given) and the guidance scale.
    ///
    /// - Throws: `SamplingError` for sizes that do not fit, or whatever the denoiser or reward throws.
    public func gradients(from noise: [Double], batch: Int, denoiser: any DenoiserPullback, grid: TimeGrid,
                          schedule: any NoiseSchedule, reward: any DifferentiableReward, label: Int? = nil) throws -> Gradients {
        let run = try forward(noise, batch: batch, denoiser: denoiser, grid: grid, schedule: schedule)
        let (rewards, gradient) = try reward.rewardsAndGradients(of: run.x, batch: batch, label: label)
        guard gradient.count == run.x.count else {
            throw SamplingError.invalidConfiguration("adjoint: the reward's gradient has \(gradient.count) values, expected \(run.x.count)")
        }
        var a = gradient
        var dw: [Double]?
        var pullbacks = 0
        for i in stride(from: grid.steps - 1, through: 0, by: -1) {
            let x = run.inputs[i], stages = stages(from: grid[i], to: grid[i + 1], schedule: schedule)
            // Transpose of x′ = keep_last·x + weight_last·x̂₀(s_last), s_1 = keep_0·x + weight_0·x̂₀(x).
            var next = [Double](repeating: 0, count: a.count)
            var upstream = a
            for k in stride(from: stages.count - 1, through: 0, by: -1) {
                let stage = stages[k], input = k == 0 ? x : run.mids[i]!
                let u = upstream.map { stage.weight * $0 }
                let pulled = try denoiser.pullback(input, batch: batch, at: stage.level, cotangent: u)
                pullbacks += 1
                for j in 0..<next.count { next[j] += stage.keep * upstream[j] }
                if let g = pulled.guidanceScale {
                    dw = zip(dw ?? [Double](repeating: 0, count: batch), g).map { $0 + $1 }
                }
                // The midpoint state's cotangent feeds the first stage; the first stage's input is x.
                if k == 0 {
                    for j in 0..<next.count { next[j] += pulled.input[j] }
                } else {
                    upstream = pulled.input
                }
            }
            a = next
        }
        return Gradients(sample: run.x, rewards: rewards, noise: a, guidanceScale: dw, forwardEvaluations: run.evaluations,
                         backwardEvaluations: pullbacks * denoiser.evaluationsPerPullback)
    }
}
