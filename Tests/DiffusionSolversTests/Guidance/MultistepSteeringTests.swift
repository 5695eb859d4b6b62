import Testing
import Foundation
import DiffusionSolvers
import DiffusionCore

/// Steering with solvers that keep a history across steps: their state follows the particles.
@Suite("Steering with multistep solvers: the state follows resampled particles")
struct MultistepSteeringTests {
    static func solver(_ name: String) throws -> any Solver { try SolverCatalog.solver(named: name) }

    /// `x` (8 distinct mixture starts) run with `solver`; after step `at`, `permutation` is applied
    /// to the sample and (when `gatherState`) to the solver's state, as ``SteeringRun`` does.
    static func run(_ solver: any Solver, start x: SampleTensor, permutation: [Int]?, at: Int = 3, gatherState: Bool = true,
                    model: any DiffusionModel = SteeringTests.mixture, schedule: any NoiseSchedule = VESchedule(),
                    spacing: StepSpacing = .karras(rho: 7)) throws -> SampleTensor {
        let grid = try StepSchedule(spacing: spacing, steps: 10).grid(on: schedule)
        func go<S: Solver>(_ s: S) throws -> SampleTensor {
            let run = try SamplingRun(model: model, schedule: schedule, solver: s, grid: grid, initialSample: x)
            if let permutation {
                run.afterStep = { [unowned run] sample, _ in
                    guard run.stepsTaken == at + 1 else { return }
                    sample = sample.gathering(permutation)
                    if gatherState { run.gatherState(permutation) }
                }
            }
            return try run.finish()
        }
        return try go(solver)
    }

    static func start() -> SampleTensor {
        let schedule = VESchedule()
        let level = schedule.level(sigma: 80)
        return SampleTensor.initialSample(noise: SeededNoise(seed: 11).initialNoise(shape: [8, 2]), schedule: schedule, level: level)
    }

    /// Each row of a batch is advanced on its own, so swapping rows (and their histories) halfway
    /// must give the swapped rows of the unswapped run, bit for bit; without the history the
    /// multistep update mixes one particle's new output with another's old one, and differs.
    @Test("gather: the identity changes nothing; a swap equals the swapped run", arguments: ["dpmpp_2m", "uni_pc", "ipndm", "lms", "deis", "plms", "res_multistep", "ipndm_v", "gradient_estimation"])
    func gather(_ name: String) throws {
        let s = try Self.solver(name), x = Self.start()
        let plain = try Self.run(s, start: x, permutation: nil)
        #expect(try Self.run(s, start: x, permutation: Array(0..<8)) == plain)
        let swap = [7, 6, 5, 4, 3, 2, 1, 0]
        #expect(try Self.run(s, start: x, permutation: swap) == plain.gathering(swap))
        #expect(try Self.run(s, start: x, permutation: swap, gatherState: false) != plain.gathering(swap))
    }

    /// Time-shift DPM-Solver keeps each sample's level and previous level across steps.
    @Test("gather: per-sample levels of ts_dpm_solver follow a swap")
    func gatherTimeShift() throws {
        let schedule = TimeShiftTests.schedule, model = TimeShiftTests.mixture, s = try Self.solver("ts_dpm_solver")
        let grid = try StepSchedule(spacing: .linspace, steps: 10).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: SeededNoise(seed: 11).initialNoise(shape: [8] + model.sampleShape), schedule: schedule, level: grid[0])
        func run(_ p: [Int]?, gatherState: Bool = true) throws -> SampleTensor {
            try Self.run(s, start: x, permutation: p, gatherState: gatherState, model: model, schedule: schedule, spacing: .linspace)
        }
        let plain = try run(nil), swap = [7, 6, 5, 4, 3, 2, 1, 0]
        #expect(try run(swap) == plain.gathering(swap))
        #expect(try run(swap, gatherState: false) != plain.gathering(swap))
    }

    @Test("K = 1 with a multistep solver is the unsteered run, bit for bit", arguments: ["dpmpp_2m", "uni_pc", "ipndm", "dpmpp_2m_sde"])
    func oneParticle(_ name: String) throws {
        let s = try Self.solver(name), reward = try LinearReward(weights: SteeringTests.w)
        let plain = try SteeringTests.steered(nil, count: 64, solver: s)
        #expect(try SteeringTests.steered(FeynmanKacSteering(particles: 1, reward: reward, scale: 2), count: 64, solver: s) == plain)
        #expect(try SteeringTests.steered(SoftValueDecoding(particles: 1, reward: reward, scale: 2), count: 64, solver: s) == plain)
    }

    /// FK steering at K = 64 with a multistep solver against the exact tilted mixture, with the
    /// tolerance of ``SteeringTests/feynmanKacTilt()`` (4 standard errors plus 0.02).
    @Test("FK steering with a multistep solver approaches the tilted mixture", arguments: ["dpmpp_2m", "ipndm"])
    func feynmanKacTilt(_ name: String) throws {
        let lambda = 1.0, n = 500
        let reward = try LinearReward(weights: SteeringTests.w)
        let target = try SteeringTests.mixture.tilted(by: SteeringTests.w, scale: lambda)
        let exact = SteeringTests.projection(of: target)
        let fk = try FeynmanKacSteering(particles: 64, reward: reward, scale: lambda)
        let steered = SteeringTests.statistics(try SteeringTests.steered(fk, count: n, solver: Self.solver(name)))
        #expect(abs(steered.projection - exact.mean) < 4 * exact.std / Double(n).squareRoot() + 0.02,
                "projection \(steered.projection) vs \(exact.mean)")
        for c in 0..<3 {
            let p = target.weights[c], bound = 4 * (p * (1 - p) / Double(n)).squareRoot() + 0.02
            #expect(abs(steered.shares[c] - p) < bound, "share \(c): \(steered.shares[c]) vs \(p)")
        }
    }
}
