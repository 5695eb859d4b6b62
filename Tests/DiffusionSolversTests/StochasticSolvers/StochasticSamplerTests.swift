import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Stochastic samplers")
struct StochasticSamplerTests {
    /// Every stochastic configuration users can name, built through the catalog.
    static let samplers: [(String, SolverCatalog.Options)] = [
        ("euler_ancestral", .init()), ("dpm_2_ancestral", .init()), ("dpmpp_2s_ancestral", .init()), ("dpmpp_sde", .init()),
        ("dpmpp_2m_sde", .init()), ("dpmpp_2m_sde_heun", .init()), ("dpmpp_3m_sde", .init()), ("ddpm", .init()),
        ("ddpm", .init(variance: "fixed_large")), ("ddim", .init(eta: 1)),
        ("euler", .init(churn: Churn(sChurn: 40, sTmin: 0.05, sTmax: 50))), ("heun", .init(churn: Churn(sChurn: 40, sTmin: 0.05, sTmax: 50))),
    ]

    func sample(_ name: String, _ options: SolverCatalog.Options, model: GaussianMixture, schedule: any NoiseSchedule,
                steps: Int, count: Int, seed: UInt64, firstSample: Int = 0) throws -> SampleTensor {
        let solver = try SolverCatalog.solver(named: name, options: options)
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: steps).grid(on: schedule)
        let noise = SeededNoise(seed: seed, firstSample: firstSample)
        let x = SampleTensor.initialSample(noise: noise.initialNoise(shape: [count] + model.sampleShape), schedule: schedule, level: grid[0])
        func run<S: Solver>(_ s: S) throws -> SampleTensor {
            try SamplingRun(model: model, schedule: schedule, solver: s, grid: grid, initialSample: x, noise: noise).finish()
        }
        return try run(solver)
    }

    /// With the exact denoiser of N(μ, diag(s²)) and many steps, samples must have that
    /// distribution. With n = 4000: the standard error of a mean is s/√n (0.016 for s = 1) and of a
    /// variance s²·√(2/(n−1)) (0.022 for s = 1); the test allows 5 standard errors plus the
    /// discretization bias at 100 steps (measured below 0.01), so a correct sampler fails with
    /// probability below 1e-5 per coordinate, while a sampler whose noise is off by 10% in scale
    /// moves a variance by about 0.1 and fails. Churned Euler is first order with a large
    /// discretization bias (measured variance 0.79, 0.95, 0.99 at 100, 400, 1600 steps with
    /// S_churn = 40), so it runs 400 steps here.
    @Test("samples have the data's mean and variance", arguments: samplers.map(\.0).indices)
    func distribution(_ index: Int) throws {
        let (name, options) = Self.samplers[index]
        let steps = name == "euler" ? 400 : 100
        let mean = [0.5, -1.0], std = [1.0, 0.3]
        let model = TestModels.singleGaussian(mean: mean, std: std)
        for schedule in [VESchedule() as any NoiseSchedule, try DiscreteVPSchedule()] {
            let n = 4000
            let out = try sample(name, options, model: model, schedule: schedule, steps: steps, count: n, seed: 21).scalars.map(Double.init)
            let (m, c) = Metrics.moments(out, dimension: 2)
            for j in 0..<2 {
                let meanError = abs(m[j] - mean[j]), meanBound = 5 * std[j] / Double(n).squareRoot() + 0.01
                let variance = std[j] * std[j]
                let varError = abs(c[j * 2 + j] - variance), varBound = 5 * variance * (2 / Double(n - 1)).squareRoot() + 0.01
                #expect(meanError <= meanBound, "\(name) on \(schedule.name): mean[\(j)] \(m[j]) vs \(mean[j])")
                #expect(varError <= varBound, "\(name) on \(schedule.name): variance[\(j)] \(c[j * 2 + j]) vs \(variance)")
            }
        }
    }

    @Test("deterministic: same seed, same samples; sample 7 of 64 equals sample 7 alone")
    func determinism() throws {
        let model = TestModels.mixture2D(), schedule = try DiscreteVPSchedule()
        for (name, options) in Self.samplers {
            let a = try sample(name, options, model: model, schedule: schedule, steps: 8, count: 64, seed: 5)
            let b = try sample(name, options, model: model, schedule: schedule, steps: 8, count: 64, seed: 5)
            #expect(a == b, "\(name)")
            let alone = try sample(name, options, model: model, schedule: schedule, steps: 8, count: 1, seed: 5, firstSample: 7)
            #expect(Array(a.sample(7)) == alone.scalars, "\(name)")
            let other = try sample(name, options, model: model, schedule: schedule, steps: 8, count: 64, seed: 6)
            #expect(a != other, "\(name) ignores its noise")
        }
        // 1 and all threads: ProcessWideStateTests.stochasticSamplerThreads, serialized with every test that sets the thread count.
    }

    @Test("with eta = 0 the ancestral samplers are their ODE solvers")
    func etaZero() throws {
        let model = TestModels.mixture2D(), schedule = VESchedule()
        let pairs: [(String, String)] = [("euler_ancestral", "euler"), ("dpmpp_2s_ancestral", "dpmpp_2s"), ("dpmpp_2m_sde", "dpmpp_2m")]
        for (stochastic, ode) in pairs {
            let a = try sample(stochastic, .init(eta: 0), model: model, schedule: schedule, steps: 10, count: 16, seed: 1)
            let b = try sample(ode, .init(), model: model, schedule: schedule, steps: 10, count: 16, seed: 1)
            #expect(Compare.relativeRMS(a, b.scalars.map(Double.init)) < 1e-5, "\(stochastic) vs \(ode)")
        }
    }

    @Test("Brownian-tree increments add up along one path and are standard normal")
    func brownianTree() throws {
        let tree = BrownianTreeNoise(seed: 9, sigmaMin: 0.01, sigmaMax: 80)
        var a = SampleTensor(zeros: [256, 4]), b = a, c = a
        try tree.fill(&a, step: 0, from: 10, to: 3)
        try tree.fill(&b, step: 1, from: 3, to: 0.5)
        try tree.fill(&c, step: 0, from: 10, to: 0.5)
        // W(0.5) − W(10) = (W(3) − W(10)) + (W(0.5) − W(3)), each draw scaled by 1/√|Δσ|.
        for i in 0..<a.count {
            let sum = Double(a.scalars[i]) * 7.0.squareRoot() + Double(b.scalars[i]) * 2.5.squareRoot()
            #expect(abs(sum - Double(c.scalars[i]) * 9.5.squareRoot()) < 1e-4)
        }
        let values = a.scalars.map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
        #expect(abs(mean) < 0.2 && abs(variance - 1) < 0.25)  // n = 1024: 5 standard errors
        // The same query twice gives the same draw (consistent across step counts).
        var again = SampleTensor(zeros: [256, 4])
        try tree.fill(&again, step: 5, from: 10, to: 3)
        #expect(again == a)
    }
}
