/// Improved PNDM (iPNDM; Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential
/// Integrator", ICLR): PNDM's linear multistep part, the Adams–Bashforth method with the fixed
/// coefficients of equal steps, on the Euler derivative in sigma, started with lower orders
/// instead of Runge–Kutta steps.
///
/// In the frame of `KDiffusionFrame` (`σ` = the frame time `τ`, `y = x/s`,
/// `d = (y − x̂₀)/σ`), step `i` with `k = min(i + 1, order)`:
/// ```
/// y_{i+1} = y_i + (σ_{i+1} − σ_i)·Σ_{j<k} b_{kj}·d_{i−j}
/// b_1 = 1,  b_2 = (3, −1)/2,  b_3 = (23, −16, 5)/12,  b_4 = (55, −59, 37, −9)/24
/// ```
/// The step to `σ = 0` returns `x̂₀` (ComfyUI's "denoising step").
///
/// NFE per step: 1. The coefficients are those of equal steps, so the method has order `order`
/// (default 4) on grids uniform in `σ`; on other smooth grids (Karras, log-SNR) the unequal steps
/// leave a second-order term. As for ``LMS``, the Euler warm-up leaves an `O(h²)` term, which shows
/// in the flow frame once the error is small. ``PLMS`` is the same recursion on diffusers' timestep
/// grids, with a Heun first step.
///
/// Matches ComfyUI's `sample_ipndm` (from zju-pi/diff-sampler's `ipndm`; Zhou et al. 2024, "Fast
/// ODE-based Sampling for Diffusion Models in Around 5 Steps", CVPR). VP schedules run in the VE
/// frame, rectified flow in the flow frame (ComfyUI's CONST models).
public struct IPNDM: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: DerivativeHistory
        /// The clean estimate of the latest evaluation (written when the run shows previews, for
        /// flow schedules, and on the step to `σ = 0`).
        public var denoised: SampleTensor { history.denoised }
    }

    /// The largest number of derivatives combined, the Adams–Bashforth order once warmed up, 1…4
    /// (ComfyUI's `max_order`).
    public let solverOrder: Int

    /// - Parameter solverOrder: the maximum Adams–Bashforth order, 1…4 (default 4).
    public init(solverOrder: Int = 4) {
        precondition((1...4).contains(solverOrder), "iPNDM order must lie in 1...4, got \(solverOrder)")
        self.solverOrder = solverOrder
    }

    /// The order on grids uniform in `σ`, which the fixed coefficients assume (see above).
    public var order: Int { solverOrder }

    public var name: String { "ipndm" }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: DerivativeHistory(capacity: solverOrder, like: x))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let from = context.grid[step], to = context.grid[step + 1]
        guard try state.history.begin(step, x: &x, context: context) else { return }
        AdamsBashforth.step(&x, from: from, to: to, frame: context.frame, history: state.history,
                            order: Swift.min(state.history.count, solverOrder, step + 1))
    }
}

/// The fixed-coefficient Adams–Bashforth step shared by ``IPNDM`` and ``PLMS``.
enum AdamsBashforth {
    /// `b_k`, the weights of equal steps, newest derivative first.
    static let weights: [[Double]] = [
        [1],
        [3.0 / 2, -1.0 / 2],
        [23.0 / 12, -16.0 / 12, 5.0 / 12],
        [55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24],
    ]

    /// `y′ = y + (σ′ − σ)·Σ_{j<k} b_{kj}·d_j` in model coordinates:
    /// `x′ = (s′/s)·x + s′·(σ′ − σ)·Σ b_{kj}·d_j`.
    static func step(_ x: inout SampleTensor, from: NoiseLevel, to: NoiseLevel, frame: ODEFrame,
                     history: DerivativeHistory, order k: Int) {
        let h = frame.scale(to) * (frame.tau(to) - frame.tau(from))
        let ratio = frame.scale(to) / frame.scale(from)
        let b = weights[k - 1]
        switch k {
        case 1:
            x.update(scale: ratio, (h * b[0], history.derivative(0)))
        case 2:
            x.update(scale: ratio, (h * b[0], history.derivative(0)), (h * b[1], history.derivative(1)))
        case 3:
            x.update(scale: ratio, (h * b[0], history.derivative(0)), (h * b[1], history.derivative(1)),
                     (h * b[2], history.derivative(2)))
        default:
            x.update(scale: ratio, (h * b[0], history.derivative(0)), (h * b[1], history.derivative(1)),
                     (h * b[2], history.derivative(2)), (h * b[3], history.derivative(3)))
        }
    }
}
