import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// The finite-difference pullback on the `digits` network, the classifier reward's gradient, the
/// guidance-scale gradient, and gradient ascent on the noise.
@Suite("AdjointDPM on networks and rewards")
struct AdjointNetworkTests {
    static func digits() throws -> (model: any DiffusionModel, schedule: any NoiseSchedule, classifier: FeatureClassifier) {
        let model = try #require(try BuiltInModels.model(named: "digits"))
        let scheduled = try #require(model as? any ScheduledDiffusionModel)
        return (model, try scheduled.schedulerConfig.schedule(), try #require(try BuiltInModels.classifier(for: "digits")))
    }

    @Test("the classifier reward's gradient matches central differences of log p(c | x)")
    func classifierGradient() throws {
        let (_, _, classifier) = try Self.digits()
        let reward = try ClassifierReward(classifier: classifier, target: 3)
        let x = AdjointDPMTests.normals(2 * 64, seed: 5).map { 0.5 * $0 }
        let (rewards, gradients) = try reward.rewardsAndGradients(of: x, batch: 2, label: nil)
        let direct = try reward.rewards(of: SampleTensor(shape: [2, 1, 8, 8], scalars: x.map(Float.init)), label: nil)
        for b in 0..<2 { #expect(abs(rewards[b] - direct[b]) < 1e-5) }
        for i in [0, 17, 64 + 40, 127] {
            let h = 1e-5
            var plus = x, minus = x
            plus[i] += h; minus[i] -= h
            let fd = (try reward.rewardsAndGradients(of: plus, batch: 2, label: nil).rewards.reduce(0, +)
                      - (try reward.rewardsAndGradients(of: minus, batch: 2, label: nil).rewards.reduce(0, +))) / (2 * h)
            #expect(abs(gradients[i] - fd) < 1e-7 * max(1, abs(fd)), "coordinate \(i): \(gradients[i]) vs \(fd)")
        }
    }

    /// The pullback is a Float central difference (error about 1e-4 relative); the run's own
    /// difference quotient along a unit direction with step 0.05 adds O(h²).
    @Test("digits: directional derivatives of the whole run agree with the adjoint gradient")
    func digitsDirections() throws {
        let (model, schedule, classifier) = try Self.digits()
        let reward = try ClassifierReward(classifier: classifier, target: 3)
        let grid = try StepSchedule(spacing: .trailing, steps: 2).grid(on: schedule)
        let adjoint = try AdjointDPM(order: 1)
        let denoiser = FiniteDifferencePullback(model: model)
        let noise = AdjointDPMTests.normals(64, seed: 17)
        let g = try adjoint.gradients(from: noise, batch: 1, denoiser: denoiser, grid: grid, schedule: schedule, reward: reward)
        #expect(g.backwardEvaluations == 2 * 129)
        for seed in [1, 2] as [UInt64] {
            var v = AdjointDPMTests.normals(64, seed: 100 + seed)
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / n }
            let h = 0.05
            func r(_ sign: Double) throws -> Double {
                let x0 = try adjoint.sample(from: zip(noise, v).map { $0 + sign * h * $1 }, batch: 1, denoiser: denoiser, grid: grid, schedule: schedule)
                return try reward.rewardsAndGradients(of: x0, batch: 1, label: nil).rewards[0]
            }
            let fd = (try r(1) - (try r(-1))) / (2 * h)
            let predicted = zip(g.noise, v).reduce(0) { $0 + $1.0 * $1.1 }
            print("digits direction \(seed): adjoint \(predicted), run \(fd)")
            #expect(abs(predicted - fd) < 0.05 * max(abs(fd), 0.1), "direction \(seed): adjoint \(predicted) vs run \(fd)")
        }
    }

    @Test("guidance scale: the gradient matches central differences of the run in w (exact mixture)")
    func guidanceScale() throws {
        let m = try AdjointDPMTests.mixture2D()
        let schedule = VESchedule()
        let grid = try AdjointDPMTests.grid(schedule, steps: 10)
        let reward = AdjointDPMTests.QuadraticReward(center: [1, 1])
        let noise = AdjointDPMTests.normals(4, seed: 31).map { $0 * 80 }
        let w = 2.5, h = 1e-5
        for order in [1, 2] {
            let adjoint = try AdjointDPM(order: order)
            let g = try adjoint.gradients(from: noise, batch: 2, denoiser: try MixturePullback(mixture: m, classLabel: 4, guidanceScale: w),
                                          grid: grid, schedule: schedule, reward: reward)
            let dw = try #require(g.guidanceScale)
            func total(_ scale: Double) throws -> Double {
                try AdjointDPMTests.totalReward(adjoint, noise, batch: 2, denoiser: try MixturePullback(mixture: m, classLabel: 4, guidanceScale: scale),
                                                grid: grid, schedule: schedule, reward: reward)
            }
            let fd = (try total(w + h) - (try total(w - h))) / (2 * h)
            #expect(abs(dw.reduce(0, +) - fd) < 1e-6 * max(1, abs(fd)), "order \(order): \(dw.reduce(0, +)) vs \(fd)")
        }
    }

    @Test("the finite-difference pullback of a guided network gives the scale gradient of the exact one")
    func finiteDifferenceGuidance() throws {
        let m = try AdjointDPMTests.mixture2D()
        let guided = try ClassifierFreeGuidance(base: m, classLabel: 4, scale: 2)
        let level = VESchedule().level(sigma: 1.5)
        let x = [0.3, -0.2, 1.1, 0.7], u = [1.0, -0.5, 0.25, 2]
        let fd = try FiniteDifferencePullback(model: guided).pullback(x, batch: 2, at: level, cotangent: u)
        let exact = try MixturePullback(mixture: m, classLabel: 4, guidanceScale: 2).pullback(x, batch: 2, at: level, cotangent: u)
        for i in 0..<4 { #expect(abs(fd.input[i] - exact.input[i]) < 2e-3 * max(1, abs(exact.input[i])), "vjp \(i)") }
        for b in 0..<2 { #expect(abs(fd.guidanceScale![b] - exact.guidanceScale![b]) < 1e-4 * max(1, abs(exact.guidanceScale![b]))) }
    }

    @Test("noise optimization raises a linear reward and keeps each noise's norm")
    func noiseOptimization() throws {
        let m = try AdjointDPMTests.mixture2D()
        let schedule = VESchedule()
        let grid = try AdjointDPMTests.grid(schedule, steps: 10)
        let reward = try LinearReward(weights: [1, 0])
        let noise = AdjointDPMTests.normals(8, seed: 44)
        let optimizer = try NoiseOptimization(adjoint: try AdjointDPM(order: 1), iterations: 5, learningRate: 0.2)
        let result = try optimizer.run(noise: noise, batch: 4, denoiser: try MixturePullback(mixture: m), grid: grid, schedule: schedule, reward: reward)
        print("linear reward on mixture-2d, mean per iteration: \(result.meanRewards)")
        #expect(result.meanRewards.count == 6)
        #expect(result.meanRewards.last! > result.meanRewards.first! + 0.15, "\(result.meanRewards)")
        for b in 0..<4 {
            let before = (noise[2 * b] * noise[2 * b] + noise[2 * b + 1] * noise[2 * b + 1]).squareRoot()
            let after = (result.noise[2 * b] * result.noise[2 * b] + result.noise[2 * b + 1] * result.noise[2 * b + 1]).squareRoot()
            #expect(abs(before - after) < 1e-12 * before)
        }
        #expect(throws: SamplingError.self) { try NoiseOptimization(adjoint: try AdjointDPM(order: 1), iterations: 1, learningRate: 0) }
        #expect(throws: SamplingError.self) { try AdjointDPM(order: 3) }
    }
}
