import Foundation
import Testing
@testable import DiffusionSolvers
import DiffusionTestSupport

@Suite("The RMSE over draws without a ground truth (RareDrawCheck)")
struct RareDrawCheckTests {
    static let schedule = EvolutionarySearchTests.schedule
    static let model = BuiltInModels.ring

    /// Euler on 4 Karras steps and DPM-Solver++(2M) on 4 log-SNR steps: apart on most draws.
    static func runs() throws -> (RareDrawCheck.Run, RareDrawCheck.Run) {
        func run(_ key: Int, _ name: String, _ spacing: StepSpacing) throws -> RareDrawCheck.Run {
            (key, try SolverCatalog.solver(named: name), try StepSchedule(spacing: spacing, steps: 4, final: .zero).grid(on: schedule))
        }
        return (try run(0, "euler", .karras(rho: 7)), try run(1, "dpmpp_2m", .logSNR))
    }

    static func noise(seed: UInt64, count: Int) -> SampleTensor { SeededNoise(seed: seed).initialNoise(shape: [count] + model.sampleShape) }

    static func objective(_ noise: SampleTensor) -> SchedulingObjective {
        SchedulingObjective(model: model, schedule: schedule, noise: noise, groundTruth: GroundTruth(tolerance: 1e-9, cacheDirectory: nil))
    }

    /// The RMSE of `run` on all of `validation` and `extra`, from one comparison on the two batches joined.
    static func exact(_ run: RareDrawCheck.Run, _ validation: SampleTensor, _ extra: SampleTensor) throws -> Double {
        let joined = SampleTensor(shape: [validation.batchSize + extra.batchSize] + model.sampleShape, scalars: validation.scalars + extra.scalars)
        return try objective(joined).error(run.solver, grid: run.grid)
    }

    /// The check's estimated RMSE over the ratio of the RMSE over all draws, for both runs: `validation` and
    /// `extra` draws (seeds `seed` and `seed + 1`), `flagged` of the extra ones with a ground truth.
    static func ratios(validation: Int, extra: Int, flagged: Int, seed: UInt64) throws -> (x: Double, y: Double) {
        let (x, y) = try runs()
        let validationNoise = noise(seed: seed, count: validation), extraNoise = noise(seed: seed + 1, count: extra)
        let check = RareDrawCheck(model: model, schedule: schedule, validation: objective(validationNoise), extra: extraNoise, flagged: flagged)
        let estimate = try check.errors(x, y).rmse
        return (estimate.x / (try exact(x, validationNoise, extraNoise)), estimate.y / (try exact(y, validationNoise, extraNoise)))
    }

    @Test("with a ground truth for every extra draw, the estimate is the RMSE over all the draws")
    func everyDrawFlagged() throws {
        let r = try Self.ratios(validation: 64, extra: 96, flagged: 96, seed: 3)
        // The ground truths of the subsets and of the joined batch agree to the solver's tolerance.
        #expect(abs(r.x - 1) < 1e-6 && abs(r.y - 1) < 1e-6, "\(r)")
    }

    @Test("with a ground truth for an eighth of the extra draws, the estimate is within 10% of the RMSE over all of them")
    func fewDrawsFlagged() throws {
        let r = try Self.ratios(validation: 256, extra: 1024, flagged: 128, seed: 5)
        #expect(abs(r.x - 1) < 0.1 && abs(r.y - 1) < 0.1, "\(r)")
    }

    @Test("errors in a fixed proportion give that ratio exactly, whatever the weights")
    func proportionalErrors() {
        let y = (0..<40).map { 0.1 + Double($0 % 7) }
        let errors = RareDrawCheck.Errors(x: y.map { 0.25 * $0 }, y: y, weights: (0..<40).map { $0 < 30 ? 1 + Double($0 % 3) * 50 : 1 },
                                          validationCount: 30, dimension: 3)
        #expect(abs(errors.rmse.x / errors.rmse.y - 0.25) < 1e-12)
        let interval = errors.ratioInterval(seed: 1)
        #expect(abs(interval.lowerBound - 0.25) < 1e-12 && abs(interval.upperBound - 0.25) < 1e-12)
    }

    @Test("one draw that changes component is not a win beyond chance; five among the flagged draws are")
    func componentChanges() {
        // 512 validation draws equal under both, each standing for 63 unflagged draws; 128 flagged draws equal but
        // for `changes` on which y lands in another component (error 30, against 0.01 elsewhere).
        func interval(changes: Int) -> ClosedRange<Double> {
            let x = [Double](repeating: 0.01, count: 640)
            var y = x
            for i in 0..<changes { y[512 + 20 * i] = 30 }
            let weights = [Double](repeating: 64, count: 512) + [Double](repeating: 1, count: 128)
            return RareDrawCheck.Errors(x: x, y: y, weights: weights, validationCount: 512, dimension: 4).ratioInterval(seed: 3)
        }
        #expect(interval(changes: 1).upperBound >= 1)
        #expect(interval(changes: 5).upperBound < 1)
    }
}
