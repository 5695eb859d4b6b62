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

    /// Stochastic samplers here integrate in the VE frame; rectified flow needs its own ancestral
    /// formulas (ComfyUI's `_RF` samplers), which this library does not implement yet.
    static func requireVEFrame(_ context: SolverContext, solver: String) throws {
        guard context.frame == .varianceExploding else {
            throw SamplingError.invalidConfiguration("\(solver) needs a VP or VE noise schedule; rectified flow is not supported by the stochastic samplers yet")
        }
    }
}
