import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse sample`'s inference-time steering flags: FK steering and SVDD with a reward.
struct SteeringOptions: ParsableArguments {
    @Option(help: "Inference-time steering: fk (Feynman-Kac particles, Singhal et al. 2025) or svdd (soft value-based decoding, Li et al. 2024).")
    var steer: String?

    @Option(parsing: .unconditional, help: "Particles (candidates) per sample for --steer; NFE is particles x steps.")
    var particles: Int?

    @Option(help: "Reward of the clean estimate: linear:FILE.npy (w.x, w of the sample's size), class:C (the shipped classifier's log-probability of class C) or minority:SIGMA (the minority score: reconstruction error after noising to SIGMA).")
    var reward: String?

    @Option(parsing: .unconditional, help: "Reward scale lambda: the target is p(x) exp(lambda r(x)) (default 1).")
    var rewardScale: Double?

    @Option(help: "FK potential: difference (default), max or sum.")
    var potential: String?

    @Option(parsing: .unconditional, help: "FK: resample every N steps (default 1).")
    var resampleEvery: Int?

    @Option(help: "FK: the final sample is drawn from the particles by weight (sample, default) or is the best reward (best).")
    var select: String?

    /// The steering method the flags name, or `nil` without `--steer`.
    func steering(for model: any DiffusionModel, sampled: any DiffusionModel, schedule: any NoiseSchedule, seed: UInt64) throws -> (any ParticleSteering)? {
        guard let steer else {
            if particles != nil || reward != nil || rewardScale != nil || potential != nil || resampleEvery != nil || select != nil {
                throw CLIError("--particles, --reward, --reward-scale, --potential, --resample-every and --select need --steer")
            }
            return nil
        }
        let k = particles ?? 4
        guard k >= 1, k <= 4096 else { throw CLIError("--particles must be between 1 and 4096, got \(k)") }
        guard let reward else { throw CLIError("--steer needs --reward (linear:FILE.npy or class:C)") }
        let scale = rewardScale ?? 1
        guard scale.isFinite else { throw CLIError("--reward-scale must be a finite number, got \(scale)") }
        let parsed = try Self.reward(reward, for: model, sampled: sampled, schedule: schedule, seed: seed)
        switch steer {
        case "fk":
            guard let potential = FeynmanKacSteering.Potential(rawValue: potential ?? "difference") else {
                throw CLIError("unknown --potential '\(potential ?? "")' (known: difference, max, sum)")
            }
            guard let selection = FeynmanKacSteering.Selection(rawValue: select ?? "sample") else {
                throw CLIError("unknown --select '\(select ?? "")' (known: sample, best)")
            }
            let every = resampleEvery ?? 1
            guard every >= 1 else { throw CLIError("--resample-every must be at least 1, got \(every)") }
            return try FeynmanKacSteering(particles: k, reward: parsed, scale: scale, potential: potential, resampleEvery: every, selection: selection)
        case "svdd":
            if potential != nil || resampleEvery != nil || select != nil {
                throw CLIError("--potential, --resample-every and --select apply to --steer fk only")
            }
            return try SoftValueDecoding(particles: k, reward: parsed, scale: scale)
        default:
            throw CLIError("unknown --steer '\(steer)' (known: fk, svdd)")
        }
    }

    /// `linear:FILE.npy` or `class:C`.
    static func reward(_ text: String, for model: any DiffusionModel, sampled: any DiffusionModel, schedule: any NoiseSchedule,
                       seed: UInt64) throws -> any Reward {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else { throw CLIError("--reward '\(text)': expected KIND:VALUE (linear:FILE.npy or class:C)") }
        switch parts[0] {
        case "linear":
            let path = parts[1]
            guard FileManager.default.fileExists(atPath: path) else { throw CLIError("--reward: no such file '\(path)'") }
            let array: NPYArray
            do { array = try NPYArray(contentsOf: URL(fileURLWithPath: path)) } catch { throw CLIError("--reward '\(path)': \(error)") }
            let dimension = model.sampleShape.reduce(1, *)
            guard array.shape.reduce(1, *) == dimension else {
                throw CLIError("--reward '\(path)': w has shape \(array.shape) (\(array.shape.reduce(1, *)) values); the model's samples have \(dimension)")
            }
            do { return try LinearReward(weights: array.float32Values.map(Double.init), name: text) } catch { throw CLIError("--reward '\(path)': \(error)") }
        case "class":
            guard let target = Int(parts[1]) else { throw CLIError("--reward '\(text)': '\(parts[1])' is not a class number") }
            guard let classifier = try BuiltInModels.classifier(for: model.name) else {
                throw CLIError("--reward class:C needs a shipped classifier for the model; '\(model.name)' has none")
            }
            do { return try ClassifierReward(classifier: classifier, target: target) } catch { throw CLIError("--reward: \(error)") }
        case "minority":
            guard let sigma = Double(parts[1]), sigma.isFinite, sigma > 0 else {
                throw CLIError("--reward '\(text)': minority:SIGMA needs a positive noise level, got '\(parts[1])'")
            }
            do { return try MinorityReward(model: sampled, level: schedule.level(sigma: sigma), seed: seed) } catch { throw CLIError("--reward: \(error)") }
        default:
            throw CLIError("unknown --reward kind '\(parts[0])' (known: linear, class, minority)")
        }
    }
}
