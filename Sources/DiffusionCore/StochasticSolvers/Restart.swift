import RealModule

/// The Restart sampler (Xu et al. 2023, "Restart Sampling for Improving Generative Processes",
/// NeurIPS; the official `restart_sampler` of Newbeeer/diffusion_restart_sampling): Heun steps on
/// the probability-flow ODE, and in a few intervals `[t_min, t_max]` a restart, repeated `K` times:
/// jump forward to `t_max` by adding fresh noise, then integrate back to `t_min` with Heun steps.
///
/// In the VE frame (`y = x/α`, `σ` = `σ/α`), after the main step that lands on the grid level
/// `σ_min` nearest a segment's `t_min` (possibly the final `σ = 0`, as in the official code, where
/// the last backward step returns `x̂₀`), each of its `K` repetitions is
/// ```
/// y ← y + s_noise·√(t_max² − σ_min²)·z,    z ~ N(0, I)
/// y ← Heun steps down the Karras levels (ρ = 7) of N_restart levels from t_max to σ_min
/// ```
/// The forward jump is exact for the forward process, so the noise contracts the errors the
/// steps before accumulated, while the ODE steps keep their small discretisation error (the
/// paper's argument). Restart's own churn (`restart_gamma`) is 0 here, as is `S_churn`.
/// NFE: Heun's `2N − 1` plus `K·2·(N_restart − 1)` per segment (one less per repetition that ends
/// at `σ = 0`); one draw per repetition.
/// Needs a VP or VE schedule.
public struct Restart: Solver {
    /// One restart interval (the official `restart_info` entry `[N_restart, K, t_min, t_max]`).
    public struct Segment: Sendable, Equatable {
        /// The number of levels of the backward Karras grid from `tMax` to the restart level, ≥ 2.
        public var levels: Int
        /// How many times the interval is restarted, `K ≥ 1`.
        public var repeats: Int
        /// The VE sigma near which the restart starts (the nearest grid level is used).
        public var tMin: Double
        /// The VE sigma the noise jumps to.
        public var tMax: Double

        public init(levels: Int, repeats: Int, tMin: Double, tMax: Double) {
            self.levels = levels; self.repeats = repeats; self.tMin = tMin; self.tMax = tMax
        }

        /// The segment of the official README's example `restart_info`, `{"0": [3, 2, 0.06, 0.30]}`,
        /// for its EDM-style (VE sigma) samplers.
        public static let paperDefault = Segment(levels: 3, repeats: 2, tMin: 0.06, tMax: 0.30)
    }

    public var segments: [Segment]
    public var sNoise: Double

    public init(segments: [Segment] = [.paperDefault], sNoise: Double = 1) {
        self.segments = segments; self.sNoise = sNoise
    }

    public var name: String { "restart" }
    public var order: Int { 1 }

    public func evaluations(on grid: TimeGrid) -> Int {
        let restarts = ((try? restartLevels(on: grid)) ?? [:]).reduce(0) { total, entry in
            total + entry.value.repeats * (2 * (entry.value.levels - 1) - (grid[entry.key].isClean ? 1 : 0))
        }
        return 2 * grid.steps - (grid.endsClean ? 1 : 0) + restarts
    }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> StageState { StageState(like: x, stages: 2, noise: true) }

    /// The grid index each segment restarts from: the level nearest `tMin` (VE sigmas), as the
    /// official code picks it, which may be the final `σ = 0` (the finished sample is then re-noised
    /// and integrated back, the last step returning `x̂₀`). Throws when a segment does not fit.
    func restartLevels(on grid: TimeGrid) throws -> [Int: Segment] {
        var found: [Int: Segment] = [:]
        let sigmas = grid.levels.map(Ancestral.sigma)
        for segment in segments {
            guard segment.levels >= 2, segment.repeats >= 1, segment.tMin > 0, segment.tMax > segment.tMin else {
                throw SamplingError.invalidConfiguration("restart: a segment needs levels >= 2, repeats >= 1 and 0 < t_min < t_max, got \(segment)")
            }
            let index = sigmas.indices.min { abs(sigmas[$0] - segment.tMin) < abs(sigmas[$1] - segment.tMin) }!
            guard index > 0, sigmas[index] < segment.tMax, found[index] == nil else {
                throw SamplingError.invalidConfiguration("restart: the segment [\(segment.tMin), \(segment.tMax)] needs a grid level after the first nearest t_min, below t_max and of its own; the nearest is level \(index) (sigma \(sigmas[index]))")
            }
            found[index] = segment
        }
        return found
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout StageState, context: SolverContext) throws {
        try Ancestral.requireVEFrame(context, solver: name)
        let restarts = try restartLevels(on: context.grid)
        if let from = try state.begin(step, x: &x, context: context) {
            try Heun.complete(&x, from: from, to: context.grid[step + 1], state: &state, step: step, context: context)
        }
        guard let segment = restarts[step + 1] else { return }
        let bottom = context.grid[step + 1], low = Ancestral.sigma(bottom)
        let top = KDiffusionFrame.level(tau: segment.tMax, context: context)
        var levels = (0..<segment.levels).map { i in
            KDiffusionFrame.level(tau: KarrasRamp.sigma(at: Double(i) / Double(segment.levels - 1), hi: segment.tMax, lo: low), context: context)
        }
        levels[levels.count - 1] = bottom
        for _ in 0..<segment.repeats {
            try context.drawNoise(&state.z, step: step, from: low, to: segment.tMax, for: name)
            x.update(scale: top.alpha / bottom.alpha, (top.alpha * sNoise * (segment.tMax * segment.tMax - low * low).squareRoot(), state.z))
            for j in 0..<(levels.count - 1) {
                try context.predict(x, at: levels[j], step: step, into: &state.first, needs: FrameStep.needs(to: levels[j + 1], frame: context.frame))
                if levels[j + 1].isClean {
                    x.assign(state.first.data)
                } else {
                    try Heun.complete(&x, from: levels[j], to: levels[j + 1], state: &state, step: step, context: context)
                }
            }
        }
    }
}
