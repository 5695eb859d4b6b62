import DiffusionCore
import DiffusionNeural
import DiffusionEvaluation

/// Skip-Tuning (Ma et al. 2024, "The Surprising Effectiveness of Skip-Tuning in Diffusion
/// Sampling", ICML): scaling down a U-Net's skip connections, with no training, improves what a
/// fast sampler draws at few steps.
///
/// The factors are searched per resolution level by coordinate descent: starting from all 1, each
/// level in turn tries every candidate factor with the others held, and keeps the best; the sweep
/// repeats for ``rounds``. The score is any figure to minimize — in
/// ``frechetScore(model:schedule:solver:spacing:nfe:noise:classifier:stepsOffset:)`` the Fréchet distance of samples to the data in a classifier's feature space (the paper tunes on
/// FID). Scores are cached by factors, so a configuration is never evaluated twice.
public struct SkipTuning: Sendable {
    /// Factors each level tries.
    public var candidates: [Double]
    /// Sweeps over the levels.
    public var rounds: Int

    /// One evaluated configuration.
    public struct Trial: Sendable, Codable, Equatable {
        public var scales: [Double]
        public var score: Double
    }

    /// What a search found.
    public struct Result: Sendable, Codable, Equatable {
        /// The best factors, outermost first.
        public var scales: [Double]
        public var score: Double
        /// The score of the network as trained (all factors 1).
        public var baselineScore: Double
        /// Every configuration evaluated, in order.
        public var trials: [Trial]
    }

    public init(candidates: [Double] = [1.0, 0.98, 0.96, 0.94, 0.92, 0.9, 0.85, 0.8], rounds: Int = 2) {
        self.candidates = candidates
        self.rounds = rounds
    }

    /// Searches the factors of `model` that minimize `score`.
    /// - Parameters:
    ///   - model: The network whose skip connections are scaled, one factor per resolution level.
    ///   - score: The figure to minimize for the model with a configuration of factors applied.
    ///   - progress: Called after each evaluated configuration.
    public func search<M: SkipScalableModel>(_ model: M, score: (M) throws -> Double,
                                             progress: (Trial) -> Void = { _ in }) throws -> Result {
        guard !candidates.isEmpty, candidates.allSatisfy({ $0.isFinite }) else {
            throw SamplingError.invalidConfiguration("skip tuning: candidate factors must be finite and at least one")
        }
        var trials: [Trial] = []
        var cache: [[Double]: Double] = [:]
        func evaluate(_ scales: [Double]) throws -> Double {
            if let known = cache[scales] { return known }
            let value = try score(try model.withSkipScales(scales))
            cache[scales] = value
            let trial = Trial(scales: scales, score: value)
            trials.append(trial)
            progress(trial)
            return value
        }
        var best = [Double](repeating: 1, count: model.skipLevelCount)
        let baseline = try evaluate(best)
        var bestScore = baseline
        for _ in 0..<Swift.max(rounds, 1) {
            let before = best
            for level in best.indices {
                for factor in candidates where factor != best[level] {
                    var trial = best
                    trial[level] = factor
                    let value = try evaluate(trial)
                    // Ties keep the earlier (untuned-first) configuration; NaN never wins.
                    if value < bestScore { best = trial; bestScore = value }
                }
            }
            if best == before { break }
        }
        return Result(scales: best, score: bestScore, baselineScore: baseline, trials: trials)
    }

    /// The Fréchet distance in `classifier`'s feature space between the data and the samples that
    /// `solver` draws from `noise` with `model` at `nfe` evaluations on `spacing`'s grid.
    public static func frechetScore(model: any DiffusionModel, schedule: any NoiseSchedule, solver: String, spacing: StepSpacing,
                                    nfe: Int, noise: SampleTensor, classifier: FeatureClassifier, stepsOffset: Int = 0) throws -> Double {
        let samples = try sample(model: model, schedule: schedule, solver: solver, spacing: spacing, nfe: nfe, noise: noise,
                                 stepsOffset: stepsOffset)
        return try classifier.frechetDistance(of: samples)
    }

    /// The endpoints `solver` reaches from the standard-normal `noise` within `nfe` evaluations.
    public static func sample(model: any DiffusionModel, schedule: any NoiseSchedule, solver name: String, spacing: StepSpacing,
                              nfe: Int, noise: SampleTensor, stepsOffset: Int = 0) throws -> SampleTensor {
        let solver = try SolverCatalog.solver(named: name)
        return try sample(solver, model: model, schedule: schedule, spacing: spacing, nfe: nfe, noise: noise, stepsOffset: stepsOffset)
    }

    private static func sample<S: Solver>(_ solver: S, model: any DiffusionModel, schedule: any NoiseSchedule, spacing: StepSpacing,
                                          nfe: Int, noise: SampleTensor, stepsOffset: Int) throws -> SampleTensor {
        let make = { (steps: Int) in
            try StepSchedule(spacing: spacing, steps: steps, final: .zero, stepsOffset: stepsOffset).grid(on: schedule)
        }
        guard let (_, grid) = try solver.steps(forBudget: nfe, grid: make) else {
            throw SamplingError.invalidConfiguration("\(solver.name) cannot run within \(nfe) model evaluations")
        }
        let x = SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0])
        return try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x,
                               noise: SeededNoise(seed: 0)).finish()
    }
}
