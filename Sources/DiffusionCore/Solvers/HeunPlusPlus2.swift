/// Heun++ (ComfyUI's `sample_heunpp2`, from Carzit's sd-webui-samplers-scheduler): Heun's method
/// with a third stage one grid step further, its slopes weighted by their noise levels relative to
/// the grid's first.
///
/// In the frame of `KDiffusionFrame` (`σ` = the frame time `τ`, `y = x/s`, `d = (y − x̂₀)/σ`),
/// with the Euler stages `ȳ₁ = y + (σ_{i+1} − σ_i)·d(y, σ_i)` and `ȳ₂ = ȳ₁ + (σ_{i+2} − σ_{i+1})·d(ȳ₁, σ_{i+1})`:
/// ```
/// y′ = y + (σ_{i+1} − σ_i)·(w₁·d(y, σ_i) + w₂·d(ȳ₁, σ_{i+1}) + w₃·d(ȳ₂, σ_{i+2}))
/// w₂ = σ_{i+1}/(3σ₀),  w₃ = σ_{i+2}/(3σ₀),  w₁ = 1 − w₂ − w₃        (σ₀ the grid's first level)
/// ```
/// The step before the last drops the third stage (`w₂ = σ_{i+1}/(2σ₀)`, `w₃ = 0`); the last step
/// is Euler (it returns `x̂₀` at `σ = 0`). Without churn (ComfyUI's default `s_churn = 0`).
///
/// NFE per step: 3, then 2 and 1 on the last two steps. The weights are not those of a Runge–Kutta
/// method: at low noise they tend to `(1, 0, 0)`, so the method is first order (Euler's) as steps shrink.
public struct HeunPlusPlus2: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var first: ModelPrediction
        var second: ModelPrediction
        var third: ModelPrediction
        var stage: SampleTensor
        var stage2: SampleTensor
        public var denoised: SampleTensor { first.data }
    }

    public init() {}

    public var name: String { "heunpp2" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps >= 2 ? 3 * grid.steps - 3 : grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(first: ModelPrediction(like: x), second: ModelPrediction(like: x), third: ModelPrediction(like: x),
              stage: SampleTensor(zeros: x.shape), stage2: SampleTensor(zeros: x.shape))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let frame = context.frame, grid = context.grid, n = grid.steps
        let from = grid[step], to = grid[step + 1]
        try context.predict(x, at: from, step: step, into: &state.first, needs: FrameStep.needs(to: to, frame: frame))
        if step == n - 1 {
            if to.isClean { x.assign(state.first.data) } else { FrameStep.euler(&x, from: from, to: to, frame: frame, prediction: state.first) }
            return
        }
        let needs = KDiffusionFrame.derivativeNeeds(frame)
        FrameStep.euler(into: &state.stage, from: x, levels: (from, to), frame: frame, prediction: state.first)
        try context.predict(state.stage, at: to, step: step, into: &state.second, needs: needs)
        let sigma0 = frame.tau(grid[0])
        let stages = step == n - 2 ? 2.0 : 3.0
        let w2 = frame.tau(to) / (stages * sigma0)
        var w3 = 0.0
        if step < n - 2 {
            let next = grid[step + 2]
            FrameStep.euler(into: &state.stage2, from: state.stage, levels: (to, next), frame: frame, prediction: state.second)
            try context.predict(state.stage2, at: next, step: step, into: &state.third, needs: needs)
            KDiffusionFrame.makeDerivative(&state.third, frame: frame)
            w3 = frame.tau(next) / (stages * sigma0)
        }
        KDiffusionFrame.makeDerivative(&state.first, frame: frame)
        KDiffusionFrame.makeDerivative(&state.second, frame: frame)
        let h = frame.scale(to) * (frame.tau(to) - frame.tau(from)), ratio = frame.scale(to) / frame.scale(from)
        if w3 == 0 {
            x.update(scale: ratio, (h * (1 - w2), state.first.noise), (h * w2, state.second.noise))
        } else {
            x.update(scale: ratio, (h * (1 - w2 - w3), state.first.noise), (h * w2, state.second.noise), (h * w3, state.third.noise))
        }
    }
}
