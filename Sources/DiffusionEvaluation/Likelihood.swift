import RealModule
import DiffusionCore

/// The exact log-likelihood of data under a diffusion model, through the probability-flow ODE
/// and its divergence (Song et al. 2021, "Score-Based Generative Modeling through Stochastic
/// Differential Equations", Appendix D.2; Chen et al. 2018, "Neural ODEs", instantaneous change
/// of variables).
///
/// In the schedule's `ODEFrame` with `y = x/s` and `u = log τ`, the probability-flow ODE is
/// `dy/du = f(y, u) = y − x̂₀(s·y, τ)` (see ``ReferenceSolver``), so
/// ```
/// d/du log p(y(u)) = −div f = −(D − s·tr ∂x̂₀/∂x)
/// log p₀(x) = log N(x_T; 0, P²I) + D·log s_T − D·log s₀ + ∫_{u₀}^{u_T} (D − s·tr ∂x̂₀/∂x) du
/// ```
/// from the data level `u₀` to the schedule's largest time `T`, where `P` is the schedule's
/// `NoiseSchedule.priorScale(at:)` (`σ_max` for VE, 1 for VP and flow) and the `D·log s` terms
/// turn densities of `y` into densities of `x`. The state and the divergence integral are solved
/// together with `DormandPrince45` in `Double`; the prior is the schedule's, not the exact
/// marginal at `T`, which is off by about `α_T·|x_T|·|E x₀|` nats for VP and `|x_T|·|E x₀|/σ_max²`
/// for VE (about 1e-2 nats on a 16-D mixture of unit scale with EDM's `σ_max = 80` or score-SDE's
/// `β₁ = 20`), and exact for rectified flow, where `α_T = 0`.
///
/// The divergence, ``Divergence``:
/// - `.exact`: the Jacobian trace in closed form where the model offers it
///   (``JacobianTraceDenoising``: the Gaussian mixtures, exact to rounding), else by `D` central
///   differences per point, `tr J ≈ Σⱼ (x̂₀(x + hⱼeⱼ) − x̂₀(x − hⱼeⱼ))ⱼ / (2hⱼ)`, with
///   `hⱼ = ε^{1/3}·max(1, |xⱼ|)` (`ε` of `Double` for ``PreciseDenoising`` models, of `Float`
///   otherwise) and the step divided by the perturbation actually representable: error
///   `O(h²·x̂₀‴) + O(ε·|x̂₀|/h)` per diagonal entry, about 1e-10 in `Double` and 1e-4 in `Float`.
///   Costs `2D + 1` model evaluations per right-hand side.
/// - `.hutchinson`: the Hutchinson–Skilling estimate `vᵀJv` with `N` Rademacher probes per point,
///   fixed along the trajectory (each probe gives an unbiased estimate of the integral), the JVP by
///   one central difference; the result is the mean over probes and its standard error
///   `std/√N`. Costs `2N + 1` evaluations per right-hand side.
public struct LikelihoodEstimator: Sendable {
    /// How the divergence `tr ∂x̂₀/∂x` is computed.
    public enum Divergence: Sendable, Equatable {
        /// The exact trace: closed form where the model offers it, else `D` central differences.
        case exact
        /// Hutchinson–Skilling with `probes` Rademacher vectors per point drawn from `seed`.
        case hutchinson(probes: Int, seed: UInt64)
        /// Hutchinson–Skilling with the given probe vectors, point-major `[B, count, D]` (for
        /// matching another implementation's draws).
        case probeVectors(count: Int, values: [Double])

        var probeCount: Int {
            switch self {
            case .exact: return 1
            case let .hutchinson(probes, _): return probes
            case let .probeVectors(count, _): return count
            }
        }
    }

    public var divergence: Divergence
    public var relativeTolerance: Double
    public var absoluteTolerance: Double
    public var maximumSteps: Int
    /// The frame sigma (`NoiseSchedule.displaySigma(_:)`) at which the data are placed; `nil`
    /// for the schedule's smallest time. The result is `log p` of the marginal at that level.
    public var dataSigma: Double?
    /// Points integrated together (one step-size sequence per chunk).
    public var chunkSize: Int

    public init(divergence: Divergence = .exact, relativeTolerance: Double = 1e-6, absoluteTolerance: Double = 1e-6,
                maximumSteps: Int = 100_000, dataSigma: Double? = nil, chunkSize: Int = 64) {
        self.divergence = divergence
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.maximumSteps = maximumSteps
        self.dataSigma = dataSigma
        self.chunkSize = chunkSize
    }

    /// Per-point log-likelihoods and what they cost.
    public struct Result: Sendable {
        /// `log p(x)` per point in nats (the mean over probes for Hutchinson), including the
        /// dequantization term `D·log Δ` when the data were dequantized.
        public var logLikelihood: [Double]
        /// The standard error of each point's estimate over probes; `nil` for the exact
        /// divergence or a single probe.
        public var standardError: [Double]?
        /// The dimension `D` of one point.
        public var dimension: Int
        /// Right-hand-side evaluations (each is one batched model call plus the divergence's).
        public var evaluations: Int
        public var acceptedSteps: Int
        public var rejectedSteps: Int

        /// `−log p / (D·ln 2)` per point.
        public var bitsPerDimension: [Double] { logLikelihood.map { -$0 / (Double(dimension) * Double.log(2)) } }
        /// The mean bits/dim over points.
        public var meanBitsPerDimension: Double { bitsPerDimension.reduce(0, +) / Double(max(1, logLikelihood.count)) }
        /// The standard error of ``meanBitsPerDimension`` from the probes (not from the sampling
        /// of points): `√(Σ seᵢ²)/(n·D·ln 2)`.
        public var probeStandardErrorOfMeanBitsPerDimension: Double? {
            guard let standardError else { return nil }
            let n = Double(logLikelihood.count)
            return standardError.reduce(0) { $0 + $1 * $1 }.squareRoot() / (n * Double(dimension) * Double.log(2))
        }
    }

    /// The log-likelihood of each point of `data` (shape `[B] + model.sampleShape`).
    ///
    /// - Parameters:
    ///   - data: The points, shaped `[B] + model.sampleShape`.
    ///   - model: The model whose probability-flow ODE is integrated.
    ///   - schedule: The noise schedule that defines the ODE and its prior.
    ///   - dequantization: uniform dequantization of discrete data, applied before the
    ///     integration with its `D·log Δ` term added to the result.
    /// - Throws: `SamplingError` for a shape that does not fit the model, non-finite data, a
    ///   bad configuration, or a model that returns NaN.
    public func logLikelihood(of data: SampleTensor, model: any DiffusionModel, schedule: any NoiseSchedule,
                              dequantization: UniformDequantization? = nil) throws -> Result {
        let d = model.sampleShape.reduce(1, *)
        guard data.shape.count == model.sampleShape.count + 1, Array(data.shape.dropFirst()) == model.sampleShape,
              data.batchSize >= 1 else {
            throw SamplingError.shapeMismatch(expected: model.sampleShape, got: Array(data.shape.dropFirst()))
        }
        guard data.scalars.allSatisfy(\.isFinite) else { throw SamplingError.invalidConfiguration("likelihood: the data contain NaN or Inf") }
        guard divergence.probeCount >= 1 else { throw SamplingError.invalidConfiguration("likelihood: needs at least 1 probe") }
        if case let .probeVectors(count, values) = divergence, values.count != data.batchSize * count * d {
            throw SamplingError.invalidConfiguration("likelihood: \(values.count) probe values, expected \(data.batchSize) × \(count) × \(d)")
        }
        guard relativeTolerance > 0, absoluteTolerance > 0, chunkSize >= 1 else {
            throw SamplingError.invalidConfiguration("likelihood: tolerances and chunk size must be positive")
        }
        var points = data.scalars.map { Double($0) }
        var offset = 0.0
        if let dequantization {
            points = dequantization.dequantize(points)
            offset = Double(d) * dequantization.logBinWidth
        }
        let batch = data.batchSize
        var result = Result(logLikelihood: [], standardError: nil, dimension: d, evaluations: 0, acceptedSteps: 0, rejectedSteps: 0)
        var errors: [Double] = []
        var start = 0
        while start < batch {
            let count = Swift.min(chunkSize, batch - start)
            let chunk = try integrate(Array(points[(start * d)..<((start + count) * d)]), first: start, count: count,
                                      model: model, schedule: schedule)
            let m = divergence.probeCount
            for b in 0..<count {
                let estimates = chunk.perProbe[(b * m)..<((b + 1) * m)].map { $0 + offset }
                let mean = estimates.reduce(0, +) / Double(m)
                result.logLikelihood.append(mean)
                if m >= 2 {
                    let variance = estimates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(m - 1)
                    errors.append((variance / Double(m)).squareRoot())
                }
            }
            result.evaluations += chunk.evaluations
            result.acceptedSteps += chunk.accepted
            result.rejectedSteps += chunk.rejected
            start += count
        }
        if divergence != .exact, divergence.probeCount >= 2 { result.standardError = errors }
        return result
    }

    private struct Chunk { var perProbe: [Double]; var evaluations: Int; var accepted: Int; var rejected: Int }

    /// Integrates `count` points (starting at point index `first` of the data) and returns
    /// `log p` per point and probe, point-major.
    private func integrate(_ points: [Double], first: Int, count batch: Int, model: any DiffusionModel,
                           schedule: any NoiseSchedule) throws -> Chunk {
        let d = model.sampleShape.reduce(1, *)
        let frame = schedule.frame
        let startLevel = dataSigma.map { schedule.level(sigma: $0) } ?? schedule.level(at: schedule.timeRange.lowerBound)
        let endLevel = schedule.level(at: schedule.timeRange.upperBound)
        let tau0 = frame.tau(startLevel), tauT = frame.tau(endLevel)
        guard tau0 > 0, tauT > tau0, tau0.isFinite, tauT.isFinite else {
            throw SamplingError.invalidConfiguration("likelihood: the data level (sigma \(tau0)) must lie below the prior level (sigma \(tauT))")
        }
        let m = divergence.probeCount
        let probes: [Double]
        switch divergence {
        case .exact: probes = []
        case let .hutchinson(n, seed):
            var values = [Double](repeating: 0, count: batch * n * d)
            for b in 0..<batch {
                // One stream per point, so the draws do not depend on chunking.
                var rng = SplitMix64(seed: seed &+ UInt64(first + b) &* 0x9E37_79B9_7F4A_7C15)
                for i in 0..<(n * d) { values[b * n * d + i] = rng.next() & 1 == 0 ? -1 : 1 }
            }
            probes = values
        case let .probeVectors(n, values): probes = Array(values[(first * n * d)..<((first + batch) * n * d)])
        }
        let oracle = DivergenceOracle(model: model, dimension: d)
        var evaluations = 0
        func f(_ state: [Double], _ u: Double) throws -> [Double] {
            let level = schedule.level(sigma: Double.exp(u))
            let s = frame.scale(level)
            let xs = state[0..<(batch * d)].map { $0 * s }
            let (data, traces) = try oracle.dataAndTraces(xs, batch: batch, level: level, probes: probes, probeCount: m,
                                                          exact: divergence == .exact)
            evaluations += 1
            var out = [Double](repeating: 0, count: state.count)
            for i in 0..<(batch * d) { out[i] = state[i] - data[i] }
            for i in 0..<(batch * m) { out[batch * d + i] = Double(d) - s * traces[i] }
            return out
        }
        let s0 = frame.scale(startLevel), sT = frame.scale(endLevel)
        let initial = points.map { $0 / s0 } + [Double](repeating: 0, count: batch * m)
        let integrator = DormandPrince45(relativeTolerance: relativeTolerance, absoluteTolerance: absoluteTolerance,
                                         maximumSteps: maximumSteps, label: "likelihood")
        let solution = try integrator.integrate(initial, from: Double.log(tau0), to: Double.log(tauT), initialStep: 0.05, f)
        let prior = schedule.priorScale(at: endLevel)
        let logNormalizer = -Double(d) * (Double.log(prior) + 0.5 * Double.log(2 * .pi))
        let jacobian = Double(d) * (Double.log(sT) - Double.log(s0))
        var perProbe = [Double](repeating: 0, count: batch * m)
        for b in 0..<batch {
            var q = 0.0
            for j in 0..<d {
                let z = solution.state[b * d + j] * sT / prior
                q += z * z
            }
            let logPrior = logNormalizer - 0.5 * q
            for i in 0..<m { perProbe[b * m + i] = logPrior + jacobian + solution.state[batch * d + b * m + i] }
        }
        return Chunk(perProbe: perProbe, evaluations: evaluations, accepted: solution.acceptedSteps, rejected: solution.rejectedSteps)
    }
}

/// A model that gives the exact trace of its denoiser's Jacobian `tr ∂x̂₀/∂x`, for exact
/// likelihoods without finite differences.
public protocol JacobianTraceDenoising: PreciseDenoising {
    /// `x̂₀` and `tr ∂x̂₀/∂x` for `batch` samples stored batch-major in `x`.
    func predictDataAndTrace(_ x: [Double], batch: Int, at level: NoiseLevel) -> (data: [Double], trace: [Double])
}

extension GaussianMixture: JacobianTraceDenoising {}

/// `x̂₀` and the divergence terms of a model in `Double`: exact traces, central differences over
/// the coordinates, or Hutchinson probes.
private struct DivergenceOracle {
    let model: any DiffusionModel
    let dimension: Int

    /// Whether the model is evaluated in `Double` (finite-difference steps follow its precision).
    var precise: Bool { model is any PreciseDenoising }

    /// `x̂₀` of `batch` points; through `Float` unless the model is ``PreciseDenoising``. The
    /// second value holds the inputs actually seen by the model (rounded to `Float` if so).
    func denoise(_ xs: [Double], batch: Int, level: NoiseLevel) throws -> (data: [Double], seen: [Double]) {
        if let model = model as? any PreciseDenoising { return (model.predictData(xs, batch: batch, at: level), xs) }
        let shape = [batch] + model.sampleShape
        let input = SampleTensor(shape: shape, scalars: xs.map { Float($0) })
        var output = SampleTensor(zeros: shape)
        try model.predict(input, at: level, into: &output)
        var prediction = ModelPrediction(like: input)
        let finite = model.parameterization.convert(output: output, at: input, level: level, data: &prediction.data,
                                                    noise: &prediction.noise, needs: .data)
        guard finite else { throw SamplingError.invalidConfiguration("likelihood: the model produced NaN or Inf at t = \(level.t)") }
        return (prediction.data.scalars.map { Double($0) }, input.scalars.map { Double($0) })
    }

    /// `x̂₀` and, per point and probe, the trace (exact) or `vᵀJv` (Hutchinson).
    func dataAndTraces(_ xs: [Double], batch: Int, level: NoiseLevel, probes: [Double], probeCount m: Int,
                       exact: Bool) throws -> ([Double], [Double]) {
        let d = dimension
        if exact, let model = model as? any JacobianTraceDenoising {
            return model.predictDataAndTrace(xs, batch: batch, at: level)
        }
        let epsilon = precise ? Double.ulpOfOne : Double(Float.ulpOfOne)
        let h = Double.pow(epsilon, 1.0 / 3)
        let data = try denoise(xs, batch: batch, level: level).data
        var traces = [Double](repeating: 0, count: batch * m)
        if exact {
            // 2D perturbed copies of each point: +hⱼeⱼ then −hⱼeⱼ for j = 0..<D.
            for b in 0..<batch {
                let x = Array(xs[(b * d)..<((b + 1) * d)])
                var inputs = [Double](); inputs.reserveCapacity(2 * d * d)
                for sign in [1.0, -1.0] {
                    for j in 0..<d {
                        var p = x
                        p[j] += sign * h * Swift.max(1, abs(x[j]))
                        inputs += p
                    }
                }
                let (out, seen) = try denoise(inputs, batch: 2 * d, level: level)
                var tr = 0.0
                for j in 0..<d {
                    let plus = j * d + j, minus = (d + j) * d + j
                    tr += (out[plus] - out[minus]) / (seen[plus] - seen[minus])
                }
                traces[b] = tr
            }
            return (data, traces)
        }
        // Hutchinson: x ± h·v per probe, all points and probes in one batch.
        var inputs = [Double](repeating: 0, count: 2 * batch * m * d)
        for b in 0..<batch {
            let scale = h * Swift.max(1, (xs[(b * d)..<((b + 1) * d)].reduce(0) { $0 + $1 * $1 } / Double(d)).squareRoot())
            for i in 0..<m {
                for j in 0..<d {
                    let v = probes[(b * m + i) * d + j]
                    inputs[((b * m + i) * 2) * d + j] = xs[b * d + j] + scale * v
                    inputs[((b * m + i) * 2 + 1) * d + j] = xs[b * d + j] - scale * v
                }
            }
        }
        let (out, seen) = try denoise(inputs, batch: 2 * batch * m, level: level)
        for r in 0..<(batch * m) {
            var jvpDot = 0.0, norm = 0.0
            for j in 0..<d {
                let plus = (r * 2) * d + j, minus = (r * 2 + 1) * d + j
                let step = seen[plus] - seen[minus]
                let v = probes[r * d + j]
                // vᵀ J δ / |δ|-normalized: δⱼ ≈ 2h·vⱼ, so divide by the mean representable step.
                jvpDot += v * (out[plus] - out[minus])
                norm += step * v
            }
            traces[r] = jvpDot / (norm / Double(d))
        }
        return (data, traces)
    }
}

/// Uniform dequantization of discrete data (Theis et al. 2016; Song et al. 2021, App. D.2): data
/// on `levels` equally spaced values spanning `[low, high]` (`x = low + k·(high − low)/(levels − 1)`)
/// are mapped to bin `k` of width `Δ = (high − low)/levels` and replaced by a uniform draw inside
/// it, `x′ = low + (k + u)·Δ`, `u ~ U[0, 1)`. Then `log P(k) ≥ E_u log p(x′) + D·log Δ`, and bits/dim
/// `= −log p(x′)/(D ln 2) − log₂ Δ`: `+7` for images in `[−1, 1]` with 256 levels, `Δ = 2/256`
/// (score-SDE's `offset = 7 − inverse_scaler(−1)`).
public struct UniformDequantization: Sendable, Equatable {
    public var levels: Int
    public var low: Double
    public var high: Double
    public var seed: UInt64

    public init(levels: Int = 256, low: Double = -1, high: Double = 1, seed: UInt64 = 0) {
        self.levels = levels; self.low = low; self.high = high; self.seed = seed
    }

    /// `log Δ`, the per-dimension term added to `log p`.
    public var logBinWidth: Double { Double.log((high - low) / Double(levels)) }

    /// The dequantized values: each rounded to its level `k`, then `low + (k + u)·Δ`.
    public func dequantize(_ values: [Double]) -> [Double] {
        var rng = SplitMix64(seed: seed)
        let width = (high - low) / Double(levels)
        return values.map { x in
            let k = Swift.min(Double(levels - 1), Swift.max(0, ((x - low) / (high - low) * Double(levels - 1)).rounded()))
            return low + (k + rng.uniform()) * width
        }
    }
}
