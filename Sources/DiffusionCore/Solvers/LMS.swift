/// The linear multistep method in sigma of k-diffusion's `sample_lms`: an Adams–Bashforth method
/// for the variable steps of any grid, with coefficients from the exact integral of the Lagrange
/// basis polynomials through the last `k` noise levels.
///
/// In the frame of `KDiffusionFrame` (`σ` = the frame time `τ`, `y = x/s`,
/// `d = (y − x̂₀)/σ`), step `i` with `k = min(i + 1, order)`:
/// ```
/// y_{i+1} = y_i + Σ_{j<k} c_{ij}·d_{i−j}
/// c_{ij}  = ∫_{σ_i}^{σ_{i+1}} Π_{m<k, m≠j} (σ − σ_{i−m}) / (σ_{i−j} − σ_{i−m}) dσ
/// ```
/// The first `order − 1` steps warm up with lower orders (Euler, then 2, 3, … points), as in
/// k-diffusion. The integrand is a polynomial of degree `k − 1`; it is integrated exactly by
/// expanding it in monomials of `u = (σ − σ_i)/(σ_{i+1} − σ_i) ∈ [0, 1]` (k-diffusion uses
/// `scipy.integrate.quad`, which is exact to round-off for these degrees). The step to `σ = 0`
/// is the same extrapolation (k-diffusion's own rule); it reads `d` only at `σ_i > 0`, so it is
/// finite.
///
/// NFE per step: 1. The multistep formula has order `order` (default 4) on any smooth grid. The
/// Euler step that starts the warm-up leaves an `O(h²)` term in the result: the VE-frame ODE
/// contracts from `σ_max`, which damps it, so on VP and EDM grids the order shows as 4 until float32
/// round-off takes over; in the flow frame nothing damps it and the order is 2 once the error is small.
///
/// Matches k-diffusion's `sample_lms` (Crowson, k-diffusion; the Adams–Bashforth family, see
/// Hairer, Nørsett & Wanner 1993, "Solving Ordinary Differential Equations I", Sec. III.1). For VP
/// schedules it runs in the VE frame as k-diffusion's VP wrappers do; for rectified flow in the
/// flow frame as ComfyUI runs it on flow models.
public struct LMS: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: DerivativeHistory
        /// The step's coefficients `c_{ij}` (then scaled by `s_{i+1}`), one per history slot.
        var coefficients: [Double]
        /// Monomial coefficients of one Lagrange basis polynomial in `u`.
        var polynomial: [Double]
        /// The clean estimate of the latest evaluation (written when the run shows previews, and
        /// always for flow schedules).
        public var denoised: SampleTensor { history.denoised }
    }

    /// The number of derivatives combined once warmed up (k-diffusion's `order`).
    public let solverOrder: Int

    /// - Parameter solverOrder: 1 (Euler) or more; k-diffusion's default is 4.
    public init(solverOrder: Int = 4) {
        precondition(solverOrder >= 1, "LMS order must be at least 1, got \(solverOrder)")
        self.solverOrder = solverOrder
    }

    /// The global order: the multistep formula's, `solverOrder`, on any smooth grid.
    public var order: Int { solverOrder }

    public var name: String { "lms" }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: DerivativeHistory(capacity: solverOrder, like: x),
              coefficients: [Double](repeating: 0, count: solverOrder), polynomial: [Double](repeating: 0, count: solverOrder + 1))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let frame = context.frame
        let from = context.grid[step], to = context.grid[step + 1]
        try state.history.evaluate(x, at: from, step: step, context: context)
        let k = Swift.min(state.history.count, solverOrder, step + 1)
        Self.lagrangeIntegrals(count: k, step: step, grid: context.grid, frame: frame,
                               into: &state.coefficients, scratch: &state.polynomial)
        let target = frame.scale(to)
        for j in 0..<k { state.coefficients[j] *= target }
        state.history.combine(into: &x, scale: target / frame.scale(from), coefficients: state.coefficients, count: k)
    }

    /// `c_j = ∫_{σ_i}^{σ_{i+1}} ℓ_j(σ) dσ` for the Lagrange basis `ℓ_j` through `σ_i, …, σ_{i−k+1}`,
    /// written to `c[0..<k]` without allocating: with `u = (σ − σ_i)/(σ_{i+1} − σ_i)`,
    /// `c_j = (σ_{i+1} − σ_i)·Σₙ pₙ/(n + 1) / Π_{m≠j}(u_j − u_m)` for the monomial coefficients `pₙ`
    /// of `Π_{m≠j}(u − u_m)` (``Lagrange/basis(_:count:node:into:)``).
    static func lagrangeIntegrals(count k: Int, step i: Int, grid: TimeGrid, frame: ODEFrame,
                                  into c: inout [Double], scratch p: inout [Double]) {
        let start = frame.tau(grid[i])
        let width = frame.tau(grid[i + 1]) - start
        withUnsafeTemporaryAllocation(of: Double.self, capacity: k) { node in
            // node[m] = u at σ_{i−m}, read from the grid once rather than in every factor.
            for m in 0..<k { node[m] = (frame.tau(grid[i - m]) - start) / width }
            p.withUnsafeMutableBufferPointer { p in
                for j in 0..<k {
                    let denominator = Lagrange.basis(j, count: k, node: { node[$0] }, into: p)
                    var integral = 0.0
                    for n in 0..<k { integral += p[n] / Double(n + 1) }
                    c[j] = width * integral / denominator
                }
            }
        }
    }
}
