import Testing
import Foundation
import DiffusionSolvers

/// The inputs the fuzzers (`fuzz/run.sh`) found to trap, replayed through the same entry points.
/// Each is also in the fuzzers' seed corpus (`fuzz/corpus/<target>/crash-*`).
@Suite("Fuzzer findings")
struct FuzzRegressionTests {
    /// `request`: `--sigmas` with a value far beyond a discrete schedule's largest sigma made the
    /// time of that level too large for `Int` (`DiscreteVPSchedule.kSigma(at:)` trapped).
    @Test("a sigma far beyond a discrete VP schedule's range is a level, not a trap")
    func hugeSigmaOnDiscreteSchedule() throws {
        let schedule = try DiscreteVPSchedule()
        for sigma in [1e86, 1e300, Double.greatestFiniteMagnitude] {
            let level = schedule.level(sigma: sigma)
            #expect(schedule.kSigma(at: level.t) >= schedule.kSigma(at: 999), "sigma \(sigma)")
        }
        let request = SamplingRequest(solver: "ts_ddim", sigmas: [99999999999999999999999999999999999999999999999999999999999999999999999999999999999969.6, 3, 8])
        let mixture = try GaussianMixture(weights: [0.3, 0.7], means: [-1, 0.5, 1, -0.5], stds: [0.4, 0.3, 0.7, 0.5], sampleShape: [2])
        #expect(throws: (any Error).self) { try SamplingResolver.resolve(request, model: mixture, schedule: schedule) }
    }
}
