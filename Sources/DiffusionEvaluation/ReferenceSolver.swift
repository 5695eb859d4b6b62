import RealModule
import DiffusionCore

/// A tight-tolerance solution of the probability-flow ODE, the ground truth that solvers are
/// measured against.
///
/// Integrates, in the schedule's ``ODEFrame`` with `y = x/s` and `u = log τ`,
/// ```
/// dy/du = y − x̂₀(s·y, τ)
/// ```
/// (in both frames `y = x̂₀ + τ·ε̂` for VE and `y = (1−τ)x̂₀ + τ·ε̂` for flow make this the
/// probability-flow ODE) with the adaptive Dormand–Prince 5(4) pair (Dormand & Prince 1980,
/// "A family of embedded Runge–Kutta formulae") in `Double`. Models that can denoise in `Double`
/// (``PreciseDenoising``) are evaluated in `Double`; others through their `Float` interface.
///
/// The endpoint `σ = 0` (`u = −∞`) is reached by integrating to `τ = 10⁻¹²·τ_start` and taking
/// `x̂₀` there, which differs from the limit by `O(τ)`.
public struct ReferenceSolver: Sendable {
    public var relativeTolerance: Double
    public var absoluteTolerance: Double
    /// A hard cap on accepted plus rejected steps.
    public var maximumSteps: Int

    public init(relativeTolerance: Double = 1e-9, absoluteTolerance: Double = 1e-9, maximumSteps: Int = 100_000) {
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.maximumSteps = maximumSteps
    }

    /// The solution and what it cost.
    public struct Solution: Sendable {
        /// The endpoint in model coordinates `x`, batch-major, in `Double`.
        public var endpoint: [Double]
        public var shape: [Int]
        /// Model evaluations used.
        public var evaluations: Int
        /// Accepted steps.
        public var acceptedSteps: Int
        /// Rejected steps.
        public var rejectedSteps: Int
        /// The sum over accepted steps of the embedded error estimate's RMS norm, an estimate of
        /// the global error (the RMS over elements).
        public var errorEstimate: Double

        /// The endpoint rounded to `Float`.
        public var tensor: SampleTensor { SampleTensor(shape: shape, scalars: endpoint.map { Float($0) }) }
    }

    /// Solves from `x` at `from` to `to` (which may be the clean level).
    public func solve(model: any DiffusionModel, schedule: any NoiseSchedule, x: SampleTensor,
                      from: NoiseLevel, to: NoiseLevel) throws -> Solution {
        let frame = schedule.frame
        let tauStart = frame.tau(from)
        let tauEnd = to.isClean ? tauStart * 1e-12 : frame.tau(to)
        guard tauStart > tauEnd, tauEnd > 0 else {
            throw SamplingError.invalidConfiguration("reference solution: the end level must be below the start level")
        }
        let batch = x.batchSize
        var evaluations = 0
        func denoise(_ y: [Double], _ u: Double) throws -> [Double] {
            let level = schedule.level(sigma: Double.exp(u))
            let s = frame.scale(level)
            let xs = y.map { $0 * s }
            evaluations += 1
            if let precise = model as? any PreciseDenoising {
                return precise.predictData(xs, batch: batch, at: level)
            }
            var output = SampleTensor(zeros: x.shape)
            let input = SampleTensor(shape: x.shape, scalars: xs.map { Float($0) })
            try model.predict(input, at: level, into: &output)
            var prediction = ModelPrediction(like: input)
            model.parameterization.convert(output: output, at: input, level: level, data: &prediction.data, noise: &prediction.noise)
            return prediction.data.scalars.map { Double($0) }
        }
        func f(_ y: [Double], _ u: Double) throws -> [Double] {
            let d = try denoise(y, u)
            return zip(y, d).map { $0 - $1 }
        }

        let s0 = frame.scale(from)
        var y = x.scalars.map { Double($0) / s0 }
        var u = Double.log(tauStart)
        let uEnd = Double.log(tauEnd)
        var h = -0.05
        var accepted = 0, rejected = 0
        var errorSum = 0.0
        var k1 = try f(y, u)
        let n = y.count
        // Dormand–Prince 5(4) tableau.
        let c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9
        let a21 = 1.0 / 5
        let a31 = 3.0 / 40, a32 = 9.0 / 40
        let a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9
        let a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729
        let a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176, a65 = -5103.0 / 18656
        let b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84
        let e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200, e6 = 22.0 / 525, e7 = -1.0 / 40

        func combo(_ terms: [(Double, [Double])]) -> [Double] {
            var out = y
            for (c, k) in terms where c != 0 { for i in 0..<n { out[i] += h * c * k[i] } }
            return out
        }
        while u > uEnd {
            guard accepted + rejected < maximumSteps else {
                throw SamplingError.invalidConfiguration("reference solution: no convergence within \(maximumSteps) steps")
            }
            if u + h < uEnd { h = uEnd - u }
            let k2 = try f(combo([(a21, k1)]), u + c2 * h)
            let k3 = try f(combo([(a31, k1), (a32, k2)]), u + c3 * h)
            let k4 = try f(combo([(a41, k1), (a42, k2), (a43, k3)]), u + c4 * h)
            let k5 = try f(combo([(a51, k1), (a52, k2), (a53, k3), (a54, k4)]), u + c5 * h)
            let k6 = try f(combo([(a61, k1), (a62, k2), (a63, k3), (a64, k4), (a65, k5)]), u + h)
            let yNew = combo([(b1, k1), (b3, k3), (b4, k4), (b5, k5), (b6, k6)])
            let k7 = try f(yNew, u + h)
            var errSquares = 0.0, absSquares = 0.0
            for i in 0..<n {
                let e = h * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] + e6 * k6[i] + e7 * k7[i])
                let scale = absoluteTolerance + relativeTolerance * Swift.max(abs(y[i]), abs(yNew[i]))
                errSquares += (e / scale) * (e / scale)
                absSquares += e * e
            }
            let err = (errSquares / Double(n)).squareRoot()
            guard err.isFinite else {
                throw SamplingError.invalidConfiguration("reference solution: the model produced NaN or Inf")
            }
            if err <= 1 {
                u += h
                y = yNew
                k1 = k7
                accepted += 1
                errorSum += (absSquares / Double(n)).squareRoot()
            } else {
                rejected += 1
            }
            let factor = err == 0 ? 5 : Swift.min(5, Swift.max(0.2, 0.9 * Double.pow(err, -0.2)))
            h *= factor
        }
        let endpoint: [Double]
        if to.isClean {
            endpoint = try denoise(y, uEnd)
        } else {
            let s1 = frame.scale(to)
            endpoint = y.map { $0 * s1 }
        }
        return Solution(endpoint: endpoint, shape: x.shape, evaluations: evaluations, acceptedSteps: accepted,
                        rejectedSteps: rejected, errorEstimate: errorSum)
    }
}

/// A model that can produce its clean estimate in `Double`, for high-precision reference solutions.
public protocol PreciseDenoising: DiffusionModel {
    /// `x̂₀` for `batch` samples stored batch-major in `x`.
    func predictData(_ x: [Double], batch: Int, at level: NoiseLevel) -> [Double]
}

extension GaussianMixture: PreciseDenoising {}
