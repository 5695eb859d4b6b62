import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Seeded noise and determinism")
struct SeededNoiseTests {
    @Test("a sample's noise depends on the seed and its index, not on the batch")
    func batchIndependent() throws {
        let batch = SeededNoise(seed: 42).initialNoise(shape: [64, 3, 5])
        let alone = SeededNoise(seed: 42, firstSample: 7).initialNoise(shape: [1, 3, 5])
        #expect(Array(batch.sample(7)) == alone.scalars)
        var stepBatch = SampleTensor(zeros: [64, 15]), stepAlone = SampleTensor(zeros: [1, 15])
        try SeededNoise(seed: 42).fill(&stepBatch, step: 3)
        try SeededNoise(seed: 42, firstSample: 7).fill(&stepAlone, step: 3)
        #expect(Array(stepBatch.sample(7)) == stepAlone.scalars)
        #expect(Array(stepBatch.sample(7)) != Array(batch.sample(7)))
    }

    @Test("the draws are standard normal (mean, variance and tails over 2^18 values)")
    func moments() {
        let x = SeededNoise(seed: 5).initialNoise(shape: [256, 1024]).scalars.map(Double.init)
        let n = Double(x.count)
        let mean = x.reduce(0, +) / n
        let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
        // Standard errors: 1/√n ≈ 0.002 for the mean, √(2/n) ≈ 0.0028 for the variance; allow 5 of each.
        #expect(abs(mean) < 0.01)
        #expect(abs(variance - 1) < 0.014)
        let beyond3 = Double(x.filter { abs($0) > 3 }.count) / n
        #expect(abs(beyond3 - 0.0027) < 0.0006)
    }

    @Test("a stochastic run gives the same samples whole or split into batches, bit for bit")
    func splitBatches() throws {
        let schedule = try DiscreteVPSchedule()
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .trailing, steps: 8).grid(on: schedule)
        func run(first: Int, count: Int) throws -> SampleTensor {
            let noise = SeededNoise(seed: 3, firstSample: first)
            let x = noise.initialNoise(shape: [count, 2])
            return try SamplingRun(model: model, schedule: schedule, solver: DDIM(eta: 1), grid: grid, initialSample: x, noise: noise).finish()
        }
        let whole = try run(first: 0, count: 64)
        let head = try run(first: 0, count: 7), tail = try run(first: 7, count: 57)
        #expect(whole.scalars == head.scalars + tail.scalars)
    }
}
