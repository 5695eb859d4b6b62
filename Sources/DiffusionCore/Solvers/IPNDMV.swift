/// Improved PNDM with variable-step coefficients (iPNDM-v; Zhang & Chen 2023, "Fast Sampling of
/// Diffusion Models with Exponential Integrator", ICLR; Zhou et al. 2024's diff-sampler `ipndm_v`),
/// as ComfyUI's `sample_ipndm_v` runs it: ``IPNDM``'s Adams–Bashforth recursion with weights
/// that follow the grid's step ratios.
///
/// In the frame of `KDiffusionFrame` (`σ` = the frame time `τ`, `y = x/s`, `d = (y − x̂₀)/σ`),
/// with `h = σ_{i+1} − σ_i`, `h₁ = σ_i − σ_{i−1}`, `h₂`, `h₃` the earlier steps, `r = h/h₁`,
/// step `i` with `k = min(i + 1, order)`:
/// ```
/// y_{i+1} = y_i + h·Σ_{j<k} c_{kj}·d_{i−j}
/// k = 2:  c = (1 + r/2, −r/2)
/// t₁ = (1 − h/(3(h+h₁)) · h(h+h₁)/(h₁(h₁+h₂)))/2
/// k = 3:  c = (1 + r/2 + t₁, −r/2 − (1 + h₁/h₂)·t₁, t₁·h₁/h₂)
/// q = h₁(h₁+h₂)/(h₂(h₂+h₃))
/// t₂ = ((1 − h/(3(h+h₁)))/2 + (1 − h/(2(h+h₁)))·h/(6(h+h₁+h₂))) · h(h+h₁)(h+h₁+h₂)/(h₁(h₁+h₂)(h₁+h₂+h₃))
/// k = 4:  c = (1 + r/2 + t₁ + t₂,  −r/2 − (1 + h₁/h₂)·t₁ − (1 + h₁/h₂ + q)·t₂,
///             t₁·h₁/h₂ + (h₁/h₂ + q·(1 + h₂/h₃))·t₂,  −q·(h₁/h₂)·t₂)
/// ```
/// On equal steps these are the fixed weights of ``IPNDM`` (`(55, −59, 37, −9)/24` at `k = 4`);
/// `k = 2` is the exact variable-step Adams–Bashforth weight, the higher ones are not. The step to
/// `σ = 0` returns `x̂₀`.
///
/// NFE per step: 1. Order 4 on grids uniform in `σ`; 2 on smoothly varying steps (the three- and
/// four-point weights reproduce linear slopes, not quadratic ones), as ``IPNDM``.
public struct IPNDMV: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: DerivativeHistory
        var coefficients: [Double]
        /// The clean estimate of the latest evaluation (written when the run shows previews, for
        /// flow schedules, and on the step to `σ = 0`).
        public var denoised: SampleTensor { history.denoised }
    }

    /// The largest number of derivatives combined, 1…4 (ComfyUI's `max_order`).
    public let solverOrder: Int

    public init(solverOrder: Int = 4) {
        precondition((1...4).contains(solverOrder), "iPNDM-v order must lie in 1...4, got \(solverOrder)")
        self.solverOrder = solverOrder
    }

    /// The order on grids uniform in `σ`, where the weights are Adams–Bashforth's.
    public var order: Int { solverOrder }
    public var name: String { "ipndm_v" }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: DerivativeHistory(capacity: solverOrder, like: x), coefficients: [0, 0, 0, 0])
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let frame = context.frame, grid = context.grid
        let from = grid[step], to = grid[step + 1]
        guard try state.history.begin(step, x: &x, context: context) else { return }
        let k = Swift.min(StepOrders(solverOrder: solverOrder).order(atStep: step, of: grid.steps), state.history.count)
        func width(_ back: Int) -> Double { frame.tau(grid[step + 1 - back]) - frame.tau(grid[step - back]) }
        Self.weights(order: k, h: width(0), h1: k > 1 ? width(1) : 1, h2: k > 2 ? width(2) : 1, h3: k > 3 ? width(3) : 1,
                     into: &state.coefficients)
        let s = frame.scale(to) * width(0)
        for j in 0..<k { state.coefficients[j] *= s }
        state.history.combine(into: &x, scale: frame.scale(to) / frame.scale(from), coefficients: state.coefficients, count: k)
    }

    /// `c_{kj}` above, written to `c[0..<k]`.
    static func weights(order k: Int, h: Double, h1: Double, h2: Double, h3: Double, into c: inout [Double]) {
        let r = h / h1
        guard k > 1 else { c[0] = 1; return }
        guard k > 2 else { c[0] = 1 + r / 2; c[1] = -r / 2; return }
        let t1 = (1 - h / (3 * (h + h1)) * (h * (h + h1)) / (h1 * (h1 + h2))) / 2
        guard k > 3 else {
            c[0] = 1 + r / 2 + t1; c[1] = -r / 2 - (1 + h1 / h2) * t1; c[2] = t1 * h1 / h2
            return
        }
        let q = h1 * (h1 + h2) / (h2 * (h2 + h3))
        let t2 = ((1 - h / (3 * (h + h1))) / 2 + (1 - h / (2 * (h + h1))) * h / (6 * (h + h1 + h2)))
            * (h * (h + h1) * (h + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3))
        c[0] = 1 + r / 2 + t1 + t2
        c[1] = -r / 2 - (1 + h1 / h2) * t1 - (1 + h1 / h2 + q) * t2
        c[2] = t1 * h1 / h2 + (h1 / h2 + q * (1 + h2 / h3)) * t2
        c[3] = -q * (h1 / h2) * t2
    }
}
