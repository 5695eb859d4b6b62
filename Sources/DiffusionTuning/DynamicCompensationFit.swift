import DiffusionCore
import DiffusionEvaluation

/// The compensation ratios of a `DCSolver`, searched on the user's model as in DC-Solver (Zhao et
/// al. 2024, "DC-Solver: Improving Predictor-Corrector Diffusion Sampler via Dynamic Compensation",
/// ECCV, Sec. 3.3): greedily, step by step in sampling order, against a ground-truth trajectory of a
/// few tuning samples (the paper uses 10).
///
/// For step `i`, with the solver's own state before it fixed, the loss of a ratio `ρ` is
/// ```
/// L_i(ρ) = mean ‖x̃_{i+1}(ρ) − x*_{i+1}‖²
/// ```
/// where `x̃_{i+1}` is the state after step `i`: the predictor with the compensated output, then the
/// corrector with the model evaluated at the predicted point (as the solver applies it at the start
/// of step `i + 1`; without it where the corrector does not run, after the last step, or with
/// corrector steps disabled). `x*` is the probability-flow ODE solution from the same initial
/// sample (``groundTruth(model:schedule:grid:noise:tolerance:)``). Each evaluation of `L_i` costs
/// one model evaluation (none where no corrector follows). The ratio is chosen by Brent's
/// derivative-free minimization on ``bounds``, started at `ρ = 1`, so a step never ends worse
/// than without compensation; sampling then continues from the solver's own state with that
/// ratio. The reference implementation instead takes 20–40 AdamW steps on `ρ` with gradients
/// through one network evaluation, and its ground truth is a 200-step DDIM or default-scheduler run.
///
/// Deterministic: the same inputs give the same ratios.
public struct DynamicCompensationFit: Sendable {
    /// The interval searched. The reference's `tanh` bound is `0.5…1.5`.
    public var bounds: ClosedRange<Double>
    /// The ratio accuracy Brent's method stops at.
    public var tolerance: Double
    /// A cap on loss evaluations per step.
    public var maximumEvaluations: Int

    public init(bounds: ClosedRange<Double> = 0.5...1.5, tolerance: Double = 1e-3, maximumEvaluations: Int = 30) {
        self.bounds = bounds
        self.tolerance = tolerance
        self.maximumEvaluations = maximumEvaluations
    }

    /// What a fit found.
    public struct Result: Sendable, Codable, Equatable {
        /// One ratio per step (1 where the step cannot compensate).
        public var ratios: [Double]
        /// The final sample's mean squared error against the ground truth with every ratio 1 (UniPC).
        public var errorBefore: Double
        /// The same with the fitted ratios.
        public var errorAfter: Double
        /// `L_i(1)` for each step, on the fitted prefix.
        public var stepLossBefore: [Double]
        /// `L_i(ρᵢ)` for each step.
        public var stepLossAfter: [Double]
        /// Model evaluations the fit used, the UniPC run for ``errorBefore`` included.
        public var evaluations: Int
    }

    /// The ground-truth trajectory at every level of `grid`, from `noise` (standard normal, scaled
    /// to the prior at `grid[0]`): the reference solution of the probability-flow ODE
    /// (`ReferenceSolver`, adaptive Dormand–Prince) segment by segment, each started from the
    /// previous endpoint rounded to `Float`.
    public static func groundTruth(model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid, noise: SampleTensor,
                                   tolerance: Double = 1e-7) throws -> [SampleTensor] {
        guard tolerance.isFinite, tolerance > 0 else {
            throw SamplingError.invalidConfiguration("dc_solver fit: the ground-truth tolerance must be positive, not \(tolerance)")
        }
        let reference = ReferenceSolver(relativeTolerance: tolerance, absoluteTolerance: tolerance)
        var states = [SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0])]
        for i in 0..<grid.steps {
            states.append(try reference.solve(model: model, schedule: schedule, x: states[i], from: grid[i], to: grid[i + 1]).tensor)
        }
        return states
    }

    /// Fits the ratios of `solver` (its own `DCSolver.ratios` are ignored) on `grid`.
    ///
    /// - Parameters:
    ///   - model: The model the ratios are fitted on.
    ///   - schedule: The noise schedule the solver runs on.
    ///   - grid: The time grid the ratios are fitted for, one ratio per step.
    ///   - solver: The DC-Solver whose settings are kept and whose ratios are fitted.
    ///   - noise: The tuning noise (standard normal), a batch.
    ///   - groundTruth: The trajectory at every level of `grid`, from the same noise
    ///     (``groundTruth(model:schedule:grid:noise:tolerance:)``).
    public func fit(model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid, solver: DCSolver,
                    noise: SampleTensor, groundTruth: [SampleTensor]) throws -> Result {
        guard bounds.lowerBound.isFinite, bounds.upperBound.isFinite, bounds.lowerBound < bounds.upperBound,
              DCSolver.ratioRange.contains(bounds.lowerBound), DCSolver.ratioRange.contains(bounds.upperBound) else {
            throw SamplingError.invalidConfiguration("dc_solver fit: the search bounds must lie within \(DCSolver.ratioRange), not \(bounds)")
        }
        guard tolerance.isFinite, tolerance > 0, maximumEvaluations >= 1 else {
            throw SamplingError.invalidConfiguration("dc_solver fit: the tolerance must be positive and at least one evaluation allowed")
        }
        let x0 = SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0])
        guard groundTruth.count == grid.levels.count, groundTruth.allSatisfy({ $0.shape == x0.shape }) else {
            throw SamplingError.invalidConfiguration(
                "dc_solver fit: the ground truth needs one state shaped \(x0.shape) per grid level (\(grid.levels.count)), got \(groundTruth.count)")
        }
        var base = solver
        base.ratios = []
        try base.validate()

        let denoiser = Denoiser(model: model, schedule: schedule)
        let context = SolverContext(grid: grid, denoiser: denoiser, noise: nil, frame: schedule.frame)
        let before = try Self.run(base, grid: grid, context: context, initialSample: x0)
        let errorBefore = Self.meanSquaredError(before, groundTruth[grid.steps])

        var x = x0
        var state = base.makeState(for: x, grid: grid)
        var ratios: [Double] = [], lossBefore: [Double] = [], lossAfter: [Double] = []
        for i in 0..<grid.steps {
            try base.evaluate(i, x: x, state: &state, context: context)
            if i > 0 {
                // The state after step i − 1, corrected with the evaluation just made.
                var corrected = x
                base.correct(i, x: &corrected, state: state, grid: grid)
                lossAfter.append(Self.meanSquaredError(corrected, groundTruth[i]))
            }
            var chosen = 1.0
            if i >= base.dcOrder {
                let target = groundTruth[i + 1]
                let (xState, sState) = (x, state)
                func loss(_ ratio: Double) throws -> Double {
                    var xc = xState, sc = sState
                    try base.advance(i, x: &xc, state: &sc, grid: grid, ratio: ratio)
                    if base.correctorApplies(before: i + 1, grid: grid) {
                        do {
                            try base.evaluate(i + 1, x: xc, state: &sc, context: context)
                        } catch SamplingError.nonFiniteModelOutput {
                            return .infinity  // a candidate that breaks the model loses; the search goes on
                        }
                        base.correct(i + 1, x: &xc, state: sc, grid: grid)
                    }
                    let value = Self.meanSquaredError(xc, target)
                    return value.isNaN ? .infinity : value
                }
                let start = bounds.contains(1) ? 1.0 : bounds.lowerBound + 0.381966 * (bounds.upperBound - bounds.lowerBound)
                let best = try Self.brentMinimum(in: bounds, start: start, tolerance: tolerance,
                                                 maximumEvaluations: maximumEvaluations, loss)
                lossBefore.append(start == 1 ? best.startValue : try loss(1))
                // A flat loss (a step the ratio cannot change) keeps the start.
                chosen = best.value < best.startValue ? best.x : start
            } else {
                lossBefore.append(.nan)  // filled below from lossAfter: the step has no choice
            }
            ratios.append(chosen)
            try base.advance(i, x: &x, state: &state, grid: grid, ratio: chosen)
        }
        lossAfter.append(Self.meanSquaredError(x, groundTruth[grid.steps]))
        for i in lossBefore.indices where lossBefore[i].isNaN { lossBefore[i] = lossAfter[i] }
        return Result(ratios: ratios, errorBefore: errorBefore, errorAfter: lossAfter[grid.steps - 1],
                      stepLossBefore: lossBefore, stepLossAfter: lossAfter, evaluations: denoiser.evaluations)
    }

    /// The mean squared error of `solver`'s final sample from `noise` against `target` (for example
    /// the last state of a ground truth from held-out noise).
    public static func error(of solver: DCSolver, model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid,
                             noise: SampleTensor, target: SampleTensor) throws -> Double {
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid,
                                  initialSample: SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0]))
        let out = try run.finish()
        guard out.shape == target.shape else {
            throw SamplingError.invalidConfiguration("dc_solver fit: the target is shaped \(target.shape), the samples \(out.shape)")
        }
        return meanSquaredError(out, target)
    }

    static func run(_ solver: DCSolver, grid: TimeGrid, context: SolverContext, initialSample: SampleTensor) throws -> SampleTensor {
        var x = initialSample
        var state = solver.makeState(for: x, grid: grid)
        for i in 0..<grid.steps { try solver.step(i, x: &x, state: &state, context: context) }
        return x
    }

    /// `mean (a − b)²` in `Double`.
    package static func meanSquaredError(_ a: SampleTensor, _ b: SampleTensor) -> Double {
        var sum = 0.0
        for (u, v) in zip(a.scalars, b.scalars) { let d = Double(u) - Double(v); sum += d * d }
        return sum / Double(Swift.max(a.count, 1))
    }

    /// Brent's minimization without derivatives (Brent 1973, "Algorithms for Minimization without
    /// Derivatives", Ch. 5): golden-section steps, replaced by parabolic interpolation through the
    /// three best points where that is safe, stopping when the bracket around the best point is
    /// within `tolerance` or after `maximumEvaluations`. Returns the best point seen and the value
    /// at `start` (the first evaluation).
    package static func brentMinimum(in bounds: ClosedRange<Double>, start: Double, tolerance: Double, maximumEvaluations: Int,
                             _ f: (Double) throws -> Double) rethrows -> (x: Double, value: Double, startValue: Double, evaluations: Int) {
        let golden = 0.381_966_011_250_105_1  // (3 − √5)/2
        var a = bounds.lowerBound, b = bounds.upperBound
        var x = Swift.min(Swift.max(start, a), b), w = x, v = x
        var fx = try f(x)
        let startValue = fx
        var fw = fx, fv = fx
        var d = 0.0, e = 0.0
        var evaluations = 1
        while evaluations < maximumEvaluations {
            let m = 0.5 * (a + b)
            let tol1 = tolerance, tol2 = 2 * tol1
            if abs(x - m) <= tol2 - 0.5 * (b - a) { break }
            var parabolic = false
            if abs(e) > tol1 {
                let r = (x - w) * (fx - fv)
                var q = (x - v) * (fx - fw)
                var p = (x - v) * q - (x - w) * r
                q = 2 * (q - r)
                if q > 0 { p = -p } else { q = -q }
                let previousStep = e
                e = d
                if abs(p) < abs(0.5 * q * previousStep) && p > q * (a - x) && p < q * (b - x) {
                    d = p / q
                    let u = x + d
                    if u - a < tol2 || b - u < tol2 { d = m >= x ? tol1 : -tol1 }
                    parabolic = true
                }
            }
            if !parabolic {
                e = x >= m ? a - x : b - x
                d = golden * e
            }
            let u = abs(d) >= tol1 ? x + d : x + (d >= 0 ? tol1 : -tol1)
            let fu = try f(u)
            evaluations += 1
            if fu <= fx {
                if u >= x { a = x } else { b = x }
                v = w; fv = fw; w = x; fw = fx; x = u; fx = fu
            } else {
                if u < x { a = u } else { b = u }
                if fu <= fw || w == x {
                    v = w; fv = fw; w = u; fw = fu
                } else if fu <= fv || v == x || v == w {
                    v = u; fv = fu
                }
            }
        }
        return (x, fx, startValue, evaluations)
    }
}
