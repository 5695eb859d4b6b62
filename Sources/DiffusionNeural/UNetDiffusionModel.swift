import Foundation
import DiffusionCore
import DiffusionFormats

/// A diffusers `UNet2DModel` folder as a diffusion model: `config.json`, `diffusion_pytorch_model.safetensors`
/// and the training schedule's `scheduler_config.json` (a discrete VP config such as `DDPMScheduler`,
/// or a rectified-flow `FlowMatchEulerDiscreteScheduler` config).
///
/// ``schedule`` is the schedule it was trained on, and the network receives the level as
/// ``timestepConvention`` says: a VP network its training timestep `t` (fractional on continuous
/// grids), a flow network `1000·t` as diffusers' flow schedulers pass it (`timestep = σ·1000`,
/// `x = (1 − σ)·x₀ + σ·ε`). What the network predicts is the scheduler config's `prediction_type`
/// (`epsilon` → `Parameterization.noise`, `v_prediction` → `Parameterization.velocity`, `sample` →
/// `Parameterization.data`; a FlowMatch config is `Parameterization.flowVelocity`, `v = ε − x₀`). A class-conditional network (`num_class_embeds` N)
/// has classes `0..<N−1`; its last label N−1 is the null label trained with label dropout, used for
/// the unconditional prediction (`classLabel: nil`) of classifier-free guidance.
///
/// A value type that can be shared between threads: evaluations take a ``NeuralWorkspace`` from a
/// pool behind a lock (one per concurrent caller, kept for reuse), so repeated evaluations at one
/// batch size allocate no activation memory.
public struct UNetDiffusionModel: ConditionalDiffusionModel, ScheduledDiffusionModel, SkipScalableModel, Fingerprinted, TunedDiffusionModel {
    public let network: UNet2D
    public let schedulerConfig: DiffusersSchedulerConfig
    /// The training noise schedule (from ``schedulerConfig``): `DiscreteVPSchedule` or `RectifiedFlowSchedule`.
    public let schedule: any NoiseSchedule
    /// The number the network takes for a noise level: `.time` on a VP schedule, `.sigmaTimes1000` on flow.
    public let timestepConvention: TimestepConvention
    public let name: String
    /// Skip-Tuning factors, one per resolution level, outermost first (see ``UNet2D``); all 1 as loaded.
    public private(set) var skipScales: [Double]
    private var skipFactors: [Float]
    private let workspaces = WorkspacePool()
    /// The fingerprint of the files the model was loaded from; `nil` for a network built in code.
    private var filesFingerprint: UInt64?
    /// The folder's tuned configurations (`tuned.json`, `ModelTuning`), if it has them.
    public private(set) var tuning: ModelTuning?

    /// Loads a model folder, with its tuned configurations when it has a `tuned.json`; `name`
    /// defaults to the folder's name.
    ///
    /// - Throws: a one-line error naming the file (and the tensor or field) that is missing, truncated,
    ///   or does not fit: `ModelError` for the configuration, weights and tuned configurations,
    ///   `ScheduleError` for the scheduler config.
    public init(directory: URL, name: String? = nil) throws {
        let folder = directory.lastPathComponent
        // Each file is read once: parsed, and mixed into the fingerprint.
        func contents(_ file: String, failure: (String) -> any Error) throws -> Data {
            let url = directory.appendingPathComponent(file)
            do { return try Data(contentsOf: url) } catch { throw failure("cannot read '\(url.path)'") }
        }
        let configData = try contents("config.json") { ModelError("\(folder)/config.json: \($0)") }
        let configuration: UNet2DConfiguration
        do {
            configuration = try UNet2DConfiguration(json: configData)
        } catch let error as ModelError {
            throw ModelError("\(folder)/\(error.description)")
        }
        let weightsName = "\(folder)/diffusion_pytorch_model.safetensors"
        let weightsData = try contents("diffusion_pytorch_model.safetensors") { ModelError("\(weightsName): safetensors: \($0)") }
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(data: weightsData)
        } catch let error as FileFormatError {
            throw ModelError("\(weightsName): \(error.description)")
        }
        let network = try UNet2D(configuration: configuration, weights: file, fileName: weightsName)
        let schedulerData = try contents("scheduler_config.json") { ScheduleError("\(folder)/scheduler_config.json: scheduler config: \($0)") }
        let schedulerConfig: DiffusersSchedulerConfig
        do {
            schedulerConfig = try DiffusersSchedulerConfig(json: schedulerData)
        } catch let error as ScheduleError {
            throw ScheduleError("\(folder)/scheduler_config.json: \(error.description)")
        }
        try self.init(network: network, schedulerConfig: schedulerConfig, name: name ?? folder)
        var h = FNV1a()
        for data in [configData, weightsData, schedulerData] { h.add(words: data) }
        filesFingerprint = h.value
        do { tuning = try ModelTuning(directory: directory) } catch { throw ModelError("\(error)") }
    }

    /// Names the weights, configuration and schedule (the files' contents) and the skip scales, so
    /// ground-truth solutions of a loaded network are cached on disk; `nil` for a network built in code.
    public var fingerprint: UInt64? {
        guard let filesFingerprint else { return nil }
        var h = FNV1a()
        h.add([filesFingerprint])
        h.add(skipScales)
        return h.value
    }

    /// A model from a network and its training schedule.
    ///
    /// - Throws: `ModelError` when the network's output does not have its input's channels;
    ///   `ScheduleError` for a flow config with `num_train_timesteps` other than 1000.
    public init(network: UNet2D, schedulerConfig: DiffusersSchedulerConfig, name: String) throws {
        let c = network.configuration
        guard c.outChannels == c.inChannels else {
            throw ModelError("\(name): out_channels \(c.outChannels) differs from in_channels \(c.inChannels); a diffusion model predicts its input's shape")
        }
        self.network = network
        self.schedulerConfig = schedulerConfig
        if schedulerConfig.flow != nil {
            guard schedulerConfig.numTrainTimesteps == 1000 else {
                throw ScheduleError("\(name): a flow network's num_train_timesteps must be 1000 (it is called with timestep σ·1000), got \(schedulerConfig.numTrainTimesteps)")
            }
            timestepConvention = .sigmaTimes1000
        } else {
            timestepConvention = .time
        }
        schedule = try schedulerConfig.noiseSchedule()
        self.name = name
        skipScales = Array(repeating: 1, count: c.levels)
        skipFactors = Array(repeating: 1, count: c.levels)
    }

    /// The number of resolution levels (`block_out_channels`), one skip scale each.
    public var skipLevelCount: Int { network.configuration.levels }

    /// The same model with its skip connections scaled by `scales`, outermost level first.
    ///
    /// - Throws: `ModelError` when there is not one finite factor per level.
    public func withSkipScales(_ scales: [Double]) throws -> UNetDiffusionModel {
        guard scales.count == skipLevelCount, scales.allSatisfy(\.isFinite) else {
            throw ModelError("\(name): skip scales \(scales) are not \(skipLevelCount) finite factors (one per resolution level)")
        }
        var model = self
        model.skipScales = scales
        model.skipFactors = scales.map(Float.init)
        return model
    }

    public var sampleShape: [Int] { [network.configuration.inChannels] + network.configuration.sampleSize }
    public var parameterization: Parameterization { schedulerConfig.predictionType }
    /// `num_class_embeds − 1` (the last embedding is the null label), 0 for an unconditional network.
    public var classCount: Int { (network.configuration.classEmbeddingCount ?? 1) - 1 }

    public func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        try predict(x, at: level, classLabel: nil, into: &output)
    }

    public func predict(_ x: SampleTensor, at level: NoiseLevel, classLabel: Int?, into output: inout SampleTensor) throws {
        guard x.sampleShape == sampleShape else {
            throw ModelError("\(name): sample shape \(x.sampleShape) does not fit the model's \(sampleShape)")
        }
        var labels: [Int]?
        if let classCount = network.configuration.classEmbeddingCount {
            let label = classLabel ?? classCount - 1
            guard classLabel == nil || (0..<(classCount - 1)).contains(label) else {
                throw ModelError("\(name): class \(label) is not a label of the model (labels 0...\(classCount - 2))")
            }
            labels = Array(repeating: label, count: x.batchSize)
        } else if let classLabel {
            throw ModelError("\(name): class \(classLabel) given, but the model has no labels")
        }
        let timesteps = Array(repeating: Float(timestepConvention.timeStep(for: level, schedule: schedule)), count: x.batchSize)
        let workspace = workspaces.take()
        defer { workspaces.put(workspace) }
        try network.forward(x, timesteps: timesteps, classLabels: labels, skipScales: skipFactors, workspace: workspace, into: &output)
    }
}

/// Workspaces for concurrent evaluations of one model: taken and returned under a lock.
package final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    private var available: [NeuralWorkspace] = []

    package init() {}

    package func take() -> NeuralWorkspace {
        lock.withLock { available.popLast() } ?? NeuralWorkspace()
    }

    package func put(_ workspace: NeuralWorkspace) {
        lock.withLock { available.append(workspace) }
    }
}
