import RealModule

/// Shared pieces of the k-diffusion stochastic samplers, which work in the VE frame
/// (`y = x/α`, `σ` = the user-facing sigma `σ/α`).
enum Ancestral {
    /// k-diffusion's `get_ancestral_step`: the level to step down to deterministically, and the
    /// noise to add back, so that the marginal at `σ′` is right:
    /// ```
    /// σ_up   = min(σ′, η·√(σ′²(σ² − σ′²)/σ²)),   σ_down = √(σ′² − σ_up²)
    /// ```
    static func step(from sigma: Double, to next: Double, eta: Double) -> (down: Double, up: Double) {
        guard eta != 0 else { return (next, 0) }
        let up = Swift.min(next, eta * (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot())
        return ((next * next - up * up).squareRoot(), up)
    }

    /// Evaluations of a two-stage ancestral sampler: 2 per step, 1 where `σ_down = 0`.
    static func twoStageEvaluations(on grid: TimeGrid, eta: Double) -> Int {
        (0..<grid.steps).reduce(0) { n, i in
            let (down, _) = step(from: sigma(grid[i]), to: grid[i + 1].isClean ? 0 : sigma(grid[i + 1]), eta: eta)
            return n + (down == 0 ? 1 : 2)
        }
    }

    /// The VE-frame sigma of a level.
    static func sigma(_ level: NoiseLevel) -> Double { level.sigma / level.alpha }

    /// The levels of an ancestral step: its ends, their VE-frame sigmas (`next = 0` at the end of
    /// the run) and the split of `next` into `σ_down` and `σ_up`.
    struct Levels {
        var from: NoiseLevel, to: NoiseLevel
        var sigma: Double, next: Double
        var down: Double, up: Double
    }

    /// The start the two-stage ancestral samplers share (DPM-2 and DPM-Solver++(2S) ancestral):
    /// the VE-frame check, the ancestral split, and the first evaluation at the step's start,
    /// which writes `x̂₀`, or `ε̂` instead if `noise` and `σ_down > 0`.
    static func begin(_ step: Int, x: SampleTensor, state: inout StageState, context: SolverContext, eta: Double,
                      noise: Bool, solver: String) throws -> Levels {
        try requireVEFrame(context, solver: solver)
        let from = context.grid[step], to = context.grid[step + 1]
        let sigma = Ancestral.sigma(from), next = to.isClean ? 0 : Ancestral.sigma(to)
        let (down, up) = Ancestral.step(from: sigma, to: next, eta: eta)
        try context.predict(x, at: from, step: step, into: &state.first, needs: noise && down != 0 ? .noise : .data)
        return Levels(from: from, to: to, sigma: sigma, next: next, down: down, up: up)
    }

    /// The first evaluation of a one-evaluation-first stochastic step (Euler ancestral, DPM-Solver++
    /// SDE, SEEDS, ER-SDE): the VE-frame check, then the model at `grid[step]` with `needs`. On the
    /// step to `σ = 0` it evaluates `x̂₀` alone and puts it in `x` (the denoising step) and returns
    /// `false`; otherwise `true`, for the step to go on.
    static func evaluateFirst(_ step: Int, x: inout SampleTensor, into prediction: inout ModelPrediction,
                              needs: PredictionNeeds = .data, context: SolverContext, solver: String) throws -> Bool {
        try requireVEFrame(context, solver: solver)
        let endsClean = context.grid[step + 1].isClean
        try context.predict(x, at: context.grid[step], step: step, into: &prediction, needs: endsClean ? .data : needs)
        guard !endsClean else { x.assign(prediction.data); return false }
        return true
    }

    /// Stochastic samplers here integrate in the VE frame; rectified flow needs its own ancestral
    /// formulas (ComfyUI's `_RF` samplers), which this library does not implement yet.
    static func requireVEFrame(_ context: SolverContext, solver: String) throws {
        guard context.frame == .varianceExploding else {
            throw SamplingError.invalidConfiguration("\(solver) needs a VP or VE noise schedule; rectified flow is not supported by the stochastic samplers yet")
        }
    }
}
