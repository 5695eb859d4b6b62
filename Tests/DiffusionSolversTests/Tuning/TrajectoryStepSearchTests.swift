import Testing
@testable import DiffusionSolvers

@Suite("Trajectory step search (GITS-style)")
struct TrajectoryStepSearchTests {
    static let schedule = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
    static let costs = try! TrajectoryStepSearch(fineSteps: 10).costs(
        model: BuiltInModels.ring, schedule: schedule, noise: SeededNoise(seed: 3).initialNoise(shape: [32, 2]))

    @Test("dynamic programming finds the cheapest path, checked against every path")
    func bruteForce() throws {
        let m = Self.costs.grid.steps
        for steps in 1...4 {
            let (path, cost) = try Self.costs.bestPath(steps: steps)
            // Every increasing path 0 = i₀ < i₁ < … < i_steps = m.
            var best = Double.infinity
            func visit(_ path: [Int]) {
                if path.count == steps {
                    let full = path + [m]
                    best = min(best, zip(full, full.dropFirst()).map { Self.costs.c($0, $1) }.reduce(0, +))
                    return
                }
                for next in (path.last! + 1)..<m where m - next >= steps - path.count { visit(path + [next]) }
            }
            visit([0])
            #expect(abs(cost - best) <= 1e-12 * best, "\(steps) steps: \(cost) vs brute force \(best)")
            #expect(path.first == 0 && path.last == m && path.count == steps + 1)
            #expect(zip(path, path.dropFirst()).allSatisfy { $0 < $1 })
        }
    }

    @Test("the searched grid keeps the budget, starts at the top, ends clean, and is the same every time")
    func grids() throws {
        for steps in [2, 5, 9] {
            let grid = try Self.costs.grid(steps: steps)
            #expect(grid.steps == steps && grid.endsClean)
            #expect(grid[0] == Self.costs.grid[0])
            #expect(zip(grid.levels, grid.levels.dropFirst()).allSatisfy { $0.sigma > $1.sigma })
        }
        let again = try TrajectoryStepSearch(fineSteps: 10).costs(
            model: BuiltInModels.ring, schedule: Self.schedule, noise: SeededNoise(seed: 3).initialNoise(shape: [32, 2]))
        #expect(again.cost == Self.costs.cost)
        #expect(throws: SamplingError.self) { try Self.costs.bestPath(steps: 11) }
    }

    @Test("longer jumps from the start cost more: the trajectory curves away from one DDIM step")
    func costsGrow() {
        let c = Self.costs
        // From the first point, longer jumps cost more (the trajectory curves away from the line).
        #expect(c.c(0, 1) < c.c(0, 5) && c.c(0, 5) < c.c(0, c.grid.steps))
    }
}
