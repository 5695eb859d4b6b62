import Foundation
import DiffusionCore
import DiffusionFormats

/// A mean-reverting (IR-SDE) network run by the package's U-Net runtime: a diffusers `UNet2DModel`
/// whose input is the noisy image `x_t` and the degraded image `μ` concatenated on channels
/// (`2C` in, `C` out), called with the training time `t` of ``MeanRevertingSchedule`` (fractional
/// between training timesteps), as IR-SDE conditions its network (Luo et al. 2023, Sec. 3).
///
/// A folder holds `config.json` and `diffusion_pytorch_model.safetensors` (as any UNet2DModel) and
/// `mean_reverting_config.json`: the schedule (`theta_schedule`, `training_steps`, `sigma_inf`,
/// `eps`), what the network predicts (`fit_target`: noise, data or velocity) and, for the reports,
/// the degradation it was trained to undo (`degradation`, `degradation_sigma`).
public struct UNetMeanRevertingModel: MeanRevertingModel {
    public let network: UNet2D
    public let name: String
    /// The schedule the network was trained on; sampling it on another one is refused by callers.
    public let schedule: MeanRevertingSchedule
    public let parameterization: MeanRevertingParameterization
    /// The degradation the network was trained on, as its config names it (e.g. `gaussian-noise`).
    public let degradation: String
    /// The standard deviation of the training degradation's noise, when it has one.
    public let degradationSigma: Double?
    private let workspaces = WorkspacePool()

    private struct Config: Decodable {
        var theta_schedule: String
        var training_steps: Int
        var sigma_inf: Double
        var eps: Double
        var fit_target: String
        var degradation: String
        var degradation_sigma: Double?
    }

    /// Loads the network in `directory`.
    /// - Throws: one line naming the file and the field that is missing or does not fit.
    public init(directory: URL, name: String? = nil) throws {
        let folder = directory.lastPathComponent
        func read(_ file: String) throws -> Data {
            let url = directory.appendingPathComponent(file)
            do { return try Data(contentsOf: url) } catch { throw ModelError("\(folder)/\(file): cannot read '\(url.path)'") }
        }
        let config: Config
        do { config = try JSONDecoder().decode(Config.self, from: try read("mean_reverting_config.json")) } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError("\(folder)/mean_reverting_config.json: needs theta_schedule, training_steps, sigma_inf, eps, fit_target and degradation")
        }
        guard let theta = MeanRevertingSchedule.ThetaSchedule(rawValue: config.theta_schedule) else {
            throw ModelError("\(folder)/mean_reverting_config.json: unknown theta_schedule '\(config.theta_schedule)' (known: cosine, linear, constant)")
        }
        guard let fit = MeanRevertingParameterization(rawValue: config.fit_target) else {
            throw ModelError("\(folder)/mean_reverting_config.json: unknown fit_target '\(config.fit_target)' (known: noise, data, velocity)")
        }
        let schedule: MeanRevertingSchedule
        do {
            schedule = try MeanRevertingSchedule(thetaSchedule: theta, trainingSteps: config.training_steps,
                                                 sigmaInfinity: config.sigma_inf, terminalAlpha: config.eps)
        } catch {
            throw ModelError("\(folder)/mean_reverting_config.json: \(error)")
        }
        let network = try UNet2D(folder: directory)
        try self.init(network: network, name: name ?? folder, schedule: schedule, parameterization: fit,
                      degradation: config.degradation, degradationSigma: config.degradation_sigma)
    }

    /// A model from a network built in code.
    /// - Throws: `ModelError` when the network does not take twice the channels it gives, or has class labels.
    public init(network: UNet2D, name: String, schedule: MeanRevertingSchedule, parameterization: MeanRevertingParameterization,
                degradation: String, degradationSigma: Double? = nil) throws {
        let c = network.configuration
        guard c.inChannels == 2 * c.outChannels else {
            throw ModelError("\(name): a mean-reverting network takes [x_t, mu] (2C channels) and gives C; it has \(c.inChannels) in and \(c.outChannels) out")
        }
        guard c.classEmbeddingCount == nil else {
            throw ModelError("\(name): a mean-reverting network is conditioned on mu only; this one has class labels")
        }
        self.network = network
        self.name = name
        self.schedule = schedule
        self.parameterization = parameterization
        self.degradation = degradation
        self.degradationSigma = degradationSigma
    }

    public var sampleShape: [Int] { [network.configuration.outChannels] + network.configuration.sampleSize }
    public var sigmaInfinity: Double { schedule.sigmaInfinity }

    public func predict(_ x: SampleTensor, mean mu: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
        guard x.sampleShape == sampleShape, mu.shape == x.shape else {
            throw ModelError("\(name): x \(x.shape) and mu \(mu.shape) must both be [B] + \(sampleShape)")
        }
        let d = x.sampleShape.reduce(1, *), batch = x.batchSize
        var input = SampleTensor(zeros: [batch, 2 * sampleShape[0]] + Array(sampleShape.dropFirst()))
        input.scalars.withUnsafeMutableBufferPointer { joined in
            for b in 0..<batch {
                for i in 0..<d {
                    joined[2 * b * d + i] = x.scalars[b * d + i]
                    joined[(2 * b + 1) * d + i] = mu.scalars[b * d + i]
                }
            }
        }
        let workspace = workspaces.take()
        defer { workspaces.put(workspace) }
        try network.forward(input, timesteps: Array(repeating: Float(level.t), count: batch), workspace: workspace, into: &output)
    }
}
