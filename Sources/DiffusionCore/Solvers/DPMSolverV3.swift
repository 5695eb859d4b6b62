import RealModule

/// DPM-Solver-v3: a multistep predictor-corrector whose exponential integrator is built around
/// empirical model statistics (EMS) instead of the plain `x̂₀` or `ε̂` parameterization.
///
/// Zheng, Lu, Chen, Zhu 2023, "DPM-Solver-v3: Improved Diffusion ODE Solver with Empirical Model
/// Statistics" (NeurIPS; arXiv 2310.13268), Eq. (9)–(14) and Algorithm 1; the formulas below are
/// those of the official `dpm_solver_v3.py` (thu-ml/DPM-Solver-v3 @ ba16871).
///
/// With the statistics `l, s, b` of a ``ModelStatistics`` (per dimension, on a grid uniform in
/// `λ`), the cumulative trapezoid integrals from grid point 0
/// ```
/// L = ∫l dλ,  S = ∫s dλ,  I = ∫e^{L+S} dλ,  B = ∫e^{−S}·b dλ,  C = ∫e^{L+S}·B dλ
/// ```
/// and, for every evaluated point `k` (newest first, `k = 0` the step's start `s`),
/// ```
/// f_k = (σ_k·ε̂_k − l_k·x_k)/α_k = (1 − l_k)·x_k/α_k − x̂₀_k
/// g_k = e^{S_s − S_k}·f_k − e^{S_s}·(B_k − B_s)
/// ```
/// one step from `s` to `t` of order `n + 1` is
/// ```
/// x_t = (α_t/α_s)·e^{L_s − L_t}·x_s − α_t·e^{−L_t − S_s}·(I_t − I_s)·g₀
///       − α_t·e^{−L_t}·(C_t − C_s − B_s·(I_t − I_s)) − α_t·e^{L_s − L_t}·Σ_{m=1…n} Φ_m·g⁽ᵐ⁾
/// Φ_m = ∫_{λ_s}^{λ_t} e^{(L+S)(λ) − (L+S)(λ_s)}·(λ − λ_s)^m/m! dλ          (trapezoid on the EMS grid)
/// ```
/// The derivatives `g⁽ᵐ⁾` come from the `n + 1` points: by default from the interpolating
/// polynomial (the official code inverts the Vandermonde system `Σ_m (λ_k − λ_s)^m·D_m = g_k − g₀`,
/// `g⁽ᵐ⁾ = m!·D_m`); with *pseudo-order* from Newton divided differences, `g⁽ᵐ⁾ = m!·g[λ₀,…,λ_m]`,
/// so the m-th derivative uses only the `m + 1` newest points.
///
/// The corrector recomputes the previous step `s → t` with the point just evaluated at `t`
/// (points `s, t, older…`), of the previous predictor's order (plus one with
/// ``correctorPseudo``, which then uses pseudo-order derivatives), and only when that order is
/// above 1. It costs no evaluation: the cached `ε̂_t` is re-expressed for the corrected `x_t` so
/// that `N = σ·ε̂ − l·x` is unchanged, which keeps `f_t` (and every `g`) unchanged, so only
/// `x_t` moves.
///
/// With `l = 1, s = 0, b = 0` (``ModelStatistics/degenerate(lambdaStart:lambdaEnd:intervals:dimension:)``)
/// `L = λ − λ_start`, `f = −x̂₀`, and the predictor is multistep DPM-Solver++ with Taylor-form
/// derivatives: ``DPMSolverMultistep`` with `secondOrderForm: .heun` and, at order 3,
/// `thirdOrderForm: .taylor` (its `2·D₂` is `h²·x̂₀''` of the interpolating quadratic, as here),
/// up to the trapezoid rule's error in `I` and `Φ_m` (`O(Δλ²)` relative, `Δλ` the EMS spacing).
///
/// **Grid.** Every level of the sampling grid must be a point of the statistics grid (within
/// 1e-4 of a grid index), as in the paper's code, which snaps its time steps; use
/// ``ModelStatistics/snapped(_:schedule:)``. A level off the grid or outside its range is an
/// error. A final level at `σ = 0` (`λ = +∞`) is allowed: that step returns the clean estimate
/// `x̂₀` at the last level (the first-order DPM-Solver++ limit, as diffusers does), consistent with
/// a corrected sample when the corrector ran there.
///
/// **Order schedule** (official `sample`): predictor order `min(i + 1, order)` at step `i`, and with
/// ``lowerOrderFinal`` at most `steps − i` (so the last step is first order, whatever the number of
/// steps; the official code, unlike DPM-Solver++'s, does not restrict this to short runs).
///
/// **Half corrector.** The README of the official repository says `half` uses the corrector "only
/// in the time region t ≤ 0.5", but its code runs it when the time of the point just evaluated is
/// `t > 0.5` (`timesteps[step - 1] > 0.5 or not half`). ``halfCorrector`` implements the code. Time
/// here is the official code's continuous time: `t` for continuous schedules (VP `t ∈ [0, 1]`,
/// `t = σ` for EDM/VE), `(t + 1)/T` for a discrete schedule with `T` training steps.
///
/// NFE per step: 1. Coefficients are computed in `Double`; samples are updated in `Float` with
/// per-dimension coefficients, in buffers allocated by ``makeState(for:grid:)``.
public struct DPMSolverV3: Solver {
    /// The cumulative integrals `L, S, I, B, C`, `[N + 1, D]` row-major, computed once.
    final class Integrals: Sendable {
        let L: [Double], S: [Double], I: [Double], B: [Double], C: [Double]
        /// `L + S`, used by every `Φ_m`.
        let LS: [Double]
        /// `e^{±L}`, `e^{±S}`, `e^{±(L+S)}`: a step's coefficients are products of these, so a
        /// step costs no exponential (`e^{a−b} = e^a·e^{−b}`, exact to a few ulps in `Double`).
        let expL: [Double], expNegL: [Double], expS: [Double], expNegS: [Double], expLS: [Double], expNegLS: [Double]

        init(_ stats: ModelStatistics) {
            let n = stats.pointCount, d = stats.dimension
            let h = stats.spacing
            // y_0 = 0, y_j = y_{j−1} + ½·h·(v_j + v_{j−1}) (the official weighted_cumsumexp_trapezoid).
            func cumulative(_ value: (Int) -> Double) -> [Double] {
                var out = [Double](repeating: 0, count: n * d)
                for j in 1..<n {
                    for k in 0..<d {
                        out[j * d + k] = out[(j - 1) * d + k] + 0.5 * h * (value(j * d + k) + value((j - 1) * d + k))
                    }
                }
                return out
            }
            let L = cumulative { stats.l[$0] }
            let S = cumulative { stats.s[$0] }
            let LS = zip(L, S).map { $0 + $1 }
            let I = cumulative { Double.exp(LS[$0]) }
            let B = cumulative { Double.exp(-S[$0]) * stats.b[$0] }
            let C = cumulative { Double.exp(LS[$0]) * B[$0] }
            self.L = L; self.S = S; self.I = I; self.B = B; self.C = C; self.LS = LS
            expL = L.map { Double.exp($0) }; expNegL = L.map { Double.exp(-$0) }
            expS = S.map { Double.exp($0) }; expNegS = S.map { Double.exp(-$0) }
            expLS = LS.map { Double.exp($0) }; expNegLS = LS.map { Double.exp(-$0) }
        }
    }

    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        /// The latest model evaluation (only `data` is written).
        var prediction: ModelPrediction
        /// `f_k` of the history, `capacity` slots of one batch each, newest at `newest`.
        var f: [Float]
        var levels: [NoiseLevel]
        var indices: [Int]
        var newest = 0
        var count = 0
        let capacity: Int
        /// The (corrected) sample at the start of the previous step, for the corrector.
        var previous: SampleTensor
        var previousOrder = 0
        /// Per-dimension update coefficients: planes `scale, constant, c₀, …, c₃` of `D` values.
        var coefficients: [Float]
        /// Scratch for `Φ_m`, three planes of `D` values.
        var phi: [Double]
        public var denoised: SampleTensor { prediction.data }

        /// The slot of the `k`-th newest point.
        func slot(_ k: Int) -> Int { (newest + k) % capacity }
    }

    public let statistics: ModelStatistics
    let integrals: Integrals
    /// The highest predictor order, 1…3.
    public var solverOrder: Int
    /// Pseudo-order derivatives in the predictor (`p_pseudo`; the paper uses it at ≤ 5 steps).
    public var predictorPseudo: Bool
    /// Apply the corrector (`use_corrector`).
    public var corrector: Bool
    /// A corrector one order higher, with pseudo-order derivatives (`c_pseudo`).
    public var correctorPseudo: Bool
    /// Cap the order of step `i` of `N` at `N − i` (`lower_order_final`).
    public var lowerOrderFinal: Bool
    /// Correct only where the official code's time is above 0.5 (`half`; see the type's discussion).
    public var halfCorrector: Bool

    /// A solver for `statistics`; defaults follow the official ScoreSDE CIFAR-10 script at 6–8 steps
    /// (order 3, corrector on, no pseudo-order, lower order at the end).
    public init(statistics: ModelStatistics, solverOrder: Int = 3, predictorPseudo: Bool = false, corrector: Bool = true,
                correctorPseudo: Bool = false, lowerOrderFinal: Bool = true, halfCorrector: Bool = false) {
        self.statistics = statistics
        self.integrals = Integrals(statistics)
        self.solverOrder = Swift.min(Swift.max(solverOrder, 1), 3)
        self.predictorPseudo = predictorPseudo
        self.corrector = corrector
        self.correctorPseudo = correctorPseudo
        self.lowerOrderFinal = lowerOrderFinal
        self.halfCorrector = halfCorrector
    }

    public var name: String { "dpm_solver_v3" }

    /// The global order on a fine grid: pseudo-order derivatives at order ≥ 3 leave an `O(h)`
    /// error in `g⁽¹⁾` (order 2); a corrector of order `p` keeps order `p`, a pseudo corrector gives
    /// order 2; with ``halfCorrector`` part of the run is predictor only. ``lowerOrderFinal`` makes
    /// the last step first order at every step count (as the official code does), whose `O(h²)`
    /// local error caps the global order at 2.
    public var order: Int {
        let predictor = predictorPseudo && solverOrder >= 3 ? 2 : solverOrder
        var result = predictor
        if corrector && !halfCorrector {
            if correctorPseudo { result = Swift.min(2, predictor + 1) }
            else if solverOrder > 1 { result = Swift.min(solverOrder, predictor + 1) }
        }
        return lowerOrderFinal ? Swift.min(result, 2) : result
    }

    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    /// `grid` snapped onto the statistics' λ grid (``ModelStatistics/snapped(_:schedule:)``).
    public func adaptedGrid(_ grid: TimeGrid, schedule: any NoiseSchedule) throws -> TimeGrid {
        try statistics.snapped(grid, schedule: schedule)
    }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        let capacity = solverOrder + 1
        let d = statistics.dimension
        return State(prediction: ModelPrediction(like: x),
                     f: [Float](repeating: 0, count: capacity * x.count),
                     levels: Array(repeating: NoiseLevel(t: 0, alpha: 1, sigma: 0, lambda: .infinity), count: capacity),
                     indices: Array(repeating: 0, count: capacity), capacity: capacity,
                     previous: SampleTensor(zeros: corrector ? x.shape : [1]),
                     coefficients: [Float](repeating: 0, count: 6 * d), phi: [Double](repeating: 0, count: 3 * d))
    }

    /// The predictor order of step `i` of `n` (official `sample`: warm-up, then `lower_order_final`).
    public func order(atStep i: Int, of n: Int) -> Int {
        StepOrders(solverOrder: solverOrder, finalSteps: lowerOrderFinal ? .always : nil).order(atStep: i, of: n)
    }

    /// The statistics grid index of `level`; an error for a level outside the range or off the grid.
    func gridIndex(of level: NoiseLevel, step: Int) throws -> Int {
        let position = statistics.position(of: level.lambda)
        let n = statistics.intervals
        guard position.isFinite, position >= -1e-4, position <= Double(n) + 1e-4 else {
            throw SamplingError.invalidConfiguration(
                "dpm_solver_v3: step \(step + 1) visits lambda = \(level.lambda) (t = \(level.t)), outside the statistics range lambda ∈ [\(statistics.lambdaStart), \(statistics.lambdaEnd)]")
        }
        let index = Int(position.rounded())
        guard abs(position - Double(index)) <= 1e-4 else {
            throw SamplingError.invalidConfiguration(
                "dpm_solver_v3: step \(step + 1) visits lambda = \(level.lambda) (t = \(level.t)), which is not a statistics grid point (nearest \(index) of \(n)); snap the grid with ModelStatistics.snapped(_:schedule:)")
        }
        return index
    }

    /// The official code's continuous time of `level`, for ``halfCorrector``.
    static func officialTime(_ level: NoiseLevel, schedule: any NoiseSchedule) -> Double {
        guard let steps = schedule.trainingTimesteps else { return level.t }
        return (level.t - schedule.cleanTime) / Double(steps)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let grid = context.grid
        let s0 = grid[step], t = grid[step + 1]
        let d = statistics.dimension
        guard x.sampleCount == d else {
            throw SamplingError.invalidConfiguration(
                "dpm_solver_v3: the statistics have \(d) values per sample, the sample has \(x.sampleCount) (shape \(x.sampleShape))")
        }
        let js = try gridIndex(of: s0, step: step)
        let jt = t.isClean ? nil : try gridIndex(of: t, step: step)
        if let jt, jt <= js {
            throw SamplingError.invalidConfiguration("dpm_solver_v3: step \(step + 1) does not advance on the statistics grid (point \(js) to \(jt))")
        }
        try context.predict(x, at: s0, step: step, into: &state.prediction, needs: .data)

        // Record the point: f = (1 − l)·x/α − x̂₀ = (σ·ε̂ − l·x)/α.
        state.newest = (state.newest + state.capacity - 1) % state.capacity
        state.count = Swift.min(state.count + 1, state.capacity)
        state.levels[state.newest] = s0
        state.indices[state.newest] = js
        writeF(into: &state, x: x, level: s0, index: js)

        var corrected = false
        let correctHere = corrector && step > 0
            && (!halfCorrector || Self.officialTime(s0, schedule: context.denoiser.schedule) > 0.5)
        if correctHere {
            let order = state.previousOrder + (correctorPseudo ? 1 : 0)
            if order > 1 {
                // Points s (slot 1), t (slot 0), then older ones; recompute s → t from the previous sample.
                var slots = SIMD4<Int>(1, 0, 2, 3)
                for k in order..<4 { slots[k] = -1 }
                computeCoefficients(&state, slots: slots, count: order, to: s0, index: js, pseudo: correctorPseudo)
                combine(&x, source: state.previous, state: state, count: order, slots: slots)
                corrected = true
            }
        }
        if corrector { state.previous.assign(x) }

        guard let jt else {
            if corrected {
                // The clean estimate the re-expressed ε̂ implies: (1 − l)·x/α − f (N is unchanged).
                let l = statistics.l, f0 = state.slot(0) * x.count, invAlpha = 1 / s0.alpha
                let count = x.count
                state.f.withUnsafeBufferPointer { f in
                    x.scalars.withUnsafeMutableBufferPointer { out in
                        for i in 0..<count {
                            let k = i % d
                            out[i] = Float((1 - l[js * d + k]) * invAlpha) * out[i] - f[f0 + i]
                        }
                    }
                }
            } else {
                x.assign(state.prediction.data)
            }
            return
        }

        let p = Swift.min(order(atStep: step, of: grid.steps), state.count)
        var slots = SIMD4<Int>(0, 1, 2, 3)
        for k in p..<4 { slots[k] = -1 }
        computeCoefficients(&state, slots: slots, count: p, to: t, index: jt, pseudo: predictorPseudo)
        combine(&x, source: nil, state: state, count: p, slots: slots)
        state.previousOrder = p
    }

    /// `f = (1 − l)·x/α − x̂₀` into the newest slot.
    private func writeF(into state: inout State, x: SampleTensor, level: NoiseLevel, index j: Int) {
        let d = statistics.dimension, count = x.count
        let base = state.newest * count
        let l = statistics.l
        let invAlpha = 1 / level.alpha
        let prediction = state.prediction.data
        state.f.withUnsafeMutableBufferPointer { f in
            x.scalars.withUnsafeBufferPointer { xs in
                prediction.scalars.withUnsafeBufferPointer { x0 in
                    var k = 0
                    for i in 0..<count {
                        let c = Float((1 - l[j * d + k]) * invAlpha)
                        // c = 0 exactly when l = 1, so the degenerate solver sees f = −x̂₀ exactly.
                        f[base + i] = c * xs[i] - x0[i]
                        k += 1
                        if k == d { k = 0 }
                    }
                }
            }
        }
    }

    /// `x ← a·x_src + c + Σₖ cₖ·f_{slot k}`, per dimension, with the coefficients in `state`.
    private func combine(_ x: inout SampleTensor, source: SampleTensor?, state: State, count n: Int, slots: SIMD4<Int>) {
        let d = statistics.dimension, total = x.count
        var offsets = SIMD4<Int>(repeating: 0)
        for k in 0..<n { offsets[k] = state.slot(slots[k]) * total }
        state.coefficients.withUnsafeBufferPointer { c in
            state.f.withUnsafeBufferPointer { f in
                x.scalars.withUnsafeMutableBufferPointer { out in
                    func run(_ src: UnsafeBufferPointer<Float>?) {
                        var k = 0
                        for i in 0..<total {
                            let xi = src?[i] ?? out[i]
                            var v = c[k] * xi + c[d + k]
                            for m in 0..<n { v += c[(2 + m) * d + k] * f[offsets[m] + i] }
                            out[i] = v
                            k += 1
                            if k == d { k = 0 }
                        }
                    }
                    if let source {
                        source.scalars.withUnsafeBufferPointer { run($0) }
                    } else {
                        run(nil)
                    }
                }
            }
        }
    }

    /// The per-dimension coefficients of one step from the point in `slots[0]` to `target` (grid
    /// point `it`), with the `count` points `slots[0..<count]` (history slots, newest = 0).
    private func computeCoefficients(_ state: inout State, slots: SIMD4<Int>, count: Int, to target: NoiseLevel,
                                     index it: Int, pseudo: Bool) {
        let d = statistics.dimension
        let n = count - 1
        let source = state.levels[state.slot(slots[0])]
        let i0 = state.indices[state.slot(slots[0])]
        var lambdas = SIMD4<Double>(repeating: 0)
        var indices = SIMD4<Int>(repeating: i0)
        for k in 0..<count {
            lambdas[k] = state.levels[state.slot(slots[k])].lambda - source.lambda
            indices[k] = state.indices[state.slot(slots[k])]
        }
        let w = Self.derivativeWeights(offsets: lambdas, count: count, pseudo: pseudo)
        let integrals = self.integrals
        let I = integrals.I, B = integrals.B, C = integrals.C
        let expL = integrals.expL, expNegL = integrals.expNegL, expS = integrals.expS, expNegS = integrals.expNegS
        let expLS = integrals.expLS, expNegLS = integrals.expNegLS
        let h = statistics.spacing

        // Φ_m = Σ trapezoid of e^{(L+S)_i − (L+S)_{i0}}·((i − i0)·Δλ)^m/m!, m = 1…n.
        state.phi.withUnsafeMutableBufferPointer { phi in
            for k in 0..<(3 * d) { phi[k] = 0 }
            guard n >= 1 else { return }
            for i in i0...it {
                let weight = (i == i0 || i == it) ? 0.5 * h : h
                let u = Double(i - i0) * h
                let powers = SIMD4<Double>(u, u * u / 2, u * u * u / 6, 0)
                for k in 0..<d {
                    let e = expLS[i * d + k] * expNegLS[i0 * d + k] * weight
                    for m in 0..<n { phi[m * d + k] += e * powers[m] }
                }
            }
        }
        let alphaRatio = target.alpha / source.alpha, alphaT = target.alpha
        // The derivative weights as plain lanes, out of the per-dimension loop.
        let rows = (w[0], w[1], w[2])
        func weights(_ m: Int) -> SIMD4<Double> { m == 0 ? rows.0 : m == 1 ? rows.1 : rows.2 }
        state.coefficients.withUnsafeMutableBufferPointer { c in
            state.phi.withUnsafeBufferPointer { phi in
                for k in 0..<d {
                    let s0 = i0 * d + k, t0 = it * d + k
                    let decay = expL[s0] * expNegL[t0]
                    let dI = I[t0] - I[s0]
                    let p = alphaT * expNegL[t0] * expNegS[s0] * dI
                    let q = alphaT * expNegL[t0] * (C[t0] - C[s0] - B[s0] * dI)
                    var constant = -q
                    var r = SIMD4<Double>(repeating: 0)
                    for m in 0..<n { r[m] = alphaT * decay * phi[m * d + k] }
                    let expS0 = expS[s0]
                    // Σ_m R_m·w_mj for every j at once.
                    var combined = SIMD4<Double>.zero
                    for m in 0..<n { combined += r[m] * weights(m) }
                    for j in 0..<count {
                        let ij = indices[j] * d + k
                        let weight = (j == 0 ? p : 0) + combined[j]
                        let e = expS0 * expNegS[ij], f = expS0 * (B[ij] - B[s0])
                        // −(p·δ_j0 + Σ_m R_m·w_mj)·g_j with g_j = e·f_j − F.
                        c[(2 + j) * d + k] = Float(-weight * e)
                        constant += (weight - (j == 0 ? p : 0)) * f
                    }
                    c[k] = Float(alphaRatio * decay)
                    c[d + k] = Float(constant)
                }
            }
        }
    }

    /// Rows `m = 1…3` of derivative weights, in fixed storage (no allocation per step).
    package struct DerivativeWeights {
        var rows = (SIMD4<Double>.zero, SIMD4<Double>.zero, SIMD4<Double>.zero)
        package subscript(m: Int) -> SIMD4<Double> {
            get { m == 0 ? rows.0 : m == 1 ? rows.1 : rows.2 }
            set { switch m { case 0: rows.0 = newValue; case 1: rows.1 = newValue; default: rows.2 = newValue } }
        }
    }

    /// The weights `w[m−1][k]` with `g⁽ᵐ⁾ = Σₖ w·g_k`, for points at `offsets[k] = λ_k − λ₀`
    /// (`offsets[0] = 0`), `k < count ≤ 4`, `m = 1 … count − 1`.
    ///
    /// Normal: the derivatives at `λ₀` of the polynomial through all points (the solution of the
    /// official Vandermonde system), `m!` times the `u^m` coefficient of the Lagrange basis
    /// polynomial of point `k`. Pseudo: `m!·g[λ₀,…,λ_m]`, the Newton divided difference
    /// `Σ_{k≤m} g_k / Π_{j≤m, j≠k}(λ_k − λ_j)`.
    package static func derivativeWeights(offsets u: SIMD4<Double>, count: Int, pseudo: Bool) -> DerivativeWeights {
        var w = DerivativeWeights()
        let n = count - 1
        guard n >= 1 else { return w }
        let factorials = SIMD4<Double>(1, 1, 2, 6)
        if pseudo {
            for m in 1...n {
                for k in 0...m {
                    var denominator = 1.0
                    for j in 0...m where j != k { denominator *= u[k] - u[j] }
                    w[m - 1][k] = factorials[m] / denominator
                }
            }
            return w
        }
        for k in 0...n {
            // Coefficients (in u) of Π_{j≠k}(u − u_j)/(u_k − u_j).
            var poly = SIMD4<Double>(1, 0, 0, 0)
            var denominator = 1.0
            for j in 0...n where j != k {
                var next = SIMD4<Double>.zero
                for c in 0..<4 {
                    next[c] = -u[j] * poly[c] + (c > 0 ? poly[c - 1] : 0)
                }
                poly = next
                denominator *= u[k] - u[j]
            }
            for m in 1...n { w[m - 1][k] = factorials[m] * poly[m] / denominator }
        }
        return w
    }
}
