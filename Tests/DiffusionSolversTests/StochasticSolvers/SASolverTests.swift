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
    /// `stochastic_adams_moulton_update` fed unit vectors: `SASolverScheduler(predictor_order=4,
    /// corrector_order=4, algorithm_type=…)` with `sigmas` set to the float64 tensor below,
    /// `_step_index = 4`, and sample, model outputs and noise the rows of an identity matrix
    /// (torch float64). Each row is `[scale of x, weights of the outputs newest first, scale of z]`.
    /// They cover orders 3 and 4, which the trajectory fixtures do not. The predictor
    /// steps from σ̃ = 0.45 to 0.2, the corrector from 1.1 to 0.45, through the outputs at
    /// 0.45, 1.1, 2.5, 6.0.
    static let coefficientSigmas = [14.6, 6.0, 2.5, 1.1, 0.45, 0.2]
    static let goldenCoefficients: [(String, PredictionKind, Double, Int, [Double])] = [
        ("predictor", .data, 0.0, 1, [0.47790695928014604, 0.5447670420505111, 0.0]),
        ("corrector", .data, 0.0, 1, [0.5545917731491895, 0.5388627076034719, 0.0]),
        ("predictor", .data, 0.0, 2, [0.47790695928014604, 0.9054879078065733, -0.3607208657560621, 0.0]),
        ("corrector", .data, 0.0, 2, [0.5545917731491895, 0.40754587142724347, 0.1313168361762285, 0.0]),
        ("predictor", .data, 0.0, 3, [0.47790695928014604, 1.0649179844622474, -0.7814296690654517, 0.2612787266537156, 0.0]),
        ("corrector", .data, 0.0, 3, [0.5545917731491895, 0.2628430670755859, 0.32631949623855927, -0.05029985571067327, 0.0]),
        ("predictor", .data, 0.0, 4, [0.47790695928014604, 1.2791096436506268, -1.4645330590971297, 0.9512367033826813, -0.22104624588566707, 0.0]),
        ("corrector", .data, 0.0, 4, [0.5545917731491895, 0.23952009272302238, 0.40070149087937756, -0.12542823492287986, 0.02406935892395179, 0.0]),
        ("predictor", .data, 1.0, 1, [0.21240309301339824, 0.7868857274062938, 0.17568209223157663]),
        ("corrector", .data, 1.0, 1, [0.22687845265194115, 0.7593065425321649, 0.37445515478350094]),
        ("predictor", .data, 1.0, 2, [0.21240309301339824, 1.508327458918418, -0.7214417315121242, 0.17568209223157663]),
        ("corrector", .data, 1.0, 2, [0.22687845265194115, 0.8150917428544869, -0.05578520032232187, 0.37445515478350094]),
        ("predictor", .data, 1.0, 3, [0.21240309301339824, 1.6292343359951997, -1.2700890802253042, 0.4277404716363982, 0.17568209223157663]),
        ("corrector", .data, 1.0, 3, [0.22687845265194115, 0.4244693626338517, 0.40309722247943813, -0.06826004258112489, 0.37445515478350094]),
        ("predictor", .data, 1.0, 4, [0.21240309301339824, 1.9839248769762383, -2.401273701860012, 1.570275941726526, -0.3660413894364591, 0.17568209223157663]),
        ("corrector", .data, 1.0, 4, [0.22687845265194115, 0.39188891004345866, 0.5070033115288259, -0.1732087751104874, 0.033623096070367745, 0.37445515478350094]),
        ("predictor", .data, 0.7, 1, [0.3211988050320501, 0.6876725779456473, 0.1452171471702834]),
        ("corrector", .data, 0.7, 1, [0.35790283536774725, 0.6711700049290815, 0.3134741037240672]),
        ("predictor", .data, 0.7, 2, [0.3211988050320501, 1.2251466679221799, -0.5374740899765326, 0.1452171471702834]),
        ("corrector", .data, 0.7, 2, [0.35790283536774725, 0.6072433484265927, 0.06392665650248891, 0.3134741037240672]),
        ("predictor", .data, 0.7, 3, [0.3211988050320501, 1.384056107709166, -1.0481370122109255, 0.35175348244740673, 0.1452171471702834]),
        ("corrector", .data, 0.7, 3, [0.35790283536774725, 0.35130751531898574, 0.38154134158310227, -0.061678851973006515, 0.3134741037240672]),
        ("predictor", .data, 0.7, 4, [0.3211988050320501, 1.6741105612325093, -1.9731832126389348, 1.2860820396494566, -0.2993368102973834, 0.1452171471702834]),
        ("corrector", .data, 0.7, 4, [0.35790283536774725, 0.32229147962216154, 0.4740797365182125, -0.15514582149897213, 0.02994461028767954, 0.3134741037240672]),
        ("predictor", .noise, 0.0, 1, [1.0752906583803283, -0.24514516892272994, 0.0]),
        ("corrector", .noise, 0.0, 1, [1.35566877880913, -0.5927489783638192, 0.0]),
        ("predictor", .noise, 0.0, 2, [1.0752906583803283, -0.34148321648431496, 0.09633804756158504, 0.0]),
        ("corrector", .noise, 0.0, 2, [1.35566877880913, -0.2528005985793396, -0.33994837978447967, 0.0]),
        ("predictor", .noise, 0.0, 3, [1.0752906583803283, -0.41991600232609594, 0.2601621692576089, -0.08539133585424288, 0.0]),
        ("corrector", .noise, 0.0, 3, [1.35566877880913, -0.2019795925780047, -0.44609922706755495, 0.05532984128174048, 0.0]),
        ("predictor", .noise, 0.0, 4, [1.0752906583803283, -0.4879155734665939, 0.4770274652396594, -0.3044327621185234, 0.07017570142272796, 0.0]),
        ("corrector", .noise, 0.0, 4, [1.35566877880913, -0.17788291580700516, -0.5229487255640884, 0.13295048446555643, -0.02486782145828201, 0.0]),
        ("predictor", .noise, 1.0, 1, [1.0752906583803283, -0.4902903378454599, 0.39528470752104744]),
        ("corrector", .noise, 1.0, 1, [1.35566877880913, -1.1854979567276385, 0.9153348228041134]),
        ("predictor", .noise, 1.0, 2, [1.0752906583803283, -0.6829664329686299, 0.19267609512317008, 0.39528470752104744]),
        ("corrector", .noise, 1.0, 2, [1.35566877880913, -0.5056011971586792, -0.6798967595689593, 0.9153348228041134]),
        ("predictor", .noise, 1.0, 3, [1.0752906583803283, -0.8398320046521919, 0.5203243385152178, -0.17078267170848577, 0.39528470752104744]),
        ("corrector", .noise, 1.0, 3, [1.35566877880913, -0.4039591851560094, -0.8921984541351099, 0.11065968256348097, 0.9153348228041134]),
        ("predictor", .noise, 1.0, 4, [1.0752906583803283, -0.9758311469331878, 0.9540549304793188, -0.6088655242370468, 0.1403514028454559, 0.39528470752104744]),
        ("corrector", .noise, 1.0, 4, [1.35566877880913, -0.3557658316140103, -1.045897451128177, 0.26590096893111287, -0.04973564291656402, 0.9153348228041134]),
        ("predictor", .noise, 0.7, 1, [1.0752906583803283, -0.3652663016948676, 0.2766992952647332]),
        ("corrector", .noise, 0.7, 1, [1.35566877880913, -0.8831959777620906, 0.6407343759628793]),
        ("predictor", .noise, 0.7, 2, [1.0752906583803283, -0.5088099925616293, 0.1435436908667617, 0.2766992952647332]),
        ("corrector", .noise, 0.7, 2, [1.35566877880913, -0.37667289188321607, -0.5065230858788747, 0.6407343759628793]),
        ("predictor", .noise, 0.7, 3, [1.0752906583803283, -0.625674843465883, 0.38764163219383724, -0.12723309042282188, 0.2766992952647332]),
        ("corrector", .noise, 0.7, 3, [1.35566877880913, -0.30094959294122703, -0.6646878483306569, 0.08244146350979331, 0.6407343759628793]),
        ("predictor", .noise, 0.7, 4, [1.0752906583803283, -0.7269942044652249, 0.7107709232070925, -0.4536048155565998, 0.10456179511986466, 0.2766992952647332]),
        ("corrector", .noise, 0.7, 4, [1.35566877880913, -0.2650455445524377, -0.7791936010904917, 0.1980962218536791, -0.03705305397284019, 0.6407343759628793]),
    ]

    @Test("update coefficients equal diffusers' for predictor and corrector orders 1-4, data and noise prediction, tau 0, 0.7, 1")
    func coefficients() throws {
        func level(_ s: Double) -> NoiseLevel {
            let alpha = 1 / (s * s + 1).squareRoot(), sigma = s * alpha
            return NoiseLevel(t: 0, alpha: alpha, sigma: sigma, lambda: Double.log(alpha) - Double.log(sigma))
        }
        let levels = Self.coefficientSigmas.map(level)
        var history = MultistepHistory(capacity: 4, like: SampleTensor(zeros: [1, 1]))
        for i in 1...4 { history.advance(to: levels[i]) }
        for (kind, prediction, tau, order, expected) in Self.goldenCoefficients {
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
