import ArgumentParser
import Foundation
import DiffusionSolvers

/// The options that name the model and its noise schedule, shared by `sample` and `compare`.
struct ModelOptions: ParsableArguments {
    @Option(help: "A Gaussian-mixture .safetensors file or a built-in model name.")
    var model: String = BuiltInModels.names[0]

    @Option(help: "Noise schedule: vp-linear, vp-cosine, edm or flow (default edm).")
    var noiseSchedule: String?

    @Option(help: "A diffusers scheduler_config.json (a discrete VP schedule) instead of --noise-schedule.")
    var schedulerConfig: String?

    /// The model, its noise schedule, and the diffusers config the schedule came from (if any).
    func resolve() throws -> (GaussianMixture, any NoiseSchedule, DiffusersSchedulerConfig?) {
        let mixture = try ModelResolution.model(model)
        let (schedule, config) = try ScheduleResolution.schedule(name: noiseSchedule, configPath: schedulerConfig)
        return (mixture, schedule, config)
    }
}

/// Turns `--model PATH|NAME` into a model.
enum ModelResolution {
    static func model(_ argument: String) throws -> GaussianMixture {
        if let builtIn = BuiltInModels.model(named: argument) { return builtIn }
        let url = URL(fileURLWithPath: argument)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIError("unknown model '\(argument)': not a file and not a built-in model (\(BuiltInModels.names.joined(separator: ", ")))")
        }
        return try GaussianMixture(contentsOf: url)
    }
}

/// Turns `--noise-schedule` / `--scheduler-config` into a schedule.
enum ScheduleResolution {
    static let names = ["vp-linear", "vp-cosine", "edm", "flow"]

    static func schedule(name: String?, configPath: String?) throws -> (any NoiseSchedule, DiffusersSchedulerConfig?) {
        if let configPath {
            if name != nil { throw CLIError("give either --noise-schedule or --scheduler-config, not both") }
            let config = try DiffusersSchedulerConfig(contentsOf: URL(fileURLWithPath: configPath))
            return (try config.schedule(), config)
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
