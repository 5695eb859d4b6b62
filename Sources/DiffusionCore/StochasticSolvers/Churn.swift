/// The stochastic "churn" of Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based
/// Generative Models"), Algorithm 2: before each step, raise the noise level from `σ` to
/// `σ̂ = (1 + γ)·σ` by adding fresh noise, then take the ODE step from `σ̂`:
/// ```
/// γ = min(S_churn/N, √2 − 1)  if S_tmin ≤ σ ≤ S_tmax, else 0
/// y ← y + √(σ̂² − σ²)·S_noise·z,    z ~ N(0, I)
/// ```
/// As in k-diffusion, a draw is taken at every step (used only where `γ > 0`), so recorded noise
/// lines up draw for draw.
public struct Churn: Sendable, Equatable {
    public var sChurn: Double
    public var sTmin: Double
    public var sTmax: Double
    public var sNoise: Double

    public init(sChurn: Double, sTmin: Double = 0, sTmax: Double = .infinity, sNoise: Double = 1) {
        self.sChurn = sChurn; self.sTmin = sTmin; self.sTmax = sTmax; self.sNoise = sNoise
    }

    /// γ for a step at VE sigma `sigma` on a grid of `steps` steps.
    func gamma(sigma: Double, steps: Int) -> Double {
        sTmin <= sigma && sigma <= sTmax ? Swift.min(sChurn / Double(steps), 2.0.squareRoot() - 1) : 0
    }

    /// Applies the churn to `x` at `from`; returns the raised level `σ̂` to step from.
    func apply(_ x: inout SampleTensor, z: inout SampleTensor, step: Int, from: NoiseLevel, context: SolverContext) throws -> NoiseLevel {
        try Ancestral.requireVEFrame(context, solver: "churn (s_churn > 0)")
        let sigma = Ancestral.sigma(from)
        let gamma = gamma(sigma: sigma, steps: context.grid.steps)
        let hat = sigma * (gamma + 1)
        try context.drawNoise(&z, step: step, from: sigma, to: hat, for: "churn (s_churn > 0)")
        guard gamma > 0 else { return from }
        let level = context.denoiser.schedule.level(sigma: hat)
        // y ← y + √(σ̂² − σ²)·S_noise·z, then x = α̂·y.
        x.update(scale: level.alpha / from.alpha, (level.alpha * (hat * hat - sigma * sigma).squareRoot() * sNoise, z))
        return level
    }
}
