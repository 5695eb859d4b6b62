import Foundation
import Testing
@testable import DiffusionSolvers
import DiffusionTestSupport

/// DPM-Solver-v3 (Zheng et al. 2023): its reduction to DPM-Solver++ with degenerate statistics,
/// its convergence order with estimated statistics, grid handling and the final step to `σ = 0`.
@Suite("DPM-Solver-v3")
struct DPMSolverV3Tests {
    static let schedule = ContinuousVPSchedule.linear()
    static let model = TestModels.mixture2D()
    /// The sampling range of the VP schedule, `t ∈ [1e-3, 1]`.
    static let range = schedule.lambda(at: 1)...schedule.lambda(at: 1e-3)

    static func run<S: Solver>(_ solver: S, grid: TimeGrid, batch: Int = 32, seed: UInt64 = 3) throws -> SampleTensor {
        let x = SampleTensor.initialSample(noise: TestModels.noise([batch] + model.sampleShape, seed: seed), schedule: schedule, level: grid[0])
        return try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x).finish()
    }

    /// With `l = 1, s = 0, b = 0` the predictor is DPM-Solver++ with Taylor-form derivatives (heun
    /// second order, `thirdOrderForm: .taylor`). The solver integrates `e^λ` with the trapezoid rule
    /// on the statistics grid, a relative error of `Δλ²/12` ≈ 6e-7 at 4000 intervals over the VP
    /// range (`Δλ ≈ 0.0026`), so the runs agree to float32 precision (measured 1.2e-6 to 2.2e-6 relative RMS).
    @Test("degenerate statistics reproduce DPM-Solver++ (2M heun, 3M taylor), ending at sigma_min and at 0")
    func reducesToDPMSolverPlusPlus() throws {
        let stats = try ModelStatistics.degenerate(lambdaStart: Self.range.lowerBound, lambdaEnd: Self.range.upperBound,
                                                   intervals: 4000, dimension: 2)
        for order in [1, 2, 3] {
            for final in [FinalNoise.minimum, .zero] {
                for lowerOrderFinal in [true, false] {
                    let steps = 10
                    let grid = try stats.snapped(StepSchedule(spacing: .logSNR, steps: steps, final: final).grid(on: Self.schedule),
                                                 schedule: Self.schedule)
                    #expect(grid.steps == steps)
                    let v3 = DPMSolverV3(statistics: stats, solverOrder: order, corrector: false, lowerOrderFinal: lowerOrderFinal)
                    let reference = DPMSolverMultistep(prediction: .data, solverOrder: order, secondOrderForm: .heun,
                                                       lowerOrderFinal: lowerOrderFinal, thirdOrderForm: .taylor)
                    let ours = try Self.run(v3, grid: grid)
                    let theirs = try Self.run(reference, grid: grid)
                    let error = Compare.relativeRMS(ours.scalars.map(Double.init), theirs.scalars.map(Double.init))
                    #expect(error <= 1e-5, "order \(order), final \(final), lowerOrderFinal \(lowerOrderFinal): relative RMS \(error)")
                    #expect(ours.isFinite)
                }
            }
        }
    }

    /// The derivative weights: pseudo and full agree for two points (one divided difference),
    /// and the full weights reproduce the derivatives of a cubic exactly.
    @Test("derivative estimates: exact on polynomials; pseudo-order equals normal with two points")
    func derivativeWeights() {
        let u = SIMD4<Double>(0, -0.3, -0.7, -1.2)
        let p1 = DPMSolverV3.derivativeWeights(offsets: u, count: 2, pseudo: true)
        let n1 = DPMSolverV3.derivativeWeights(offsets: u, count: 2, pseudo: false)
        #expect(p1[0] == n1[0])
        // g(u) = 1 + 2u − 3u² + 0.5u³: g' = 2, g'' = −6, g''' = 3 at u = 0.
        func cubic(_ v: Double) -> Double { 1 + 2 * v - 3 * v * v + 0.5 * v * v * v }
        func quadratic(_ v: Double) -> Double { 1 + 2 * v - 3 * v * v }
        let g = SIMD4<Double>(cubic(u[0]), cubic(u[1]), cubic(u[2]), cubic(u[3]))
        let w = DPMSolverV3.derivativeWeights(offsets: u, count: 4, pseudo: false)
        #expect(abs((w[0] * g).sum() - 2) < 1e-12)
        #expect(abs((w[1] * g).sum() + 6) < 1e-11)
        #expect(abs((w[2] * g).sum() - 3) < 1e-11)
        // Pseudo-order: m!·g[u₀ … u_m]; for a quadratic the second divided difference is exact.
        let q = SIMD4<Double>(quadratic(u[0]), quadratic(u[1]), quadratic(u[2]), quadratic(u[3]))
        let wp = DPMSolverV3.derivativeWeights(offsets: u, count: 3, pseudo: true)
        #expect(abs((wp[1] * q).sum() + 6) < 1e-12)
        #expect(abs((wp[0] * q).sum() - (q[0] - q[1]) / (u[0] - u[1])) < 1e-12)
    }

    /// Statistics estimated on the mixture, on a 1536-interval grid; sampling grids are sub-grids
    /// (every 1536/n-th point, i.e. uniform in λ), so snapping plays no part. The reference is the
    /// probability-flow ODE itself, solved to 1e-10 by ``ReferenceSolver`` from the same start to
    /// the same end, not the solver on a fine grid (which would hide an error common to all step
    /// counts). The solver's integrals are trapezoid sums on the statistics grid and its statistics
    /// are estimates, so it meets the ODE solution only to a floor: the run on all 1536 points is
    /// 1.9e-6 RMS from it. Over 48–192 steps the errors stay at or above that floor (192 steps:
    /// 1.9e-6 for order 3 with the corrector, 7.8e-6 without, 3.3e-3 at order 1) and the fitted
    /// slopes are 1.05, 2.03, 3.21 (predictor 1–3), 2.13 and 3.24 (with the corrector); over
    /// 12–192 steps they are 1.11, 1.98, 3.32, 2.21, 3.15. Lower-order final steps are off (a
    /// first-order last step is second order globally). The estimator's shared draws across grid
    /// points (its default) matter here: with fresh draws per point the statistics are rough at
    /// the grid scale and every fitted slope is near 1.
    @Test("convergence order with estimated statistics against the ODE solution (predictor 1–3, corrector)")
    func convergenceOrder() throws {
        let n = 1536
        let data = SampleTensor(shape: [128, 2], scalars: Self.model.samples(count: 128, seed: 11).map(Float.init))
        let stats = try ModelStatistics.estimate(model: Self.model, schedule: Self.schedule, data: data, lambdaRange: Self.range,
                                                 intervals: n, seed: 5)
        let steps = [48, 96, 192]
        let solvers: [(DPMSolverV3, Int)] = [
            (DPMSolverV3(statistics: stats, solverOrder: 1, corrector: false, lowerOrderFinal: false), 1),
            (DPMSolverV3(statistics: stats, solverOrder: 2, corrector: false, lowerOrderFinal: false), 2),
            (DPMSolverV3(statistics: stats, solverOrder: 3, corrector: false, lowerOrderFinal: false), 3),
            (DPMSolverV3(statistics: stats, solverOrder: 2, corrector: true, lowerOrderFinal: false), 2),
            (DPMSolverV3(statistics: stats, solverOrder: 3, corrector: true, lowerOrderFinal: false), 3),
        ]
        let full = try stats.grid(indices: Array(0...n), schedule: Self.schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([32] + Self.model.sampleShape, seed: 3), schedule: Self.schedule, level: full[0])
        let reference = try ReferenceSolver(relativeTolerance: 1e-10, absoluteTolerance: 1e-10)
            .solve(model: Self.model, schedule: Self.schedule, x: x, from: full[0], to: full[full.steps]).endpoint
        for (solver, expected) in solvers {
            #expect(solver.order == expected)
            let errors = try steps.map { m in
                let grid = try stats.grid(indices: (0...m).map { $0 * (n / m) }, schedule: Self.schedule)
                let out = try Self.run(solver, grid: grid)
                return Compare.rms(out.scalars.map(Double.init), reference)
            }
            let order = -Compare.logLogSlope(x: steps.map(Double.init), y: errors)
            #expect(abs(order - Double(expected)) <= 0.3, "order \(solver.solverOrder), corrector \(solver.corrector): fitted \(order), errors \(errors)")
        }
    }

    @Test("a step to sigma = 0 returns the clean estimate and stays finite, with and without the corrector")
    func finalStepToZero() throws {
        let data = SampleTensor(shape: [64, 2], scalars: Self.model.samples(count: 64, seed: 2).map(Float.init))
        let stats = try ModelStatistics.estimate(model: Self.model, schedule: Self.schedule, data: data, lambdaRange: Self.range,
                                                 intervals: 200, seed: 1)
        let grid = try stats.snapped(StepSchedule(spacing: .logSNR, steps: 8, final: .zero).grid(on: Self.schedule), schedule: Self.schedule)
        for corrector in [false, true] {
            let solver = DPMSolverV3(statistics: stats, solverOrder: 3, corrector: corrector)
            let x = SampleTensor.initialSample(noise: TestModels.noise([16, 2], seed: 4), schedule: Self.schedule, level: grid[0])
            let run = try SamplingRun(model: Self.model, schedule: Self.schedule, solver: solver, grid: grid, initialSample: x)
            while run.stepsTaken < grid.steps - 1 { _ = try run.advance() }
            let before = run.sample
            let out = try run.finish()
            #expect(out.isFinite)
            #expect(run.evaluations == grid.steps)
            if !corrector {
                var expected = SampleTensor(zeros: x.shape)
                try Self.model.predict(before, at: grid[grid.steps - 1], into: &expected)
                #expect(out == expected)
            }
        }
    }

    @Test("levels off the statistics grid or outside its range are refused with one-line errors")
    func gridErrors() throws {
        let stats = try ModelStatistics.degenerate(lambdaStart: -2, lambdaEnd: 3, intervals: 50, dimension: 2)
        let solver = DPMSolverV3(statistics: stats)
        let offGrid = try StepSchedule(spacing: .logSNR, steps: 7, final: .minimum).grid(on: Self.schedule)
        // The VP range extends beyond λ ∈ [−2, 3].
        do {
            _ = try Self.run(solver, grid: offGrid)
            Issue.record("expected an error")
        } catch let error as SamplingError {
            #expect(error.description.contains("outside the statistics range"), "\(error)")
            #expect(!error.description.contains("\n"))
        }
        #expect(throws: SamplingError.self) { try stats.snapped(offGrid, schedule: Self.schedule) }
        // Inside the range but between grid points.
        let inside = try TimeGrid(levels: [-1.0, 0.05, 1.0].map { Self.schedule.level(at: Self.schedule.time(lambda: $0)) })
        do {
            _ = try Self.run(solver, grid: inside)
            Issue.record("expected an error")
        } catch let error as SamplingError {
            #expect(error.description.contains("not a statistics grid point"), "\(error)")
        }
        // Snapping moves 0.05 to 0.0 (point 20); too many steps collapse onto one point.
        let snapped = try stats.snapped(inside, schedule: Self.schedule)
        #expect(abs(snapped[1].lambda - 0.0) < 1e-9)
        #expect(try Self.run(solver, grid: snapped).isFinite)
        let crowded = try TimeGrid(levels: [0.0, 0.02, 0.04].map { Self.schedule.level(at: Self.schedule.time(lambda: $0)) })
        do {
            _ = try stats.snapped(crowded, schedule: Self.schedule)
            Issue.record("expected an error")
        } catch let error as SamplingError {
            #expect(error.description.contains("snap to the same statistics point"), "\(error)")
        }
        // Statistics of another dimension.
        let wide = try ModelStatistics.degenerate(lambdaStart: -2, lambdaEnd: 3, intervals: 50, dimension: 3)
        #expect(throws: SamplingError.self) { try Self.run(DPMSolverV3(statistics: wide), grid: snapped) }
    }

    @Test("the corrector costs no evaluation; the half corrector follows the official code (t > 0.5)")
    func correctorBookkeeping() throws {
        let data = SampleTensor(shape: [64, 2], scalars: Self.model.samples(count: 64, seed: 2).map(Float.init))
        let stats = try ModelStatistics.estimate(model: Self.model, schedule: Self.schedule, data: data, lambdaRange: Self.range,
                                                 intervals: 120, seed: 1)
        let grid = try stats.snapped(StepSchedule(spacing: .logSNR, steps: 6, final: .minimum).grid(on: Self.schedule), schedule: Self.schedule)
        let plain = try Self.run(DPMSolverV3(statistics: stats, corrector: false), grid: grid)
        let corrected = try Self.run(DPMSolverV3(statistics: stats, corrector: true), grid: grid)
        let half = try Self.run(DPMSolverV3(statistics: stats, corrector: true, halfCorrector: true), grid: grid)
        #expect(plain != corrected)
        #expect(plain != half && corrected != half)
        // With every evaluated time at or below 0.5 the half corrector never runs.
        let late = try stats.grid(indices: Array(stride(from: 60, through: 120, by: 12)), schedule: Self.schedule)
        #expect(late.levels.allSatisfy { $0.t <= 0.5 })
        let halfLate = try Self.run(DPMSolverV3(statistics: stats, corrector: true, halfCorrector: true), grid: late)
        #expect(halfLate == (try Self.run(DPMSolverV3(statistics: stats, corrector: false), grid: late)))
        let x = SampleTensor.initialSample(noise: TestModels.noise([8, 2]), schedule: Self.schedule, level: grid[0])
        let run = try SamplingRun(model: Self.model, schedule: Self.schedule, solver: DPMSolverV3(statistics: stats, correctorPseudo: true),
                                  grid: grid, initialSample: x)
        _ = try run.finish()
        #expect(run.evaluations == grid.steps)
    }

    /// Parity with the official implementation (thu-ml/DPM-Solver-v3 @ ba16871, `DPM_Solver_v3.sample`)
    /// on `mixture_2d`: smooth synthetic, non-degenerate statistics on a 241-point grid, the
    /// official logSNR and time-uniform step rules (snapped by the official code; our snapping must
    /// pick the same grid points), predictor orders 1–3, corrector, pseudo-order predictor and
    /// corrector, half corrector. The reference ran in float64 (`tools/fixtures_dpm_solver_v3.py`);
    /// ours updates in float32 (measured 1.1e-7 to 3.8e-7 relative RMS over the seven cases).
    @Test("matches the official DPM-Solver-v3 code on non-degenerate statistics")
    func parityWithOfficialCode() throws {
        guard let file = try Fixtures.json("parity_dpm_solver_v3.json") as? [String: Any],
              let cases = file["cases"] as? [[String: Any]], let statistics = file["statistics"] as? [String: Any],
              let lambdaStart = file["lambda_start"] as? Double, let lambdaEnd = file["lambda_end"] as? Double else {
            Issue.record("parity_dpm_solver_v3.json: unexpected layout")
            return
        }
        func rows(_ value: Any?) -> [Double] { (value as? [[Double]] ?? []).flatMap { $0 } }
        let stats = try ModelStatistics(lambdaStart: lambdaStart, lambdaEnd: lambdaEnd, dimension: 2,
                                        l: rows(statistics["l"]), s: rows(statistics["s"]), b: rows(statistics["b"]))
        #expect(stats.intervals == statistics["intervals"] as? Int)
        let model = try GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors"))
        let schedule = Self.schedule
        #expect(cases.count == 7)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let indexes = c["indexes"] as? [Int] ?? []
            let steps = c["steps"] as? Int ?? 0
            let grid = try stats.grid(indices: indexes, schedule: schedule)
            // Our step rule, snapped, lands on the official indexes.
            let spacing: StepSpacing = c["skip_type"] as? String == "time_uniform" ? .timeUniform : .logSNR
            let ours = try stats.snapped(StepSchedule(spacing: spacing, steps: steps, final: .minimum).grid(on: schedule), schedule: schedule)
            #expect(ours.levels.map { Int(stats.position(of: $0.lambda).rounded()) } == indexes, "\(name)")
            let solver = DPMSolverV3(statistics: stats, solverOrder: c["order"] as? Int ?? 0, predictorPseudo: c["p_pseudo"] as? Bool ?? false,
                                     corrector: c["use_corrector"] as? Bool ?? false, correctorPseudo: c["c_pseudo"] as? Bool ?? false,
                                     lowerOrderFinal: c["lower_order_final"] as? Bool ?? false, halfCorrector: c["half"] as? Bool ?? false)
            let initial = rows(c["x_init"]).map(Float.init)
            let x = SampleTensor(shape: [initial.count / 2, 2], scalars: initial)
            let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x)
            let out = try run.finish()
            let error = Compare.relativeRMS(out.scalars.map(Double.init), rows(c["x_final"]))
            #expect(error <= 5e-5, "\(name): relative RMS \(error)")
            #expect(run.evaluations == steps)
        }
    }
}
