import RealModule
import DiffusionCore

/// A tight-tolerance solution of the probability-flow ODE, the ground truth that solvers are
/// measured against.
///
/// Integrates, in the schedule's `ODEFrame` with `y = x/s` and `u = log τ`,
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
        let uEnd = Double.log(tauEnd)
        let integrator = DormandPrince45(relativeTolerance: relativeTolerance, absoluteTolerance: absoluteTolerance,
                                         maximumSteps: maximumSteps, label: "reference solution")
        let result = try integrator.integrate(x.scalars.map { Double($0) / s0 }, from: Double.log(tauStart), to: uEnd,
                                              initialStep: -0.05, f)
        let y = result.state
        let endpoint: [Double]
        if to.isClean {
            endpoint = try denoise(y, uEnd)
        } else {
            let s1 = frame.scale(to)
            endpoint = y.map { $0 * s1 }
        }
        return Solution(endpoint: endpoint, shape: x.shape, evaluations: evaluations, acceptedSteps: result.acceptedSteps,
                        rejectedSteps: result.rejectedSteps, errorEstimate: result.errorSum)
    }
}

/// A model that can produce its clean estimate in `Double`, for high-precision reference solutions.
public protocol PreciseDenoising: DiffusionModel {
    /// `x̂₀` for `batch` samples stored batch-major in `x`.
    func predictData(_ x: [Double], batch: Int, at level: NoiseLevel) -> [Double]
}

extension GaussianMixture: PreciseDenoising {}
