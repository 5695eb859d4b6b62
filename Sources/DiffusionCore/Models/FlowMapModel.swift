/// A model that jumps along the probability-flow ODE: given `x_t` at level `t`, it returns
/// `x_s = G(x_t, t, s)` at any level `s` below `t` (Kim et al. 2024, "Consistency Trajectory
/// Models"; Boffi et al. 2024, "Flow Map Matching"). A consistency model is the case `s = 0`
/// (Song et al. 2023, "Consistency Models"). Few-step samplers built on jumps
/// (``ConsistencyTrajectorySampler``) take one of these in place of a denoiser.
public protocol FlowMapModel: Sendable {
    /// The shape of one sample, for example `[2]` or `[1, 8, 8]`.
    var sampleShape: [Int] { get }
    /// A short description for reports.
    var name: String { get }
    /// Writes `G(x, from, to)` for the batch `x` into `output` (same shape); `to` may be the clean level.
    func jump(_ x: SampleTensor, from: NoiseLevel, to: NoiseLevel, into output: inout SampleTensor) throws
}
