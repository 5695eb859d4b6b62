/// A model that jumps (``FlowMapModel``) used as a consistency model: its clean estimate is the
/// jump to the data, the consistency function `f(x, t) = G(x, t, 0)` of Song et al. 2023
/// ("Consistency Models"). The samplers that read `x̂₀` (``ConsistencyMultistep``, ``LCM``) then
/// sample it as they sample a distilled network; with an `ExactFlowMap` of an exact model their
/// samples must follow the model's distribution exactly.
public struct ConsistencyFunction: DiffusionModel {
    public let flowMap: any FlowMapModel
    public let schedule: any NoiseSchedule

    public init(_ flowMap: any FlowMapModel, schedule: any NoiseSchedule) { self.flowMap = flowMap; self.schedule = schedule }

    public var sampleShape: [Int] { flowMap.sampleShape }
    public var parameterization: Parameterization { .data }
    public var name: String { "consistency function of \(flowMap.name)" }

    public func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        try flowMap.jump(x, from: level, to: schedule.cleanLevel, into: &output)
    }
}
