import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport

/// SA-Solver (Xue et al. 2023) against diffusers' `SASolverScheduler` fed the draws it consumed
/// (`tools/fixtures_stochastic.py`, 12 cases: data and noise prediction, both mixtures, 5/10/20
/// linspace steps to `σ(t = 0)`), its convergence order with `τ = 0`, steps to `σ = 0`, and the
/// distribution of its samples.
@Suite("SA-Solver")
struct SASolverTests {
    static let file = try! ParityFile.load("parity_stochastic.json")
    static let cases = file.cases.filter { $0.solver == "sa_solver" }
    static let mixtures: [String: GaussianMixture] = [
        "mixture_2d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")),
        "mixture_16d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")),
    ]

    /// `corrector_orders` (the order of the corrector applied at each step; 0 = none), which
    /// `ParityCase` does not decode.
    static let correctorOrders: [String: [Int]] = {
        struct Entry: Decodable { var name: String; var corrector_orders: [Int]? }
        struct File: Decodable { var cases: [Entry] }
        let file = try! JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("parity_stochastic.json")))
        return Dictionary(uniqueKeysWithValues: file.cases.compactMap { e in e.corrector_orders.map { (e.name, $0) } })
    }()

    static func solver(for c: ParityCase) -> SASolver {
        SASolver(solverOrder: Int(c.number("predictor_order") ?? 2), correctorOrder: Int(c.number("corrector_order") ?? 2),
                 prediction: c.string("algorithm_type") == "noise_prediction" ? .noise : .data,
                 lowerOrderFinal: c.bool("lower_order_final") ?? true)
    }

    @Test("the fixture holds the 12 SA-Solver cases")
    func fixtureCount() { #expect(Self.cases.count == 12) }

    @Test("endpoint within 5e-5 relative RMS of diffusers fed the same draws", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let schedule = try c.schedule()
        let ours = try c.stepSchedule().grid(on: schedule)
        let sigmas = ours.levels.map { schedule.displaySigma($0) }
        try #require(sigmas.count == c.sigmas.count, "grid has \(sigmas.count) levels, reference \(c.sigmas.count)")
        for (a, b) in zip(sigmas, c.sigmas) { #expect(abs(a - b) <= 1e-4 * b, "sigma \(a) vs \(b)") }
        // As StochasticParityTests: the run uses the reference's recorded (float32) sigmas.
        let grid = try StepSchedule.grid(sigmas: c.sigmas, on: schedule)
        let solver = Self.solver(for: c)
        // The orders and τ we take per step are the ones diffusers recorded.
        let n = grid.steps
        #expect((0..<n).map { solver.predictorOrder(atStep: $0, of: n) } == c.step_orders)
        if let recorded = Self.correctorOrders[c.name] {
            #expect((1..<n).map { solver.correctorOrder(atStep: $0, of: n) } == Array(recorded.dropFirst()))
        }
        if let taus = c.integers("predictor_taus") {
            #expect((0..<n).map { try! solver.tauValue(at: grid[$0], discrete: true) } == taus.map(Double.init))
        }
        let model = try #require(Self.mixtures[c.mixture])
        let noise = try #require(c.recordedNoise)
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: c.initialSample, noise: noise)
        let out = try run.finish()
        #expect(out.isFinite)
        let error = Compare.relativeRMS(out, c.expected)
        #expect(error <= Swift.max(5e-5, 3 * (c.f64_check_rel_rms ?? 0)), "relative RMS \(error)")
        #expect(run.evaluations == c.nfe)
        #expect(noise.used == c.step_noise?.count)
    }

    /// diffusers' update coefficients, read off `stochastic_adams_bashforth_update` and
    /// `stochastic_adams_moulton_update` fed unit vectors (`tools/fixtures_sa_solver_coefficients.py`,
    /// `sa_solver_coefficients.json`). Each row is `[scale of x, weights of the outputs newest first,
    /// scale of z]`. They cover orders 3 and 4, which the trajectory fixtures do not. The predictor
    /// steps from σ̃ = 0.45 to 0.2, the corrector from 1.1 to 0.45, through the outputs at
    /// 0.45, 1.1, 2.5, 6.0.
    struct CoefficientFile: Decodable {
        struct Row: Decodable { var kind: String; var prediction: String; var tau: Double; var order: Int; var coefficients: [Double] }
        var sigmas: [Double]
        var step_index: Int
        var cases: [Row]
    }

    @Test("update coefficients equal diffusers' for predictor and corrector orders 1-4, data and noise prediction, tau 0, 0.7, 1")
    func coefficients() throws {
        func level(_ s: Double) -> NoiseLevel {
            let alpha = 1 / (s * s + 1).squareRoot(), sigma = s * alpha
            return NoiseLevel(t: 0, alpha: alpha, sigma: sigma, lambda: Double.log(alpha) - Double.log(sigma))
        }
        let file = try JSONDecoder().decode(CoefficientFile.self, from: Data(contentsOf: Fixtures.url("sa_solver_coefficients.json")))
        try #require(file.step_index == 4 && file.sigmas.count == 6 && file.cases.count == 48)
        let levels = file.sigmas.map(level)
        var history = MultistepHistory(capacity: 4, like: SampleTensor(zeros: [1, 1]))
        for i in 1...4 { history.advance(to: levels[i]) }
        for row in file.cases {
            let (kind, tau, order, expected) = (row.kind, row.tau, row.order, row.coefficients)
            let prediction: PredictionKind = row.prediction == "data" ? .data : .noise
            let solver = SASolver(solverOrder: 4, correctorOrder: 4, prediction: prediction)
            let (from, to) = kind == "predictor" ? (levels[4], levels[5]) : (levels[3], levels[4])
            let w = solver.coefficients(from: from, to: to, nodes: history, count: order, tau: tau)
            let ours = [w.scale] + (0..<order).map { w.c[$0] } + [w.noise]
            try #require(ours.count == expected.count)
            for (a, b) in zip(ours, expected) {
                #expect(abs(a - b) <= 1e-11 * Swift.max(1, abs(b)), "\(kind) \(prediction) tau \(tau) order \(order): \(ours) vs \(expected)")
            }
        }
    }

    /// With `τ = 0` SA-Solver is a multistep predictor-corrector for the probability-flow ODE of
    /// global order `min(c, p + 1)`. Lower-order final steps are off, as in ExponentialSolverTests,
    /// and the step ranges are where the asymptotic regime holds above the float32 floor (about
    /// 1e-6): 64–512 steps for order 2 (the default pair's error falls faster than h² below 64
    /// steps), 64–256 for order 3, measured 1.89–2.03 (p = 2, c = 2), 1.92–1.98 (1, 2) and
    /// 2.99–3.12 (2, 3). Not asserted: the noise-prediction default pair (2, 2) and the pair (3, 3),
    /// whose errors change sign near 64–128 steps, so that between there and the float32 floor the
    /// fitted slopes are 1.3–1.8 and 2.2–2.9 (the same behaviour as an `A·h^p + B·h^{p+1}` error
    /// with `A` small); and (3, 4), which reaches the floor while its slopes are 3.3–4.0.
    @Test("tau 0: converges at order min(c, p + 1) against the reference ODE solution",
          arguments: [(1, 2, PredictionKind.data, 2), (1, 2, .noise, 2), (2, 2, .data, 2), (2, 3, .data, 3), (2, 3, .noise, 3)])
    func convergence(_ configuration: (Int, Int, PredictionKind, Int)) throws {
        // The last element is the order of the pair, min(c, p + 1), written here rather than read from the solver.
        let (p, c, prediction, expected) = configuration
        let studies: [(String, ConvergenceStudy)] = [
            ("vp-linear/logsnr", ConvergenceStudy(model: TestModels.mixture2D(), schedule: ContinuousVPSchedule.linear())),
            ("edm/karras", ConvergenceStudy(model: TestModels.mixture2D(), schedule: VESchedule(), spacing: .karras(rho: 7))),
            ("vp-discrete/karras", ConvergenceStudy(model: TestModels.mixture2D(), schedule: try DiscreteVPSchedule(), spacing: .karras(rho: 7))),
        ]
        let solver = SASolver(solverOrder: p, correctorOrder: c, prediction: prediction, tau: .constant(0), lowerOrderFinal: false)
        let steps = expected == 2 ? [64, 128, 256, 512] : [64, 128, 256]
        for (name, study) in studies {
            let (order, errors) = try study.order(solver, steps: steps)
            #expect(abs(order - Double(expected)) <= 0.3, "p \(p), c \(c), \(prediction) on \(name): fitted order \(order), errors \(errors)")
        }
    }

    @Test("a step to sigma = 0 gives finite output on VP-discrete, EDM and flow, for every order, tau and prediction")
    func finalStepToZero() throws {
        let schedules: [any NoiseSchedule] = [try DiscreteVPSchedule(), VESchedule(), RectifiedFlowSchedule(tMin: 1e-3)]
        // (τ, whether data-prediction samples stay within a few units of the data). Measured max |x|:
        // data prediction 4.5 (τ = 0 and default τ), 15 with τ = 1 (second order and up over the σ
        // ratios of 2–5 Karras steps on EDM); noise prediction 13 (τ = 0), 152 (default τ on
        // VP-discrete) and 8e4 (τ = 1 on EDM), the divergence tools/README.md records for diffusers'
        // noise_prediction too. Only finiteness is required of those.
        let taus: [(SASolver.Tau, Bool)] = [(.diffusersDefault, true), (.constant(1), false), (.constant(0), true)]
        for schedule in schedules {
            for steps in [1, 2, 3, 5, 10] {
                let grid = try StepSchedule(spacing: .karras(rho: 7), steps: steps).grid(on: schedule)
                try #require(grid.endsClean)
                let x = SampleTensor.initialSample(noise: TestModels.noise([8, 2]), schedule: schedule, level: grid[0])
                for prediction in [PredictionKind.data, .noise] {
                    for order in 1...4 {
                        for (tau, bounded) in taus {
                            let solver = SASolver(solverOrder: order, correctorOrder: order, prediction: prediction, tau: tau)
                            let noise = SeededNoise(seed: 3)
                            let run = try SamplingRun(model: TestModels.mixture2D(), schedule: schedule, solver: solver, grid: grid,
                                                      initialSample: x, noise: noise)
                            let out = try run.finish()
                            let label = "\(schedule.name), \(steps) steps, \(prediction), order \(order), tau \(tau)"
                            #expect(out.isFinite, "\(label)")
                            if bounded && prediction == .data { #expect(out.scalars.allSatisfy { abs($0) < 10 }, "\(label)") }
                            #expect(run.evaluations == steps && solver.evaluations(on: grid) == steps, "\(label)")
                        }
                    }
                }
            }
        }
    }

    /// With the exact denoiser of N(μ, diag(s²)), 100 Karras steps and 4,000 samples, the samples'
    /// mean and variance must be the data's within 5 standard errors plus 0.01 (as
    /// StochasticSamplerTests.distribution), with τ = 1 throughout (the reverse SDE) and with
    /// diffusers' window on the discrete schedule.
    @Test("samples have the data's mean and variance", arguments: [0, 1, 2])
    func distribution(_ index: Int) throws {
        let configurations: [(any NoiseSchedule, SASolver)] = [
            (VESchedule(), SASolver(tau: .constant(1))),
            (try DiscreteVPSchedule(), SASolver(tau: .constant(1))),
            (try DiscreteVPSchedule(), SASolver()),
        ]
        let (schedule, solver) = configurations[index]
        let mean = [0.5, -1.0], std = [1.0, 0.3]
        let model = TestModels.singleGaussian(mean: mean, std: std)
        let n = 4000
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 100).grid(on: schedule)
        let noise = SeededNoise(seed: 21)
        let x = SampleTensor.initialSample(noise: noise.initialNoise(shape: [n, 2]), schedule: schedule, level: grid[0])
        let out = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise).finish()
        let (m, c) = Metrics.moments(out.scalars.map(Double.init), dimension: 2)
        for j in 0..<2 {
            let meanBound = 5 * std[j] / Double(n).squareRoot() + 0.01
            let variance = std[j] * std[j]
            let varBound = 5 * variance * (2 / Double(n - 1)).squareRoot() + 0.01
            #expect(abs(m[j] - mean[j]) <= meanBound, "\(schedule.name) tau \(solver.tau): mean[\(j)] \(m[j]) vs \(mean[j])")
            #expect(abs(c[j * 2 + j] - variance) <= varBound, "\(schedule.name) tau \(solver.tau): variance[\(j)] \(c[j * 2 + j]) vs \(variance)")
        }
    }

    @Test("the noise is used: different seeds differ where tau > 0; tau = 0 needs no noise source and ignores it")
    func noiseUse() throws {
        let schedule = try DiscreteVPSchedule(), model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 8).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([16, 2]), schedule: schedule, level: grid[0])
        func run(_ solver: SASolver, seed: UInt64?) throws -> SampleTensor {
            try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x,
                            noise: seed.map { SeededNoise(seed: $0) }).finish()
        }
        #expect(try run(SASolver(), seed: 1) == run(SASolver(), seed: 1))
        #expect(try run(SASolver(), seed: 1) != run(SASolver(), seed: 2))
        let deterministic = SASolver(tau: .constant(0))
        #expect(try run(deterministic, seed: nil) == run(deterministic, seed: 1))
        #expect(throws: SamplingError.self) { try run(SASolver(), seed: nil) }
        #expect(throws: SamplingError.self) { try run(SASolver(tau: .custom { _ in .nan }), seed: 1) }
        // τ is read at the rounded training timestep on a discrete schedule (diffusers' integer timesteps).
        #expect(try SASolver().tauValue(at: schedule.level(at: 199.6), discrete: true) == 1)
        #expect(try SASolver().tauValue(at: schedule.level(at: 199.4), discrete: true) == 0)
        #expect(try SASolver().tauValue(at: schedule.level(at: 0.5), discrete: false) == 0)
    }

    @Test("catalog: sa_solver with --order as the predictor order (1-4)")
    func catalog() throws {
        #expect(SolverCatalog.stochasticNames.contains("sa_solver"))
        let solver = try #require(try SolverCatalog.solver(named: "sa_solver") as? SASolver)
        #expect(solver.solverOrder == 2 && solver.correctorOrder == 2 && solver.prediction == .data && solver.lowerOrderFinal)
        let third = try #require(try SolverCatalog.solver(named: "sa_solver", options: .init(eta: 0.5, order: 3)) as? SASolver)
        #expect(third.solverOrder == 3 && third.correctorOrder == 2)
        #expect(throws: SamplingError.self) { try SolverCatalog.solver(named: "sa_solver", options: .init(order: 5)) }
        #expect(SolverCatalog.entry(named: "sa_solver")?.evaluationsPerStep == 1)
    }
}
