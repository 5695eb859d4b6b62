import RealModule
import DiffusionCore

extension ModelStatistics {
    /// Finite-difference and regression settings of ``estimate(model:schedule:data:lambdaRange:intervals:seed:options:)``.
    public struct EstimationOptions: Sendable, Equatable {
        /// The step of the Jacobian-vector products `J·v ≈ (ε(x + δv) − ε(x − δv))/2δ`, relative to
        /// the RMS of `x` at the grid point: `δ` is the power of two nearest `jacobianStep·rms(x)`.
        ///
        /// The models here take `Float` samples. A power-of-two `δ` well above the float spacing
        /// near `x` makes `x ± δ` exact (except where `x ± δ` crosses a binade), so the input side
        /// adds no rounding; the model's `Float` output then limits a probe to about
        /// `6e-8·|output|/(δ·|J·v|)`, while the central difference's truncation error is
        /// `O((δ/ℓ)²)` for a denoiser that bends on a length `ℓ` (about `σ` near a decision
        /// boundary, the data scale elsewhere). `1e-3` balances the two except at the smallest `σ`.
        /// A model linear in `x` (a single Gaussian) has no truncation error at any step.
        public var jacobianStep: Double
        /// The step `δλ` of the total derivative `dε/dλ` along the ODE tangent,
        /// `(ε(x + δλ·ẋ, λ + δλ) − ε(x − δλ·ẋ, λ − δλ))/2δλ`. `|ẋ| ≈ σ`, so a `Float` input limits
        /// the resolved change at small `σ`; `1e-2` (close to the spacing of a 1200-point grid)
        /// balances that rounding against the `O(δλ²)` truncation error.
        public var lambdaStep: Double
        /// The half-width of the moving average applied to the finite-difference `l'`: the
        /// official script averages indices `i − 5 … i + 5`, truncated at the ends.
        public var smoothingHalfWidth: Int
        /// `Var(f)` at or below `varianceFloor·E[(σε/α)² + (l·x/α)²]` counts as zero: `f` is then
        /// constant up to finite-difference error (a Gaussian's `f` is exactly constant in `x`),
        /// the slope `s` is not identifiable, and the fit falls back to `s = 0`, `b = E f'`.
        public var varianceFloor: Double
        /// Draw fresh noise `z` and probes `v` at every grid point, as the official script does.
        ///
        /// The default (`false`) reuses the same draws at every point (common random numbers). Each
        /// point's estimate has the same expectation either way, but with shared draws the
        /// statistics are smooth in `λ`: the finite-difference `l'` does not amplify independent
        /// sampling noise by `1/Δλ`, and the solver's integrand `g(λ)`, whose derivatives it
        /// extrapolates, is not rough at the grid scale (rough statistics cap the solver's
        /// observed convergence order near 1).
        public var freshNoisePerPoint: Bool

        public init(jacobianStep: Double = 1e-3, lambdaStep: Double = 1e-2, smoothingHalfWidth: Int = 5,
                    varianceFloor: Double = 1e-6, freshNoisePerPoint: Bool = false) {
            self.freshNoisePerPoint = freshNoisePerPoint
            self.jacobianStep = jacobianStep
            self.lambdaStep = lambdaStep
            self.smoothingHalfWidth = smoothingHalfWidth
            self.varianceFloor = varianceFloor
        }
    }

    /// Estimates the statistics of `model` on `schedule` from clean data, as the official EMS
    /// script does (thu-ml/DPM-Solver-v3, ScoreSDE example: `compute_l`, `compute_l_d`,
    /// `compute_f`, `compute_sb`), with central finite differences in place of forward-mode AD.
    ///
    /// On the `N + 1` points `λ_i` uniform in `lambdaRange` (point 0 at its lower, noisiest end),
    /// each of the `K` samples `x₀` of `data` is noised afresh, `x = α·x₀ + σ·z`, and
    /// ```
    /// l   = E[σ·(J_ε·v) ⊙ v]                       Hutchinson, Rademacher v, J_ε·v by central differences
    /// l'  = d l/dλ                                  one-sided at the ends, central inside, then a moving average
    /// f   = (σ·ε − l·x)/α
    /// f'  = (σ/α)·((l − 1)·ε + dε/dλ) − l'·x/α       dε/dλ along ẋ = (d log α/dλ)·x − σ·ε
    /// s   = Cov(f, f')/Var(f),   b = E f' − s·E f    per dimension (s = 0, b = E f' when Var(f) ≈ 0)
    /// ```
    /// The tangent `ẋ = dx/dλ` of the probability-flow ODE holds in any frame (`σ²x − σε` for VP,
    /// `−σε` for VE); `d log α/dλ` is the difference quotient of `log α` over the two levels the
    /// model is evaluated at. Where `λ ± δλ` leaves the schedule's time range, the difference is
    /// the one-sided three-point formula. `ε` is formed in `Double` from the model's raw output, which avoids the
    /// cancellation of `(x − α·x̂₀)/σ` in `Float` at small `σ`.
    ///
    /// Cost: `4(N + 1)` batched model calls (one of `2K` samples, three of `K`). Deterministic for
    /// a `seed`: the noise and probes of sample `k` come from Philox stream `k`, draws 1–3 (with
    /// ``EstimationOptions/freshNoisePerPoint``, draws `3i + 1 … 3i + 3` at point `i`).
    ///
    /// - Parameters:
    ///   - model: The model whose statistics are estimated.
    ///   - schedule: The noise schedule that maps `λ` to the levels the model is evaluated at.
    ///   - data: `K ≥ 2` clean samples shaped like the model's samples.
    ///   - lambdaRange: `λ_start ... λ_end`; use the range sampling will cover (the official
    ///     sampler's `t_start`/`t_end`).
    ///   - intervals: `N`; the paper uses 1200 (or 120–250 for large models).
    ///   - seed: The Philox seed of the noise and probes.
    ///   - options: The finite-difference and regression settings.
    /// - Throws: `SamplingError.invalidConfiguration(_:)` for mismatched shapes, too few samples or
    ///   intervals, a non-finite range; whatever the model throws; non-finite model output.
    public static func estimate(model: any DiffusionModel, schedule: any NoiseSchedule, data: SampleTensor,
                                lambdaRange: ClosedRange<Double>, intervals: Int, seed: UInt64 = 0,
                                options: EstimationOptions = EstimationOptions()) throws -> ModelStatistics {
        func fail(_ message: String) -> SamplingError { .invalidConfiguration("model statistics: " + message) }
        let d = model.sampleShape.reduce(1, *)
        let k = data.batchSize
        guard data.sampleCount == d else {
            throw fail("data samples have \(data.sampleCount) values, \(model.name) has \(d) (shape \(model.sampleShape))")
        }
        guard k >= 2 else { throw fail("need at least 2 data samples, got \(k)") }
        guard data.isFinite else { throw fail("data contain NaN or Inf") }
        guard intervals >= 1 else { throw fail("need at least 1 interval, got \(intervals)") }
        guard lambdaRange.lowerBound.isFinite, lambdaRange.upperBound.isFinite, lambdaRange.lowerBound < lambdaRange.upperBound else {
            throw fail("the lambda range \(lambdaRange) must be finite and non-empty")
        }
        guard options.jacobianStep > 0, options.lambdaStep > 0, options.smoothingHalfWidth >= 0, options.varianceFloor >= 0 else {
            throw fail("finite-difference steps must be positive")
        }
        let n = intervals
        let start = lambdaRange.lowerBound, end = lambdaRange.upperBound
        let spacing = (end - start) / Double(n)
        func lambda(_ i: Int) -> Double { i == n ? end : start + Double(i) * spacing }
        func level(_ lambda: Double) -> NoiseLevel { schedule.level(at: schedule.time(lambda: lambda)) }
        let generator = Philox4x32(seed: seed)
        let x0 = data.scalars.map(Double.init)
        let count = k * d

        func normals(_ draw: Int) -> [Float] {
            let draw = options.freshNoisePerPoint ? draw : (draw - 1) % 3 + 1
            var out = [Float](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { buffer in
                for b in 0..<k {
                    generator.fillNormal(UnsafeMutableBufferPointer(rebasing: buffer[(b * d)..<((b + 1) * d)]),
                                         stream: UInt64(b), draw: UInt32(truncatingIfNeeded: draw))
                }
            }
            return out
        }
        /// `x = α·x₀ + σ·z` in `Float`, the precision the model sees.
        func noised(_ level: NoiseLevel, _ z: [Float]) -> [Float] {
            (0..<count).map { Float(level.alpha * x0[$0] + level.sigma * Double(z[$0])) }
        }
        var raw = SampleTensor(zeros: [k] + model.sampleShape)
        var raw2 = SampleTensor(zeros: [2 * k] + model.sampleShape)
        /// `ε` of the model at `x` (a batch of `x.count / d` samples), in `Double`.
        func epsilon(_ x: SampleTensor, at level: NoiseLevel, output: inout SampleTensor) throws -> [Double] {
            try model.predict(x, at: level, into: &output)
            let (_, _, c3, c4) = model.parameterization.coefficients(at: level)
            var eps = [Double](repeating: 0, count: x.count)
            for i in 0..<x.count { eps[i] = c3 * Double(x.scalars[i]) + c4 * Double(output.scalars[i]) }
            guard c3.isFinite, c4.isFinite, eps.allSatisfy(\.isFinite) else {
                throw SamplingError.nonFiniteModelOutput(step: 0, t: level.t, sigma: schedule.displaySigma(level))
            }
            return eps
        }

        // 1. l by Hutchinson probes.
        var l = [Double](repeating: 0, count: (n + 1) * d)
        for i in 0...n {
            let point = level(lambda(i))
            let x = noised(point, normals(3 * i + 1))
            let v: [Float] = normals(3 * i + 2).map { $0 < 0 ? -1 : 1 }
            let rms = (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(count)).squareRoot()
            // A power of two at or above the spacing of the floats near x makes x ± δ exact for
            // almost every element, so the probe difference is exactly 2δ·v.
            let delta = Double.exp2((Double.log2(options.jacobianStep * (rms > 0 ? rms : 1))).rounded())
            var probes = [Float](repeating: 0, count: 2 * count)
            for j in 0..<count {
                probes[j] = Float(Double(x[j]) + delta * Double(v[j]))
                probes[count + j] = Float(Double(x[j]) - delta * Double(v[j]))
            }
            let eps = try epsilon(SampleTensor(shape: [2 * k] + model.sampleShape, scalars: probes), at: point, output: &raw2)
            for j in 0..<count {
                l[i * d + j % d] += point.sigma * (eps[j] - eps[count + j]) / (2 * delta) * Double(v[j])
            }
            for j in 0..<d { l[i * d + j] /= Double(k) }
        }

        // 2. l' by finite differences on the grid, then a moving average.
        var slope = [Double](repeating: 0, count: (n + 1) * d)
        for i in 0...n {
            let lo = Swift.max(i - 1, 0), hi = Swift.min(i + 1, n)
            for j in 0..<d { slope[i * d + j] = (l[hi * d + j] - l[lo * d + j]) / (Double(hi - lo) * spacing) }
        }
        var lPrime = [Double](repeating: 0, count: (n + 1) * d)
        let w = options.smoothingHalfWidth
        for i in 0...n {
            let lo = Swift.max(i - w, 0), hi = Swift.min(i + w, n)
            for j in 0..<d {
                var sum = 0.0
                for m in lo...hi { sum += slope[m * d + j] }
                lPrime[i * d + j] = sum / Double(hi - lo + 1)
            }
        }

        // 3. f, f' and the per-dimension regression.
        var s = [Double](repeating: 0, count: (n + 1) * d)
        var b = [Double](repeating: 0, count: (n + 1) * d)
        let times = schedule.timeRange
        for i in 0...n {
            let lam = lambda(i)
            let point = level(lam)
            let xs = noised(point, normals(3 * i + 3))
            let x = SampleTensor(shape: [k] + model.sampleShape, scalars: xs)
            let eps = try epsilon(x, at: point, output: &raw)
            // dε/dλ along the tangent: central where λ ± δλ stay in the schedule's time range,
            // otherwise the one-sided three-point formula (−3ε₀ + 4ε₁ − ε₂)/2δλ; both cancel the
            // curvature of the trajectory that the straight tangent line leaves out.
            let span = times.upperBound - times.lowerBound
            func inRange(_ level: NoiseLevel) -> Bool {
                level.lambda.isFinite && level.t >= times.lowerBound - 1e-9 * span && level.t <= times.upperBound + 1e-9 * span
            }
            let dLambda = options.lambdaStep
            let plus = level(lam + dLambda), minus = level(lam - dLambda)
            func logAlphaSlope(_ a: NoiseLevel, _ b: NoiseLevel) -> Double {
                (Double.log(a.alpha) - Double.log(b.alpha)) / (a.lambda - b.lambda)
            }
            let dLogAlpha = inRange(plus) && inRange(minus) ? logAlphaSlope(plus, minus)
                : inRange(plus) ? logAlphaSlope(plus, point) : logAlphaSlope(point, minus)
            var tangent = [Double](repeating: 0, count: count)
            for j in 0..<count { tangent[j] = dLogAlpha * Double(xs[j]) - point.sigma * eps[j] }
            func along(_ target: NoiseLevel) throws -> [Double] {
                let step = target.lambda - lam
                let moved = (0..<count).map { Float(Double(xs[$0]) + step * tangent[$0]) }
                return try epsilon(SampleTensor(shape: [k] + model.sampleShape, scalars: moved), at: target, output: &raw)
            }
            var dEps = [Double](repeating: 0, count: count)
            if inRange(plus) && inRange(minus) {
                let ep = try along(plus), em = try along(minus)
                let width = plus.lambda - minus.lambda
                for j in 0..<count { dEps[j] = (ep[j] - em[j]) / width }
            } else {
                let direction = inRange(plus) ? 1.0 : -1.0
                let near = inRange(plus) ? plus : minus
                let far = level(lam + 2 * direction * dLambda)
                let e1 = try along(near), e2 = try along(far)
                let u = near.lambda - lam
                for j in 0..<count { dEps[j] = (-3 * eps[j] + 4 * e1[j] - e2[j]) / (2 * u) }
            }
            let ratio = point.sigma / point.alpha
            var sumF = [Double](repeating: 0, count: d), sumD = sumF, sumFF = sumF, sumFD = sumF, scale = sumF
            for j in 0..<count {
                let c = j % d
                let li = l[i * d + c], xi = Double(xs[j]) / point.alpha
                let f = ratio * eps[j] - li * xi
                let fd = ratio * ((li - 1) * eps[j] + dEps[j]) - lPrime[i * d + c] * xi
                sumF[c] += f; sumD[c] += fd; sumFF[c] += f * f; sumFD[c] += f * fd
                scale[c] += ratio * eps[j] * ratio * eps[j] + li * xi * li * xi
            }
            let kd = Double(k)
            for c in 0..<d {
                let meanF = sumF[c] / kd, meanD = sumD[c] / kd
                let variance = sumFF[c] / kd - meanF * meanF
                let covariance = sumFD[c] / kd - meanF * meanD
                if variance <= options.varianceFloor * scale[c] / kd {
                    s[i * d + c] = 0
                    b[i * d + c] = meanD
                } else {
                    s[i * d + c] = covariance / variance
                    b[i * d + c] = meanD - s[i * d + c] * meanF
                }
            }
        }
        return try ModelStatistics(lambdaStart: start, lambdaEnd: end, dimension: d, l: l, s: s, b: b,
                                   modelName: model.name, scheduleName: schedule.name, sampleCount: k)
    }

    /// ``estimate(model:schedule:data:lambdaRange:intervals:seed:options:)`` between two levels of a
    /// sampling run (`from` the noisiest, `to` the cleanest; neither may be `σ = 0`).
    public static func estimate(model: any DiffusionModel, schedule: any NoiseSchedule, data: SampleTensor,
                                from first: NoiseLevel, to last: NoiseLevel, intervals: Int, seed: UInt64 = 0,
                                options: EstimationOptions = EstimationOptions()) throws -> ModelStatistics {
        guard first.lambda.isFinite, last.lambda.isFinite, first.lambda < last.lambda else {
            throw SamplingError.invalidConfiguration(
                "model statistics: levels must have finite lambda, increasing from \(first.lambda) to \(last.lambda)")
        }
        return try estimate(model: model, schedule: schedule, data: data, lambdaRange: first.lambda...last.lambda,
                            intervals: intervals, seed: seed, options: options)
    }
}
