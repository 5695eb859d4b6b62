import RealModule

/// DEIS's `tAB` form (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential
/// Integrator", ICLR) as ComfyUI's `sample_deis` (`deis_mode="tab"`) has it, after zju-pi's
/// diff-sampler: Adams–Bashforth in the time `t` of a VP SDE, on the k-diffusion ODE
/// `dy/dσ = d` (`d = ε̂` in the VE frame `y = x/α`, `σ` = `σ/α`):
/// ```
/// y′ = y + Σⱼ cⱼ·dⱼ,    cⱼ = ∫_{tᵢ}^{tᵢ₊₁} σ′(t)·ℓⱼ(t) dt
/// ```
/// where `dⱼ` is the derivative at grid level `i − j`, `ℓⱼ` the Lagrange basis polynomial in `t`
/// through `tᵢ, …, tᵢ₋ₖ₊₁`, and `t(σ)` the inverse of the VP map `σ(t) = √(e^{β_d·t²/2 + β_min·t} − 1)`
/// whose `β_min`, `β_d` put `σ = 80` at `t = 1` and `σ = 0.002` at `t = 10⁻³` (fixed, whatever the
/// model: ComfyUI's `edm2t`). `σ′(t) = ½·β(t)/√(ᾱ(1 − ᾱ))` with `ᾱ = e^{−β_d·t²/2 − β_min·t}`.
/// The integrals are ComfyUI's: the sum of the integrand at 10,000 evenly spaced points from
/// `tᵢ` to `tᵢ₊₁`, both ends included, times `(tᵢ₊₁ − tᵢ)/10,000`; reproducing that sum, not the
/// exact integral, is what makes the two agree to float32 precision.
///
/// Order `k = min(i + 1, maxOrder)` at step `i` (warm-up); order 1 is Euler, and the step to
/// `σ = 0` returns `x̂₀` (ComfyUI's Euler step to 0). NFE per step: 1.
public struct DEISVPTime: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: DerivativeHistory
        var coefficients: [Double]
        public var denoised: SampleTensor { history.denoised }
    }

    /// The largest number of derivatives combined, 1…4 (ComfyUI's `max_order`).
    public let solverOrder: Int

    public init(solverOrder: Int = 3) {
        precondition((1...4).contains(solverOrder), "DEIS order must lie in 1...4, got \(solverOrder)")
        self.solverOrder = solverOrder
    }

    public var name: String { "deis_comfy" }
    public var order: Int { solverOrder }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: DerivativeHistory(capacity: solverOrder, like: x), coefficients: [0, 0, 0, 0])
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let frame = context.frame, grid = context.grid
        let from = grid[step], to = grid[step + 1]
        guard try state.history.begin(step, x: &x, context: context) else { return }
        let k = Swift.min(solverOrder, step + 1, state.history.count)
        if k == 1 {
            state.coefficients[0] = frame.tau(to) - frame.tau(from)
        } else {
            var nodes = SIMD4<Double>.zero
            for j in 0..<k { nodes[j] = Self.vpTime(sigma: frame.tau(grid[step - j])) }
            Self.weights(from: nodes[0], to: Self.vpTime(sigma: frame.tau(to)), nodes: nodes, count: k, into: &state.coefficients)
        }
        let s = frame.scale(to)
        for j in 0..<k { state.coefficients[j] *= s }
        state.history.combine(into: &x, scale: s / frame.scale(from), coefficients: state.coefficients, count: k)
    }

    /// ComfyUI's `edm2t` constants: `ε_s = 10⁻³`, `σ_min = 0.002`, `σ_max = 80`.
    static let betaD: Double = {
        let epsilon = 1e-3
        return 2 * (Double.log(0.002 * 0.002 + 1) / epsilon - Double.log(80.0 * 80 + 1)) / (epsilon - 1)
    }()
    static let betaMin: Double = Double.log(80.0 * 80 + 1) - 0.5 * betaD

    /// `t(σ) = (√(β_min² + 2β_d·log(σ² + 1)) − β_min)/β_d`.
    static func vpTime(sigma: Double) -> Double {
        ((betaMin * betaMin + 2 * betaD * Double.log(onePlus: sigma * sigma)).squareRoot() - betaMin) / betaD
    }

    /// `σ′(t) = ½·(β_min + β_d·t)/√(ᾱ(1 − ᾱ))`, `ᾱ = e^{−β_d·t²/2 − β_min·t}`.
    static func sigmaSlope(_ t: Double) -> Double {
        let exponent = -0.5 * t * t * betaD - t * betaMin
        let alphaBar = Double.exp(exponent)
        return 0.5 * (betaMin + betaD * t) / (alphaBar * -Double.expMinusOne(exponent)).squareRoot()
    }

    /// `cⱼ` for the first `count` nodes, by ComfyUI's 10,000-point sum.
    static func weights(from a: Double, to b: Double, nodes: SIMD4<Double>, count k: Int, into c: inout [Double]) {
        let points = 10_000, width = (b - a) / Double(points - 1)
        var denominators = SIMD4<Double>(repeating: 1)
        for j in 0..<k { for m in 0..<k where m != j { denominators[j] *= nodes[j] - nodes[m] } }
        var sums = SIMD4<Double>.zero
        for p in 0..<points {
            // torch.linspace fills its second half backwards from the end.
            let t = p < points / 2 ? a + Double(p) * width : b - Double(points - 1 - p) * width
            let f = sigmaSlope(t)
            var basis = SIMD4<Double>(repeating: f)
            for j in 0..<k { for m in 0..<k where m != j { basis[j] *= t - nodes[m] } }
            sums += basis
        }
        let dt = (b - a) / Double(points)
        for j in 0..<k { c[j] = sums[j] / denominators[j] * dt }
    }
}
