import Foundation
import Testing
@testable import DiffusionSolvers
import DiffusionTestSupport

@Suite("Solver schedules and the evolutionary search")
struct EvolutionarySearchTests {
    static let schedule = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
    static let model = BuiltInModels.ring
    static let noise = SeededNoise(seed: 5).initialNoise(shape: [32, 2])

    static func run<S: Solver>(_ solver: S, grid: TimeGrid, noise: SampleTensor = noise) throws -> (SampleTensor, Int) {
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid,
                                  initialSample: SampleTensor.initialSample(noise: noise, schedule: schedule, level: grid[0]))
        return (try run.finish(), run.evaluations)
    }

    static func karras(_ steps: Int) throws -> TimeGrid {
        try StepSchedule(spacing: .karras(rho: 7), steps: steps, final: .zero).grid(on: schedule)
    }

    @Test("UniPC's own decisions as a solver schedule give UniPC's samples, bit for bit", arguments: [UniPC.Variant.bh1, .bh2])
    func defaultDecisionsAreUniPC(variant: UniPC.Variant) throws {
        let grid = try Self.karras(8)
        let decisions = SolverSchedule(grid: grid, schedule: Self.schedule, variant: variant)
        let (a, _) = try Self.run(try decisions.solver(), grid: try decisions.grid(on: Self.schedule))
        let (b, _) = try Self.run(UniPC(variant: variant, solverOrder: 3), grid: grid)
        #expect(a.scalars == b.scalars)
    }

    @Test("all-noise decisions equal UniPC in noise prediction; mixed decisions stay finite and converge")
    func mixedPredictions() throws {
        let grid = try Self.karras(8)
        let decisions = SolverSchedule(grid: grid, schedule: Self.schedule, prediction: .noise)
        let (a, _) = try Self.run(try decisions.solver(), grid: grid)
        let (b, _) = try Self.run(UniPC(variant: .bh1, solverOrder: 3, prediction: .noise), grid: grid)
        #expect(Compare.relativeRMS(a.scalars.map(Double.init), b.scalars.map(Double.init)) <= 1e-6)

        // Alternating prediction types keep UniPC-3's order with its corrector (4; as in the
        // UniPC convergence tests, a slope above 3.5 over 24–64 steps, where float32 is reached).
        let alternating = UniPC(variant: .bh1, solverOrder: 3, lowerOrderFinal: false,
                                stepPredictions: (0..<64).map { $0 % 2 == 0 ? .data : .noise })
        for (name, study) in ExponentialSolverTests.studies {
            let (order, errors) = try study.order(alternating, steps: [24, 32, 48, 64])
            #expect(order >= 3.5, "alternating predictions on \(name): fitted order \(order), errors \(errors)")
        }
    }

    @Test("a schedule with inconsistent decisions is refused with one line")
    func invalidSchedule() throws {
        var s = SolverSchedule(grid: try Self.karras(4), schedule: Self.schedule)
        s.orders = [1, 2, 4, 1]
        #expect(throws: SamplingError.self) { try s.solver() }
        s.orders = [1, 2]
        #expect(throws: SamplingError.self) { try s.solver() }
    }

    func search(seed: UInt64, generations: Int = 4, searchesPredictions: Bool = true, searchesTimeSteps: Bool = true) throws
        -> (EvolutionarySearch.Result, [SolverSchedule], SchedulingObjective) {
        let objective = SchedulingObjective(model: Self.model, schedule: Self.schedule, noise: Self.noise,
                                            groundTruth: GroundTruth(tolerance: 1e-8, cacheDirectory: nil))
        let fine = try StepSchedule(spacing: .logSNR, steps: 60, final: .zero).grid(on: Self.schedule)
        let seedSchedule = SolverSchedule(grid: try Self.karras(5), schedule: Self.schedule)
        var scored: [SolverSchedule] = []
        var search = EvolutionarySearch(population: 16, parents: 4, mutations: 8, crossovers: 4, generations: generations, seed: seed)
        search.searchesPredictions = searchesPredictions
        search.searchesTimeSteps = searchesTimeSteps
        let result = try search.search(fineGrid: fine, schedule: Self.schedule, steps: 5, seeds: [seedSchedule], score: {
            scored.append($0)
            return try objective.error($0)
        })
        return (result, scored, objective)
    }

    @Test("with the prediction types fixed, every candidate keeps the seed's data prediction while orders and correctors still move")
    func fixedPredictions() throws {
        let (_, scored, _) = try search(seed: 2, searchesPredictions: false)
        #expect(scored.allSatisfy { $0.predictions.allSatisfy { $0 == .data } })
        #expect(Set(scored.map(\.orders)).count > 1 && Set(scored.map(\.correctors)).count > 1)
        let (_, free, _) = try search(seed: 2)
        #expect(free.contains { $0.predictions.contains(.noise) })
    }

    @Test("with the time steps fixed, every candidate keeps the seed's steps while the decisions move")
    func fixedTimeSteps() throws {
        let (_, scored, _) = try search(seed: 3, searchesTimeSteps: false)
        let seedSigmas = SolverSchedule(grid: try Self.karras(5), schedule: Self.schedule).sigmas
        #expect(Set(scored.map(\.sigmas)).count == 1)
        #expect(zip(scored[0].sigmas, seedSigmas).allSatisfy { abs($0 - $1) <= 0.05 * max($1, 1e-3) }, "\(scored[0].sigmas) vs \(seedSigmas)")
        #expect(Set(scored.map(\.orders)).count > 1)
    }

    @Test("every candidate is strictly monotone, starts at the top, ends clean and uses exactly the budget")
    func candidatesKeepTheBudget() throws {
        let (result, scored, _) = try search(seed: 1)
        #expect(scored.count == result.evaluated && scored.count > 16)
        for s in scored + [result.best] {
            let grid = try s.grid(on: Self.schedule)
            #expect(grid.steps == 5 && grid.endsClean)
            #expect(zip(grid.levels, grid.levels.dropFirst()).allSatisfy { $0.lambda < $1.lambda })
            let (_, evaluations) = try Self.run(try s.solver(), grid: grid)
            #expect(evaluations == 5)
        }
    }

    @Test("the search lowers the tuning error below its seed's, and the same seed gives the same result")
    func lowersErrorDeterministically() throws {
        let (a, _, _) = try search(seed: 7)
        #expect(a.score < 0.8 * a.seedScore, "searched RMSE \(a.score) vs seed \(a.seedScore)")
        #expect(a.history == a.history.sorted(by: >), "best score per generation never rises: \(a.history)")
        let (b, _, _) = try search(seed: 7)
        #expect(a.best == b.best && a.score == b.score && a.evaluated == b.evaluated)
    }

    @Test("a deadline that has passed stops the search after its seeds, or before anything without seeds")
    func deadline() throws {
        let fine = try StepSchedule(spacing: .logSNR, steps: 20, final: .zero).grid(on: Self.schedule)
        let seed = SolverSchedule(grid: try Self.karras(4), schedule: Self.schedule)
        var scored = 0
        let late = try EvolutionarySearch().search(fineGrid: fine, schedule: Self.schedule, steps: 4, seeds: [seed],
                                                   score: { _ in scored += 1; return 1 }, deadline: ContinuousClock.now - .seconds(1))
        #expect(scored == 1 && late.stoppedByDeadline && late.generations == 0 && late.score == 1)
        #expect(throws: SamplingError.self) {
            try EvolutionarySearch().search(fineGrid: fine, schedule: Self.schedule, steps: 4, seeds: [], score: { _ in 1 },
                                            deadline: ContinuousClock.now - .seconds(1))
        }
        #expect(throws: SamplingError.self) {
            try EvolutionarySearch().search(fineGrid: fine, schedule: Self.schedule, steps: 25, seeds: [], score: { _ in 1 })
        }
    }
}
