/// Any catalog solver, stepped by a pipeline that owns its denoising loop and calls the model
/// itself (ask/tell), in the shape of ml-stable-diffusion's `Scheduler` protocol as GuernikaKit
/// extends it:
///
/// ```swift
/// var x = SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0])  // · initNoiseSigma
/// for t in scheduler.timeSteps {
///     let output = model(scheduler.scaleModelInput(timeStep: t, sample: x), t)   // ε, x̂₀, v or u: what the model predicts
///     x = try scheduler.step(output: output, timeStep: t, sample: x)
/// }
/// ```
///
/// ``timeSteps`` has one entry per model evaluation, stage points of two-evaluation solvers
/// included, in ``TimestepConvention``; ``levels`` has the same points as ``NoiseLevel``s.
/// ``step(output:timeStep:sample:)`` returns where the model is wanted next: a stage point inside a
/// solver step, the new sample at the end of one. At the end of a step the caller may change the
/// sample before the next call (inpainting re-blends its known pixels,
/// ``SampleTensor/blendKnown(_:mask:noise:level:)``); a stage point it changes is not seen, because
/// the solver computes it again.
///
/// The solver code is the one ``SamplingRun`` runs. Each call runs the current solver step from
/// its start against a model that answers with the outputs given so far in the step and stops the
/// step, with a private error, at the first evaluation it has none for; that point is what the
/// caller is asked for. The step's starting sample and solver state are kept, so every run of a
/// step starts from the same values, and the step noise drawn in a step is recorded and given
/// again, so a replay draws what the first run drew. The result is the pull-style run's, bit for
/// bit, from the same outputs and noise. Replaying costs solver arithmetic (a copy of the state
/// per evaluation), not model evaluations. ``levels`` come from a dry run over the grid, so a
/// solver that picks its levels from the model's outputs (`dpm_adaptive`) is refused.
public final class SolverScheduler {
    /// The grid of the solver's steps (``levels`` adds the stage points).
    public let grid: TimeGrid
    public let schedule: any NoiseSchedule
    /// What the model's outputs are (ε, x̂₀, v, flow velocity).
    public let parameterization: Parameterization
    /// How ``timeSteps`` state the noise levels.
    public let convention: TimestepConvention
    /// The coordinates of the sample the caller holds.
    public let sampleFrame: SampleFrame
    /// The noise level of every model evaluation, in order, stage points included.
    public let levels: [NoiseLevel]
    /// ``levels`` in the model's ``convention``: the `timestep` to pass to the model.
    public let timeSteps: [Double]
    /// The solver step that each evaluation belongs to.
    public let stepOfEvaluation: [Int]
    /// The model outputs given so far.
    public private(set) var evaluations = 0

    private let stepEvaluations: [Int]
    /// The same scheduler on another grid (for ``startingAt(strength:)``).
    private let remake: (TimeGrid) throws -> SolverScheduler
    private let model: ReplayModel
    private let makeDriver: (SampleTensor) -> any SchedulerDriver
    private var driver: (any SchedulerDriver)?
    /// Whether the current step has asked for an evaluation (the caller is inside a step).
    private var pending = false
    private var inputTaken = false
    private var lastOutput: SampleTensor?
    private var lastInput = SampleTensor(zeros: [1])
    private var lastLevel: NoiseLevel?

    /// A scheduler running `solver` over `grid` for a model with the given `parameterization`.
    ///
    /// - Parameters:
    ///   - solver: Any catalog solver but `dpm_adaptive`.
    ///   - grid: The noise levels of the steps, largest first.
    ///   - schedule: The noise schedule the model was trained on.
    ///   - parameterization: What the model's raw output is (ε, x̂₀, v or flow velocity).
    ///   - sampleShape: The shape of one sample (the dry run that lists ``levels`` uses it).
    ///   - noise: The step noise of stochastic solvers (``SeededNoise``, ``BrownianTreeNoise``);
    ///     `nil` for deterministic ones, which then refuse to draw as ``SamplingRun`` does.
    ///   - convention: The timestep the model takes (``timeSteps`` are in it).
    ///   - sampleFrame: The coordinates of the caller's sample (``SampleFrame``).
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` for `dpm_adaptive`, whose levels depend
    ///   on the model's outputs, or for a solver whose dry run disagrees with ``Solver/evaluations(on:)``.
    public init(solver: any Solver, grid: TimeGrid, schedule: any NoiseSchedule, parameterization: Parameterization,
                sampleShape: [Int], noise: (any NoiseSource)? = nil, convention: TimestepConvention = .time,
                sampleFrame: SampleFrame = .model) throws {
        if solver is DPMSolverAdaptive {
            throw SamplingError.invalidConfiguration(
                "\(solver.name) chooses its steps from the model's outputs, so it cannot list its noise levels ahead for a scheduler loop; use SamplingRun, or dpm_fast")
        }
        if solver is TimeShiftDPMSolver {
            throw SamplingError.invalidConfiguration(
                "\(solver.name) moves each sample to a level chosen from the sample, so it cannot list its noise levels ahead for a scheduler loop; use SamplingRun")
        }
        if sampleFrame == .varianceExploding && schedule.frame != .varianceExploding {
            throw SamplingError.invalidConfiguration("a variance-exploding sample frame needs a VP or VE schedule, not \(schedule.name)")
        }
        let (levels, perStep) = try Self.dryRun(solver, grid: grid, schedule: schedule, sampleShape: sampleShape)
        guard levels.count == solver.evaluations(on: grid), perStep.count == grid.steps else {
            throw SamplingError.invalidConfiguration(
                "\(solver.name) asks for \(levels.count) evaluations over \(grid.steps) steps, but declares \(solver.evaluations(on: grid)); it cannot be listed ahead")
        }
        self.grid = grid
        self.schedule = schedule
        self.parameterization = parameterization
        self.convention = convention
        self.sampleFrame = sampleFrame
        self.levels = levels
        self.timeSteps = levels.map { convention.timeStep(for: $0, schedule: schedule) }
        self.stepEvaluations = perStep
        self.stepOfEvaluation = perStep.enumerated().flatMap { Array(repeating: $0.offset, count: $0.element) }
        let model = ReplayModel(sampleShape: sampleShape, parameterization: parameterization)
        self.model = model
        let context = SolverContext(grid: grid, denoiser: Denoiser(model: model, schedule: schedule),
                                    noise: noise.map { ReplayNoise(base: $0) }, frame: schedule.frame)
        self.makeDriver = Self.driverFactory(solver, grid: grid, context: context, model: model)
        self.remake = { grid in
            try SolverScheduler(solver: solver, grid: grid, schedule: schedule, parameterization: parameterization, sampleShape: sampleShape,
                                noise: noise, convention: convention, sampleFrame: sampleFrame)
        }
    }

    /// A scheduler for what the resolver decided (``SamplingResolver``): its solver and grid, and
    /// the plan's schedule when it steps in another time (``SamplingRequest/time``).
    public convenience init(plan: SamplingPlan, schedule: any NoiseSchedule, parameterization: Parameterization,
                            sampleShape: [Int], noise: (any NoiseSource)? = nil, convention: TimestepConvention = .time,
                            sampleFrame: SampleFrame = .model) throws {
        try self.init(solver: plan.solver, grid: plan.grid, schedule: plan.schedule is ReframedSchedule ? plan.schedule : schedule,
                      parameterization: parameterization,
                      sampleShape: sampleShape, noise: noise, convention: convention, sampleFrame: sampleFrame)
    }

    /// The standard deviation of the initial noise: the schedule's prior scale at the first level
    /// (1 for VP and flow, `σ_max` for VE), or `σ/α` there for a ``SampleFrame/varianceExploding`` sample.
    public var initNoiseSigma: Double {
        sampleFrame == .model ? schedule.priorScale(at: grid[0]) : schedule.displaySigma(grid[0])
    }
    /// The solver steps completed.
    public var stepsTaken: Int { driver?.stepsTaken ?? 0 }
    /// Whether every evaluation has been given and every step taken.
    public var isFinished: Bool { stepsTaken == grid.steps }
    /// Whether the next evaluation starts a solver step (the sample may be changed before it).
    public var isAtStepBoundary: Bool { !pending }
    /// The grid level of the sample between steps: `grid[stepsTaken]`.
    public var currentLevel: NoiseLevel { grid[min(stepsTaken, grid.steps)] }

    /// The clean estimate `x̂₀` of the latest output at the point it was taken (for previews), as
    /// ``Parameterization`` converts it; `nil` before the first output.
    public var denoised: SampleTensor? {
        guard let lastOutput, let lastLevel else { return nil }
        let (c1, c2, _, _) = parameterization.coefficients(at: lastLevel)
        var data = SampleTensor(zeros: lastInput.shape)
        data.set((c1, lastInput), (c2, lastOutput))
        return data
    }

    /// A fresh scheduler for img2img at `strength` in `(0, 1]`: the same solver on the last
    /// `⌊steps·strength⌋` steps of the grid (``TimeGrid/startingAt(strength:)``, diffusers' rule and
    /// GuernikaKit's `calculateTimesteps(strength:)`), drawing from the same noise source. Start it
    /// from ``addNoise(originalSample:noise:timeStep:)`` at its first time step.
    public func startingAt(strength: Double) throws -> SolverScheduler {
        try remake(try grid.startingAt(strength: strength))
    }

    /// `originalSample` noised to the level of `timeStep` (one of ``timeSteps``), in the caller's
    /// ``sampleFrame``: `α·x₀ + σ·ε`, or `x₀ + (σ/α)·ε` in the variance-exploding frame
    /// (ml-stable-diffusion's `addNoise(originalSample:noise:strength:)`).
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` when `timeStep` is not listed.
    public func addNoise(originalSample: SampleTensor, noise: SampleTensor, timeStep: Double) throws -> SampleTensor {
        guard let index = timeSteps.firstIndex(of: timeStep) else {
            throw SamplingError.invalidConfiguration("time step \(timeStep) is not one of this scheduler's")
        }
        return toCaller(SampleTensor.addNoise(original: originalSample, noise: noise, level: levels[index]), at: levels[index])
    }

    /// The model's input for the evaluation at `timeStep`: the point the solver wants the model at,
    /// scaled as the model takes it. In the ``SampleFrame/model`` frame that is the sample itself
    /// (VP, flow, and VE models that precondition inside), or the point a solver moved it to before
    /// evaluating (Karras churn); in the ``SampleFrame/varianceExploding`` frame it is `α·y`, which is
    /// k-diffusion's `x/√(σ²+1)` on a VP schedule.
    public func scaleModelInput(timeStep: Double, sample: SampleTensor) throws -> SampleTensor {
        try begin(sample, timeStep: timeStep)
        inputTaken = true
        return model.request
    }

    /// Takes the model's raw `output` (what ``parameterization`` says it predicts) at `timeStep`
    /// and returns where the model is wanted next: the stage point inside a solver step, or the
    /// sample after the step (the final sample after the last).
    ///
    /// - Parameters:
    ///   - output: The model's raw output at the input ``scaleModelInput(timeStep:sample:)`` returned.
    ///   - timeStep: The entry of ``timeSteps`` the model was called at.
    ///   - sample: At a step boundary, the sample the step starts from (which the caller may
    ///     have changed); inside a step it is not read.
    /// - Throws: ``SamplingError`` for a time step out of order, non-finite outputs, a solver that
    ///   moves the sample before evaluating when ``scaleModelInput(timeStep:sample:)`` was skipped,
    ///   or what the solver throws.
    public func step(output: SampleTensor, timeStep: Double, sample: SampleTensor) throws -> SampleTensor {
        let started = try begin(sample, timeStep: timeStep)
        if started && !inputTaken, let driver, model.request != driver.start {
            throw SamplingError.invalidConfiguration(
                "this solver moves the sample before evaluating the model (churn); evaluate the model at scaleModelInput(timeStep:sample:)")
        }
        guard output.count == model.request.count else {
            throw SamplingError.shapeMismatch(expected: model.request.shape, got: output.shape)
        }
        lastOutput = output
        lastInput = model.request
        lastLevel = levels[evaluations]
        model.record(output)
        evaluations += 1
        inputTaken = false
        guard let driver else { throw SamplingError.invalidConfiguration("the scheduler has not started") }
        if try !driver.replay() {
            return toCaller(model.request, at: model.requestLevel)
        }
        pending = false
        while stepsTaken < grid.steps && stepEvaluations[stepsTaken] == 0 {
            driver.begin(from: driver.sample)
            guard try driver.replay() else { throw SamplingError.invalidConfiguration("step \(stepsTaken + 1) asked for an unlisted evaluation") }
        }
        return toCaller(driver.sample, at: currentLevel)
    }

    /// Starts the next solver step from `sample` when the caller is at a step boundary, and checks
    /// that `timeStep` is the next one listed; returns whether a step was started.
    @discardableResult
    private func begin(_ sample: SampleTensor, timeStep: Double) throws -> Bool {
        guard evaluations < levels.count else {
            throw SamplingError.invalidConfiguration("the scheduler has taken all \(levels.count) evaluations")
        }
        guard timeStep == timeSteps[evaluations] else {
            throw SamplingError.invalidConfiguration(
                "expected time step \(timeSteps[evaluations]) (evaluation \(evaluations + 1) of \(levels.count)), got \(timeStep)")
        }
        guard !pending else { return false }
        var x = sample
        if sampleFrame == .varianceExploding { x.scale(by: currentLevel.alpha) }
        if let driver {
            guard x.shape == driver.start.shape else { throw SamplingError.shapeMismatch(expected: driver.start.shape, got: x.shape) }
            driver.begin(from: x)
        } else {
            guard x.sampleShape.reduce(1, *) == model.sampleShape.reduce(1, *), x.batchSize > 0 else {
                throw SamplingError.shapeMismatch(expected: model.sampleShape, got: x.sampleShape)
            }
            let made = makeDriver(x)
            driver = made
            made.begin(from: x)
        }
        guard let driver, try !driver.replay() else {
            throw SamplingError.invalidConfiguration("step \(stepsTaken) finished without the evaluation it listed")
        }
        pending = true
        return true
    }

    /// `x` (model coordinates at `level`) in the caller's ``sampleFrame``.
    private func toCaller(_ x: SampleTensor, at level: NoiseLevel) -> SampleTensor {
        guard sampleFrame == .varianceExploding else { return x }
        var y = x
        y.scale(by: 1 / level.alpha)
        return y
    }

    /// The levels `solver` evaluates the model at over `grid`, and how many in each step: a run on
    /// one zero sample against a model that predicts `x̂₀ = 0`, with zero step noise.
    private static func dryRun<S: Solver>(_ solver: S, grid: TimeGrid, schedule: any NoiseSchedule,
                                          sampleShape: [Int]) throws -> ([NoiseLevel], [Int]) {
        let recorder = LevelRecorder(sampleShape: sampleShape)
        let context = SolverContext(grid: grid, denoiser: Denoiser(model: recorder, schedule: schedule),
                                    noise: ZeroNoise(), frame: schedule.frame)
        var x = SampleTensor(zeros: [1] + sampleShape)
        var state = solver.makeState(for: x, grid: grid)
        var perStep: [Int] = []
        for i in 0..<grid.steps {
            let before = recorder.levels.count
            try solver.step(i, x: &x, state: &state, context: context)
            perStep.append(recorder.levels.count - before)
        }
        return (recorder.levels, perStep)
    }

    private static func driverFactory<S: Solver>(_ solver: S, grid: TimeGrid, context: SolverContext,
                                                 model: ReplayModel) -> (SampleTensor) -> any SchedulerDriver {
        { x in Driver(solver: solver, grid: grid, context: context, model: model, first: x) }
    }
}

/// The coordinates of the sample a ``SolverScheduler``'s caller holds.
public enum SampleFrame: String, Sendable, Equatable {
    /// The model's own `x = α·x₀ + σ·ε`, which the model takes as it is (``SolverScheduler/scaleModelInput(timeStep:sample:)``
    /// is the identity): VP and flow models, and VE / EDM models that precondition inside.
    case model
    /// k-diffusion's and diffusers' Euler-family `y = x/α` (VP and VE schedules): the initial noise
    /// has `σ/α` (``SolverScheduler/initNoiseSigma``) and the model takes `α·y = y/√(σ²+1)`.
    case varianceExploding
}

/// The signal a replayed step stops with at an evaluation it has no output for.
private struct NeedEvaluation: Error {}

/// One solver and its state across steps, for ``SolverScheduler``.
private protocol SchedulerDriver: AnyObject {
    var stepsTaken: Int { get }
    /// The sample the current step starts from.
    var start: SampleTensor { get }
    /// The sample after the latest run of the current step.
    var sample: SampleTensor { get }
    func begin(from x: SampleTensor)
    /// Runs the current step from its start; returns whether it finished (else it asks for an evaluation).
    func replay() throws -> Bool
}

private final class Driver<S: Solver>: SchedulerDriver {
    let solver: S
    let context: SolverContext
    let model: ReplayModel
    private(set) var stepsTaken = 0
    private(set) var start: SampleTensor
    private(set) var sample: SampleTensor
    /// The solver state at the start of the current step.
    private var saved: S.State

    init(solver: S, grid: TimeGrid, context: SolverContext, model: ReplayModel, first x: SampleTensor) {
        self.solver = solver
        self.context = context
        self.model = model
        self.start = SampleTensor(zeros: x.shape)
        self.sample = SampleTensor(zeros: x.shape)
        self.saved = solver.makeState(for: x, grid: grid)
    }

    func begin(from x: SampleTensor) {
        start.assign(x)
        model.startStep()
        (context.noise as? ReplayNoise)?.startStep()
    }

    func replay() throws -> Bool {
        var state = saved
        sample.assign(start)
        model.rewind()
        (context.noise as? ReplayNoise)?.rewind()
        do {
            try solver.step(stepsTaken, x: &sample, state: &state, context: context)
        } catch is NeedEvaluation {
            return false
        }
        saved = state
        stepsTaken += 1
        return true
    }
}

/// A model that answers with the outputs a ``SolverScheduler``'s caller gave in the current step,
/// and stops the step at the first evaluation it has none for, keeping where that is.
private final class ReplayModel: DiffusionModel, @unchecked Sendable {
    let sampleShape: [Int]
    let parameterization: Parameterization
    var name: String { "outputs given to a SolverScheduler" }
    /// The point of the evaluation asked for.
    private(set) var request = SampleTensor(zeros: [1])
    private(set) var requestLevel = NoiseLevel(t: 0, alpha: 1, sigma: 0, lambda: .infinity)
    private var outputs: [SampleTensor] = []
    private var given = 0
    private var answered = 0

    init(sampleShape: [Int], parameterization: Parameterization) {
        self.sampleShape = sampleShape
        self.parameterization = parameterization
    }

    func startStep() { given = 0; answered = 0 }
    func rewind() { answered = 0 }

    func record(_ output: SampleTensor) {
        if given < outputs.count { outputs[given] = output } else { outputs.append(output) }
        given += 1
    }

    func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        if answered < given {
            output.assign(outputs[answered])
            answered += 1
            return
        }
        if request.shape == x.shape {
            request.assign(x)
        } else {
            request = SampleTensor(zeros: x.shape)
            request.assign(x)
        }
        requestLevel = level
        throw NeedEvaluation()
    }
}

/// Step noise that is drawn once per step and given again, in the same order, when the step is replayed.
private final class ReplayNoise: NoiseSource {
    let base: any NoiseSource
    private var draws: [SampleTensor] = []
    private var recorded = 0
    private var used = 0

    init(base: any NoiseSource) { self.base = base }

    func startStep() { recorded = 0; used = 0 }
    func rewind() { used = 0 }

    func fill(_ noise: inout SampleTensor, step: Int) throws {
        if replayed(&noise) { return }
        try base.fill(&noise, step: step)
        keep(noise)
    }

    func fill(_ noise: inout SampleTensor, step: Int, from sigma: Double, to sigmaNext: Double) throws {
        if replayed(&noise) { return }
        try base.fill(&noise, step: step, from: sigma, to: sigmaNext)
        keep(noise)
    }

    private func replayed(_ noise: inout SampleTensor) -> Bool {
        guard used < recorded, draws[used].shape == noise.shape else { return false }
        noise.assign(draws[used])
        used += 1
        return true
    }

    private func keep(_ noise: SampleTensor) {
        if recorded < draws.count, draws[recorded].shape == noise.shape {
            draws[recorded].assign(noise)
        } else if recorded < draws.count {
            draws[recorded] = noise
        } else {
            draws.append(noise)
        }
        recorded += 1
        used += 1
    }
}

/// The dry run's model: predicts `x̂₀ = 0` and notes every level it is asked at.
private final class LevelRecorder: DiffusionModel, @unchecked Sendable {
    let sampleShape: [Int]
    var parameterization: Parameterization { .data }
    var name: String { "dry run" }
    private(set) var levels: [NoiseLevel] = []

    init(sampleShape: [Int]) { self.sampleShape = sampleShape }

    func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        levels.append(level)
        for i in output.scalars.indices { output.scalars[i] = 0 }
    }
}

/// Zero step noise, for the dry run.
private final class ZeroNoise: NoiseSource {
    func fill(_ noise: inout SampleTensor, step: Int) throws {
        for i in noise.scalars.indices { noise.scalars[i] = 0 }
    }
}
