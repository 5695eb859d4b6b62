import Foundation
import DiffusionSolvers

extension SampleCommand {
    /// `--solver dmcmc`: Denoising MCMC (``DenoisingMCMC``) on a model with a noise-level classifier
    /// (the Gaussian mixtures, whose posterior over noise levels is exact). `--count` outputs come
    /// from `count / rounds` chains; `--dmcmc KEY=VALUE,...` sets the rest. Returns `false` for
    /// another solver.
    func sampleDMCMC(started: ContinuousClock.Instant) throws -> Bool {
        guard solver == "dmcmc" else {
            if dmcmc != nil { throw CLIError("--dmcmc sets the parameters of --solver dmcmc, not of \(solver ?? "the default solver")") }
            return false
        }
        let options = try DenoisingMCMC.Options(parsing: dmcmc ?? "")
        let modelSource: Set = ["--noise-schedule", "--scheduler-config", "--skip-scale"]
        let ignored = [("--steps", steps != nil), ("--time-shift", timeShift != nil)] + continuousFlags.filter { !modelSource.contains($0.name) }
        if let flag = ignored.first(where: \.set)?.name {
            throw CLIError("\(flag) does not apply to --solver dmcmc (its steps and levels are set with --dmcmc KEY=VALUE)")
        }
        let outputKind = try OutputKind(path: output)
        if let report { try OutputKind.checkDirectory(of: report) }
        let resolved = try source.resolve()
        let model = resolved.model
        try outputKind.check(for: model)
        guard let posterior = model as? any NoiseLevelPosterior else {
            throw CLIError("dmcmc needs a noise-level classifier; '\(model.name)' has none (the Gaussian-mixture models have an exact one)")
        }
        let total = count ?? (model.sampleShape == [2] ? 512 : 16)
        guard total >= 1, total % options.rounds == 0 else {
            throw CLIError("--count \(total) must be a positive multiple of the --dmcmc rounds (\(options.rounds)): each chain gives one sample per round")
        }
        let result = try DenoisingMCMC(options: options).run(model: model, posterior: posterior, schedule: resolved.schedule,
                                                             chains: total / options.rounds, seed: seed)
        try outputKind.write(result.samples, model: model, to: output)
        let seconds = (ContinuousClock.now - started).seconds
        if let report {
            let json: [String: Any] = ["model": model.name, "solver": "dmcmc", "schedule": resolved.schedule.name, "count": total,
                                       "chains": total / options.rounds, "seed": seed, "nfe_per_chain": result.evaluationsPerChain,
                                       "nfe_per_sample": result.evaluationsPerSample, "start_sigmas": result.startSigmas,
                                       "seconds": seconds, "output": output]
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: URL(fileURLWithPath: report))
        }
        let shape = model.sampleShape.map(String.init).joined(separator: "x")
        print("sampled \(total) x \(shape) from \(model.name) with dmcmc (\(total / options.rounds) chains x \(options.rounds) rounds) on "
              + "\(resolved.schedule.name): \(String(format: "%.1f", result.evaluationsPerSample)) model evaluations per sample, "
              + "\(String(format: "%.3f", seconds)) s")
        print("wrote \(output)")
        return true
    }
}
