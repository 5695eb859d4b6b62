/// The noise levels a sampling run visits: `levels[0]` is where it starts, `levels[i] → levels[i+1]`
/// is step `i`, and `levels.last` is where it ends (the clean level `σ = 0`, or the schedule's
/// smallest sigma).
public struct TimeGrid: Sendable, Equatable {
    public let levels: [NoiseLevel]

    /// Creates a grid, checking that noise strictly decreases (`λ` strictly increases).
    public init(levels: [NoiseLevel]) throws {
        guard levels.count >= 2 else { throw ScheduleError("a sampling grid needs at least two noise levels") }
        for i in 1..<levels.count where !(levels[i].lambda > levels[i - 1].lambda) {
            throw ScheduleError("noise levels must strictly decrease, but level \(i) (\(levels[i])) is not below level \(i - 1) (\(levels[i - 1]))")
        }
        for (i, level) in levels.enumerated().dropLast() where level.isClean {
            throw ScheduleError("only the last noise level may be 0, but level \(i) is")
        }
        self.levels = levels
    }

    /// The number of steps (`levels.count − 1`).
    public var steps: Int { levels.count - 1 }
    /// Whether the run ends at `σ = 0`.
    public var endsClean: Bool { levels.last?.isClean == true }
    public subscript(i: Int) -> NoiseLevel { levels[i] }
}
