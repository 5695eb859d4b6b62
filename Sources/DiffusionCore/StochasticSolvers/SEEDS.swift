import RealModule

/// SEEDS, stochastic explicit exponential derivative-free solvers (Gonzalez et al. 2023, "SEEDS:
/// Exponential SDE Solvers for Fast High-Quality Sampling from Diffusion Models", NeurIPS; the
/// data-prediction VP form), with 2 or 3 stages, as ComfyUI's `sample_seeds_2` and `sample_seeds_3`.
///
/// In the VE frame (`y = x/α`, `σ` = `σ/α`, `λ = −log σ`), with `h = λ_t − λ_s`, `h_η = (1 + η)·h`,
/// stages at `λ_s + rₖ·h` (`σₖ`), and `φ(u) = (e^{−u} − 1)/u + 1`, each stage and the step are
/// ```
/// yₖ = (σₖ/σ)·e^{−rₖhη}·y + (1 − e^{−rₖh_η})·x̂₀ + [correction] + s_noise·σₖ·nₖ
/// nₖ = e^{(r_{k−1} − rₖ)hη}·n_{k−1} + √(1 − e^{2(r_{k−1} − rₖ)hη})·zₖ,   n₁ = √(1 − e^{−2r₁hη})·z₁
/// ```
/// (one Brownian-consistent noise carried through the stages, `r = 1` for the step's end) with the
/// corrections
/// ```
/// SEEDS-2 (r₁ = ½):        end:  (1 − e^{−h_η})·(x̂₀(y₁) − x̂₀)/(2r₁)
/// SEEDS-3 (r₁ = ⅓, r₂ = ⅔): y₂:   (r₂/r₁)·φ(r₂h_η)·(x̂₀(y₁) − x̂₀);   end:  φ(h_η)/r₂·(x̂₀(y₂) − x̂₀)
/// ```
/// The step to `σ = 0` returns `x̂₀`. NFE per step: 2 or 3 (1 on the last). `η = 0` draws no noise
/// and is the data-prediction exponential Runge–Kutta method of that many stages (order 2, 3).
/// Needs a VP or VE schedule.
public struct SEEDS: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var first: ModelPrediction
        var second: ModelPrediction
        var third: ModelPrediction
        var stage: SampleTensor
        var z: SampleTensor
        /// The noise carried through the stages, `nₖ`.
        var noise: SampleTensor
        public var denoised: SampleTensor { first.data }
    }

    /// 2 or 3.
    public let stages: Int
    public var eta: Double
    public var sNoise: Double

    public init(stages: Int, eta: Double = 1, sNoise: Double = 1) {
        precondition(stages == 2 || stages == 3, "SEEDS has 2 or 3 stages, got \(stages)")
        self.stages = stages; self.eta = eta; self.sNoise = sNoise
    }

    public var name: String { stages == 2 ? "seeds_2" : "seeds_3" }
    public var order: Int { eta == 0 ? stages : 1 }
    public func evaluations(on grid: TimeGrid) -> Int { stages * grid.steps - (grid.endsClean ? stages - 1 : 0) }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(first: ModelPrediction(like: x), second: ModelPrediction(like: x),
              third: ModelPrediction(like: stages == 3 ? x : SampleTensor(zeros: [1])),
              stage: SampleTensor(zeros: x.shape), z: SampleTensor(zeros: x.shape), noise: SampleTensor(zeros: x.shape))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        guard try Ancestral.evaluateFirst(step, x: &x, into: &state.first, context: context, solver: name) else { return }
        let from = context.grid[step], to = context.grid[step + 1]
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let h = Double.log(sigma / next), inject = eta > 0 && sNoise > 0
        let r1 = stages == 2 ? 0.5 : 1.0 / 3, r2 = 2.0 / 3
        // Carries the noise from ratio `a` to ratio `b` of the step, drawing z for `σ_a → σ_b`.
        func carry(from a: Double, to b: Double, _ sa: Double, _ sb: Double) throws {
            guard inject else { return }
            try context.drawNoise(&state.z, step: step, from: sa, to: sb, for: name)
            let decay = (a - b) * h * eta
            state.noise.update(scale: a == 0 ? 0 : .exp(decay), ((-Double.expMinusOne(2 * decay)).squareRoot(), state.z))
        }
        let noiseScale = inject ? sNoise : 0
        // Stage 1 at r₁.
        let s1 = sigma * .exp(-r1 * h), l1 = KDiffusionFrame.level(tau: s1, context: context)
        try carry(from: 0, to: r1, sigma, s1)
        state.stage.set((l1.alpha / from.alpha * (s1 / sigma) * .exp(-r1 * h * eta), x),
                        (-l1.alpha * Double.expMinusOne(-r1 * h * (1 + eta)), state.first.data), (l1.alpha * s1 * noiseScale, state.noise))
        try context.predict(state.stage, at: l1, step: step, into: &state.second, needs: .data)
        let a = to.alpha, keep = a / from.alpha * (next / sigma) * .exp(-h * eta), e = -Double.expMinusOne(-h * (1 + eta))
        if stages == 2 {
            try carry(from: r1, to: 1, s1, next)
            let fac = 1 / (2 * r1)
            x.update(scale: keep, (a * e * (1 - fac), state.first.data), (a * e * fac, state.second.data), (a * next * noiseScale, state.noise))
            return
        }
        // Stage 2 at r₂.
        let s2 = sigma * .exp(-r2 * h), l2 = KDiffusionFrame.level(tau: s2, context: context)
        let u = r2 * h * (1 + eta), w = r2 / r1 * ExponentialIntegrator.dataPhi2(u)
        try carry(from: r1, to: r2, s1, s2)
        state.stage.set((l2.alpha / from.alpha * (s2 / sigma) * .exp(-r2 * h * eta), x),
                        (l2.alpha * (-Double.expMinusOne(-u) - w), state.first.data), (l2.alpha * w, state.second.data),
                        (l2.alpha * s2 * noiseScale, state.noise))
        try context.predict(state.stage, at: l2, step: step, into: &state.third, needs: .data)
        try carry(from: r2, to: 1, s2, next)
        let b = ExponentialIntegrator.dataPhi2(h * (1 + eta)) / r2
        x.update(scale: keep, (a * (e - b), state.first.data), (a * b, state.third.data), (a * next * noiseScale, state.noise))
    }
}
