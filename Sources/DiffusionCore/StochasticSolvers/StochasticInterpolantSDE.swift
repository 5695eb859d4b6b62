/// Sampling with the stochastic-interpolant SDE (Albergo, Boffi & Vanden-Eijnden 2023, "Stochastic
/// Interpolants: A Unifying Framework for Flows and Diffusions", Sec. 2.3), Euler–Maruyama.
///
/// In flow coordinates `y = x/(α + σ) = (1 − τ)·x₀ + τ·ε` (any schedule has them), the velocity
/// `v = ε̂ − x̂₀` carries the densities `p_τ` forward in `τ`, and it implies the score:
/// `y = (1 − τ)·x̂₀ + τ·ε̂` gives `ε̂ = y + (1 − τ)·v`, so `s = ∇log p_τ = −ε̂/τ`. For any
/// `ε(τ) ≥ 0`, running `τ` down from noise to data,
/// ```
/// dy = (v − ε(τ)·s) dτ + √(2ε(τ)) dW̄      (dτ < 0)
/// ```
/// has the same marginals (its Fokker–Planck equation is the continuity equation of `v`, since
/// `∇·(s·p) = Δp`); `ε = 0` is the probability-flow ODE. One step `τ → τ′`, `Δ = τ − τ′`:
/// ```
/// y′ = y + Δ·(x̂₀ − (1 + ε(τ)/τ)·ε̂) + √(2ε(τ)·Δ)·z
/// ```
/// The step to `τ′ = 0` is the denoising step `y′ = x̂₀` (Euler's, so the drift's `1/τ` never
/// meets `τ = 0`). With `ε = 0` every step is Euler in the flow frame. NFE per step: 1.
public struct StochasticInterpolantSDE: Solver {
    public var diffusion: InterpolantDiffusion

    public init(diffusion: InterpolantDiffusion) { self.diffusion = diffusion }

    init(options: SolverCatalog.Options) throws {
        self.init(diffusion: options.interpolantDiffusion ?? .proportional(1))
    }

    public var name: String { "si_sde" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }
    public var stepNoise: StepNoiseKind { .brownianTree }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let from = context.grid[step], to = context.grid[step + 1]
        let flow = ODEFrame.rectifiedFlow
        let tau = flow.tau(from), next = flow.tau(to), s = flow.scale(from), s2 = flow.scale(to)
        try context.predict(x, at: from, step: step, into: &state.first, needs: to.isClean ? .data : .both)
        guard !to.isClean else { x.assign(state.first.data); return }
        let e = diffusion.value(at: tau), h = tau - next
        guard e > 0 else {
            x.update(scale: s2 / s, (s2 * h, state.first.data), (-s2 * h, state.first.noise))
            return
        }
        try context.drawNoise(&state.z, step: step, from: context.frame.tau(from), to: context.frame.tau(to), for: name)
        x.update(scale: s2 / s, (s2 * h, state.first.data), (-s2 * h * (1 + e / tau), state.first.noise),
                 (s2 * (2 * e * h).squareRoot(), state.z))
    }
}

/// The diffusion coefficient `ε(τ)` of ``StochasticInterpolantSDE``, in flow time `τ ∈ [0, 1]`
/// (`τ = 1` is noise): a constant, or proportional to `τ` (no extra noise near the data, and the
/// drift's `ε/τ` stays bounded). `--interpolant-eps C` or `C*t`.
public enum InterpolantDiffusion: Sendable, Equatable, CustomStringConvertible {
    case constant(Double)
    case proportional(Double)

    /// `ε(τ)`.
    public func value(at tau: Double) -> Double {
        switch self {
        case .constant(let c): return c
        case .proportional(let c): return c * tau
        }
    }

    /// Reads `C` (constant) or `C*t` (proportional); `C` finite and non-negative.
    public init(parsing text: String) throws {
        let proportional = text.hasSuffix("*t")
        let number = proportional ? String(text.dropLast(2)) : text
        guard let c = Double(number), c.isFinite, c >= 0 else {
            throw SamplingError.invalidConfiguration("--interpolant-eps must be a non-negative number C or C*t, got '\(text)'")
        }
        self = proportional ? .proportional(c) : .constant(c)
    }

    public var description: String {
        switch self {
        case .constant(let c): return "\(c)"
        case .proportional(let c): return "\(c)*t"
        }
    }
}
