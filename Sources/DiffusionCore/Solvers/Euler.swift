/// Euler's method on the probability-flow ODE (Karras et al. 2022, "Elucidating the Design Space
/// of Diffusion-Based Generative Models", Algorithm 1 without the Heun correction).
///
/// In the schedule's ``ODEFrame`` `(τ, y = x/s)` the ODE is `dy/dτ = d = ε̂ + a′·x̂₀`
/// (`a′ = 0` in the VE frame, where `d = (x̃ − D)/σ̃` as in k-diffusion's `to_d`; `a′ = −1` for
/// rectified flow, where `d` is the flow velocity). One step:
/// ```
/// x′ = (s′/s)·x + s′·(τ′ − τ)·d
/// ```
/// NFE per step: 1. First order. In exact arithmetic this is DDIM with `η = 0`.
/// Matches k-diffusion's `sample_euler` and diffusers' `EulerDiscreteScheduler`.
public struct Euler: Solver {
    /// Karras et al.'s stochastic churn (Algorithm 2), off by default.
    public var churn: Churn?

    public init(churn: Churn? = nil) { self.churn = churn }

    public var name: String { "euler" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: churn != nil) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        guard let from = try state.begin(step, x: &x, context: context, churn: churn) else { return }
        FrameStep.euler(&x, from: from, to: context.grid[step + 1], frame: context.frame, prediction: state.first)
    }
}

/// The Euler update in an ``ODEFrame``, shared by the Euler-type solvers.
enum FrameStep {
    /// What an Euler-type step to `to` reads: `x̂₀` for the final step to `σ = 0`, otherwise
    /// `ε̂` (and `x̂₀` in the flow frame, whose ODE also involves it).
    static func needs(to: NoiseLevel, frame: ODEFrame) -> PredictionNeeds {
        if to.isClean { return .data }
        return frame.dataSlope == 0 ? .noise : .both
    }

    /// `x ← (s′/s)·x + s′·(τ′ − τ)·(ε̂ + a′·x̂₀)`.
    static func euler(_ x: inout SampleTensor, from: NoiseLevel, to: NoiseLevel, frame: ODEFrame, prediction: ModelPrediction) {
        let ratio = frame.scale(to) / frame.scale(from)
        let h = frame.scale(to) * (frame.tau(to) - frame.tau(from))
        let slope = frame.dataSlope
        if slope == 0 {
            x.update(scale: ratio, (h, prediction.noise))
        } else {
            x.update(scale: ratio, (h, prediction.noise), (h * slope, prediction.data))
        }
    }

    /// The first-order (DDIM) step `x′ = α′·x̂₀ + σ′·ε̂`, which stays exact where `α = 0` (pure
    /// noise at the start of a flow schedule), where the `λ`-based updates divide by zero.
    static func fromPureNoise(_ x: inout SampleTensor, to: NoiseLevel, prediction: ModelPrediction) {
        x.set((to.alpha, prediction.data), (to.sigma, prediction.noise))
    }

    /// The same step written to `out`, leaving `x` unchanged.
    static func euler(into out: inout SampleTensor, from x: SampleTensor, levels: (NoiseLevel, NoiseLevel),
                      frame: ODEFrame, prediction: ModelPrediction) {
        let (from, to) = levels
        let ratio = frame.scale(to) / frame.scale(from)
        let h = frame.scale(to) * (frame.tau(to) - frame.tau(from))
        let slope = frame.dataSlope
        if slope == 0 {
            out.set((ratio, x), (h, prediction.noise))
        } else {
            out.set((ratio, x), (h, prediction.noise), (h * slope, prediction.data))
        }
    }
}

extension StageState {
    /// The start the Euler-type ODE steps share (Euler, Heun, DPM-2, DPM-Solver++(2S)): Karras
    /// churn if any, the first evaluation at the step's start, and the step to `σ = 0`, which is
    /// the Euler step there and returns `x̂₀`.
    ///
    /// - Parameter needs: what the first evaluation writes; by default what an Euler step reads.
    /// - Returns: the (churned) start level, or `nil` when the step has ended at `σ = 0`.
    mutating func begin(_ step: Int, x: inout SampleTensor, context: SolverContext, churn: Churn? = nil,
                        needs: PredictionNeeds? = nil) throws -> NoiseLevel? {
        var from = context.grid[step]
        let to = context.grid[step + 1]
        if let churn { from = try churn.apply(&x, z: &z, step: step, from: from, context: context) }
        try context.predict(x, at: from, step: step, into: &first, needs: needs ?? FrameStep.needs(to: to, frame: context.frame))
        if to.isClean {
            x.assign(first.data)
            return nil
        }
        return from
    }
}
