import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Minority guidance (gradient of the minority score)")
struct MinorityGuidanceTests {
    /// The guided estimate against `x̂₀ + w·σ²/α·∇L` with `∇L` from central differences of `L`
    /// itself (the minority score evaluated through the mixture's denoiser in Double), so a wrong
    /// pullback, a wrong chain rule or a wrong factor fails.
    @Test("the guided clean estimate adds w·σ²/α times the finite-difference gradient of the minority score")
    func gradient() throws {
        let mixture = BuiltInModels.ring
        let pullback = try MixturePullback(mixture: mixture)
        let schedule = ContinuousVPSchedule.linear()
        let t = schedule.level(sigma: 0.9), s = schedule.level(sigma: 0.5)
        let guidance = try MinorityGuidance(pullback: pullback, scale: 3, level: s, seed: 2)
        let x: [Double] = [0.7, -0.4, -1.1, 0.3, 0.05, 1.2]
        let epsilon = SeededNoise(seed: 2).initialNoise(shape: [1, 2]).scalars.map(Double.init)
        var output = SampleTensor(zeros: [3, 2])
        try guidance.predict(SampleTensor(shape: [3, 2], scalars: x.map(Float.init)), at: t, into: &output)
        let plain = try pullback.denoise(x.map { Double(Float($0)) }, batch: 3, at: t)
        for b in 0..<3 {
            let point = (0..<2).map { Double(Float(x[b * 2 + $0])) }
            for j in 0..<2 {
                // The reconstruction is held fixed: differentiate with it frozen.
                let h = 1e-5
                var up = point, down = point
                up[j] += h; down[j] -= h
                let frozen = try frozenScore(point, pullback: pullback, t: t, s: s, epsilon: epsilon)
                let slope = (try frozen(up) - frozen(down)) / (2 * h)
                let expected = plain[b * 2 + j] + 3 * t.sigma * t.sigma / t.alpha * slope
                #expect(abs(Double(output.scalars[b * 2 + j]) - expected) <= 1e-5 * max(1, abs(expected)), "sample \(b), element \(j)")
            }
        }
    }

    /// `L` with the reconstruction of `point` held fixed, as a function of the input.
    func frozenScore(_ point: [Double], pullback: MixturePullback, t: NoiseLevel, s: NoiseLevel,
                     epsilon: [Double]) throws -> ([Double]) throws -> Double {
        let data = try pullback.denoise(point, batch: 1, at: t)
        let reconstruction = try pullback.denoise((0..<2).map { s.alpha * data[$0] + s.sigma * epsilon[$0] }, batch: 1, at: s)
        return { input in
            let d = try pullback.denoise(input, batch: 1, at: t)
            return ((d[0] - reconstruction[0]) * (d[0] - reconstruction[0]) + (d[1] - reconstruction[1]) * (d[1] - reconstruction[1])) / 2
        }
    }

    /// Two components alike but for their weights (0.8, 0.2), as in `SteeringTests.minority`:
    /// guidance toward a high minority score must raise the light component's share (400 samples,
    /// standard error of a share 0.02), and scale 0 must be the plain sampler bit for bit.
    @Test("guidance raises the share of the least likely component; scale 0 is the plain model")
    func share() throws {
        let model = try GaussianMixture(weights: [0.8, 0.2], means: [-1.5, 0, 1.5, 0], stds: [0.3, 0.3, 0.3, 0.3])
        let schedule = VESchedule(), n = 400
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 20).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: SeededNoise(seed: 4).initialNoise(shape: [n, 2]), schedule: schedule, level: grid[0])
        func run(_ m: any DiffusionModel) throws -> SampleTensor {
            try SamplingRun(model: m, schedule: schedule, solver: Heun(), grid: grid, initialSample: x).finish()
        }
        func lightShare(_ out: SampleTensor) -> Double { Double((0..<n).filter { out.scalars[2 * $0] > 0 }.count) / Double(n) }
        let pullback = try MixturePullback(mixture: model)
        let plain = try run(model)
        let zero = try run(MinorityGuidance(pullback: pullback, scale: 0, level: schedule.level(sigma: 1), seed: 9))
        #expect(zero.scalars.elementsEqual(plain.scalars) { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        let guided = try run(MinorityGuidance(pullback: pullback, scale: 2, level: schedule.level(sigma: 1), seed: 9))
        let (before, after) = (lightShare(plain), lightShare(guided))
        #expect(abs(before - 0.2) < 0.06, "plain share \(before)")
        #expect(after > before + 0.1, "guided share \(after) vs \(before)")
    }

    @Test("a scale that is not finite or a clean level is refused")
    func errors() throws {
        let pullback = try MixturePullback(mixture: BuiltInModels.ring)
        #expect(throws: ModelError.self) { _ = try MinorityGuidance(pullback: pullback, scale: .nan, level: VESchedule().level(sigma: 1)) }
        #expect(throws: ModelError.self) { _ = try MinorityGuidance(pullback: pullback, scale: 1, level: VESchedule().level(sigma: 0)) }
    }
}
