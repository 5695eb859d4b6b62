import DiffusionCore

/// A step schedule searched on the user's model, in the spirit of GITS (Chen et al. 2024, "On the
/// Trajectory Regularity of ODE-based Diffusion Sampling", ICML): sampling trajectories of one
/// model are regular enough that a schedule found on a few of them serves the rest.
///
/// A teacher trajectory is computed on a fine grid of `M` steps (DPM-Solver++(2M), which also gives
/// the clean estimate `x̂₀ᵢ` at every fine point `xᵢ`). The cost of jumping from fine point `i` to
/// fine point `j > i` in one first-order step (DDIM's data-prediction update, exact for any frame)
/// ```
/// x̂ⱼ = (σⱼ/σᵢ)·xᵢ + (αⱼ − αᵢ·σⱼ/σᵢ)·x̂₀ᵢ,        c(i, j) = mean ‖x̂ⱼ − xⱼ‖² over the tuning samples
/// ```
/// is its local truncation error against the teacher, and dynamic programming picks the path from
/// the first fine point to the last with exactly `N` jumps that minimizes the summed cost. The
/// result always starts at the fine grid's first level, ends at its last (σ = 0 for the default
/// grid), and decreases strictly.
public struct TrajectoryStepSearch: Sendable {
    /// The fine grid's step count `M`.
    public var fineSteps: Int
    /// The fine grid's spacing.
    public var fineSpacing: StepSpacing

    public init(fineSteps: Int = 100, fineSpacing: StepSpacing = .logSNR) {
        self.fineSteps = fineSteps
        self.fineSpacing = fineSpacing
    }

    /// The teacher trajectory and the jump costs, computed once for any number of steps.
    public struct Costs: Sendable {
        /// The fine grid.
        public var grid: TimeGrid
        /// `cost[i][j]` for `i < j` (row-major `(M+1) × (M+1)`; other entries are unused).
        public var cost: [Double]
        /// The model evaluations the teacher used.
        public var evaluations: Int

        package func c(_ i: Int, _ j: Int) -> Double { cost[i * grid.levels.count + j] }

        /// The fine-grid indices of the best path with exactly `steps` jumps, and its summed cost.
        public func bestPath(steps: Int) throws -> (indices: [Int], cost: Double) {
            let last = grid.steps
            guard (1...last).contains(steps) else {
                throw SamplingError.invalidConfiguration("step search: \(steps) steps on a fine grid of \(last)")
            }
            // best[k][j]: the least cost of reaching fine point j in k jumps from point 0.
            let n = last + 1
            var best = [Double](repeating: .infinity, count: (steps + 1) * n)
            var from = [Int](repeating: -1, count: (steps + 1) * n)
            best[0] = 0
            for k in 1...steps {
                for j in k...last {
                    for i in (k - 1)..<j where best[(k - 1) * n + i].isFinite {
                        let value = best[(k - 1) * n + i] + c(i, j)
                        if value < best[k * n + j] { best[k * n + j] = value; from[k * n + j] = i }
                    }
                }
            }
            var path = [last]
            var j = last
            for k in stride(from: steps, to: 0, by: -1) {
                j = from[k * n + j]
                path.append(j)
            }
            return (path.reversed(), best[steps * n + last])
        }

        /// The grid of the best path with `steps` jumps.
        public func grid(steps: Int) throws -> TimeGrid {
            try TimeGrid(levels: try bestPath(steps: steps).indices.map { grid[$0] })
        }
    }

    /// Runs the teacher from the standard-normal `noise` and computes every jump cost.
    public func costs(model: any DiffusionModel, schedule: any NoiseSchedule, noise: SampleTensor,
                      stepsOffset: Int = 0) throws -> Costs {
        guard fineSteps >= 2 else { throw SamplingError.invalidConfiguration("step search: the fine grid needs at least 2 steps") }
        let grid = try StepSchedule(spacing: fineSpacing, steps: fineSteps, final: .zero, stepsOffset: stepsOffset).grid(on: schedule)
        let teacher = DPMSolverMultistep(prediction: .data, solverOrder: 2, lowerOrderFinal: true)
        let run = try SamplingRun(model: model, schedule: schedule, solver: teacher, grid: grid,
                                  initialSample: SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0]),
                                  previews: true)
        var points: [[Float]] = [], denoised: [[Float]] = []
        while !run.isFinished {
            points.append(run.sample.scalars)
            _ = try run.advance()
            denoised.append(run.denoised.scalars)  // x̂₀ at the point just left
        }
        points.append(run.sample.scalars)
        let n = grid.levels.count
        var cost = [Double](repeating: 0, count: n * n)
        let count = Double(noise.scalars.count)
        for i in 0..<(n - 1) {
            let si = grid[i]
            for j in (i + 1)..<n {
                let sj = grid[j]
                let a = si.sigma > 0 ? sj.sigma / si.sigma : 0
                let b = sj.alpha - si.alpha * a
                var sum = 0.0
                for (e, (x, d)) in zip(points[j], zip(points[i], denoised[i])) {
                    let r = a * Double(x) + b * Double(d) - Double(e)
                    sum += r * r
                }
                cost[i * n + j] = sum / count
            }
        }
        return Costs(grid: grid, cost: cost, evaluations: run.evaluations)
    }
}
