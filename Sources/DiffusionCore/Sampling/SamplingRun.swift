/// One sampling run, advanced a step at a time by the caller.
///
/// ```swift
/// let run = try SamplingRun(model: model, schedule: schedule, solver: DPMSolverPlusPlus(),
///                           grid: grid, initialSample: x)
/// while let step = try run.advance() {
///     print("step \(step.index + 1)/\(step.count)")   // progress; break out to cancel
/// }
/// let samples = run.sample
/// ```
/// The caller owns the loop, so progress reports, previews (``denoised``) and cancellation
/// need no callbacks.
public final class SamplingRun<S: Solver> {
    public let solver: S
    public let grid: TimeGrid
    public let denoiser: Denoiser
    /// The current sample: the initial sample before the first step, the result after the last.
    public private(set) var sample: SampleTensor
    /// The number of steps taken.
    public private(set) var stepsTaken = 0
    private var state: S.State
    private let context: SolverContext
    /// Called after every step with the new sample and its level (`grid[i + 1]`), which it may
    /// change: img2img inpainting re-blends its known pixels here (``ImageToImage``,
    /// ``SampleTensor/blendKnown(_:mask:noise:level:)``), as diffusers' inpaint pipelines do between
    /// scheduler steps. Multistep solvers keep their history of model outputs, as with ``SolverScheduler``.
    public var afterStep: ((inout SampleTensor, NoiseLevel) throws -> Void)?

    /// Prepares a run from `initialSample`, which is the state at `grid[0]` in the model's
    /// coordinates (`x = α·x₀ + σ·ε`).
    ///
    /// - Parameters:
    ///   - model: The model to sample.
    ///   - schedule: The noise schedule the model was trained on.
    ///   - solver: The solver that takes the steps.
    ///   - grid: The noise levels of the steps, largest first.
    ///   - initialSample: The batch at `grid[0]`.
    ///   - noise: The step noise of stochastic solvers; `nil` for deterministic ones.
    ///   - previews: Keep ``denoised`` current at every step (costs a pass over memory per
    ///     evaluation for solvers that do not otherwise need `x̂₀`).
    ///   - thresholding: Dynamic thresholding of every clean estimate (Imagen; DPM-Solver++).
    public init(model: any DiffusionModel, schedule: any NoiseSchedule, solver: S, grid: TimeGrid,
                initialSample: SampleTensor, noise: (any NoiseSource)? = nil, previews: Bool = false,
                thresholding: DynamicThresholding? = nil) throws {
        guard initialSample.sampleShape.reduce(1, *) == model.sampleShape.reduce(1, *), initialSample.batchSize > 0 else {
            throw SamplingError.shapeMismatch(expected: model.sampleShape, got: initialSample.sampleShape)
        }
        self.solver = solver
        self.grid = grid
        self.denoiser = Denoiser(model: model, schedule: schedule, thresholding: thresholding)
        self.sample = initialSample
        self.state = solver.makeState(for: initialSample, grid: grid)
        self.context = SolverContext(grid: grid, denoiser: denoiser, noise: noise, frame: schedule.frame,
                                     alwaysNeeds: previews ? .data : [])
    }

    /// Whether every step has been taken.
    public var isFinished: Bool { stepsTaken == grid.steps }
    /// The model evaluations so far.
    public var evaluations: Int { denoiser.evaluations }
    /// The solver's latest clean estimate `x̂₀` (zeros before the first step; current at every
    /// step when the run was made with `previews: true`).
    public var denoised: SampleTensor { state.denoised }

    /// Takes the next step; returns `nil` when the run is finished.
    @discardableResult
    public func advance() throws -> StepReport? {
        guard !isFinished else { return nil }
        let i = stepsTaken
        try solver.step(i, x: &sample, state: &state, context: context)
        stepsTaken += 1
        try afterStep?(&sample, grid[stepsTaken])
        return StepReport(index: i, count: grid.steps, from: grid[i], to: grid[i + 1], evaluations: denoiser.evaluations)
    }

    /// Makes row `i` of the solver's per-sample state a copy of row `indices[i]`, after a particle
    /// method resampled the sample in ``afterStep`` (a state that is no ``ParticleState`` is left alone).
    package func gatherState(_ indices: [Int]) {
        guard var s = state as? any ParticleState else { return }
        s.gather(indices)
        if let gathered = s as? S.State { state = gathered }
    }

    /// Runs the remaining steps and returns the final sample.
    public func finish() throws -> SampleTensor {
        while try advance() != nil {}
        return sample
    }
}

/// What one step did.
public struct StepReport: Sendable, Equatable {
    /// The step's index, from 0.
    public var index: Int
    /// The number of steps in the run.
    public var count: Int
    public var from: NoiseLevel
    public var to: NoiseLevel
    /// Model evaluations so far in the run.
    public var evaluations: Int
}

extension SampleTensor {
    /// Initial noise for a run starting at `level`: standard-normal draws scaled by the
    /// schedule's prior standard deviation there (`σ_max` for VE, 1 for VP and flow).
    public static func initialSample(noise: SampleTensor, schedule: any NoiseSchedule, level: NoiseLevel) -> SampleTensor {
        var x = noise
        x.scale(by: schedule.priorScale(at: level))
        return x
    }
}
