/// A diffusion model that is awaited: an actor, or a network that waits for a GPU or another
/// process. The async form of ``DiffusionModel``, returning its output instead of writing it.
///
/// An actor conforms with `nonisolated` properties; a synchronous model becomes one with
/// ``AsyncModelAdapter``.
public protocol AsyncDiffusionModel: Sendable {
    /// The shape of one sample, for example `[2]` or `[1, 8, 8]`.
    var sampleShape: [Int] { get }
    /// What ``predict(_:at:)`` returns (ε, x̂₀, v or flow velocity).
    var parameterization: Parameterization { get }
    /// A short description for reports.
    var name: String { get }
    /// The model's prediction for the batch `x` at `level` (the same shape as `x`).
    func predict(_ x: SampleTensor, at level: NoiseLevel) async throws -> SampleTensor
}

/// A synchronous ``DiffusionModel`` seen as an ``AsyncDiffusionModel`` (it runs on the caller's task).
public struct AsyncModelAdapter: AsyncDiffusionModel {
    public let model: any DiffusionModel
    public init(_ model: any DiffusionModel) { self.model = model }
    public var sampleShape: [Int] { model.sampleShape }
    public var parameterization: Parameterization { model.parameterization }
    public var name: String { model.name }
    public func predict(_ x: SampleTensor, at level: NoiseLevel) async throws -> SampleTensor {
        var output = SampleTensor(zeros: x.shape)
        try model.predict(x, at: level, into: &output)
        return output
    }
}

/// One sampling run against an awaited model, a step at a time, with cooperative cancellation:
/// `Task.checkCancellation()` before every model evaluation, so a cancelled task stops after at
/// most the evaluation in flight and throws `CancellationError`.
///
/// ```swift
/// let run = try AsyncSamplingRun(model: model, schedule: schedule, solver: DPMSolverPlusPlus(),
///                                grid: grid, initialSample: x)
/// while let step = try await run.advance() { print("step \(step.index + 1)/\(step.count)") }
/// ```
///
/// No solver is written twice: the run steps a ``SolverScheduler`` (ask/tell), which runs the
/// solver's own synchronous code by replay, and awaits the model between its questions. The samples
/// are ``SamplingRun``'s bit for bit, from the same model outputs and step noise. Not supported:
/// `dpm_adaptive` (its levels depend on the outputs) and dynamic thresholding (use ``SamplingRun``).
///
/// Sendable: models (``DiffusionModel``, ``AsyncDiffusionModel``), tensors, grids, levels and plans
/// are `Sendable`. A run and a ``NoiseSource`` hold mutable state and are not: a run belongs to one
/// task at a time. It is handed to another task whole, by region-based isolation (SE-0414): a run
/// made from values no one else holds can be captured by `Task { try await run.finish() }`, after
/// which the compiler refuses any use of it, or of its noise source, by the task that made it.
/// ``advance()`` is `nonisolated(nonsending)` (SE-0461): it runs on the caller's actor, so a
/// main-actor caller keeps the run on the main actor while the model's work happens where it lives.
public final class AsyncSamplingRun {
    public let model: any AsyncDiffusionModel
    public let grid: TimeGrid
    /// The current sample between steps: the initial sample before the first step, the result after
    /// the last. The caller may change it between steps (inpainting re-blends its known pixels,
    /// ``SampleTensor/blendKnown(_:mask:noise:level:)`` at ``currentLevel``), keeping its shape.
    public var sample: SampleTensor
    private let scheduler: SolverScheduler

    /// Prepares a run from `initialSample`, the state at `grid[0]` in the model's coordinates
    /// (`x = α·x₀ + σ·ε`), as ``SamplingRun``.
    ///
    /// - Parameters:
    ///   - model: The model to sample.
    ///   - schedule: The noise schedule the model was trained on.
    ///   - solver: The solver that takes the steps.
    ///   - grid: The noise levels of the steps, largest first.
    ///   - initialSample: The batch at `grid[0]`.
    ///   - noise: The step noise of stochastic solvers.
    /// - Throws: ``SamplingError`` for a sample that does not fit the model, or a solver a
    ///   ``SolverScheduler`` cannot list ahead (`dpm_adaptive`).
    public init(model: any AsyncDiffusionModel, schedule: any NoiseSchedule, solver: any Solver, grid: TimeGrid,
                initialSample: SampleTensor, noise: (any NoiseSource)? = nil) throws {
        guard initialSample.sampleShape.reduce(1, *) == model.sampleShape.reduce(1, *), initialSample.batchSize > 0 else {
            throw SamplingError.shapeMismatch(expected: model.sampleShape, got: initialSample.sampleShape)
        }
        self.model = model
        self.grid = grid
        self.sample = initialSample
        self.scheduler = try SolverScheduler(solver: solver, grid: grid, schedule: schedule, parameterization: model.parameterization,
                                             sampleShape: model.sampleShape, noise: noise)
    }

    /// A run of what the resolver decided (``SamplingResolver``): its solver and grid.
    public convenience init(model: any AsyncDiffusionModel, schedule: any NoiseSchedule, plan: SamplingPlan,
                            initialSample: SampleTensor, noise: (any NoiseSource)? = nil) throws {
        try self.init(model: model, schedule: schedule, solver: plan.solver, grid: plan.grid, initialSample: initialSample, noise: noise)
    }

    /// The solver steps taken.
    public var stepsTaken: Int { scheduler.stepsTaken }
    /// Whether every step has been taken.
    public var isFinished: Bool { scheduler.isFinished }
    /// The model evaluations so far.
    public var evaluations: Int { scheduler.evaluations }
    /// The grid level of ``sample``: `grid[stepsTaken]`.
    public var currentLevel: NoiseLevel { scheduler.currentLevel }
    /// The clean estimate `x̂₀` of the latest model output (for previews); `nil` before the first.
    public var denoised: SampleTensor? { scheduler.denoised }

    /// Takes the next solver step, awaiting the model at each of its evaluations; returns `nil`
    /// when the run is finished.
    ///
    /// - Throws: `CancellationError` when the task is cancelled before an evaluation (the run stays
    ///   usable: ``sample`` is the last step's, and a later call resumes the step), or what the
    ///   model or the solver throws.
    @discardableResult
    nonisolated(nonsending) public func advance() async throws -> StepReport? {
        guard !isFinished else { return nil }
        let step = stepsTaken, from = currentLevel
        var x = sample
        while stepsTaken == step {
            try Task.checkCancellation()
            let e = scheduler.evaluations
            guard e < scheduler.levels.count else {
                throw SamplingError.invalidConfiguration("step \(step + 1) asked for more evaluations than the solver listed")
            }
            let t = scheduler.timeSteps[e]
            let input = try scheduler.scaleModelInput(timeStep: t, sample: x)
            let output = try await model.predict(input, at: scheduler.levels[e])
            x = try scheduler.step(output: output, timeStep: t, sample: x)
        }
        sample = x
        return StepReport(index: stepsTaken - 1, count: grid.steps, from: from, to: currentLevel, evaluations: evaluations)
    }

    /// Runs the remaining steps and returns the final sample.
    nonisolated(nonsending) public func finish() async throws -> SampleTensor {
        while try await advance() != nil {}
        return sample
    }
}
