
extension Solver {
    /// The largest step count whose grid makes this solver use at most `budget` model evaluations,
    /// with that grid; `nil` when even one step needs more (or the solver sets its own steps).
    ///
    /// Evaluations are counted by ``Solver/evaluations(on:)`` on the actual grid, so final-step and
    /// warm-up rules of each solver are respected.
    public func steps(forBudget budget: Int, grid makeGrid: (Int) throws -> TimeGrid) rethrows -> (steps: Int, grid: TimeGrid)? {
        guard budget >= 1 else { return nil }
        var steps = budget
        while steps >= 1 {
            let grid = try makeGrid(steps)
            if evaluations(on: grid) <= budget { return (steps, grid) }
            steps -= 1
        }
        return nil
    }
}
