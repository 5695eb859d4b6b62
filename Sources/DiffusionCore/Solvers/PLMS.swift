/// PLMS, the pseudo linear multistep method (Liu, Ren, Lin & Zhao 2022, "Pseudo Numerical Methods
/// for Diffusion Models on Manifolds", ICLR, Eq. 12 with the transfer part of Eq. 9), as diffusers'
/// `PNDMScheduler` runs it with `skip_prk_steps=True`.
///
/// PNDM's transfer `φ(x, ε, t → t′)` (Eq. 9) is the DDIM step, which in the VE frame is an Euler
/// step in `σ̃ = σ/α` with `ε` held fixed. PLMS feeds it an Adams–Bashforth combination of the
/// recent `ε`, so in the frame of `KDiffusionFrame` (`y = x/s`, `d = ε̂` for VE):
/// ```
/// step 0:  ȳ = y_0 + (σ_1 − σ_0)·d(y_0, σ_0)                        (DDIM predictor)
///          y_1 = y_0 + (σ_1 − σ_0)·(d(y_0, σ_0) + d(ȳ, σ_1))/2       (2 evaluations)
/// step i:  y_{i+1} = y_i + (σ_{i+1} − σ_i)·Σ_{j<k} b_{kj}·d_{i−j},   k = min(i + 1, 4)
/// ```
/// with the weights `b_k` of ``IPNDM``. The history holds `d(y_0, σ_0)`, not the predictor's
/// derivative `d(ȳ, σ_1)`, exactly as diffusers keeps `ets`. A one-step grid takes a single DDIM
/// step (diffusers with one timestep). The step to `σ = 0` is the same combination: it returns
/// `(x − σ·ε̄)/α` with the combined `ε̄` (diffusers with `set_alpha_to_one=True`).
///
/// NFE: `steps + 1` (`steps` for a one-step grid). The weights assume equal steps in `σ̃`, but
/// diffusers' grids are uniform in the training timestep, so the global order is 2 on log-SNR and
/// Karras grids; ``order`` reports 2. On grids uniform in `σ̃` it is 4, until the `O(h³)` left by
/// the Heun start shows.
///
/// ## Timesteps
/// diffusers evaluates at `[t₀, t₁, t₁, t₂, …, t_{N−1}]` (the second timestep repeated for the
/// corrector) and steps each from `t` to `t − T // N`. On our grid of distinct levels that is the
/// grid plus the rule "the first step evaluates twice". The grid is `ddim-leading` (diffusers'
/// `leading`, with `steps_offset`), `ddim-linspace` (its `linspace`) or `trailing`, followed by
/// `σ = 0` (`set_alpha_to_one=True`) or the smallest level (`set_alpha_to_one=False`). With
/// `leading`, `t − T // N` is the next grid point and the result is diffusers'. With `linspace`,
/// and with `trailing` when `N` does not divide `T`, diffusers steps to `t − T // N` although the
/// next evaluation is at the next grid point (its state and timestep disagree); we step to the
/// next grid point, the same documented difference as for DDIM. When the last timestep is 0 and
/// `set_alpha_to_one=False`, diffusers' final step goes from `ᾱ₀` to `ᾱ₀`: one more evaluation
/// that leaves the sample unchanged, which our grid (ending at `t = 0`) does not take.
///
/// Rectified flow runs the same recursion in the flow frame (`d = ε̂ − x̂₀`); diffusers has no
/// flow PLMS to compare with.
public struct PLMS: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: DerivativeHistory
        var predictor: SampleTensor
        var corrector: ModelPrediction
        /// The clean estimate at the start of the latest step (written when the run shows previews,
        /// and for flow schedules).
        public var denoised: SampleTensor { history.denoised }
    }

    /// The largest Adams–Bashforth order, 1…4 (diffusers: 4).
    public let solverOrder: Int

    /// - Parameter solverOrder: 4 as in diffusers; lower values truncate the multistep history.
    public init(solverOrder: Int = 4) {
        precondition((1...4).contains(solverOrder), "PLMS order must lie in 1...4, got \(solverOrder)")
        self.solverOrder = solverOrder
    }

    public var name: String { "plms" }
    public var order: Int { Swift.min(2, solverOrder) }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps + (grid.steps >= 2 ? 1 : 0) }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: DerivativeHistory(capacity: solverOrder, like: x), predictor: SampleTensor(zeros: x.shape),
              corrector: ModelPrediction(like: x))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let frame = context.frame
        let from = context.grid[step], to = context.grid[step + 1]
        try state.history.evaluate(x, at: from, step: step, context: context)
        guard step == 0, context.grid.steps >= 2 else {
            AdamsBashforth.step(&x, from: from, to: to, frame: frame, history: state.history,
                                order: Swift.min(state.history.count, solverOrder, step + 1))
            return
        }
        // The first step: a DDIM predictor and the trapezoidal corrector (diffusers' counter 0 and 1).
        let ratio = frame.scale(to) / frame.scale(from)
        let h = frame.scale(to) * (frame.tau(to) - frame.tau(from))
        let first = state.history.derivative(0)
        state.predictor.set((ratio, x), (h, first))
        try context.predict(state.predictor, at: to, step: step, into: &state.corrector,
                            needs: KDiffusionFrame.derivativeNeeds(frame))
        KDiffusionFrame.makeDerivative(&state.corrector, frame: frame)
        x.update(scale: ratio, (0.5 * h, first), (0.5 * h, state.corrector.noise))
    }
}
