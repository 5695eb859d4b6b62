import DiffusionCore

/// The probability-flow ODE's own flow map of any diffusion model, `G(x_t, t, s)` = the ODE's
/// solution from `x_t` at `t` to `s`, computed by the ground-truth integrator (``ReferenceSolver``,
/// Dormand–Prince 5(4) at a tight tolerance). For an exact model (a `GaussianMixture`) this is an
/// exact consistency / trajectory model: jumping from the prior to `σ = 0` transports the noise
/// distribution onto the data distribution, which makes every flow-map sampler testable against
/// the exact distribution rather than only against a peer's arithmetic.
public struct ExactFlowMap: FlowMapModel {
    public let model: any DiffusionModel
    public let schedule: any NoiseSchedule
    public var solver: ReferenceSolver

    public init(model: any DiffusionModel, schedule: any NoiseSchedule, solver: ReferenceSolver = ReferenceSolver(relativeTolerance: 1e-8, absoluteTolerance: 1e-8)) {
        self.model = model; self.schedule = schedule; self.solver = solver
    }

    public var sampleShape: [Int] { model.sampleShape }
    public var name: String { "flow map of \(model.name)" }

    public func jump(_ x: SampleTensor, from: NoiseLevel, to: NoiseLevel, into output: inout SampleTensor) throws {
        guard to.lambda > from.lambda else { output.assign(x); return }
        output = try solver.solve(model: model, schedule: schedule, x: x, from: from, to: to).tensor
    }
}
