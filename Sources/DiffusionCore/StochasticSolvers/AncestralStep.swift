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

    /// ComfyUI's rectified-flow split (`sample_*_ancestral_RF`), in the flow frame
    /// `y = (1 − τ)·x₀ + τ·ε`: a deterministic step down to `τ_down`, then the signal rescaled to
    /// `τ′`'s and noise of scale `σ_up` added, so that `y′` has the marginal of `τ′`:
    /// ```
    /// τ_down = τ′·(1 + (τ′/τ − 1)·η),   y′ = ((1 − τ′)/(1 − τ_down))·y_down + σ_up·z
    /// σ_up   = √(τ′² − τ_down²·(1 − τ′)²/(1 − τ_down)²)
    /// ```
    /// `η = 0` is the deterministic step (`τ_down = τ′`, `σ_up = 0`).
    static func flowStep(from tau: Double, to next: Double, eta: Double) -> (down: Double, up: Double, rescale: Double) {
        let down = next * (1 + (next / tau - 1) * eta)
        let rescale = (1 - next) / (1 - down)
        return (down, (Swift.max(0, next * next - down * down * rescale * rescale)).squareRoot(), rescale)
    }

    /// The levels of an ancestral step: its ends, their frame times (`next = 0` at the end of
    /// the run) and the split of `next` into `σ_down` and `σ_up`, with the signal's `rescale` after
    /// the deterministic part (1 in the VE frame).
    ///
    /// The frame decides the form, for every ancestral sampler at once: k-diffusion's
    /// ``step(from:to:eta:)`` in the VE frame, ComfyUI's rectified-flow ``flowStep(from:to:eta:)``
    /// in the flow frame (ComfyUI switches to its `_RF` samplers on flow models the same way).
    struct Levels {
        var frame: ODEFrame
        var from: NoiseLevel, to: NoiseLevel
        var sigma: Double, next: Double
        var down: Double, up: Double
        var rescale: Double = 1

        init(_ step: Int, context: SolverContext, eta: Double) {
            frame = context.frame
            from = context.grid[step]; to = context.grid[step + 1]
            sigma = frame.tau(from); next = to.isClean ? 0 : frame.tau(to)
            switch frame {
            case .varianceExploding: (down, up) = Ancestral.step(from: sigma, to: next, eta: eta)
            case .rectifiedFlow: (down, up, rescale) = Ancestral.flowStep(from: sigma, to: next, eta: eta)
            }
        }

        /// The frame's scales `s` (`x = s·y`) at the step's start and end.
        var scales: (from: Double, to: Double) { (frame.scale(from), frame.scale(to)) }
    }

    /// The start the two-stage ancestral samplers share (DPM-2 and DPM-Solver++(2S) ancestral):
    /// the ancestral split of the run's frame, and the first evaluation at the step's start,
    /// which writes `x̂₀`, or `ε̂` instead if `noise`, `σ_down > 0` and the frame is VE.
    static func begin(_ step: Int, x: SampleTensor, state: inout StageState, context: SolverContext, eta: Double,
                      noise: Bool, solver: String) throws -> Levels {
        let l = Levels(step, context: context, eta: eta)
        let readsNoise = noise && l.down != 0 && l.frame == .varianceExploding
        try context.predict(x, at: l.from, step: step, into: &state.first, needs: readsNoise ? .noise : .data)
        return l
    }

    /// The first evaluation of a one-evaluation-first stochastic step (Euler ancestral, DPM-Solver++
    /// SDE, SEEDS, ER-SDE): the VE-frame check (unless the sampler `hasFlowForm`), then the model at `grid[step]` with `needs`. On the
    /// step to `σ = 0` it evaluates `x̂₀` alone and puts it in `x` (the denoising step) and returns
    /// `false`; otherwise `true`, for the step to go on.
    static func evaluateFirst(_ step: Int, x: inout SampleTensor, into prediction: inout ModelPrediction,
                              needs: PredictionNeeds = .data, context: SolverContext, solver: String,
                              hasFlowForm: Bool = false) throws -> Bool {
        if !hasFlowForm { try requireVEFrame(context, solver: solver) }
        let endsClean = context.grid[step + 1].isClean
        try context.predict(x, at: context.grid[step], step: step, into: &prediction, needs: endsClean ? .data : needs)
        guard !endsClean else { x.assign(prediction.data); return false }
        return true
    }

    /// The SDE samplers here integrate in the VE frame; rectified flow needs its own formulas,
    /// which only the ancestral samplers have (ComfyUI's `_RF` forms, ``Levels``).
    static func requireVEFrame(_ context: SolverContext, solver: String) throws {
        guard context.frame == .varianceExploding else {
            throw SamplingError.invalidConfiguration("\(solver) needs a VP or VE noise schedule; on rectified flow use euler_ancestral, dpm_2_ancestral, dpmpp_2s_ancestral, lcm or si_sde")
        }
    }
}
