import RealModule

/// ER-SDE-Solver-3, the extended reverse-time SDE solver (Cui et al. 2025, "Elucidating the
/// Solution Space of Extended Reverse-Time SDE for Diffusion Models", WACV; VP form with data
/// prediction), as ComfyUI's `sample_er_sde` runs it with its default noise scaler.
///
/// With `ρ = σ/α` (the VE-frame sigma), `y = x/α`, the noise scaler `f(ρ) = ρ·(e^{ρ^0.3} + 10)`,
/// `r = f(ρ_t)/f(ρ_s)`, the divided differences of `x̂₀` in `ρ`
/// `D₁ = (x̂₀ − x̂₀,₋₁)/(ρ_s − ρ₋₁)`, `D₂ = (D₁ − D₁,₋₁)/((ρ_s − ρ₋₂)/2)`, and `Δ = ρ_t − ρ_s`:
/// ```
/// y′ = r·y + (1 − r)·x̂₀ + (Δ + f(ρ_t)·S₁)·D₁ + (Δ²/2 + f(ρ_t)·S₂)·D₂ + s_noise·√(ρ_t² − r²ρ_s²)·z
/// S₁ = ∫_{ρ_t}^{ρ_s} dρ/f(ρ),   S₂ = ∫_{ρ_t}^{ρ_s} (ρ − ρ_s)/f(ρ) dρ
/// ```
/// the integrals taken, as ComfyUI does, by a left Riemann sum over 200 points from `ρ_t`. Step `i`
/// uses the first `min(i + 1, maxStage)` terms; the step to `σ = 0` returns `x̂₀`. NFE per step: 1.
/// Needs a VP or VE schedule.
public struct ERSDE: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        /// `D₁` of the previous step.
        var slope: SampleTensor
        var z: SampleTensor
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    /// The number of terms, 1…3 (ComfyUI's `max_stage`).
    public let maxStage: Int
    public var sNoise: Double

    public init(maxStage: Int = 3, sNoise: Double = 1) {
        precondition((1...3).contains(maxStage), "ER-SDE has 1 to 3 stages, got \(maxStage)")
        self.maxStage = maxStage; self.sNoise = sNoise
    }

    public var name: String { "er_sde" }
    public var order: Int { 1 }
    /// Independent draws, as ComfyUI's `sample_er_sde` takes them by default (unlike k-diffusion's
    /// DPM-Solver++ SDE samplers, which build a Brownian tree).
    public var stepNoise: StepNoiseKind { .independent }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: 2, like: x), slope: SampleTensor(zeros: x.shape), z: SampleTensor(zeros: x.shape))
    }

    /// ComfyUI's default noise scaler.
    static func scaler(_ rho: Double) -> Double { rho * (Double.exp(Double.pow(rho, 0.3)) + 10) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid, from = grid[step], to = grid[step + 1]
        state.history.advance(to: from)
        guard try Ancestral.evaluateFirst(step, x: &x, into: &state.history.newestSlot, context: context, solver: name) else { return }
        let stage = StepOrders(solverOrder: maxStage).order(atStep: step, of: grid.steps)
        let rs = Ancestral.sigma(from), rt = Ancestral.sigma(to), ft = Self.scaler(rt)
        let r = ft / Self.scaler(rs), dt = rt - rs, a = to.alpha
        var s1 = 0.0, s2 = 0.0
        if stage >= 2 {
            let width = -dt / 200
            for k in 0..<200 {
                let rho = rt + Double(k) * width, f = Self.scaler(rho)
                s1 += width / f
                s2 += width * (rho - rs) / f
            }
        }
        // y′ = r·y + (1 − r)·x̂₀ + c₁·D₁ + c₂·D₂ with D₁ = (x̂₀ − x̂₀,₋₁)/Δ₁, D₂ = (D₁ − D₁,₋₁)/Δ₂.
        let c1 = stage >= 2 ? dt + s1 * ft : 0, c2 = stage >= 3 ? dt * dt / 2 + s2 * ft : 0
        let d1 = stage >= 2 ? rs - Ancestral.sigma(grid[step - 1]) : 1
        let d2 = stage >= 3 ? (rs - Ancestral.sigma(grid[step - 2])) / 2 : 1
        let onDifference = c1 / d1 + c2 / (d1 * d2)
        let noise = sNoise > 0 ? a * sNoise * Swift.max(rt * rt - rs * rs * r * r, 0).squareRoot() : 0
        if sNoise > 0 { try context.drawNoise(&state.z, step: step, from: rs, to: rt, for: name) }
        let x0 = state.history.output(0, .data), previous = state.history.output(Swift.min(1, state.history.count - 1), .data)
        x.update(scale: a * r / from.alpha, (a * (1 - r + onDifference), x0), (-a * onDifference, previous),
                 (-a * c2 / d2, state.slope), (noise, state.z))
        if stage >= 2 { state.slope.set((1 / d1, x0), (-1 / d1, previous)) }
    }
}
