import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// The score-SDE predictor-corrector sampler (`score_sde_pc`) against diffusers'
/// `ScoreSdeVeScheduler` + `ScoreSdeVePipeline` loop fed the recorded draws
/// (`tools/fixtures_stochastic.py`), its sample distribution, and its errors.
@Suite("Score-SDE predictor-corrector")
struct ScoreSDETests {
    static let cases = try! ParityFile.load("parity_stochastic.json").cases.filter { $0.solver == "score_sde_pc" }
    static let mixtures: [String: GaussianMixture] = [
        "mixture_2d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")),
        "mixture_16d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")),
    ]

    @Test("the fixture has the four score_sde_pc cases")
    func fixtureCases() {
        #expect(Self.cases.count == 4)
    }

    /// The grid is diffusers' discrete sigma table plus 0 (our exponential spacing); the model is
    /// called at diffusers' continuous sigmas σ_min(σ_max/σ_min)^{t_i}, `correct_steps + 1` times per step.
    @Test("endpoint within 5e-5 relative RMS of diffusers fed the same draws; same NFE and model levels", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let schedule = VESchedule()
        let sigmaMin = try #require(c.number("sigma_min")), sigmaMax = try #require(c.number("sigma_max"))
        let correctSteps = Int(try #require(c.number("correct_steps")))
        let solver = ScoreSDEPredictorCorrector(snr: try #require(c.number("snr")), correctSteps: correctSteps,
                                                samplingEps: try #require(c.number("sampling_eps")))
        // Our exponential spacing builds the reference's discrete table (float32 there).
        let ours = try StepSchedule(spacing: .exponential, steps: c.steps, sigmaMin: sigmaMin, sigmaMax: sigmaMax).grid(on: schedule)
        let sigmas = ours.levels.map { schedule.displaySigma($0) }
        try #require(sigmas.count == c.sigmas.count)
        for (a, b) in zip(sigmas, c.sigmas) { #expect(abs(a - b) <= 1e-6 * b, "sigma \(a) vs \(b)") }
        // The run uses the recorded sigmas, so the comparison isolates the sampler.
        let grid = try StepSchedule.grid(sigmas: c.sigmas, on: schedule)
        let model = LevelRecordingModel(try #require(Self.mixtures[c.mixture]))
        let noise = try #require(c.recordedNoise)
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: c.initialSample, noise: noise)
        let out = try run.finish()
        #expect(out.isFinite)
        let error = Compare.relativeRMS(out, c.expected)
        #expect(error <= Swift.max(5e-5, 3 * (c.f64_check_rel_rms ?? 0)), "relative RMS \(error)")
        #expect(run.evaluations == c.nfe && solver.evaluations(on: grid) == c.nfe)
        #expect(noise.used == c.step_noise?.count)
        let timesteps = try #require(c.timesteps)
        let expectedLevels = timesteps.flatMap { t in
            Array(repeating: sigmaMin * Foundation.pow(sigmaMax / sigmaMin, t), count: correctSteps + 1)
        }
        try #require(model.sigmas.count == expectedLevels.count)
        for (a, b) in zip(model.sigmas, expectedLevels) { #expect(abs(a - b) <= 1e-6 * b, "model sigma \(a) vs \(b)") }
    }

    /// With the exact denoiser of N(μ, diag(s²)), n = 4000 samples and 200 steps (400 NFE, exponential
    /// spacing over the schedule's own range), the samples' mean and variance must match the data's
    /// within 5 standard errors (s/√n for a mean, s²·√(2/(n−1)) for a variance: 0.079 and 0.112 for
    /// s = 1) plus 0.01 for the method's bias. That bias, measured with n = 200,000 at 200 steps, is at
    /// most 0.004 on a mean and 0.0045 on a variance, on both schedules. It has two parts: the
    /// reverse-diffusion predictor's first-order variance excess `Σ g⁴/(s² + σ²)` (0.105 on s = 1 at
    /// 100 steps without corrector, 0.03 with it, hence 200 steps), and the corrector's unadjusted
    /// Langevin step, whose stationary variance is `v/(1 − ε/2v)`: with the SNR rule taking `ε` from
    /// norms over both coordinates, the narrow one (v = 0.09) stays about 5% (0.0045) high at any step
    /// count. The corrector's batch-averaged step size couples the samples only through two scalars.
    @Test("samples have the data's mean and variance (VE and VP)")
    func distribution() throws {
        let mean = [0.5, -1.0], std = [1.0, 0.3]
        let model = TestModels.singleGaussian(mean: mean, std: std)
        let n = 4000, steps = 200
        for schedule in [VESchedule() as any NoiseSchedule, try DiscreteVPSchedule()] {
            let grid = try StepSchedule(spacing: .exponential, steps: steps).grid(on: schedule)
            let noise = SeededNoise(seed: 21)
            let x = SampleTensor.initialSample(noise: noise.initialNoise(shape: [n, 2]), schedule: schedule, level: grid[0])
            let out = try SamplingRun(model: model, schedule: schedule, solver: ScoreSDEPredictorCorrector(), grid: grid,
                                      initialSample: x, noise: noise).finish()
            let (m, c) = Metrics.moments(out.scalars.map(Double.init), dimension: 2)
            for j in 0..<2 {
                let meanError = abs(m[j] - mean[j]), meanBound = 5 * std[j] / Double(n).squareRoot() + 0.01
                let variance = std[j] * std[j]
                let varError = abs(c[j * 2 + j] - variance), varBound = 5 * variance * (2 / Double(n - 1)).squareRoot() + 0.01
                #expect(meanError <= meanBound, "\(schedule.name): mean[\(j)] \(m[j]) vs \(mean[j])")
                #expect(varError <= varBound, "\(schedule.name): variance[\(j)] \(c[j * 2 + j]) vs \(variance)")
            }
        }
    }

    @Test("finite output, NFE = steps × (correctSteps + 1), and the catalog entry")
    func basics() throws {
        let model = TestModels.mixture2D()
        for schedule in [VESchedule() as any NoiseSchedule, try DiscreteVPSchedule()] {
            let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 10).grid(on: schedule)
            let x = SampleTensor.initialSample(noise: TestModels.noise([64, 2]), schedule: schedule, level: grid[0])
            for correctSteps in [0, 1, 3] {
                let solver = ScoreSDEPredictorCorrector(correctSteps: correctSteps)
                let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x,
                                          noise: SeededNoise(seed: 4))
                let out = try run.finish()
                #expect(out.isFinite, "\(schedule.name), \(correctSteps) corrector steps")
                #expect(out.scalars.allSatisfy { abs($0) < 10 }, "\(schedule.name), \(correctSteps) corrector steps")
                #expect(run.evaluations == 10 * (correctSteps + 1) && solver.evaluations(on: grid) == run.evaluations)
            }
        }
        let entry = try #require(SolverCatalog.entry(named: "score_sde_pc"))
        #expect(entry.evaluationsPerStep == 2 && SolverCatalog.stochasticNames.contains("score_sde_pc"))
        let solver = try #require(try SolverCatalog.solver(named: "score_sde_pc") as? ScoreSDEPredictorCorrector)
        #expect(solver.snr == 0.16 && solver.correctSteps == 1 && solver.samplingEps == 1e-5)
    }

    @Test("unsupported schedules, noise sources and options fail with one line")
    func errors() throws {
        let model = TestModels.mixture2D()
        func failure(_ solver: ScoreSDEPredictorCorrector, schedule: any NoiseSchedule, spacing: StepSpacing = .karras(rho: 7),
                     noise: (any NoiseSource)?) throws -> String? {
            let grid = try StepSchedule(spacing: spacing, steps: 5).grid(on: schedule)
            let x = SampleTensor.initialSample(noise: TestModels.noise([4, 2]), schedule: schedule, level: grid[0])
            do {
                _ = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise).finish()
                return nil
            } catch let error as SamplingError {
                return error.description
            }
        }
        let messages = [
            try failure(ScoreSDEPredictorCorrector(), schedule: RectifiedFlowSchedule(), spacing: .timeUniform, noise: SeededNoise(seed: 1)),
            try failure(ScoreSDEPredictorCorrector(), schedule: VESchedule(), noise: nil),
            try failure(ScoreSDEPredictorCorrector(), schedule: VESchedule(), noise: BrownianTreeNoise(seed: 1, sigmaMin: 0.002, sigmaMax: 80)),
            try failure(ScoreSDEPredictorCorrector(snr: -1), schedule: VESchedule(), noise: SeededNoise(seed: 1)),
            try failure(ScoreSDEPredictorCorrector(correctSteps: -1), schedule: VESchedule(), noise: SeededNoise(seed: 1)),
        ]
        for message in messages {
            let text = try #require(message)
            #expect(text.contains("score_sde_pc") && !text.contains("\n"), "\(text)")
        }
        #expect(messages[0]!.contains("rectified flow"))
        // Without corrector steps the predictor's draws are Brownian increments, which a tree can supply.
        #expect(try failure(ScoreSDEPredictorCorrector(correctSteps: 0), schedule: VESchedule(),
                            noise: BrownianTreeNoise(seed: 1, sigmaMin: 0.002, sigmaMax: 80)) == nil)
    }
}
