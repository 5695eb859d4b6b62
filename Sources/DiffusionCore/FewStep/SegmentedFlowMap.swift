/// A model distilled per segment of the time axis, the trajectory-segmented consistency models of
/// Hyper-SD (Ren et al. 2024, "Hyper-SD: Trajectory Segmented Consistency Model for Efficient
/// Image Synthesis") and the multistep models of SCott (Liu et al. 2024, "SCott: Accelerating
/// Diffusion Models with Stochastic Consistency Distillation"). The boundaries are data,
/// `b₀ > b₁ > … > b_k` in the user-facing sigma (`b_k = 0` for a model that reaches the data);
/// segment `i` covers `b_{i+1} ≤ τ ≤ bᵢ`, and its model only jumps inside it. A jump across
/// segments is the chain of in-segment jumps through the boundaries between:
/// ```
/// G(x, t, s) = G_j( … G_{i+1}(G_i(x, t, b_{i+1}), b_{i+1}, b_{i+2}) …, b_j, s)
/// ```
/// Sampling such a model is ``ConsistencyTrajectorySampler`` on it: γ = 0 on the boundaries'
/// grid (``grid(on:)``) is Hyper-SD's k-step deterministic sampling (one in-segment jump per step),
/// γ = 1 SCott's stochastic multistep form (jump to the data, fresh noise to the next level).
public struct SegmentedFlowMap: FlowMapModel {
    /// The in-segment jumps (a network distilled per segment, or an exact flow map).
    public let segmentModel: any FlowMapModel
    public let boundaries: [Double]
    public let schedule: any NoiseSchedule

    /// - Throws: ``ScheduleError`` unless the boundaries strictly decrease and are not negative.
    public init(_ segmentModel: any FlowMapModel, boundaries: [Double], schedule: any NoiseSchedule) throws {
        guard boundaries.count >= 2, boundaries.allSatisfy({ $0 >= 0 && $0.isFinite }),
              zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 > $1 }) else {
            throw ScheduleError("segment boundaries must be at least two strictly decreasing sigmas >= 0, got \(boundaries)")
        }
        self.segmentModel = segmentModel; self.boundaries = boundaries; self.schedule = schedule
    }

    public var sampleShape: [Int] { segmentModel.sampleShape }
    public var name: String { "\(segmentModel.name), \(boundaries.count - 1) segments" }

    /// The grid of the boundaries: one step per segment.
    public func grid(on schedule: any NoiseSchedule) throws -> TimeGrid {
        try TimeGrid(levels: boundaries.map { schedule.level(sigma: $0) })
    }

    /// The levels a jump from `from` to `to` passes through: its ends and the boundaries strictly between them.
    public func path(from: NoiseLevel, to: NoiseLevel) -> [NoiseLevel] {
        let top = schedule.displaySigma(from), bottom = to.isClean ? 0 : schedule.displaySigma(to)
        return [from] + boundaries.filter { $0 < top && $0 > bottom }.map { schedule.level(sigma: $0) } + [to]
    }

    public func jump(_ x: SampleTensor, from: NoiseLevel, to: NoiseLevel, into output: inout SampleTensor) throws {
        let levels = path(from: from, to: to)
        var current = x
        for (a, b) in zip(levels, levels.dropFirst()) {
            try segmentModel.jump(current, from: a, to: b, into: &output)
            current = output
        }
        if levels.count < 2 { output.assign(x) }
    }
}
