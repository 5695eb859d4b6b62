import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Steering: rewards, the tilted mixture, FK steering and SVDD")
struct SteeringTests {
    /// Three well-separated components (at least 8 standard deviations apart), so a sample's
    /// component is its nearest mean with an error probability far below the tests' tolerances.
    static let mixture = try! GaussianMixture(weights: [0.5, 0.3, 0.2], means: [-2, 0, 2, 0, 0, 2.5], stds: [0.3, 0.4, 0.35, 0.3, 0.4, 0.25])
    static let w = [1.0, 0.5]

    @Test("the tilted mixture matches numerical integration of p(x)·exp(λ·w·x)")
    func tiltedAgainstQuadrature() throws {
        let lambda = 0.8
        let tilted = try Self.mixture.tilted(by: Self.w, scale: lambda)
        // Midpoint rule on [−7, 7]², h = 0.02: the integrands are smooth and vanish at the edges,
        // so the rule is accurate far beyond the 1e-6 asked.
        let n = 700, h = 14.0 / Double(n), d = 2, k = Self.mixture.componentCount
        var mass = [Double](repeating: 0, count: k), first = [Double](repeating: 0, count: k * d)
        for i in 0..<n {
            for j in 0..<n {
                let x = [-7 + (Double(i) + 0.5) * h, -7 + (Double(j) + 0.5) * h]
                let tilt = exp(lambda * (Self.w[0] * x[0] + Self.w[1] * x[1]))
                for c in 0..<k {
                    var logp = log(Self.mixture.weights[c])
                    for a in 0..<d {
                        let s = Self.mixture.stds[c * d + a], z = (x[a] - Self.mixture.means[c * d + a]) / s
                        logp += -0.5 * z * z - log(s) - 0.5 * log(2 * Double.pi)
                    }
                    let f = exp(logp) * tilt * h * h
                    mass[c] += f
                    for a in 0..<d { first[c * d + a] += f * x[a] }
                }
            }
        }
        let total = mass.reduce(0, +)
        for c in 0..<k {
            #expect(abs(mass[c] / total - tilted.weights[c]) < 1e-6, "weight \(c)")
            for a in 0..<d { #expect(abs(first[c * d + a] / mass[c] - tilted.means[c * d + a]) < 1e-6, "mean \(c),\(a)") }
        }
        #expect(tilted.stds == Self.mixture.stds)
        #expect(throws: ModelError.self) { try Self.mixture.tilted(by: [1, 2, 3], scale: 1) }
    }

    @Test("linear reward: w·x per sample; a w of the wrong size is refused")
    func linearReward() throws {
        let reward = try LinearReward(weights: [2, -1])
        let data = SampleTensor(shape: [2, 2], scalars: [1, 3, -0.5, 0.25])
        #expect(try reward.rewards(of: data, label: nil) == [-1, -1.25])
        #expect(throws: ModelError.self) { try reward.rewards(of: SampleTensor(zeros: [1, 3]), label: nil) }
        #expect(throws: ModelError.self) { try LinearReward(weights: []) }
        #expect(throws: ModelError.self) { try LinearReward(weights: [.nan]) }
        #expect(throws: SamplingError.self) { try FeynmanKacSteering(particles: 0, reward: reward, scale: 1) }
        #expect(throws: SamplingError.self) { try SoftValueDecoding(particles: 0, reward: reward, scale: 1) }
    }

    /// `count` samples of `model`, each from its own `particles` particles (euler_ancestral).
    static func steered(_ steering: (any ParticleSteering)?, count: Int, steps: Int = 24, seed: UInt64 = 3,
                        solver: any Solver = EulerAncestral()) throws -> SampleTensor {
        let schedule = VESchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: steps).grid(on: schedule)
        let k = steering?.particles ?? 1
        let shared = steering?.sharesInitialSample ?? false
        let draws = SeededNoise(seed: seed).initialNoise(shape: [shared ? count : count * k, 2])
        let noise = shared ? draws.gathering((0..<(count * k)).map { $0 / k }) : draws
        let x = SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0])
        func run<S: Solver>(_ s: S) throws -> SampleTensor {
            guard let steering else {
                return try SamplingRun(model: mixture, schedule: schedule, solver: s, grid: grid, initialSample: x, noise: SeededNoise(seed: seed)).finish()
            }
            return try SteeringRun(model: mixture, schedule: schedule, solver: s, grid: grid, initialSample: x, noise: SeededNoise(seed: seed),
                                   steering: steering, seed: seed).finish()
        }
        return try run(solver)
    }

    /// The mean of w·x and the share of each component (nearest mean) among the samples.
    static func statistics(_ samples: SampleTensor) -> (projection: Double, shares: [Double]) {
        let m = mixture, n = samples.batchSize
        var projection = 0.0, shares = [Double](repeating: 0, count: m.componentCount)
        for b in 0..<n {
            let p = samples.sample(b).map(Double.init)
            projection += w[0] * p[0] + w[1] * p[1]
            let nearest = (0..<m.componentCount).min { i, j in
                hypot(p[0] - m.means[2 * i], p[1] - m.means[2 * i + 1]) < hypot(p[0] - m.means[2 * j], p[1] - m.means[2 * j + 1])
            }!
            shares[nearest] += 1 / Double(n)
        }
        return (projection / Double(n), shares)
    }

    /// The exact mean and standard deviation of w·x under a mixture.
    static func projection(of m: GaussianMixture) -> (mean: Double, std: Double) {
        var mean = 0.0, second = 0.0
        for c in 0..<m.componentCount {
            let mu = w[0] * m.means[2 * c] + w[1] * m.means[2 * c + 1]
            let variance = pow(w[0] * m.stds[2 * c], 2) + pow(w[1] * m.stds[2 * c + 1], 2)
            mean += m.weights[c] * mu
            second += m.weights[c] * (variance + mu * mu)
        }
        return (mean, (second - mean * mean).squareRoot())
    }

    @Test("K = 1 is the unsteered sampler, bit for bit (FK and SVDD)")
    func oneParticle() throws {
        let reward = try LinearReward(weights: Self.w)
        let plain = try Self.steered(nil, count: 64)
        #expect(try Self.steered(FeynmanKacSteering(particles: 1, reward: reward, scale: 2), count: 64) == plain)
        #expect(try Self.steered(SoftValueDecoding(particles: 1, reward: reward, scale: 2), count: 64) == plain)
    }

    /// FK steering with K = 64 against the exact tilted mixture. With n = 500 samples the standard
    /// error of the mean projection is std/√n (about 0.05) and of a share √(p(1−p)/n) (at most
    /// 0.02); the test allows 4 standard errors plus 0.02 for the sampler's discretization and
    /// the O(1/K) bias of the particle approximation (measured in docs/STEERING.md). K = 1 must
    /// miss the tilted shares by far (the tilt moves the largest share from 0.5 to 0.7), which
    /// shows the test can fail.
    @Test("FK steering approaches the tilted mixture as K grows")
    func feynmanKacTilt() throws {
        let lambda = 1.0, n = 500
        let reward = try LinearReward(weights: Self.w)
        let target = try Self.mixture.tilted(by: Self.w, scale: lambda)
        let exact = Self.projection(of: target)
        let steered = Self.statistics(try Self.steered(FeynmanKacSteering(particles: 64, reward: reward, scale: lambda), count: n))
        #expect(abs(steered.projection - exact.mean) < 4 * exact.std / Double(n).squareRoot() + 0.02,
                "projection \(steered.projection) vs \(exact.mean)")
        for c in 0..<3 {
            let p = target.weights[c], bound = 4 * (p * (1 - p) / Double(n)).squareRoot() + 0.02
            #expect(abs(steered.shares[c] - p) < bound, "share \(c): \(steered.shares[c]) vs \(p)")
        }
        let plain = Self.statistics(try Self.steered(nil, count: n))
        #expect(abs(plain.shares[1] - target.weights[1]) > 0.2)
    }

    @Test("SVDD moves samples toward the reward; resampling is deterministic")
    func softValueDecoding() throws {
        let reward = try LinearReward(weights: Self.w)
        let svdd = try SoftValueDecoding(particles: 8, reward: reward, scale: 1)
        let a = try Self.steered(svdd, count: 200), b = try Self.steered(svdd, count: 200)
        #expect(a == b)
        let plain = Self.statistics(try Self.steered(nil, count: 200))
        #expect(Self.statistics(a).projection > plain.projection + 0.5)
    }

    /// dpm_adaptive integrates the whole interval in one step, so there is no step to resample after.
    @Test("steering refuses a solver whose state cannot follow resampled particles")
    func refusesWholeInterval() throws {
        let fk = try FeynmanKacSteering(particles: 2, reward: LinearReward(weights: Self.w), scale: 1)
        #expect(throws: SamplingError.self) { try Self.steered(fk, count: 4, solver: SolverCatalog.solver(named: "dpm_adaptive")) }
        #expect(throws: Never.self) { try Self.steered(fk, count: 4, solver: DPMSolverPlusPlusMultistepSDE()) }
    }
}

extension SteeringTests {
    /// Euler with ancestral transitions (η = 1) is Euler ancestral: the same update, reached in two
    /// parts (an Euler step to σ_down, then σ_up of noise), so equal to float32 rounding.
    @Test("deterministic solvers take ancestral transitions under steering; Euler's equal Euler ancestral")
    func ancestralTransitions() throws {
        let wrapped = AncestralTransitions<Euler>.forSteering(Euler())
        #expect(wrapped.name == "euler with ancestral transitions")
        #expect(AncestralTransitions<Euler>.forSteering(EulerAncestral()).name == "euler_ancestral")
        let a = try Self.steered(nil, count: 64, solver: wrapped), b = try Self.steered(nil, count: 64, solver: EulerAncestral())
        #expect(Compare.relativeRMS(a, b.scalars.map(Double.init)) < 1e-5)
        let fk = try FeynmanKacSteering(particles: 8, reward: LinearReward(weights: Self.w), scale: 1)
        let steered = Self.statistics(try Self.steered(fk, count: 200, solver: AncestralTransitions<Heun>.forSteering(Heun())))
        #expect(steered.projection > Self.statistics(try Self.steered(nil, count: 200)).projection + 0.5)
    }
}

extension SteeringTests {
    /// Two components alike but for their weights (0.8, 0.2): the minority score (reconstruction
    /// error after noising to σ = 1) is higher in the light one, whose points the Tweedie estimate
    /// pulls toward the heavy one, so FK steering by it must raise the light component's share.
    /// With 400 samples a share's standard error is 0.02; the unsteered 20-step sampler's own bias
    /// on these separated modes is about 0.07 (measured share 0.13), and the test asks for a rise of 0.1
    /// (measured: 0.66 at λ = 10, K = 8).
    @Test("minority reward: FK steering raises the share of the least likely component")
    func minority() throws {
        let model = try GaussianMixture(weights: [0.8, 0.2], means: [-1.5, 0, 1.5, 0], stds: [0.3, 0.3, 0.3, 0.3])
        let reward = try MinorityReward(model: model, level: VESchedule().level(sigma: 1), seed: 9)
        let fk = try FeynmanKacSteering(particles: 8, reward: reward, scale: 10)
        let schedule = VESchedule(), n = 400
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 20).grid(on: schedule)
        func share(_ steering: (any ParticleSteering)?) throws -> Double {
            let k = steering?.particles ?? 1
            let x = SampleTensor.initialSample(noise: SeededNoise(seed: 4).initialNoise(shape: [n * k, 2]), schedule: schedule, level: grid[0])
            let out = try steering.map {
                try SteeringRun(model: model, schedule: schedule, solver: EulerAncestral(), grid: grid, initialSample: x,
                                noise: SeededNoise(seed: 4), steering: $0, seed: 4).finish()
            } ?? SamplingRun(model: model, schedule: schedule, solver: EulerAncestral(), grid: grid, initialSample: x, noise: SeededNoise(seed: 4)).finish()
            return Double((0..<n).filter { out.scalars[2 * $0] > 0 }.count) / Double(n)
        }
        let plain = try share(nil), steered = try share(fk)
        #expect(abs(plain - 0.2) < 0.1, "unsteered share \(plain)")
        #expect(steered > plain + 0.1, "minority-steered share \(steered) vs \(plain)")
    }
}
