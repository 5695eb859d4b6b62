import RealModule

/// MR Sampler (Li et al. 2024, "Fast Sampling of Mean-Reverting Diffusion", Sec. 3–4; the official
/// `MRSampler` of grrrute/mr-sampler): the semi-analytical solutions of the mean-reverting
/// probability-flow ODE and reverse SDE (``MeanRevertingSchedule``), multistep in `λ`.
///
/// Step `i` goes from `grid[i−1]` to `grid[i]` with `h = λ_i − λ_{i−1}` and model outputs `q₀, q₁, q₂`
/// (newest first) converted to data (`x̂₀`) or noise (`ε̂`) predictions:
/// ```
/// ODE, data    x_i = (σ_i/σ_{i−1})·x − α_i·D + μ·(1 − σ_i/σ_{i−1} + (σ_i/σ_{i−1})·α_{i−1} − α_i)
///              D = φ₁q₀ − φ₂D₁ + φ₃D₂,   φ₁ = e^{−h} − 1,  φ₂ = φ₁/h + 1,  φ₃ = φ₂/h − ½
/// ODE, noise   x_i = (α_i/α_{i−1})·x − σ_i·D + μ·(1 − α_i/α_{i−1})
///              D = φ₁q₀ + φ₂D₁ + φ₃D₂,   φ₁ = e^h − 1,  φ₂ = φ₁/h − 1,  φ₃ = φ₂/h − ½
/// SDE, data    x_i = (σ_i/σ_{i−1})e^{−h}·x + α_i(φ₁q₀ + φ₂D₁) + σ_i√φ₁·z
///                    + μ·(1 − (α_i/α_{i−1})e^{−2h} − α_iφ₁),   φ₁ = 1 − e^{−2h},  φ₂ = 1 − φ₁/(2h)
/// SDE, noise   x_i = (α_i/α_{i−1})·x − 2σ_i(φ₁q₀ + φ₂D₁) + σ_i√(e^{2h} − 1)·z + μ·(1 − α_i/α_{i−1})
/// ```
/// with `D₁ = (q₀ − q₁)/r₀` at order 2 and, at order 3, `D₁ⁱ⁰ = (q₀ − q₁)/r₀`, `D₁ⁱ¹ = (q₁ − q₂)/r₁`,
/// `D₁ = D₁ⁱ⁰ + (D₁ⁱ⁰ − D₁ⁱ¹)·r₀/(r₀ + r₁)`, `D₂ = (D₁ⁱ⁰ − D₁ⁱ¹)/(r₀ + r₁)`, where `rₖ` is the
/// `k`-th previous step in `λ` over `h`. `x − μ` then takes DPM-Solver(++) and SDE-DPM-Solver++
/// steps with the mean-reverting `(α, σ)`, which is why μ = 0, σ_∞ = 1 gives those solvers on VP.
/// As in DPM-Solver's 3M, `D₂` estimates `h²q''/2` where the φ₃ term needs `h²q''`, so order 3
/// converges at second order (see docs/MEAN-REVERTING.md).
///
/// Orders follow the official loop: warm-up at orders 1, 2, …; with fewer than 10 steps, step `i`
/// uses order `min(order, M − i)` except the last, which uses the full order. NFE = steps.
public struct MRSampler: Sendable {
    /// The equation integrated: the probability-flow ODE or the reverse SDE.
    public enum Kind: String, Sendable, CaseIterable { case ode, sde }

    /// How to sample (the official `solver_type`, `order`, `parameterization`).
    public struct Options: Sendable, Equatable {
        public var kind: Kind
        /// 1–3 for the ODE, 1–2 for the SDE.
        public var order: Int
        /// Whether the steps extrapolate data or noise predictions (the official `parameterization`;
        /// the model's own output, its `fit_target`, is converted to it).
        public var prediction: PredictionKind
        /// Dynamic thresholding of every `x̂₀` before it enters the history (the official
        /// `thresholding`, `threshold_ratio` 0.995 and `threshold_max` 1.5); data steps only.
        public var thresholding: DynamicThresholding?

        public init(kind: Kind = .ode, order: Int = 2, prediction: PredictionKind = .data, thresholding: DynamicThresholding? = nil) {
            self.kind = kind; self.order = order; self.prediction = prediction; self.thresholding = thresholding
        }
    }

    /// The explicit state of a run: the converted model outputs, newest first, and buffers.
    public struct State {
        var outputs: [SampleTensor] = []
        var raw: SampleTensor
        var z: SampleTensor
        var scratch: [Float] = []
        /// The most recent converted output (`x̂₀` or `ε̂`, as ``MRSampler/Options/prediction``).
        public var latest: SampleTensor? { outputs.first }
    }

    public let options: Options

    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` for an order the official sampler does
    ///   not define, or thresholding with noise steps.
    public init(_ options: Options) throws {
        let orders = options.kind == .ode ? 1...3 : 1...2
        guard orders.contains(options.order) else {
            throw SamplingError.invalidConfiguration("mrs_\(options.kind.rawValue) is defined for orders \(orders.lowerBound)-\(orders.upperBound), got \(options.order)")
        }
        if options.thresholding != nil, options.prediction != .data {
            throw SamplingError.invalidConfiguration("mrs_\(options.kind.rawValue): thresholding applies to data predictions only, not to noise steps")
        }
        self.options = options
    }

    /// The catalog-style name, `mrs_ode` or `mrs_sde`.
    public var name: String { "mrs_\(options.kind.rawValue)" }

    /// The order of step `i` (1-based) of `m`, by the official loop's rule.
    public func order(atStep i: Int, of m: Int) -> Int {
        if i < options.order { return i }
        if i == m || m >= 10 { return options.order }
        return Swift.min(options.order, m - i)
    }

    public func makeState(for x: SampleTensor) -> State {
        State(raw: SampleTensor(zeros: x.shape), z: SampleTensor(zeros: options.kind == .sde ? x.shape : [1]))
    }

    /// Samples from `x` at `grid[0]` down to the grid's last level, reverting to `mu`.
    ///
    /// - Throws: ``SamplingError`` when the grid has fewer steps than the order, a shape does not
    ///   match, an SDE run has no noise source, or the model's output is not finite.
    public func sample(model: any MeanRevertingModel, mean mu: SampleTensor, from x: SampleTensor, grid: TimeGrid,
                       noise: (any NoiseSource)? = nil) throws -> SampleTensor {
        guard grid.steps >= options.order else {
            throw SamplingError.invalidConfiguration("\(name) of order \(options.order) needs at least \(options.order) steps, got \(grid.steps)")
        }
        guard !grid.endsClean else {
            throw SamplingError.invalidConfiguration("\(name) ends at the schedule's smallest time (sigma > 0), not at sigma = 0")
        }
        guard x.sampleCount == model.sampleShape.reduce(1, *) else {
            throw SamplingError.shapeMismatch(expected: model.sampleShape, got: x.sampleShape)
        }
        guard mu.shape == x.shape else { throw SamplingError.shapeMismatch(expected: x.shape, got: mu.shape) }
        if options.kind == .sde, noise == nil {
            throw SamplingError.invalidConfiguration("\(name) needs a noise source (a seed or recorded step noise)")
        }
        var x = x, state = makeState(for: x)
        for i in 1...grid.steps {
            try step(i, x: &x, mean: mu, state: &state, model: model, grid: grid, noise: noise)
        }
        return x
    }

    /// Step `i` (1-based): evaluates the model at `grid[i−1]` and moves `x` to `grid[i]`.
    public func step(_ i: Int, x: inout SampleTensor, mean mu: SampleTensor, state: inout State,
                     model: any MeanRevertingModel, grid: TimeGrid, noise: (any NoiseSource)?) throws {
        let s = grid[i - 1], t = grid[i]
        try model.predict(x, mean: mu, at: s, into: &state.raw)
        let sInf = model.sigmaInfinity
        let (cx, cm, cmu) = options.prediction == .data
            ? model.parameterization.dataCoefficients(at: s, sigmaInfinity: sInf)
            : model.parameterization.noiseCoefficients(at: s, sigmaInfinity: sInf)
        var q = state.outputs.count == options.order ? state.outputs.removeLast() : SampleTensor(zeros: x.shape)
        q.set((cx, x), (cm, state.raw), (cmu, mu))
        options.thresholding?.apply(to: &q, scratch: &state.scratch)
        guard q.isFinite else { throw SamplingError.nonFiniteModelOutput(step: i - 1, t: s.t, sigma: s.sigma / s.alpha) }
        state.outputs.insert(q, at: 0)

        let k = Swift.min(order(atStep: i, of: grid.steps), state.outputs.count)
        let h = t.lambda - s.lambda
        let data = options.prediction == .data
        // x_i = scale·x + coefficient·D + cMu·μ + cZ·z, with D = φ₁q₀ + s₂·D₁ + s₃·D₂.
        let scale: Double, coefficient: Double, cMu: Double, phi1: Double, s2: Double, s3: Double
        var cZ = 0.0
        switch (options.kind, data) {
        case (.ode, true):
            scale = t.sigma / s.sigma
            coefficient = -t.alpha
            cMu = 1 - scale + scale * s.alpha - t.alpha
            phi1 = Double.expMinusOne(-h); s2 = -ExponentialIntegrator.dataPhi2(h); s3 = ExponentialIntegrator.dataPhi3(h)
        case (.ode, false):
            scale = t.alpha / s.alpha
            coefficient = -t.sigma
            cMu = 1 - scale
            phi1 = Double.expMinusOne(h); s2 = ExponentialIntegrator.noisePhi2(h); s3 = ExponentialIntegrator.noisePhi3(h)
        case (.sde, true):
            scale = t.sigma / s.sigma * Double.exp(-h)
            coefficient = t.alpha
            phi1 = -Double.expMinusOne(-2 * h)
            cMu = 1 - t.alpha / s.alpha * Double.exp(-2 * h) - t.alpha * phi1
            s2 = ExponentialIntegrator.dataPhi2(2 * h); s3 = 0
            cZ = t.sigma * phi1.squareRoot()
        case (.sde, false):
            scale = t.alpha / s.alpha
            coefficient = -2 * t.sigma
            cMu = 1 - scale
            phi1 = Double.expMinusOne(h); s2 = ExponentialIntegrator.noisePhi2(h); s3 = 0
            cZ = t.sigma * Double.expMinusOne(2 * h).squareRoot()
        }
        // The weights of q₀, q₁, q₂ in D, with the divided differences expanded.
        var c = SIMD4<Double>(phi1, 0, 0, 0)
        if k == 2 {
            let r0 = (s.lambda - grid[i - 2].lambda) / h
            c = SIMD4(phi1 + s2 / r0, -s2 / r0, 0, 0)
        } else if k == 3 {
            let r0 = (s.lambda - grid[i - 2].lambda) / h, r1 = (grid[i - 2].lambda - grid[i - 3].lambda) / h
            let w = r0 / (r0 + r1), u = 1 / (r0 + r1)
            let a = s2 * (1 + w) + s3 * u, b = -s2 * w - s3 * u   // D = φ₁q₀ + a·D₁ⁱ⁰ + b·D₁ⁱ¹
            c = SIMD4(phi1 + a / r0, -a / r0 + b / r1, -b / r1, 0)
        }
        let outputs = state.outputs
        x.update(scale: scale, count: k + 1) { $0 < k ? (coefficient * c[$0], outputs[$0]) : (cMu, mu) }
        if cZ != 0 {
            guard let noise else { throw SamplingError.invalidConfiguration("\(name) needs a noise source (a seed or recorded step noise)") }
            try noise.fill(&state.z, step: i - 1, from: s.sigma / s.alpha, to: t.sigma / t.alpha)
            x.update(scale: 1, (cZ, state.z))
        }
    }
}
