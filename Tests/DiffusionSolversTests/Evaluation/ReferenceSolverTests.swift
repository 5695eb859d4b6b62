import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// For a single Gaussian `N(μ, s²)` the probability-flow ODE transports each point linearly:
/// `(x_t − α_t·μ) / √(α_t²s² + σ_t²)` is constant along a trajectory.
@Suite("Reference solver")
struct ReferenceSolverTests {
    static let mean = [0.3, -0.7, 1.1]
    static let std = [0.5, 0.1, 1.3]

    static func exact(_ x: SampleTensor, from: NoiseLevel, to: NoiseLevel) -> [Double] {
        let d = mean.count
        return x.scalars.enumerated().map { index, value in
            let j = index % d
            let s2 = std[j] * std[j]
            let scaleFrom = (from.alpha * from.alpha * s2 + from.sigma * from.sigma).squareRoot()
            let scaleTo = (to.alpha * to.alpha * s2 + to.sigma * to.sigma).squareRoot()
            return to.alpha * mean[j] + scaleTo / scaleFrom * (Double(value) - from.alpha * mean[j])
        }
    }

    @Test("reaches its tolerance on a single Gaussian, with an honest error estimate",
          arguments: [1e-4, 1e-6, 1e-8])
    func singleGaussian(tolerance: Double) throws {
        let model = TestModels.singleGaussian(mean: Self.mean, std: Self.std)
        let cases: [(any NoiseSchedule, NoiseLevel, NoiseLevel)] = [
            (VESchedule(), VESchedule().level(at: 80), VESchedule().cleanLevel),
            (ContinuousVPSchedule.linear(), ContinuousVPSchedule.linear().level(at: 1), ContinuousVPSchedule.linear().level(at: 1e-3)),
            (RectifiedFlowSchedule(), RectifiedFlowSchedule().level(at: 1), RectifiedFlowSchedule().cleanLevel),
        ]
        for (schedule, from, to) in cases {
            var x = TestModels.noise([8, 3], seed: 3)
            x.scale(by: schedule.priorScale(at: from))
            let solution = try ReferenceSolver(relativeTolerance: tolerance, absoluteTolerance: tolerance)
                .solve(model: model, schedule: schedule, x: x, from: from, to: to)
            let truth = Self.exact(x, from: from, to: to)
            let error = Compare.rms(solution.endpoint, truth)
            // The float32 input limits nothing here: the reference computes in Double.
            #expect(error <= 10 * tolerance, "\(schedule.name): error \(error) at tolerance \(tolerance)")
            #expect(error <= 10 * max(solution.errorEstimate, 1e-13),
                    "\(schedule.name): error \(error) exceeds 10x the estimate \(solution.errorEstimate)")
            #expect(solution.evaluations > 0)
        }
    }
}
