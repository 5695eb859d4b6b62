import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// AdjointDPM's gradients against central differences of the whole sampling run (the forward
/// map in `Double` on the same grid), against the closed-form flow map of a single Gaussian, and
/// the exact mixture pullback against central differences of the mixture's denoiser.
@Suite("AdjointDPM")
struct AdjointDPMTests {
    /// `r(x₀) = −½‖x₀ − c‖²`: nonlinear in the sample, so the test sees more than a fixed direction.
    struct QuadraticReward: DifferentiableReward {
        let center: [Double]
        var name: String { "quadratic" }
        func rewards(of data: SampleTensor, label: Int?) throws -> [Double] {
            try rewardsAndGradients(of: data.scalars.map(Double.init), batch: data.batchSize, label: label).rewards
        }
        func rewardsAndGradients(of data: [Double], batch: Int, label: Int?) throws -> (rewards: [Double], gradients: [Double]) {
            let d = center.count
            var rewards = [Double](repeating: 0, count: batch), gradients = [Double](repeating: 0, count: batch * d)
            for b in 0..<batch {
                for j in 0..<d {
                    let e = data[b * d + j] - center[j]
                    rewards[b] -= 0.5 * e * e
                    gradients[b * d + j] = -e
                }
            }
            return (rewards, gradients)
        }
    }

    static func mixture2D() throws -> GaussianMixture {
        try #require(try BuiltInModels.model(named: "mixture-2d") as? GaussianMixture)
    }

    static func normals(_ count: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (-2 * Foundation.log(1 - rng.uniform())).squareRoot() * Foundation.cos(2 * Double.pi * rng.uniform()) }
    }

    static func grid(_ schedule: any NoiseSchedule, steps: Int) throws -> TimeGrid {
        let spacing: StepSpacing = schedule.frame == .rectifiedFlow ? .timeUniform : .karras(rho: 7)
        return try StepSchedule(spacing: spacing, steps: steps).grid(on: schedule)
    }

    /// The reward of the run from `noise`, summed over the batch.
    static func totalReward(_ adjoint: AdjointDPM, _ noise: [Double], batch: Int, denoiser: any DenoiserPullback, grid: TimeGrid,
                            schedule: any NoiseSchedule, reward: any DifferentiableReward) throws -> Double {
        let x0 = try adjoint.sample(from: noise, batch: batch, denoiser: denoiser, grid: grid, schedule: schedule)
        return try reward.rewardsAndGradients(of: x0, batch: batch, label: nil).rewards.reduce(0, +)
    }

    @Test("the mixture's exact pullback matches central differences of its denoiser, with and without a class")
    func mixturePullback() throws {
        let m = try Self.mixture2D()
        let level = VESchedule().level(sigma: 0.7)
        let x = Self.normals(6, seed: 3), u = Self.normals(6, seed: 4)
        for label in [nil, 2] as [Int?] {
            let exact = try m.pullback(x, batch: 3, at: level, cotangent: u, classLabel: label)
            for b in 0..<3 {
                for j in 0..<2 {
                    let h = 1e-5
                    var plus = x, minus = x
                    plus[2 * b + j] += h; minus[2 * b + j] -= h
                    let fp = try m.pullback(plus, batch: 3, at: level, cotangent: u, classLabel: label).data
                    let fm = try m.pullback(minus, batch: 3, at: level, cotangent: u, classLabel: label).data
                    let fd = (0..<2).reduce(0.0) { $0 + u[2 * b + $1] * (fp[2 * b + $1] - fm[2 * b + $1]) / (2 * h) }
                    #expect(abs(exact.vjp[2 * b + j] - fd) < 1e-7 * max(1, abs(fd)), "label \(String(describing: label)) sample \(b) dim \(j)")
                }
            }
            var out = SampleTensor(zeros: [3, 2])
            try m.predict(SampleTensor(shape: [3, 2], scalars: x.map(Float.init)), at: level, classLabel: label, into: &out)
            for i in 0..<6 { #expect(abs(Double(out.scalars[i]) - exact.data[i]) < 1e-5) }
        }
    }

    /// Measured: relative error below 1e-8 (central differences with h = 1e-5 in Double).
    @Test("the gradient equals central differences of the whole run, orders 1 and 2, VE and flow",
          arguments: [1, 2])
    func matchesFiniteDifferencesOfTheRun(order: Int) throws {
        let m = try Self.mixture2D()
        let adjoint = try AdjointDPM(order: order)
        let denoiser = try MixturePullback(mixture: m)
        let reward = QuadraticReward(center: [0.5, -1])
        for schedule in [VESchedule(), RectifiedFlowSchedule()] as [any NoiseSchedule] {
            let grid = try Self.grid(schedule, steps: 8)
            let prior = schedule.priorScale(at: grid[0])
            let noise = Self.normals(4, seed: 9).map { $0 * prior }
            let g = try adjoint.gradients(from: noise, batch: 2, denoiser: denoiser, grid: grid, schedule: schedule, reward: reward)
            #expect(g.forwardEvaluations == (order == 1 ? 8 : 15))
            let h = 1e-5 * prior
            for i in 0..<4 {
                var plus = noise, minus = noise
                plus[i] += h; minus[i] -= h
                let fd = (try Self.totalReward(adjoint, plus, batch: 2, denoiser: denoiser, grid: grid, schedule: schedule, reward: reward)
                          - (try Self.totalReward(adjoint, minus, batch: 2, denoiser: denoiser, grid: grid, schedule: schedule, reward: reward))) / (2 * h)
                #expect(abs(g.noise[i] - fd) < 1e-6 * max(1, abs(fd)), "\(schedule.name) order \(order) coordinate \(i): \(g.noise[i]) vs \(fd)")
            }
        }
    }

    @Test("the forward maps are the catalog's ddim (order 1) and dpmpp_2s (order 2)", arguments: [1, 2])
    func forwardMatchesCatalog(order: Int) throws {
        let m = try Self.mixture2D()
        let schedule = VESchedule()
        let grid = try Self.grid(schedule, steps: 6)
        let noise = Self.normals(8, seed: 21).map { $0 * schedule.priorScale(at: grid[0]) }
        let ours = try AdjointDPM(order: order).sample(from: noise, batch: 4, denoiser: try MixturePullback(mixture: m), grid: grid, schedule: schedule)
        let initial = SampleTensor(shape: [4, 2], scalars: noise.map(Float.init))
        let theirs: SampleTensor
        if order == 1 {
            theirs = try SamplingRun(model: m, schedule: schedule, solver: DDIM(), grid: grid, initialSample: initial).finish()
        } else {
            theirs = try SamplingRun(model: m, schedule: schedule, solver: DPMSolverPlusPlus2S(), grid: grid, initialSample: initial).finish()
        }
        for i in 0..<8 { #expect(abs(ours[i] - Double(theirs.scalars[i])) < 1e-4, "value \(i): \(ours[i]) vs \(theirs.scalars[i])") }
    }

    /// One Gaussian `N(μ, s²)`: the ODE maps `x_T` to `μ + (s/√(α_T²s² + σ_T²))·(x_T − α_Tμ)`, so
    /// `∂x₀/∂x_T = s/√(α_T²s² + σ_T²)`. DDIM's own map is affine too, with slope
    /// `Πᵢ (σᵢ₊₁/σᵢ + (αᵢ₊₁ − αᵢσᵢ₊₁/σᵢ)·gᵢ)`, `gᵢ = αᵢs²/(αᵢ²s² + σᵢ²)`.
    /// Measured (VE σ_max = 80, Karras grids, 10/20/40/80 steps): order 1 relative error 0.29, 0.15,
    /// 0.075, …; order 2 0.086, 0.023, 0.0059, ….
    @Test("single Gaussian: the discrete map's slope exactly, and the ODE's within the order")
    func singleGaussian() throws {
        let s = [0.3, 1.7], mu = [1.0, -2.0]
        let g1 = try GaussianMixture(weights: [1], means: mu, stds: s)
        let schedule = VESchedule()
        let denoiser = try MixturePullback(mixture: g1)
        let reward = try LinearReward(weights: [1, 1])
        var errors: [[Double]] = [[], []]
        for steps in [10, 20, 40, 80] {
            let grid = try Self.grid(schedule, steps: steps)
            let top = grid[0]
            let noise = [3.0, -40.0]
            for order in [1, 2] {
                let g = try AdjointDPM(order: order).gradients(from: noise, batch: 1, denoiser: denoiser, grid: grid, schedule: schedule, reward: reward)
                var worst = 0.0
                for j in 0..<2 {
                    let exact = s[j] / (top.alpha * top.alpha * s[j] * s[j] + top.sigma * top.sigma).squareRoot()
                    worst = max(worst, abs(g.noise[j] - exact) / exact)
                    if order == 1 {
                        var slope = 1.0
                        for i in 0..<steps {
                            let a = grid[i], b = grid[i + 1]
                            let gain = a.alpha * s[j] * s[j] / (a.alpha * a.alpha * s[j] * s[j] + a.sigma * a.sigma)
                            slope *= b.sigma / a.sigma + (b.alpha - a.alpha * b.sigma / a.sigma) * gain
                        }
                        #expect(abs(g.noise[j] - slope) < 1e-12 * abs(slope) + 1e-15, "DDIM slope dim \(j) at \(steps) steps")
                    }
                }
                errors[order - 1].append(worst)
            }
        }
        print("single-Gaussian relative gradient errors (10, 20, 40, 80 steps): order 1 \(errors[0]), order 2 \(errors[1])")
        for order in 0..<2 {
            for k in 1..<4 { #expect(errors[order][k] < errors[order][k - 1], "order \(order + 1): \(errors[order])") }
        }
        // Order 1 halves the error per doubling of the steps; order 2 quarters it.
        #expect(errors[0][2] / errors[0][3] > 1.8)
        #expect(errors[1][2] / errors[1][3] > 3.5)
        #expect(errors[1][3] < 2e-3)
    }

    /// The reference is the ODE's own gradient: central differences of the tight-tolerance
    /// ``ReferenceSolver`` endpoint (its input is `Float`, so the divisor is the representable step).
    /// Measured (VE, Karras, 10/20/40/80 steps): order 1 relative error 0.71, 0.19, 0.068, 0.031;
    /// order 2 0.11, 0.010, 0.0059, 0.0015.
    @Test("on a mixture the gradient converges to the ODE's as the steps double")
    func convergesToTheODEGradient() throws {
        let m = try Self.mixture2D()
        let schedule = VESchedule()
        let reward = QuadraticReward(center: [0.5, -1])
        let noise = Self.normals(2, seed: 12).map { $0 * 80 }
        let reference = ReferenceSolver(relativeTolerance: 1e-11, absoluteTolerance: 1e-11)
        let top = schedule.level(sigma: 80)
        func r(_ x: [Float]) throws -> Double {
            let end = try reference.solve(model: m, schedule: schedule, x: SampleTensor(shape: [1, 2], scalars: x), from: top, to: schedule.cleanLevel)
            return try reward.rewardsAndGradients(of: end.endpoint, batch: 1, label: nil).rewards[0]
        }
        var truth = [0.0, 0.0]
        for j in 0..<2 {
            var plus = noise.map(Float.init), minus = plus
            plus[j] = Float(noise[j] + 0.05); minus[j] = Float(noise[j] - 0.05)
            truth[j] = (try r(plus) - (try r(minus))) / (Double(plus[j]) - Double(minus[j]))
        }
        let x = noise.map { Double(Float($0)) }
        var errors: [[Double]] = [[], []]
        for steps in [10, 20, 40, 80, 160] {
            let grid = try Self.grid(schedule, steps: steps)
            for order in [1, 2] {
                let g = try AdjointDPM(order: order).gradients(from: x, batch: 1, denoiser: try MixturePullback(mixture: m), grid: grid,
                                                               schedule: schedule, reward: reward)
                let e = zip(g.noise, truth).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                errors[order - 1].append(e / truth.map { $0 * $0 }.reduce(0, +).squareRoot())
            }
        }
        print("mixture-2d relative gradient error vs the ODE (10, 20, 40, 80, 160 steps): order 1 \(errors[0]), order 2 \(errors[1])")
        for order in 0..<2 {
            for k in 2..<5 { #expect(errors[order][k] < errors[order][k - 1], "order \(order + 1): \(errors[order])") }
        }
        #expect(errors[0][3] / errors[0][4] > 1.7, "order 1 halves the error: \(errors[0])")
        #expect(errors[1][3] / errors[1][4] > 3, "order 2 quarters it: \(errors[1])")
        #expect(errors[1][4] < 1e-3)
    }
}
