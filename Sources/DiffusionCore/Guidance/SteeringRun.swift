/// A sampling run steered by a particle method (``FeynmanKacSteering``, ``SoftValueDecoding``):
/// `samples × K` particles advance together through one ``SamplingRun``; after each step the
/// model is evaluated at the new particles, the reward of each clean estimate `x̂₀` goes to the
/// method, and the particles it picks replace the others. That evaluation is the one the solver's
/// next step would make, so it is handed to the solver instead of repeated: steering costs
/// `K × steps` model evaluations per sample, and with `K = 1` the run is the unsteered one, bit for bit.
///
/// Resampling moves samples between particles, and the solver's state moves with them
/// (``ParticleState``): a multistep solver continues each particle with its ancestor's history of
/// model outputs. Steering a deterministic solver is valid but weak: copies of a particle stay
/// identical (``AncestralTransitions`` gives the single-step ones stochastic transitions).
public final class SteeringRun<S: Solver> {
    public let steering: any ParticleSteering
    /// The number of samples the run returns.
    public let samples: Int
    /// The class label passed to the reward.
    public let label: Int?
    private let run: SamplingRun<S>
    private let model: PrimedModel
    private let draws: CategoricalDraws
    private var weights: ParticleWeights

    /// - Parameters:
    ///   - model: The model the particles sample (its evaluations are the rewards' `x̂₀` too).
    ///   - schedule: The noise schedule the model was trained on.
    ///   - solver: A solver whose state can follow resampled particles (``ParticleState``).
    ///   - grid: The noise levels of the steps, largest first.
    ///   - initialSample: `samples × K` particles, those of sample `i` at `i·K ..< (i+1)·K`.
    ///   - noise: The step noise of stochastic solvers.
    ///   - steering: The method (FK steering or SVDD) with its reward, scale and particle count.
    ///   - label: The class label passed to the reward, if any.
    ///   - seed: The seed of the resampling draws.
    ///   - thresholding: Dynamic thresholding of every clean estimate.
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` when the solver's state cannot follow
    ///   resampled particles or the batch is not a multiple of `K`.
    public init(model: any DiffusionModel, schedule: any NoiseSchedule, solver: S, grid: TimeGrid, initialSample: SampleTensor,
                noise: (any NoiseSource)?, steering: any ParticleSteering, label: Int? = nil, seed: UInt64,
                thresholding: DynamicThresholding? = nil) throws {
        guard S.State.self is any ParticleState.Type else {
            throw SamplingError.invalidConfiguration("steering resamples particles between steps, and \(solver.name) keeps per-sample state "
                                                     + "that cannot follow them (see docs/STEERING.md for the samplers that can)")
        }
        let k = steering.particles
        guard initialSample.batchSize % k == 0 else {
            throw SamplingError.invalidConfiguration("steering: \(initialSample.batchSize) particles are not a multiple of \(k) per sample")
        }
        self.steering = steering
        self.samples = initialSample.batchSize / k
        self.label = label
        self.model = PrimedModel(base: model)
        self.draws = CategoricalDraws(seed: seed)
        self.weights = ParticleWeights(count: initialSample.batchSize)
        self.run = try SamplingRun(model: self.model, schedule: schedule, solver: solver, grid: grid, initialSample: initialSample,
                                   noise: noise, thresholding: thresholding)
        run.afterStep = { [unowned self] x, level in try self.reweight(&x, at: level) }
    }

    /// Model evaluations per sample: `K` times the batch evaluations.
    public var evaluations: Int { model.calls * steering.particles }
    public var grid: TimeGrid { run.grid }

    /// Takes the next step (and resamples); `nil` when finished.
    @discardableResult
    public func advance() throws -> StepReport? {
        guard var report = try run.advance() else { return nil }
        report.evaluations = evaluations
        return report
    }

    /// Runs the remaining steps and returns one sample per group, chosen by the method.
    public func finish() throws -> SampleTensor {
        while try advance() != nil {}
        let x = run.sample, level = run.grid[run.grid.steps]
        let data = level.isClean ? x : try model.prime(x, at: level)
        let chosen = steering.select(rewards: try rewards(data), weights: weights, draws: draws)
        return x.gathering(chosen.enumerated().map { $0.offset * steering.particles + $0.element })
    }

    private func reweight(_ x: inout SampleTensor, at level: NoiseLevel) throws {
        guard !level.isClean else { return }
        let data = try model.prime(x, at: level)
        guard let ancestors = steering.resample(after: run.stepsTaken - 1, rewards: try rewards(data), weights: &weights, draws: draws),
              ancestors != Array(ancestors.indices) else { return }
        x = x.gathering(ancestors)
        run.gatherState(ancestors)
        model.reorder(ancestors)
    }

    private func rewards(_ data: SampleTensor) throws -> [Double] {
        let r = try steering.reward.rewards(of: data, label: label)
        guard r.count == data.batchSize, r.allSatisfy(\.isFinite) else {
            throw SamplingError.invalidConfiguration("reward \(steering.reward.name) gave \(r.count) values for \(data.batchSize) particles, or NaN/Inf")
        }
        return r
    }
}

/// A model whose next evaluation can be made ahead of the solver: ``prime(_:at:)`` evaluates and
/// keeps the output, and the solver's call at the same point and level receives it without a
/// second evaluation. Used by one run at a time (hence unchecked `Sendable`).
final class PrimedModel: DiffusionModel, @unchecked Sendable {
    let base: any DiffusionModel
    private(set) var calls = 0
    private var primed: (x: SampleTensor, level: NoiseLevel, output: SampleTensor)?

    init(base: any DiffusionModel) { self.base = base }

    var sampleShape: [Int] { base.sampleShape }
    var parameterization: Parameterization { base.parameterization }
    var name: String { base.name }

    func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        if let p = primed, p.level == level, p.x == x {
            primed = nil
            output.assign(p.output)
            return
        }
        calls += 1
        try base.predict(x, at: level, into: &output)
    }

    /// Evaluates the model at `x` and returns its clean estimate `x̂₀`.
    func prime(_ x: SampleTensor, at level: NoiseLevel) throws -> SampleTensor {
        var output = SampleTensor(zeros: x.shape), data = SampleTensor(zeros: x.shape), unused = SampleTensor(zeros: x.shape)
        calls += 1
        try base.predict(x, at: level, into: &output)
        guard base.parameterization.convert(output: output, at: x, level: level, data: &data, noise: &unused, needs: .data), data.isFinite else {
            throw SamplingError.invalidConfiguration("steering: the model's clean estimate contains NaN or Inf (sigma \(level.sigma))")
        }
        primed = (x, level, output)
        return data
    }

    /// Moves the primed evaluation with its particles.
    func reorder(_ ancestors: [Int]) {
        guard let p = primed else { return }
        primed = (p.x.gathering(ancestors), p.level, p.output.gathering(ancestors))
    }
}

extension SampleTensor {
    /// The samples at `indices`, in that order (repeats allowed).
    package func gathering(_ indices: [Int]) -> SampleTensor {
        let per = sampleCount
        var out = SampleTensor(zeros: [indices.count] + sampleShape)
        scalars.withUnsafeBufferPointer { source in
            out.scalars.withUnsafeMutableBufferPointer { target in
                for (row, i) in indices.enumerated() {
                    (target.baseAddress! + row * per).update(from: source.baseAddress! + i * per, count: per)
                }
            }
        }
        return out
    }
}
