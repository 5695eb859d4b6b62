import RealModule

/// Consistency models' multistep sampling (Song et al. 2023, "Consistency Models", Algorithm 1;
/// diffusers' `CMStochasticIterativeScheduler`), in the VE frame `y = x/α`: the consistency
/// function maps the sample to data, and fresh noise takes it to the next time point:
/// ```
/// y ← f(y, τₙ)                                   (the model's x̂₀)
/// y ← y + s_noise·√(τₙ₊₁² − ε²)·z,   z ~ N(0, I)  (τ = σ/α, ε the boundary time, no noise at τₙ₊₁ ≤ ε)
/// ```
/// A consistency network's `c_skip·x + c_out·F` boundary scalings belong to its parameterization:
/// the solver reads `x̂₀`. The time points are data (``karrasSigmas(timePoints:trainingSteps:sigmaMin:sigmaMax:rho:)``).
/// NFE per step: 1.
public struct ConsistencyMultistep: Solver {
    /// The boundary time `ε` at which the consistency function is the identity.
    public var sigmaMin: Double
    public var sNoise: Double

    public init(sigmaMin: Double = 0.002, sNoise: Double = 1) { self.sigmaMin = sigmaMin; self.sNoise = sNoise }

    public var name: String { "cm_multistep" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 1, noise: true) }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        try Ancestral.requireVEFrame(context, solver: name)
        let from = context.grid[step], to = context.grid[step + 1]
        try context.predict(x, at: from, step: step, into: &state.first, needs: .data)
        let next = to.isClean ? 0 : to.sigma / to.alpha
        let std = sNoise * Swift.max(next * next - sigmaMin * sigmaMin, 0).squareRoot()
        guard std > 0 else { x.set((to.alpha, state.first.data)); return }
        try context.drawNoise(&state.z, step: step, from: from.sigma / from.alpha, to: next, for: name)
        x.set((to.alpha, state.first.data), (to.alpha * std, state.z))
    }

    /// The time points of diffusers' rule for `steps` steps: `round(i·⌊T/N⌋)` for `i < N`, largest first.
    public static func timePoints(steps: Int, trainingSteps: Int = 40) -> [Int] {
        (0..<steps).reversed().map { $0 * (trainingSteps / steps) }
    }

    /// The noise levels of the discretization a consistency model was trained on (Karras et al.'s,
    /// `σ(i) = (σ_max^{1/ρ} + i/(T−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ`, index 0 at `σ_max`) at the
    /// given time points, as diffusers orders them (points largest first, run from the smallest
    /// index, i.e. the largest sigma), followed by `σ_min`, where the run ends.
    ///
    /// - Throws: ``ScheduleError`` unless the points strictly decrease within `0..<trainingSteps`.
    public static func karrasSigmas(timePoints: [Int], trainingSteps: Int = 40, sigmaMin: Double = 0.002, sigmaMax: Double = 80,
                                    rho: Double = 7) throws -> [Double] {
        guard !timePoints.isEmpty, trainingSteps >= 2 else { throw ScheduleError("consistency time points: give at least one") }
        for (a, b) in zip(timePoints, timePoints.dropFirst()) where !(b < a) {
            throw ScheduleError("consistency time points must strictly decrease, got \(a) then \(b)")
        }
        guard timePoints[0] < trainingSteps, timePoints.last! >= 0 else {
            throw ScheduleError("consistency time points must lie in 0..<\(trainingSteps)")
        }
        let lo = Double.pow(sigmaMin, 1 / rho), hi = Double.pow(sigmaMax, 1 / rho)
        let sigmas = timePoints.reversed().map { i in Double.pow(hi + Double(i) / Double(trainingSteps - 1) * (lo - hi), rho) }
        return sigmas + [sigmaMin]
    }
}
