import ArgumentParser
import Foundation
import DiffusionSolvers

/// The options that name the model and its noise schedule, shared by `sample` and `compare`.
struct ModelOptions: ParsableArguments {
    @Option(help: "A built-in model name, a Gaussian-mixture or (discrete) categorical-mixture .safetensors file, or a diffusers UNet2DModel folder (config.json, diffusion_pytorch_model.safetensors, scheduler_config.json).")
    var model: String = BuiltInModels.defaultName

    @Option(help: "Noise schedule of a mixture: vp-linear, vp-cosine, edm or flow (default edm). A trained network uses its own.")
    var noiseSchedule: String?

    @Option(help: "A diffusers scheduler_config.json (a discrete VP schedule, or a FlowMatch or use_flow_sigmas flow config) instead of --noise-schedule or the network's own.")
    var schedulerConfig: String?

    @Option(help: "Skip-Tuning: scale a U-Net's skip connections, one factor per resolution level, outermost first (e.g. 1,0.95,0.9).")
    var skipScale: String?

    /// The model with its noise schedule.
    func resolve() throws -> ResolvedModel {
        var model = try ModelResolution.model(model)
        if let skipScale {
            guard let network = model as? any SkipScalableModel else {
                throw CLIError("--skip-scale needs a U-Net; '\(model.name)' has no skip connections")
            }
            model = try network.withSkipScales(try SampleCommand.numbers(skipScale, flag: "--skip-scale"))
        }
        if let trained = model as? any ScheduledDiffusionModel {
            if noiseSchedule != nil {
                throw CLIError("model '\(model.name)' was trained on its own schedule; --noise-schedule applies to mixtures only (use --scheduler-config to override it)")
            }
            if schedulerConfig == nil {
                return ResolvedModel(model: model, schedule: try trained.schedulerConfig.noiseSchedule(), config: trained.schedulerConfig)
            }
        }
        let (schedule, config) = try ScheduleResolution.schedule(name: noiseSchedule, configPath: schedulerConfig)
        return ResolvedModel(model: model, schedule: schedule, config: config)
    }
}

/// A model ready to sample: the network or mixture, the schedule it is sampled on, and the
/// diffusers configuration that schedule came from (if any).
struct ResolvedModel {
    var model: any DiffusionModel
    var schedule: any NoiseSchedule
    var config: DiffusersSchedulerConfig?

    /// The number of values in one sample.
    var dimension: Int { model.sampleShape.reduce(1, *) }
}

/// Turns `--model PATH|NAME` into a model.
enum ModelResolution {
    static func model(_ argument: String) throws -> any DiffusionModel {
        if let builtIn = try BuiltInModels.model(named: argument) { return builtIn }
        if CategoricalMixture.builtIn(named: argument) != nil { throw CLIError(discreteOnly(argument)) }
        let url = URL(fileURLWithPath: argument)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CLIError("unknown model '\(argument)': not a file and not a built-in model (\(BuiltInModels.names.joined(separator: ", ")))")
        }
        if isDirectory.boolValue { return try UNetDiffusionModel(directory: url) }
        if CategoricalMixture.isCategoricalMixture(url) { throw CLIError(discreteOnly(argument)) }
        return try GaussianMixture(contentsOf: url)
    }

    /// The categorical mixture (masked diffusion's exact model) `argument` names, or `nil` if it
    /// names a continuous model: a built-in name, or a safetensors file with `kind: categorical-mixture`.
    static func discreteModel(_ argument: String) throws -> CategoricalMixture? {
        if let builtIn = CategoricalMixture.builtIn(named: argument) { return builtIn }
        let url = URL(fileURLWithPath: argument)
        guard CategoricalMixture.isCategoricalMixture(url) else { return nil }
        return try CategoricalMixture(contentsOf: url)
    }

    /// The masked-diffusion network `argument` names: a built-in name or a folder with a
    /// `masked_config.json`; `nil` for anything else.
    static func maskedNetwork(_ argument: String) throws -> UNetMaskedModel? {
        if let directory = BuiltInModels.maskedNetworkDirectory(named: argument) {
            return try UNetMaskedModel(directory: directory, name: argument)
        }
        let url = URL(fileURLWithPath: argument, isDirectory: true)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("masked_config.json").path) else { return nil }
        return try UNetMaskedModel(directory: url)
    }

    static func discreteOnly(_ argument: String) -> String {
        "'\(argument)' is a discrete categorical mixture: only `diffuse sample` and `diffuse compare-discrete` take it"
    }
}

/// Turns `--noise-schedule` / `--scheduler-config` into a schedule.
enum ScheduleResolution {
    static let names = ["vp-linear", "vp-cosine", "edm", "flow"]

    static func schedule(name: String?, configPath: String?) throws -> (any NoiseSchedule, DiffusersSchedulerConfig?) {
        if let configPath {
            if name != nil { throw CLIError("give either --noise-schedule or --scheduler-config, not both") }
            let config = try DiffusersSchedulerConfig(contentsOf: URL(fileURLWithPath: configPath))
            return (try config.noiseSchedule(), config)
        }
        switch name ?? "edm" {
        case "vp-linear": return (ContinuousVPSchedule.linear(), nil)
        case "vp-cosine": return (ContinuousVPSchedule.cosine, nil)
        case "edm": return (VESchedule(), nil)
        case "flow": return (RectifiedFlowSchedule(), nil)
        case let other:
            throw CLIError("unknown noise schedule '\(other)' (known: \(names.joined(separator: ", ")); or use --scheduler-config FILE)")
        }
    }
}
