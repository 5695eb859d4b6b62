import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse skip-tune`: searches a U-Net's skip-connection factors (Skip-Tuning) for a solver and
/// NFE, scored by the feature Fréchet distance to the data, and reports the result on held-out noise.
struct SkipTuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skip-tune",
        abstract: "Search Skip-Tuning factors (one per resolution level) that minimize the feature FD at each NFE.",
        discussion: """
        For each NFE the search runs on --count samples drawn from --seed and reports the factors found, then measures \
        the untuned and the tuned network on the same number of held-out samples (--holdout-seed), so the gain is not \
        read off the noise it was tuned on. Use the factors with `diffuse sample --skip-scale a,b,c`.
        """
    )

    @Option(help: "A built-in network name or a diffusers UNet2DModel folder.")
    var model: String = BuiltInModels.defaultName

    @Option(help: "A feature classifier (.safetensors with data statistics); built-in networks bring their own.")
    var classifier: String?

    @Option(help: "Solver name.")
    var solver: String = "dpmpp_2m"

    @Option(help: "Step schedule.")
    var schedule: String = "karras"

    @Option(help: "Comma-separated NFE budgets.")
    var nfe: String = "5,10,20"

    @Option(parsing: .unconditional, help: "Samples per evaluation.")
    var count: Int = 256

    @OptionGroup var noiseSets: SearchOptions

    @Option(help: "Comma-separated candidate factors each level tries.")
    var candidates: String = "1,0.98,0.96,0.94,0.92,0.9,0.85,0.8"

    @Option(parsing: .unconditional, help: "Coordinate-descent sweeps over the levels.")
    var rounds: Int = 2

    func run() throws {
        try noiseSets.check()
        guard (2...10_000).contains(count) else { throw CLIError("--count must be between 2 and 10000, got \(count)") }
        guard (1...10).contains(rounds) else { throw CLIError("--rounds must be between 1 and 10, got \(rounds)") }
        guard let network = try ModelResolution.model(model) as? any SkipScalableModel else {
            throw CLIError("skip-tune needs a U-Net; '\(model)' has no skip connections")
        }
        guard SolverCatalog.entry(named: solver) != nil else {
            throw CLIError("unknown solver '\(solver)' (known: \(SolverCatalog.names.joined(separator: ", ")))")
        }
        guard let spacing = StepSpacing(name: schedule) else {
            throw CLIError("unknown step schedule '\(schedule)' (known: \(StepSpacing.names.joined(separator: ", ")))")
        }
        let budgets = try SearchOptions.budgets(nfe, in: 1...1000, bound: "1000")
        let factors = try SampleCommand.numbers(candidates, flag: "--candidates")
        guard factors.allSatisfy({ $0 > 0 && $0 <= 2 }) else { throw CLIError("--candidates must lie in (0, 2]") }
        guard let features = try classifier.map({ try FeatureClassifier(contentsOf: URL(fileURLWithPath: $0)) })
                ?? (try BuiltInModels.classifier(for: model)) else {
            throw CLIError("no feature classifier for '\(model)': give --classifier FILE")
        }
        guard features.inputCount == network.sampleShape.reduce(1, *) else {
            throw CLIError("classifier '\(features.name)' takes \(features.inputCount) values per sample; the model's samples have \(network.sampleShape.reduce(1, *))")
        }
        let shape = [count] + network.sampleShape
        let search = SkipTuning(candidates: factors, rounds: rounds)
        let rows = try search.tune(network, solver: solver, spacing: spacing, budgets: budgets,
                                   tuningNoise: SeededNoise(seed: noiseSets.seed).initialNoise(shape: shape),
                                   heldOutNoise: SeededNoise(seed: noiseSets.holdoutSeed).initialNoise(shape: shape),
                                   classifier: features) { budget, trial in
            print(String(format: "NFE %d  scales %@  FD %.4f", budget, Self.format(trial.scales), trial.score))
        }
        print("")
        print("model \(network.name), \(solver) \(spacing.name), \(count) samples; tuned on seed \(noiseSets.seed), reported on held-out seed \(noiseSets.holdoutSeed)")
        print("NFE  scales                 FD tuning (untuned -> tuned)   FD held-out (untuned -> tuned)   change")
        for r in rows {
            print(String(format: "%3d  %@  %8.4f -> %8.4f          %8.4f -> %8.4f          %+.1f%%", r.nfe,
                         Self.format(r.search.scales).padding(toLength: 21, withPad: " ", startingAt: 0),
                         r.search.baselineScore, r.search.score, r.heldOutBaseline, r.heldOutTuned, 100 * r.heldOutChange))
        }
        try noiseSets.write(rows)
    }

    static func format(_ scales: [Double]) -> String { scales.map { String(format: "%.2f", $0) }.joined(separator: ",") }
}
