import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Samples of the exact-model samplers against the mixture's exact marginals and pairwise
/// joints: Pearson's chi-square at a family-wise level of 0.001 (Bonferroni over the 6 marginals
/// and 15 pairs of a run), on 10^4 samples.
@Suite("Masked diffusion samplers")
struct MaskedSamplerTests {
    static let count = 10_000

    /// Every marginal and pair passes chi-square; returns the largest statistic / critical value.
    func expectExact(_ sampler: any MaskedSampler, seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
        let model = try DiscreteFixtures.mixture()
        let result = try MaskedSampling.run(sampler, model: model, count: Self.count, seed: seed)
        let (l, v) = (6, 4)
        let level = 0.001 / 21
        var worst = 0.0
        for a in 0..<l {
            var counts = [Int](repeating: 0, count: v)
            for b in 0..<Self.count { counts[Int(result.tokens[b * l + a])] += 1 }
            let ratio = ChiSquare.statistic(counts: counts, probabilities: model.marginal(a)) / ChiSquare.critical(df: v - 1, level: level)
            #expect(ratio < 1, "\(sampler.name): marginal \(a)", sourceLocation: sourceLocation)
            worst = max(worst, ratio)
            for c in (a + 1)..<l {
                var joint = [Int](repeating: 0, count: v * v)
                for b in 0..<Self.count { joint[Int(result.tokens[b * l + a]) * v + Int(result.tokens[b * l + c])] += 1 }
                let ratio = ChiSquare.statistic(counts: joint, probabilities: model.pair(a, c)) / ChiSquare.critical(df: v * v - 1, level: level)
                #expect(ratio < 1, "\(sampler.name): pair (\(a), \(c))", sourceLocation: sourceLocation)
                worst = max(worst, ratio)
            }
        }
        return worst
    }

    @Test func firstHittingIsExact() throws {
        _ = try expectExact(try FirstHitting(), seed: 1)
    }

    @Test func ancestralIsExactWithEnoughSteps() throws {
        _ = try expectExact(try MaskedAncestral(steps: 1000), seed: 2)
    }

    /// The test has power: revealing all six tokens from one evaluation (independent draws from
    /// the marginals) breaks the pairs, and the statistic sees it.
    @Test func chiSquareRejectsParallelRevealOfEverything() throws {
        let model = try DiscreteFixtures.mixture()
        let result = try MaskedSampling.run(try FirstHitting(tokensPerStep: 6), model: model, count: Self.count, seed: 3)
        var joint = [Int](repeating: 0, count: 16)
        for b in 0..<Self.count { joint[Int(result.tokens[b * 6]) * 4 + Int(result.tokens[b * 6 + 1])] += 1 }
        #expect(ChiSquare.statistic(counts: joint, probabilities: model.pair(0, 1)) > ChiSquare.critical(df: 15, level: 0.001))
        #expect(result.evaluations.allSatisfy { $0 == 1 })
    }

    @Test func evaluationCounts() throws {
        let model = try DiscreteFixtures.mixture()
        let fhs = try MaskedSampling.run(try FirstHitting(), model: model, count: 200, seed: 4)
        #expect(fhs.evaluations.allSatisfy { $0 == 6 })
        let parallel = try MaskedSampling.run(try FirstHitting(tokensPerStep: 4), model: model, count: 200, seed: 4)
        #expect(parallel.evaluations.allSatisfy { $0 == 2 })
        // mdlm evaluates only at steps that reveal something: never more than L, nor than the steps.
        let many = try MaskedSampling.run(try MaskedAncestral(steps: 500), model: model, count: 200, seed: 4)
        #expect(many.evaluations.allSatisfy { $0 >= 1 && $0 <= 6 })
        let few = try MaskedSampling.run(try MaskedAncestral(steps: 3), model: model, count: 200, seed: 4)
        #expect(few.evaluations.allSatisfy { $0 >= 1 && $0 <= 3 })
        // With 3 steps and 6 tokens some step reveals two or more at once: the mean is below 3 only by the empty steps.
        #expect(few.meanEvaluations > 2)
    }

    /// mdlm's evaluations follow the step-wise reveal law: step i (t_i → t_{i+1}) reveals each of the
    /// L tokens with probability α_{t_{i+1}} − α_{t_i} (from all masks), and is evaluated when it
    /// reveals any, so E[NFE] = Σ_i 1 − (1 − α_{t_{i+1}} + α_{t_i})^L. Mean of 20,000 runs within 4 standard errors.
    @Test func ancestralEvaluationsFollowTheStepwiseLaw() throws {
        let model = try DiscreteFixtures.mixture()
        for (schedule, steps) in [(MaskingSchedule.linear, 3), (.cosine, 5), (.linear, 20)] {
            let alpha = (0...steps).map { schedule.alpha(1 - Double($0) / Double(steps)) }
            let fire = (0..<steps).map { 1 - pow(1 - (alpha[$0 + 1] - alpha[$0]), 6) }
            let mean = fire.reduce(0, +), variance = fire.reduce(0) { $0 + $1 * (1 - $1) }
            let result = try MaskedSampling.run(try MaskedAncestral(steps: steps), model: model, schedule: schedule, count: 20_000, seed: 6)
            #expect(abs(result.meanEvaluations - mean) < 4 * (variance / 20_000).squareRoot(), "\(schedule), \(steps) steps")
        }
    }

    /// Same seed, same bits: for any thread count, and sample b alone equals sample b of a batch.
    @Test func seededRunsAreBitIdentical() throws {
        let model = try DiscreteFixtures.mixture()
        for sampler in [try FirstHitting() as any MaskedSampler, try MaskedAncestral(steps: 64)] {
            for precision in CategoricalPrecision.allCases {
                let one = try MaskedSampling.run(sampler, model: model, precision: precision, count: 64, seed: 9, threads: 1)
                let many = try MaskedSampling.run(sampler, model: model, precision: precision, count: 64, seed: 9, threads: 8)
                #expect(one == many)
                let alone = try MaskedSampling.run(sampler, model: model, precision: precision, count: 1, seed: 9, firstSample: 37)
                #expect(alone.tokens == Array(one.tokens[(37 * 6)..<(38 * 6)]))
                let other = try MaskedSampling.run(sampler, model: model, precision: precision, count: 64, seed: 10)
                #expect(other.tokens != one.tokens)
            }
        }
    }

    /// The distances against hand-computed values: a sample set that is exactly the mixture's
    /// support in proportion would be zero, one concentrated on a single sequence is far.
    @Test func distancesOnKnownCases() throws {
        #expect(DiscreteDistance.totalVariation([0.5, 0.5, 0], [0.25, 0.25, 0.5]) == 0.5)
        #expect(abs(DiscreteDistance.kl([0.5, 0.5], [0.25, 0.75]) - (0.5 * log(2.0) + 0.5 * log(2.0 / 3))) < 1e-15)
        #expect(abs(DiscreteDistance.entropy([0.5, 0.25, 0.25, 0]) - 1.5 * log(2.0)) < 1e-15)
        let model = try DiscreteFixtures.mixture()
        let constant = try DiscreteDistance(tokens: Array(repeating: 0, count: 6 * 10), model: model)
        #expect(constant.entropy == 0 && abs(constant.exactEntropy - (0..<6).reduce(0) { $0 + DiscreteDistance.entropy(model.marginal($1)) } / 6) < 1e-15)
        #expect(abs(constant.marginalTV - (0..<6).reduce(0) { $0 + 1 - model.marginal($1)[0] } / 6) < 1e-15)
        #expect(abs(constant.negativeLogLikelihood + model.logLikelihood(ArraySlice(Array(repeating: 0, count: 6))) / 6) < 1e-12)
        #expect(throws: DiscreteError.self) { try DiscreteDistance(tokens: [0, 1, 2, 3, 4, 0], model: model) }
    }

    @Test func cosineScheduleGivesTheSameDistribution() throws {
        // The exact model is time-agnostic: the schedule moves the times, not the samples' law.
        let model = try DiscreteFixtures.mixture()
        let result = try MaskedSampling.run(try MaskedAncestral(steps: 1000), model: model, schedule: .cosine, count: 4000, seed: 5)
        let d = try DiscreteDistance(tokens: result.tokens, model: model)
        #expect(d.pairTV < 0.05)
    }
}
