import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Metrics")
struct MetricsTests {
    @Test("identical sets give zero everywhere")
    func identical() {
        let x = TestModels.noise([16, 3]).scalars.map(Double.init)
        #expect(Metrics.rmse(x, x) == 0)
        #expect(Metrics.median(Metrics.perSampleErrors(x, x, dimension: 3)) == 0)
        let (m, c) = Metrics.moments(x, dimension: 3)
        #expect(abs(Metrics.frechetDistance(mean1: m, covariance1: c, mean2: m, covariance2: c)) < 1e-9)
        #expect(Metrics.slicedWasserstein(x, x, dimension: 3) == 0)
    }

    @Test("two-point sets by hand")
    func twoPoints() {
        // a = {(0,0), (2,0)}, b = {(0,1), (2,3)}: differences (0,1), (0,3).
        let a: [Double] = [0, 0, 2, 0], b: [Double] = [0, 1, 2, 3]
        #expect(abs(Metrics.rmse(a, b) - (10.0 / 4).squareRoot()) < 1e-12)        // √((1 + 9)/4)
        #expect(Metrics.perSampleErrors(a, b, dimension: 2) == [1, 3])
        #expect(Metrics.median([1, 3]) == 2)
        // Moments: a has mean (1,0), covariance [[2,0],[0,0]] (unbiased); b mean (1,2), cov [[2,2],[2,2]].
        let (ma, ca) = Metrics.moments(a, dimension: 2), (mb, cb) = Metrics.moments(b, dimension: 2)
        #expect(ma == [1, 0] && ca == [2, 0, 0, 0])
        #expect(mb == [1, 2] && cb == [2, 2, 2, 2])
        // FD = |Δμ|² + tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½) with Σa^½ = diag(√2, 0):
        // Σa^½ Σb Σa^½ = diag(4, 0) → its root diag(2, 0) → tr = 2 + 4 − 4 = 2; |Δμ|² = 4.
        #expect(abs(Metrics.frechetDistance(mean1: ma, covariance1: ca, mean2: mb, covariance2: cb) - 6) < 1e-9)
    }

    @Test("Frechet distance of 1-D Gaussians is (m1 - m2)^2 + (s1 - s2)^2")
    func oneDimensional() {
        let fd = Metrics.frechetDistance(mean1: [1], covariance1: [4], mean2: [-2], covariance2: [9])
        #expect(abs(fd - (9 + 1)) < 1e-12)
    }

    @Test("the matrix square root squares back, and mixture moments match samples")
    func mixtureMoments() throws {
        let mixture = TestModels.mixture2D()
        let samples = mixture.samples(count: 20_000, seed: 3)
        let (m, c) = Metrics.moments(samples, dimension: 2)
        // Standard errors at n = 20000 are below 0.01 for these spreads.
        for j in 0..<2 { #expect(abs(m[j] - mixture.mean[j]) < 0.03) }
        for i in 0..<4 { #expect(abs(c[i] - mixture.covariance[i]) < 0.05) }
        // Every sample's component: samples from one component are assigned to it.
        let single = try GaussianMixture(weights: [1, 1], means: [-5, 0, 5, 0], stds: [0.5, 0.5, 0.5, 0.5])
        #expect(single.component(of: [-4.8, 0.3]) == 0 && single.component(of: [5.1, -0.2]) == 1)
        #expect(Metrics.modeAgreement([-4.8, 0.3, 5.1, 0], [-5.2, 0, -4.9, 1], mixture: single) == 0.5)
    }
}

@Suite("Comparison and NFE budgets")
struct ComparisonTests {
    @Test("a budget of N evaluations is never exceeded, for every solver (counted)")
    func budgets() throws {
        let schedule = try DiscreteVPSchedule()
        let model = TestModels.mixture2D()
        for entry in SolverCatalog.entries where entry.needs == nil {
            let solver = try SolverCatalog.solver(named: entry.name, options: .init(eta: 0))
            for budget in [1, 2, 3, 5, 7, 10, 20] {
                func check<S: Solver>(_ s: S) throws {
                    let make = { (n: Int) in try StepSchedule(spacing: .karras(rho: 7), steps: n).grid(on: schedule) }
                    guard let (_, grid) = try s.steps(forBudget: budget, grid: make) else { return }
                    let x = SampleTensor.initialSample(noise: TestModels.noise([4, 2]), schedule: schedule, level: grid[0])
                    let run = try SamplingRun(model: model, schedule: schedule, solver: s, grid: grid, initialSample: x,
                                              noise: SeededNoise(seed: 1))
                    _ = try run.finish()
                    #expect(run.evaluations <= budget, "\(entry.name) at budget \(budget): \(run.evaluations)")
                }
                try check(solver)
            }
        }
    }

    @Test("the ground truth is cached and read back identically")
    func cache() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gt-\(UUID().uuidString)")
        let model = TestModels.mixture2D(), schedule = VESchedule()
        let truth = GroundTruth(tolerance: 1e-6, cacheDirectory: dir)
        let x = SampleTensor.initialSample(noise: TestModels.noise([8, 2]), schedule: schedule, level: schedule.level(at: 80))
        let first = try truth.solve(model: model, schedule: schedule, x: x, from: schedule.level(at: 80), to: schedule.cleanLevel)
        let second = try truth.solve(model: model, schedule: schedule, x: x, from: schedule.level(at: 80), to: schedule.cleanLevel)
        #expect(!first.cached && second.cached)
        #expect(first.solution.endpoint == second.solution.endpoint)
        #expect(first.solution.evaluations == second.solution.evaluations)
        // A different noise is a different key.
        var y = x
        y.scalars[0] += 1
        #expect(try !truth.solve(model: model, schedule: schedule, x: y, from: schedule.level(at: 80), to: schedule.cleanLevel).cached)
    }

    @Test("a comparison measures higher-order solvers closer to the ground truth at equal NFE")
    func comparison() throws {
        let comparison = SamplerComparison(model: TestModels.mixture2D(), schedule: VESchedule(), noise: TestModels.noise([32, 2]),
                                           groundTruth: GroundTruth(tolerance: 1e-7, cacheDirectory: nil))
        let euler = try comparison.run(.init(solver: "euler", spacing: .karras(rho: 7), nfe: 20))
        let dpmpp = try comparison.run(.init(solver: "dpmpp_2m", spacing: .karras(rho: 7), nfe: 20))
        #expect(euler.nfe == 20 && dpmpp.nfe == 20)
        #expect(dpmpp.rmse < euler.rmse)
        #expect(euler.modeAgreement! <= 1 && euler.frechetToData! >= 0)
    }

    @Test("the bootstrap interval of an RMSE ratio: exact for proportional errors, around the estimate otherwise, narrower with more draws")
    func bootstrapRatio() {
        let b = (0..<50).map { 0.1 + Double($0 % 7) * 0.05 }
        #expect(Metrics.bootstrapRatioInterval(b, b) == 1...1)
        #expect(Metrics.bootstrapRatioInterval(b.map { 2 * $0 }, b) == 2...2)
        // One sample in another mode (error 10 where the other has 0.3): the ratio is carried by it.
        func draws(_ n: Int) -> (a: [Double], b: [Double]) {
            var rng = SplitMix64(seed: 5)
            let b = (0..<n).map { _ in 0.2 + 0.2 * rng.uniform() }
            let a = b.indices.map { $0 % 25 == 0 ? 3.0 : b[$0] * (0.5 + rng.uniform()) }
            return (a, b)
        }
        for n in [100, 1600] {
            let (a, b) = draws(n)
            let estimate = (a.map { $0 * $0 }.reduce(0, +) / b.map { $0 * $0 }.reduce(0, +)).squareRoot()
            let interval = Metrics.bootstrapRatioInterval(a, b, seed: 3)
            #expect(interval.contains(estimate) && interval.lowerBound > 1, "n = \(n): \(interval) around \(estimate)")
            #expect(Metrics.bootstrapRatioInterval(a, b, seed: 3) == interval)
        }
        let wide = Metrics.bootstrapRatioInterval(draws(100).a, draws(100).b, seed: 3)
        let narrow = Metrics.bootstrapRatioInterval(draws(1600).a, draws(1600).b, seed: 3)
        // 16 times the draws: about a quarter of the width.
        let ratio = (narrow.upperBound - narrow.lowerBound) / (wide.upperBound - wide.lowerBound)
        #expect(ratio > 0.15 && ratio < 0.4, "width ratio \(ratio)")
    }
}
