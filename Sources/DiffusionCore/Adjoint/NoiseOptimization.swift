/// Gradient ascent of a reward on the initial noise of a deterministic sampling run, with the
/// gradient from ``AdjointDPM`` (Pan et al. 2024, Sec. 4.2; Wallace et al. 2023, DOODL).
///
/// The noise `ε` (`x_T = P·ε`, `P` the prior scale) is kept on its Gaussian shell: each step is a
/// normalized gradient step followed by a projection back to the sample's initial norm,
/// ```
/// ε ← ‖ε₀‖ · (ε + η·√D·g/‖g‖) / ‖ε + η·√D·g/‖g‖‖,      g = ∂r/∂ε = P·∂r/∂x_T
/// ```
/// so `η` is roughly the angle turned per step and the noise stays as likely under `N(0, I)` as
/// the draw it started from (`‖ε‖ ≈ √D`), instead of drifting to atypical norms. Each sample of
/// the batch is optimized on its own.
public struct NoiseOptimization: Sendable {
    /// The gradient's method (and the forward map it differentiates).
    public var adjoint: AdjointDPM
    /// Gradient steps.
    public var iterations: Int
    /// `η`, roughly the angle in radians each step turns the noise by.
    public var learningRate: Double

    /// - Throws: `SamplingError.invalidConfiguration` for a negative iteration count or a step
    ///   size that is not a positive finite number.
    public init(adjoint: AdjointDPM, iterations: Int, learningRate: Double) throws {
        guard iterations >= 0 else { throw SamplingError.invalidConfiguration("noise optimization: iterations must be at least 0, got \(iterations)") }
        guard learningRate.isFinite, learningRate > 0 else {
            throw SamplingError.invalidConfiguration("noise optimization: the learning rate must be a positive number, got \(learningRate)")
        }
        self.adjoint = adjoint; self.iterations = iterations; self.learningRate = learningRate
    }

    /// The optimized noise, its sample, and the rewards along the way.
    public struct Result: Sendable {
        /// The optimized noise `ε` (before the prior scale), `batch × D`.
        public var noise: [Double]
        /// The sample from it.
        public var sample: [Double]
        /// The rewards per sample before the first step.
        public var initialRewards: [Double]
        /// The rewards per sample after the last step.
        public var finalRewards: [Double]
        /// The mean reward after each iteration (the first entry before any step).
        public var meanRewards: [Double]
        /// Model evaluations per sample in all.
        public var evaluations: Int
    }

    /// Optimizes `noise` (`ε`, `batch × D`) for `reward` of the run on `grid`.
    public func run(noise: [Double], batch: Int, denoiser: any DenoiserPullback, grid: TimeGrid, schedule: any NoiseSchedule,
                    reward: any DifferentiableReward, label: Int? = nil) throws -> Result {
        let d = denoiser.sampleShape.reduce(1, *)
        guard noise.count == batch * d else { throw SamplingError.invalidConfiguration("noise optimization: \(noise.count) noise values for \(batch) samples of \(d)") }
        let prior = schedule.priorScale(at: grid[0])
        let radius = (0..<batch).map { b in norm(noise[(b * d)..<((b + 1) * d)]) }
        var eps = noise, evaluations = 0, means: [Double] = [], initial: [Double]?
        for _ in 0..<iterations {
            let current = try adjoint.gradients(from: eps.map { $0 * prior }, batch: batch, denoiser: denoiser, grid: grid,
                                                schedule: schedule, reward: reward, label: label)
            evaluations += current.forwardEvaluations + current.backwardEvaluations
            if initial == nil { initial = current.rewards }
            means.append(current.rewards.reduce(0, +) / Double(batch))
            for b in 0..<batch {
                let range = (b * d)..<((b + 1) * d)
                let g = current.noise[range].map { $0 * prior }
                let gNorm = norm(g[...])
                guard gNorm > 0, gNorm.isFinite else { continue }
                let step = learningRate * Double(d).squareRoot() / gNorm
                var moved = range.map { eps[$0] + step * g[$0 - range.lowerBound] }
                let scale = radius[b] / norm(moved[...])
                for j in 0..<d { moved[j] *= scale }
                eps.replaceSubrange(range, with: moved)
            }
        }
        let sample = try adjoint.sample(from: eps.map { $0 * prior }, batch: batch, denoiser: denoiser, grid: grid, schedule: schedule)
        evaluations += adjoint.evaluations(on: grid, schedule: schedule)
        let final = try reward.rewardsAndGradients(of: sample, batch: batch, label: label).rewards
        means.append(final.reduce(0, +) / Double(batch))
        return Result(noise: eps, sample: sample, initialRewards: initial ?? final, finalRewards: final,
                      meanRewards: means, evaluations: evaluations)
    }

    private func norm(_ v: ArraySlice<Double>) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}
