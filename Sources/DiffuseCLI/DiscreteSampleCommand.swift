import Foundation
import DiffusionSolvers

/// `diffuse sample` on a discrete model (a categorical mixture): masked diffusion with `fhs` or
/// `mdlm`, writing int32 token ids `[B, L]`.
extension SampleCommand {
    /// Samples and returns `true` if `--model` names a discrete model; otherwise checks that no
    /// discrete-only flag was given and returns `false`.
    func sampleDiscrete(started: ContinuousClock.Instant) throws -> Bool {
        let model: any MaskedDiffusionModel
        var imageShape: [Int]?
        if let mixture = try ModelResolution.discreteModel(source.model) {
            model = mixture
            if classLabel != nil { throw CLIError("--class applies to class-conditional models; '\(mixture.name)' is a categorical mixture without labels") }
        } else if let network = try ModelResolution.maskedNetwork(source.model) {
            model = try network.conditioned(on: classLabel)
            imageShape = network.imageShape
        } else {
            if categoricalPrecision != nil { throw CLIError("--categorical-precision applies to discrete (masked-diffusion) models only") }
            if tokensPerStep != nil { throw CLIError("--tokens-per-step applies to discrete (masked-diffusion) models only") }
            return false
        }
        if let flag = continuousFlags.first(where: \.set)?.name {
            throw CLIError("\(flag) applies to continuous models; '\(model.name)' is a discrete (masked-diffusion) model")
        }
        let extensionName = URL(fileURLWithPath: output).pathExtension.lowercased()
        guard extensionName == "npy" || (extensionName == "png" && imageShape != nil) else {
            throw CLIError("--output '\(output)': a discrete model writes token ids to .npy" + (imageShape != nil ? " or a picture to .png" : ""))
        }
        try OutputKind.checkDirectory(of: output)
        if let report { try OutputKind.checkDirectory(of: report) }
        let batch = count ?? 16
        guard batch >= 1, batch <= 1_000_000 else { throw CLIError("--count must be between 1 and 1000000, got \(batch)") }
        guard let precision = CategoricalPrecision(rawValue: categoricalPrecision ?? "float64") else {
            throw CLIError("unknown --categorical-precision '\(categoricalPrecision ?? "")' (known: float64, float32)")
        }
        let sampler = try Self.discreteSampler(solver ?? "fhs", steps: steps, tokensPerStep: tokensPerStep)
        let result = try MaskedSampling.run(sampler, model: model, precision: precision, count: batch, seed: seed)
        if extensionName == "png", let imageShape {
            // Token v of V is grey level v/(V − 1).
            let scale = Float(2) / Float(max(model.vocabularySize - 1, 1))
            let values = result.tokens.map { Float($0) * scale - 1 }
            try ImageGrid.render(values: values, count: batch, channels: 1, height: imageShape[0], width: imageShape[1],
                                 scale: max(1, 64 / max(imageShape[0], imageShape[1]))).write(to: URL(fileURLWithPath: output))
        } else {
            try NPYArray(shape: [batch, model.length], int32: result.tokens).write(to: URL(fileURLWithPath: output))
        }
        let seconds = (ContinuousClock.now - started).seconds
        let maxNFE = result.evaluations.max() ?? 0
        if let report {
            let json: [String: Any] = ["model": model.name, "solver": sampler.name, "steps": steps ?? NSNull(), "count": batch, "seed": seed,
                                       "categorical_precision": precision.rawValue, "nfe_mean": result.meanEvaluations, "nfe_max": maxNFE,
                                       "seconds": seconds, "output": output]
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: URL(fileURLWithPath: report))
        }
        print("sampled \(batch) x \(model.length) tokens (V = \(model.vocabularySize)) from \(model.name) with \(sampler.name), "
              + "\(precision.rawValue) categorical draws: \(String(format: "%.2f", result.meanEvaluations)) model evaluations per sample "
              + "(max \(maxNFE)), \(String(format: "%.3f", seconds)) s")
        print("wrote \(output)")
        return true
    }

    /// `fhs` or `mdlm` with their step options.
    static func discreteSampler(_ name: String, steps: Int?, tokensPerStep: Int?) throws -> any MaskedSampler {
        switch name {
        case "fhs":
            if steps != nil { throw CLIError("fhs takes no --steps: it reveals one token per evaluation (see --tokens-per-step)") }
            guard (tokensPerStep ?? 1) >= 1 else { throw CLIError("--tokens-per-step must be at least 1, got \(tokensPerStep ?? 0)") }
            return try FirstHitting(tokensPerStep: tokensPerStep ?? 1)
        case "mdlm":
            if tokensPerStep != nil { throw CLIError("--tokens-per-step applies to fhs, not mdlm") }
            guard (steps ?? 1) >= 1 else { throw CLIError("--steps must be at least 1, got \(steps ?? 0)") }
            return try MaskedAncestral(steps: steps ?? 128)
        default:
            throw CLIError("unknown solver '\(name)' for a discrete model (known: fhs, mdlm)")
        }
    }

    /// The flags that only a continuous model takes, and whether each was given.
    var continuousFlags: [(name: String, set: Bool)] {
        [("--eta", eta != nil), ("--s-noise", sNoise != 1), ("--s-churn", sChurn != 0), ("--s-tmin", sTmin != 0),
         ("--s-tmax", sTmax != .infinity), ("--variance", variance != nil), ("--noise-sampler", noiseSampler != "auto"),
         ("--order", order != nil), ("--statistics", statistics != nil), ("--dc-ratios", dcRatios != nil),
         ("--guidance", guidance != nil), ("--guidance-rescale", guidanceRescale != 0),
         ("--thresholding", thresholding), ("--thresholding-ratio", thresholdingRatio != 0.995), ("--sample-max-value", sampleMaxValue != 1),
         ("--nfe", nfe != nil), ("--schedule", schedule != nil), ("--sigma-min", sigmaMin != nil), ("--sigma-max", sigmaMax != nil),
         ("--final-sigma", finalSigma != "zero"), ("--shift", shift != nil), ("--image-seq-len", imageSeqLen != nil),
         ("--shift-terminal", shiftTerminal != nil), ("--timesteps", timesteps != nil), ("--sigmas", sigmas != nil),
         ("--tuned", tuned != nil), ("--rng", rng != "philox"), ("--initial-noise", initialNoise != nil), ("--step-noise", stepNoise != nil),
         ("--init-image", initImage != nil), ("--strength", strength != nil), ("--mask", mask != nil),
         ("--noise-schedule", source.noiseSchedule != nil), ("--scheduler-config", source.schedulerConfig != nil),
         ("--skip-scale", source.skipScale != nil)]
    }
}
