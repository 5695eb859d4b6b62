import DiffusionSolvers

/// A model that records the noise levels it is evaluated at and answers with `base`'s predictions:
/// what the parity tests compare with the model-call sigmas a reference recorded.
public final class LevelRecordingModel: DiffusionModel, @unchecked Sendable {
    public let base: any DiffusionModel
    public private(set) var levels: [NoiseLevel] = []
    public init(_ base: any DiffusionModel) { self.base = base }
    public var sampleShape: [Int] { base.sampleShape }
    public var parameterization: Parameterization { base.parameterization }
    public var name: String { base.name }
    /// The VE-frame sigma `σ/α` of every call, as k-diffusion and ComfyUI state them.
    public var sigmas: [Double] { levels.map { $0.sigma / $0.alpha } }
    public func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        levels.append(level)
        try base.predict(x, at: level, into: &output)
    }
}
