import DiffusionCore
import DiffusionEvaluation

/// Two configurations' RMSEs over many more draws than have a ground truth, for the draws that
/// change mixture component rarely (about one in a thousand for a searched 20-step schedule) and
/// then dominate an RMSE: a stratified estimate (Cochran, *Sampling Techniques*, ch. 5).
///
/// Both configurations run on ``extra`` draws besides the validation draws. The ``flagged``
/// extra draws whose two endpoints differ the most (`δ = ‖x − y‖`) get a ground truth; the
/// others, where the two agree to within the largest unflagged `δ = T`, count at the mean squared
/// error of the validation draws that agree as closely:
///
///     SSE = Σ_validation e² + Σ_flagged e² + (N_extra − K) · mean_{validation, δ ≤ T} e²
///
/// and ``Errors/ratioInterval(resamples:confidence:seed:)`` bootstraps the two strata.
/// A draw that one configuration sends to another component is among the flagged, and counts at
/// its true error; without such draws the estimate is the validation RMSE. Ground truth is solved
/// for `K` draws, not `N_extra`, which is what makes thousands of draws affordable.
package final class RareDrawCheck {
    let model: any DiffusionModel
    let schedule: any NoiseSchedule
    /// The validation draws and their ground truth.
    let validation: SchedulingObjective
    /// Standard-normal noise of the extra draws, `[N_extra] + sampleShape`.
    let extra: SampleTensor
    /// The extra draws that get a ground truth.
    let flagged: Int

    /// Each run's endpoints on the validation and extra draws, by its key: a finalist is checked
    /// against each anchor, and an anchor against each finalist that reaches the check.
    private var runs: [Int: (validation: [Float], extra: [Float])] = [:]

    package init(model: any DiffusionModel, schedule: any NoiseSchedule, validation: SchedulingObjective, extra: SampleTensor, flagged: Int) {
        self.model = model; self.schedule = schedule; self.validation = validation; self.extra = extra; self.flagged = flagged
    }

    /// A configuration as the tuner runs it, with a key that names it among all the runs this
    /// check sees (its endpoints are kept by the key).
    package typealias Run = (key: Int, solver: any Solver, grid: TimeGrid)

    /// The draws with a ground truth, their errors under `x` and `y` and their weights: the
    /// validation draws, then the flagged extra ones. A validation draw on which the two agree to
    /// within `T` also stands for its share of the unflagged extra draws, so that
    /// `√(Σ w·e² / (Σ w · d))` is the estimated RMSE (``rmse(_:)``), `Σ w` being all the draws.
    package struct Errors {
        package var x: [Double]
        package var y: [Double]
        package var weights: [Double]
        /// The first `validationCount` entries are validation draws, the rest flagged extra ones.
        package var validationCount: Int
        package var dimension: Int

        package init(x: [Double], y: [Double], weights: [Double], validationCount: Int, dimension: Int) {
            self.x = x; self.y = y; self.weights = weights; self.validationCount = validationCount; self.dimension = dimension
        }

        /// The estimated RMSEs of `x` and `y`.
        package var rmse: (x: Double, y: Double) {
            func rmse(_ e: [Double]) -> Double {
                (zip(e, weights).reduce(0.0) { $0 + $1.1 * $1.0 * $1.0 } / (weights.reduce(0, +) * Double(dimension))).squareRoot()
            }
            return (rmse(x), rmse(y))
        }

        /// A percentile bootstrap interval of the ratio of the estimated RMSEs, `x` over `y`
        /// (`Metrics.bootstrapRatioInterval`): the validation and the flagged draws are each drawn
        /// again within their stratum, the same indices for both configurations. (Each validation
        /// draw carries its weight, so the unflagged draws' estimate varies with the validation
        /// draws it rests on.)
        package func ratioInterval(resamples: Int = 2000, confidence: Double = 0.9, seed: UInt64 = 0) -> ClosedRange<Double> {
            Metrics.bootstrapRatioInterval(x, y, weights: weights, strata: [0..<validationCount, validationCount..<x.count],
                                           resamples: resamples, confidence: confidence, seed: seed)
        }
    }

    /// The errors of `x` and `y` on the validation draws and on the flagged extra draws.
    package func errors(_ x: Run, _ y: Run) throws -> Errors {
        let d = extra.sampleCount
        let ((fvx, fox), (fvy, foy)) = (try endpoints(x), try endpoints(y))
        let (vx, ox, vy, oy) = (fvx.map(Double.init), fox.map(Double.init), fvy.map(Double.init), foy.map(Double.init))
        let comparison = validation.comparison
        let ex = Metrics.perSampleErrors(vx, try comparison.reference(from: x.grid[0]).endpoint, dimension: d)
        let ey = Metrics.perSampleErrors(vy, try comparison.reference(from: y.grid[0]).endpoint, dimension: d)
        let validationDistance = Metrics.perSampleErrors(vx, vy, dimension: d)

        let distance = Metrics.perSampleErrors(ox, oy, dimension: d)
        let order = distance.indices.sorted { distance[$0] != distance[$1] ? distance[$0] > distance[$1] : $0 < $1 }
        let k = Swift.min(flagged, order.count)
        let chosen = Array(order.prefix(k))
        let threshold = k < order.count ? distance[order[k]] : -Double.infinity
        func flaggedErrors(_ run: Run, _ out: [Double]) throws -> [Double] {
            guard k > 0 else { return [] }
            let subset = SampleTensor(shape: [k] + extra.sampleShape, scalars: chosen.flatMap { extra.scalars[($0 * d)..<(($0 + 1) * d)] })
            let truth = try comparison.groundTruth.solve(
                model: model, schedule: schedule, x: SampleTensor.initialSample(noise: subset, schedule: schedule, level: run.grid[0]),
                from: run.grid[0], to: schedule.cleanLevel).solution.endpoint
            return Metrics.perSampleErrors(chosen.flatMap { out[($0 * d)..<(($0 + 1) * d)] }, truth, dimension: d)
        }
        // The unflagged extra draws are shared by the validation draws that agree as closely (all of them if none does).
        let agreeing = validationDistance.map { $0 <= threshold }
        let count = agreeing.filter { $0 }.count
        let share = Double(extra.batchSize - k) / Double(count == 0 ? agreeing.count : count)
        let weights = agreeing.map { 1 + ($0 || count == 0 ? share : 0) } + [Double](repeating: 1, count: k)
        return Errors(x: ex + (try flaggedErrors(x, ox)), y: ey + (try flaggedErrors(y, oy)), weights: weights,
                      validationCount: ex.count, dimension: d)
    }

    /// The endpoints of `run` on the validation and the extra draws, as `SamplerComparison` runs
    /// it (the same step noise).
    private func endpoints(_ run: Run) throws -> (validation: [Float], extra: [Float]) {
        if let known = runs[run.key] { return known }
        func sample<S: Solver>(_ solver: S, _ noise: SampleTensor) throws -> [Float] {
            try SamplingRun(model: model, schedule: schedule, solver: solver, grid: run.grid,
                            initialSample: SampleTensor.initialSample(noise: noise, schedule: schedule, level: run.grid[0]),
                            noise: SeededNoise(seed: validation.comparison.stepNoiseSeed)).finish().scalars
        }
        let out = (try sample(run.solver, validation.comparison.noise), try sample(run.solver, extra))
        runs[run.key] = out
        return out
    }
}
