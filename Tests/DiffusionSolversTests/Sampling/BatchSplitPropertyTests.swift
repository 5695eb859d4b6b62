import Testing
import PropertyBased
import DiffusionSolvers

/// Determinism whatever the batch split: each sample's initial and step noise depend only on the
/// seed and the sample's index (``SeededNoise``'s `firstSample`), so a batch sampled whole equals
/// the same batch sampled as two runs, for generated seeds, batch sizes and split points, and for
/// deterministic and stochastic solvers alike.
@Suite("Batch splits (property-based)")
struct BatchSplitPropertyTests {
    static let schedule = VESchedule()

    static func run(_ name: String, seed: UInt64, first: Int, count: Int) throws -> [Float] {
        let model = BuiltInModels.ring
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 4).grid(on: schedule)
        let noise = SeededNoise(seed: seed, firstSample: first)
        let x = SampleTensor.initialSample(noise: noise.initialNoise(shape: [count] + model.sampleShape), schedule: schedule, level: grid[0])
        func pull<S: Solver>(_ solver: S) throws -> [Float] {
            try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise).finish().scalars
        }
        return try pull(try SolverCatalog.solver(named: name))
    }

    @Test("a batch equals its two halves, for any seed, size and split", arguments: ["dpmpp_2m", "heun", "euler_ancestral", "ddpm", "dpmpp_sde"])
    func splitInvariance(solver: String) async throws {
        await propertyCheck(count: 25, input: Gen.uint64(in: 0...UInt64.max), Gen.int(in: 2...9), Gen.int(in: 1...8)) { seed, count, cut in
            let k = min(cut, count - 1)
            let outcome = Result { () throws -> (equal: Bool, finite: Bool) in
                let whole = try Self.run(solver, seed: seed, first: 0, count: count)
                let head = try Self.run(solver, seed: seed, first: 0, count: k)
                let tail = try Self.run(solver, seed: seed, first: k, count: count - k)
                return (whole == head + tail, whole.allSatisfy(\.isFinite))
            }
            switch outcome {
            case .success(let r):
                let message = "\(solver): seed \(seed), batch \(count) split at \(k)"
                #expect(r.equal, Comment(rawValue: message))
                #expect(r.finite, Comment(rawValue: message))
            case .failure(let error):
                Issue.record(error)
            }
        }
    }
}
