import RealModule

/// DPM-Solver++(2S), the second-order singlestep solver with data prediction (Lu et al. 2022b,
/// "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models",
/// Algorithm 1 with `r = 1/2`), as k-diffusion's `sample_dpmpp_2s_ancestral` runs it with `eta = 0`.
///
/// With `t = −log σ` (the half log-SNR in the VE frame), `h = t′ − t` and the midpoint
/// `s = t + h/2`, in the frame of `KDiffusionFrame` (`σ` = the frame time `τ`, `y = x/s`):
/// ```
/// y_m = (σ_s/σ)·y − expm1(−h/2)·x̂₀(y, σ)
/// y′  = (σ′/σ)·y − expm1(−h)·x̂₀(y_m, σ_s)
/// ```
/// In model coordinates the ratio `(s′σ′)/(s·σ)` is the schedule's `σ′/σ` in both frames. The
/// step to `σ = 0` is k-diffusion's Euler step, which returns `x̂₀`.
///
/// NFE per step: 2 (1 on the final step to `σ = 0`). Second order. Deterministic: k-diffusion's
/// ancestral noise (`eta > 0`) is not part of this solver.
///
/// Matches k-diffusion's `sample_dpmpp_2s_ancestral` with `eta = 0`. VP schedules run in the VE
/// frame; rectified flow in the flow frame with `σ = t`, as ComfyUI runs it on flow models
/// (there `−log σ` is not the log-SNR, but the update is still the exact solution of
/// `dy/dσ = (y − x̂₀)/σ` for a constant `x̂₀`, so the method keeps its order).
public struct DPMSolverPlusPlus2S: Solver {
    public init() {}

    public var name: String { "dpmpp_2s" }
    public var order: Int { 2 }
    public func evaluations(on grid: TimeGrid) -> Int { 2 * grid.steps - (grid.endsClean ? 1 : 0) }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState {
        StageState(like: x, stages: 2, noise: false)
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        let frame = context.frame
        guard let from = try state.begin(step, x: &x, context: context, needs: .data) else { return }
        let to = context.grid[step + 1]
        let tau = frame.tau(from), tauNext = frame.tau(to)
        let mid = KDiffusionFrame.level(tau: (tau * tauNext).squareRoot(), context: context)
        // y_m = (σ_s/σ)·y − expm1(−h/2)·x̂₀, with h/2 taken from the midpoint level actually evaluated.
        let halfStep = Double.log(tau) - Double.log(frame.tau(mid))
        state.stage.set((mid.sigma / from.sigma, x), (-frame.scale(mid) * Double.expMinusOne(-halfStep), state.first.data))
        try context.predict(state.stage, at: mid, step: step, into: &state.second, needs: .data)
        let h = Double.log(tau) - Double.log(tauNext)
        x.update(scale: to.sigma / from.sigma, (-frame.scale(to) * Double.expMinusOne(-h), state.second.data))
    }
}
