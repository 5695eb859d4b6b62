/// A method that advances a sample along a ``TimeGrid``, one step at a time.
///
/// A solver is an immutable configuration; everything that changes during a run (history of
/// model outputs, buffers, the latest clean estimate) lives in its explicit ``State``, created
/// by ``makeState(for:grid:)``. A solver never reads files, flags or prints: it sees the model
/// only through the ``Denoiser`` in its ``SolverContext``.
public protocol Solver: Sendable {
    associatedtype State: SolverState

    /// The name users know (k-diffusion / ComfyUI), for example `dpmpp_2m`.
    var name: String { get }
    /// The global order of accuracy: the endpoint error falls like `h^order`.
    var order: Int { get }
    /// The number of model evaluations a run over `grid` takes.
    func evaluations(on grid: TimeGrid) -> Int
    /// Fresh state for a run starting from `x` over `grid`; allocates the run's buffers.
    func makeState(for x: SampleTensor, grid: TimeGrid) -> State
    /// Advances `x` from `grid[step]` to `grid[step + 1]`.
    func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws
    /// `grid` as this solver can run it. Most solvers take any grid (the default returns it);
    /// DPM-Solver-v3 moves every level onto its statistics' λ grid, as the official code does.
    func adaptedGrid(_ grid: TimeGrid, schedule: any NoiseSchedule) throws -> TimeGrid
    /// The step noise this solver is meant to draw (``StepNoiseKind``); independent draws by default.
    var stepNoise: StepNoiseKind { get }
}

extension Solver {
    public func adaptedGrid(_ grid: TimeGrid, schedule: any NoiseSchedule) throws -> TimeGrid { grid }
    public var stepNoise: StepNoiseKind { .independent }
}

/// What every solver state exposes to the sampling loop.
public protocol SolverState {
    /// The most recent clean estimate `x̂₀`, for previews. Solvers that read only `ε̂` write it
    /// only when the run asks for previews (``SolverContext/alwaysNeeds``).
    var denoised: SampleTensor { get }
}

/// What a solver step may use besides the sample: the grid, the model and a noise source.
public final class SolverContext {
    public let grid: TimeGrid
    public let denoiser: Denoiser
    /// The source of fresh noise for stochastic steps; `nil` for deterministic runs.
    public let noise: (any NoiseSource)?
    /// The frame Euler-type solvers integrate in.
    public let frame: ODEFrame
    /// Predictions every evaluation must write whatever the solver reads: `.data` when the caller
    /// shows previews of `x̂₀`.
    public let alwaysNeeds: PredictionNeeds

    public init(grid: TimeGrid, denoiser: Denoiser, noise: (any NoiseSource)?, frame: ODEFrame,
                alwaysNeeds: PredictionNeeds = []) {
        self.grid = grid
        self.denoiser = denoiser
        self.noise = noise
        self.frame = frame
        self.alwaysNeeds = alwaysNeeds
    }

    /// Fills `z` with the standard-normal draw of `step` for the increment `sigma → next` (VE-frame
    /// sigmas, which a Brownian-tree source needs); a run without a noise source gets an error that
    /// names `solver`.
    public func drawNoise(_ z: inout SampleTensor, step: Int, from sigma: Double, to next: Double, for solver: String) throws {
        guard let noise else {
            throw SamplingError.invalidConfiguration("\(solver) needs a noise source (a seed or recorded step noise)")
        }
        try noise.fill(&z, step: step, from: sigma, to: next)
    }

    /// Evaluates the model for `step` at `level`.
    @inlinable
    public func predict(_ x: SampleTensor, at level: NoiseLevel, step: Int, into prediction: inout ModelPrediction,
                        needs: PredictionNeeds = .both) throws {
        denoiser.currentStep = step
        try denoiser.predict(x, at: level, into: &prediction, needs: needs.union(alwaysNeeds))
    }
}

/// The state of a solver that evaluates the model at most twice per step and keeps nothing
/// between steps (Euler, Heun, DPM-2, DPM-Solver++(2S) and the k-diffusion stochastic samplers):
/// the two predictions, the point the second one is taken at, and a buffer for fresh noise.
/// Buffers a solver does not use are one-element placeholders.
public struct StageState: SolverState {
    var first: ModelPrediction
    var second: ModelPrediction
    /// The intermediate point of a two-stage step.
    var stage: SampleTensor
    /// Standard-normal noise for a stochastic step or Karras churn.
    var z: SampleTensor
    /// The clean estimate at the start of the latest step.
    public var denoised: SampleTensor { first.data }

    /// Buffers for a solver with `stages` (1 or 2) model evaluations per step, and a noise buffer
    /// if `noise`.
    init(like x: SampleTensor, stages: Int, noise: Bool) {
        let placeholder = SampleTensor(zeros: [1])
        first = ModelPrediction(like: x)
        second = ModelPrediction(like: stages > 1 ? x : placeholder)
        stage = stages > 1 ? SampleTensor(zeros: x.shape) : placeholder
        z = noise ? SampleTensor(zeros: x.shape) : placeholder
    }
}
