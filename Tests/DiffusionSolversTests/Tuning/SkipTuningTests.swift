import Testing
import DiffusionSolvers

@Suite("Skip-Tuning search")
struct SkipTuningTests {
    /// A stand-in network: only its factors matter to the score functions below.
    struct Scaled: SkipScalableModel {
        var skipScales: [Double]
        var skipLevelCount: Int { skipScales.count }
        var sampleShape: [Int] { [1] }
        var parameterization: Parameterization { .data }
        var name: String { "scaled" }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws { output.assign(x) }
        func withSkipScales(_ scales: [Double]) throws -> Scaled {
            guard scales.count == skipLevelCount else { throw SamplingError.invalidConfiguration("wrong count") }
            return Scaled(skipScales: scales)
        }
    }

    @Test("coordinate descent finds a separable optimum on the candidate grid and never evaluates a configuration twice")
    func separable() throws {
        let target = [0.96, 1.0, 0.85]
        let search = SkipTuning(candidates: [1.0, 0.98, 0.96, 0.94, 0.92, 0.9, 0.85, 0.8], rounds: 3)
        var evaluations = 0
        let result = try search.search(Scaled(skipScales: [1, 1, 1])) { model in
            evaluations += 1
            return zip(model.skipScales, target).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        }
        #expect(result.scales == target)
        #expect(result.score == 0)
        #expect(result.baselineScore > 0)
        #expect(result.trials.first?.scales == [1, 1, 1])
        #expect(evaluations == result.trials.count)
        #expect(Set(result.trials.map(\.scales)).count == result.trials.count)
        // Round 1: 1 + 3 levels × 7 other factors; round 2 re-tries only unseen configurations and stops unchanged.
        #expect(result.trials.count <= 1 + 3 * 7 * 2)
    }

    @Test("a score that prefers the trained network keeps all factors at 1")
    func keepsBaseline() throws {
        let result = try SkipTuning().search(Scaled(skipScales: [1, 1])) { model in
            model.skipScales.map { abs($0 - 1) }.reduce(0, +)
        }
        #expect(result.scales == [1, 1])
        #expect(result.score == result.baselineScore)
    }

    @Test("non-finite candidates are refused")
    func badCandidates() {
        #expect(throws: SamplingError.self) {
            try SkipTuning(candidates: [1, .nan]).search(Scaled(skipScales: [1])) { _ in 0 }
        }
    }
}
