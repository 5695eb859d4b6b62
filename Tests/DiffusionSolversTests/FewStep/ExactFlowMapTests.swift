import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// The probability-flow ODE's exact flow map (``ExactFlowMap``) of an exact mixture is an exact
/// consistency model: one jump from the prior to `σ = 0`, and CTM's γ-sampling for every γ, must
/// give samples from the mixture. The statistical test: for `n` samples, each coordinate's mean,
/// each covariance entry, and each component's share (the mean posterior responsibility, whose
/// expectation under the mixture is its weight) lie within 4 standard errors (estimated from the
/// samples) of the mixture's exact values; a sampler known to be wrong must fail the same test.
@Suite("Exact flow maps: consistency and CTM sampling from an exact mixture")
struct ExactFlowMapTests {
    static let mixture = TestModels.mixture2D()
    static let schedule = VESchedule()
    static let count = 1200

    /// Exact draws from the mixture noised to `sigma` (`x = μ_k + √(s_k² + σ²)·z`), components in Float64.
    static func marginalSamples(sigma: Double, count: Int, seed: UInt64) -> SampleTensor {
        let d = mixture.dimension
        let z = TestModels.noise([count, d], seed: seed).scalars
        var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        func uniform() -> Double {   // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var v = state
            v = (v ^ (v >> 30)) &* 0xBF58_476D_1CE4_E5B9; v = (v ^ (v >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((v ^ (v >> 31)) >> 11) / Double(1 << 53)
        }
        var out = [Float](repeating: 0, count: count * d)
        for i in 0..<count {
            var u = uniform(), k = 0
            while k < mixture.componentCount - 1, u >= mixture.weights[k] { u -= mixture.weights[k]; k += 1 }
            for j in 0..<d {
                let s = mixture.stds[k * d + j]
                out[i * d + j] = Float(mixture.means[k * d + j] + (s * s + sigma * sigma).squareRoot() * Double(z[i * d + j]))
            }
        }
        return SampleTensor(shape: [count, d], scalars: out)
    }

    /// The worst of the mean, covariance and share deviations, in standard errors.
    static func worstDeviation(_ samples: SampleTensor) -> (z: Double, what: String) {
        let d = mixture.dimension, n = samples.batchSize, x = samples.scalars.map(Double.init)
        var worst = (z: 0.0, what: "")
        func check(_ values: [Double], expected: Double, _ what: String) {
            let mean = values.reduce(0, +) / Double(n)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
            let z = abs(mean - expected) / (variance / Double(n)).squareRoot()
            if z > worst.z { worst = (z, "\(what): \(mean) vs \(expected)") }
        }
        let mean = mixture.mean, covariance = mixture.covariance
        for j in 0..<d { check((0..<n).map { x[$0 * d + j] }, expected: mean[j], "mean[\(j)]") }
        for a in 0..<d {
            for b in a..<d {
                check((0..<n).map { (x[$0 * d + a] - mean[a]) * (x[$0 * d + b] - mean[b]) }, expected: covariance[a * d + b], "cov[\(a),\(b)]")
            }
        }
        let responsibilities = (0..<n).map { i -> [Double] in
            let logs = (0..<mixture.componentCount).map { k in
                (0..<d).reduce(Foundation.log(mixture.weights[k])) { acc, j in
                    let s = mixture.stds[k * d + j], r = (x[i * d + j] - mixture.means[k * d + j]) / s
                    return acc - 0.5 * r * r - Foundation.log(s)
                }
            }
            let top = logs.max()!, e = logs.map { Foundation.exp($0 - top) }, sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
        for k in 0..<mixture.componentCount { check(responsibilities.map { $0[k] }, expected: mixture.weights[k], "share[\(k)]") }
        return worst
    }

    @Test("exact marginal draws pass the test, and the flow map's one-step consistency samples do too")
    func oneStep() throws {
        let sigmaMax = Self.schedule.sigmaMax
        let data = Self.marginalSamples(sigma: 0, count: Self.count, seed: 11)
        let control = Self.worstDeviation(data)
        #expect(control.z < 4, "exact draws: \(control.what)")
        let map = ExactFlowMap(model: Self.mixture, schedule: Self.schedule)
        let prior = Self.marginalSamples(sigma: sigmaMax, count: Self.count, seed: 12)
        var jumped = SampleTensor(zeros: prior.shape)
        try map.jump(prior, from: Self.schedule.level(sigma: sigmaMax), to: Self.schedule.cleanLevel, into: &jumped)
        let result = Self.worstDeviation(jumped)
        #expect(result.z < 4, "one-step consistency sampling: \(result.what)")
        // Power: one step of the denoiser (x̂₀ of the prior sample) collapses onto the mean and must fail.
        let denoised = try SamplingRun(model: Self.mixture, schedule: Self.schedule, solver: Euler(),
                                       grid: try TimeGrid(levels: [Self.schedule.level(sigma: sigmaMax), Self.schedule.cleanLevel]),
                                       initialSample: prior).finish()
        #expect(Self.worstDeviation(denoised).z > 10)
    }

    @Test("CTM's γ-sampling leaves the distribution unchanged", arguments: [0.0, 0.3, 1.0])
    func ctm(gamma: Double) throws {
        let map = ExactFlowMap(model: Self.mixture, schedule: Self.schedule)
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 3).grid(on: Self.schedule)
        let prior = Self.marginalSamples(sigma: Self.schedule.displaySigma(grid[0]), count: Self.count, seed: 20 + UInt64(gamma * 10))
        let sampler = try ConsistencyTrajectorySampler(gamma: gamma)
        let out = try sampler.sample(map, schedule: Self.schedule, grid: grid, from: prior, noise: SeededNoise(seed: 5))
        let result = Self.worstDeviation(out)
        #expect(result.z < 4, "gamma \(gamma): \(result.what)")
        #expect(throws: (any Error).self) { try ConsistencyTrajectorySampler(gamma: 1.5) }
    }

    @Test("the exact flow map agrees with the closed-form ODE solution of a single Gaussian")
    func singleGaussian() throws {
        // For N(μ, s²) the PF-ODE in VE form is x_τ = μ + (x_t − μ)·√(s² + τ²)/√(s² + t²).
        let gaussian = TestModels.singleGaussian(mean: [0.5, -1], std: [0.3, 2])
        let map = ExactFlowMap(model: gaussian, schedule: Self.schedule)
        let x = SampleTensor(shape: [2, 2], scalars: [3, -4, -20, 7])
        var out = SampleTensor(zeros: x.shape)
        try map.jump(x, from: Self.schedule.level(sigma: 10), to: Self.schedule.level(sigma: 0.5), into: &out)
        for i in 0..<2 {
            for j in 0..<2 {
                let mu = [0.5, -1][j], s = [0.3, 2][j]
                let expected = mu + (Double(x.scalars[i * 2 + j]) - mu) * (s * s + 0.25).squareRoot() / (s * s + 100).squareRoot()
                #expect(abs(Double(out.scalars[i * 2 + j]) - expected) <= 1e-5 * Swift.max(1, abs(expected)))
            }
        }
    }
}

/// Segmented consistency sampling (Hyper-SD, SCott) on the exact flow map split into segments:
/// every jump the segment model is asked for stays inside one segment, and both the deterministic
/// k-step form and the stochastic multistep form sample the mixture (the same 4-standard-error test).
@Suite("Segmented flow maps: Hyper-SD and SCott multistep sampling")
struct SegmentedFlowMapTests {
    /// Records the jumps it is asked for and passes them on.
    final class Recording: FlowMapModel, @unchecked Sendable {
        let inner: any FlowMapModel
        var jumps: [(Double, Double)] = []
        init(_ inner: any FlowMapModel) { self.inner = inner }
        var sampleShape: [Int] { inner.sampleShape }
        var name: String { inner.name }
        func jump(_ x: SampleTensor, from: NoiseLevel, to: NoiseLevel, into output: inout SampleTensor) throws {
            jumps.append((from.sigma / from.alpha, to.isClean ? 0 : to.sigma / to.alpha))
            try inner.jump(x, from: from, to: to, into: &output)
        }
    }

    static let boundaries = [80, 2.5, 0.4, 0]

    @Test("jumps stay inside segments; k-step (γ = 0) and stochastic multistep (γ = 1) sampling give the mixture", arguments: [0.0, 1.0])
    func sampling(gamma: Double) throws {
        let schedule = ExactFlowMapTests.schedule
        let recording = Recording(ExactFlowMap(model: ExactFlowMapTests.mixture, schedule: schedule))
        let segmented = try SegmentedFlowMap(recording, boundaries: Self.boundaries, schedule: schedule)
        let grid = try segmented.grid(on: schedule)
        let prior = ExactFlowMapTests.marginalSamples(sigma: 80, count: ExactFlowMapTests.count, seed: 40 + UInt64(gamma))
        let out = try ConsistencyTrajectorySampler(gamma: gamma).sample(segmented, schedule: schedule, grid: grid, from: prior,
                                                                        noise: SeededNoise(seed: 8))
        let result = ExactFlowMapTests.worstDeviation(out)
        #expect(result.z < 4, "gamma \(gamma): \(result.what)")
        for (from, to) in recording.jumps {
            let segment = Self.boundaries.firstIndex { $0 < from * (1 - 1e-9) } ?? Self.boundaries.count
            #expect(segment > 0 && to >= Self.boundaries[segment] * (1 - 1e-9), "jump \(from) → \(to) leaves its segment")
        }
        // γ = 0: one jump per segment; γ = 1: every step jumps through the remaining segments to the data.
        #expect(recording.jumps.count == (gamma == 0 ? 3 : 3 + 2 + 1))
        #expect(throws: (any Error).self) { try SegmentedFlowMap(recording, boundaries: [1, 2, 0], schedule: schedule) }
    }
}

/// The few-step samplers that read `x̂₀` sample an exact consistency model (the exact flow map's
/// jump to the data, ``ConsistencyFunction``) exactly: `cm_multistep` on EDM and `lcm` on LCM's own
/// time steps give the mixture (the same 4-standard-error test).
@Suite("Few-step samplers on an exact consistency model")
struct ExactConsistencySamplingTests {
    @Test("cm_multistep at the time points [22, 10, 0] samples the mixture")
    func consistencyMultistep() throws {
        let schedule = ExactFlowMapTests.schedule, mixture = ExactFlowMapTests.mixture
        let model = ConsistencyFunction(ExactFlowMap(model: mixture, schedule: schedule), schedule: schedule)
        let grid = try StepSchedule.grid(sigmas: try ConsistencyMultistep.karrasSigmas(timePoints: [22, 10, 0]), on: schedule)
        let prior = ExactFlowMapTests.marginalSamples(sigma: schedule.displaySigma(grid[0]), count: 1000, seed: 60)
        let out = try SamplingRun(model: model, schedule: schedule, solver: ConsistencyMultistep(), grid: grid, initialSample: prior,
                                  noise: SeededNoise(seed: 61)).finish()
        let result = ExactFlowMapTests.worstDeviation(out)
        #expect(result.z < 4, "\(result.what)")
    }

    @Test("lcm on SD's schedule and LCM's 4 time steps samples the mixture")
    func latentConsistency() throws {
        let schedule = try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012, trainingSteps: 1000)
        let mixture = ExactFlowMapTests.mixture
        let model = ConsistencyFunction(ExactFlowMap(model: mixture, schedule: schedule), schedule: schedule)
        let grid = try StepSchedule(spacing: .lcm(originalSteps: 50), steps: 4).grid(on: schedule)
        // The exact marginal at the first level: x = α·(x₀ + (σ/α)·z).
        var prior = ExactFlowMapTests.marginalSamples(sigma: schedule.displaySigma(grid[0]), count: 1000, seed: 62)
        prior.scale(by: grid[0].alpha)
        let out = try SamplingRun(model: model, schedule: schedule, solver: LCM(), grid: grid, initialSample: prior,
                                  noise: SeededNoise(seed: 63)).finish()
        let result = ExactFlowMapTests.worstDeviation(out)
        #expect(result.z < 4, "\(result.what)")
    }
}
