import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse compare-discrete`: masked-diffusion samplers on a categorical mixture, measured against
/// the exact distribution.
struct CompareDiscreteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare-discrete",
        abstract: "Compare masked-diffusion samplers (fhs, mdlm) on a categorical mixture against its exact distribution.",
        discussion: """
        For each sampler configuration and categorical precision it draws --count samples and reports the NFE per sample, \
        the wall time, the total variation and KL divergence of the empirical per-position marginals and pairwise joints \
        to the exact ones (means over positions and pairs), the samples' negative log-likelihood per token under the model \
        (its entropy per token, in expectation, for exact sampling), and the token entropy of the marginals beside the exact one.
        """
    )

    @Option(help: "A categorical mixture: a built-in name (\(CategoricalMixture.builtInNames.joined(separator: ", "))) or a .safetensors file with kind categorical-mixture.")
    var model: String = CategoricalMixture.builtInNames[0]

    @Option(help: "Comma-separated samplers: fhs and mdlm.")
    var solvers: String = "fhs,mdlm"

    @Option(help: "Comma-separated step counts for mdlm.")
    var steps: String = "4,16,64,256"

    @Option(help: "Comma-separated tokens revealed per evaluation for fhs (1 is exact).")
    var tokensPerStep: String = "1,2,4"

    @Option(help: "Comma-separated categorical precisions: float64, float32.")
    var categoricalPrecision: String = "float64,float32"

    @Option(parsing: .unconditional, help: "Samples per configuration.")
    var count: Int = 16384

    @Option(parsing: .unconditional, help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Also write the table as JSON to this file.")
    var output: String?

    func run() throws {
        guard let mixture = try ModelResolution.discreteModel(model) else {
            throw CLIError("--model '\(model)' is not a categorical mixture (a built-in name or a safetensors file with kind categorical-mixture)")
        }
        guard count >= 1, count <= 10_000_000 else { throw CLIError("--count must be between 1 and 10000000, got \(count)") }
        if let output { try OutputKind.checkDirectory(of: output) }
        let precisions = try Self.list(categoricalPrecision, flag: "--categorical-precision").map { name -> CategoricalPrecision in
            guard let p = CategoricalPrecision(rawValue: name) else {
                throw CLIError("unknown --categorical-precision '\(name)' (known: float64, float32)")
            }
            return p
        }
        var samplers: [any MaskedSampler] = []
        for name in try Self.list(solvers, flag: "--solvers") {
            switch name {
            case "fhs": samplers += try Self.integers(tokensPerStep, flag: "--tokens-per-step").map { try FirstHitting(tokensPerStep: $0) }
            case "mdlm": samplers += try Self.integers(steps, flag: "--steps").map { try MaskedAncestral(steps: $0) }
            default: throw CLIError("unknown solver '\(name)' for a discrete model (known: fhs, mdlm)")
            }
        }
        print("model \(mixture.name): K = \(mixture.components), L = \(mixture.length), V = \(mixture.vocabularySize); \(count) samples, seed \(seed)")
        print("sampler                           precision   NFE      seconds  marg TV   marg KL   pair TV   pair KL   NLL/token  entropy (exact)")
        var rows: [[String: Any]] = []
        for sampler in samplers {
            for precision in precisions {
                let started = ContinuousClock.now
                let result = try MaskedSampling.run(sampler, model: mixture, precision: precision, count: count, seed: seed)
                let seconds = (ContinuousClock.now - started).seconds
                let d = try DiscreteDistance(tokens: result.tokens, model: mixture)
                let label = sampler is MaskedAncestral ? "mdlm \((sampler as? MaskedAncestral)?.steps ?? 0) steps" : sampler.name
                print(label.padding(toLength: 34, withPad: " ", startingAt: 0) + precision.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                      + String(format: "%-8.2f %-8.3f %-9.5f %-9.6f %-9.5f %-9.6f %-10.5f %.4f (%.4f)", result.meanEvaluations, seconds,
                               d.marginalTV, d.marginalKL, d.pairTV, d.pairKL, d.negativeLogLikelihood, d.entropy, d.exactEntropy))
                rows.append(["sampler": label, "precision": precision.rawValue, "nfe": result.meanEvaluations, "seconds": seconds,
                             "marginal_tv": d.marginalTV, "marginal_kl": d.marginalKL, "pair_tv": d.pairTV, "pair_kl": d.pairKL,
                             "nll_per_token": d.negativeLogLikelihood, "entropy": d.entropy, "exact_entropy": d.exactEntropy])
            }
        }
        if let output {
            let json: [String: Any] = ["model": mixture.name, "count": count, "seed": seed, "rows": rows]
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]),
                                 to: URL(fileURLWithPath: output))
            print("wrote \(output)")
        }
    }

    static func list(_ text: String, flag: String) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw CLIError("\(flag) is empty") }
        return items
    }

    static func integers(_ text: String, flag: String) throws -> [Int] {
        try list(text, flag: flag).map {
            guard let n = Int($0), n >= 1, n <= 1_000_000 else { throw CLIError("\(flag): '\($0)' is not a whole number from 1 to 1000000") }
            return n
        }
    }
}
