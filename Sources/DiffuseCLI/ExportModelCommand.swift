import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse export-model`: write a built-in model as a safetensors file.
struct ExportModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-model",
        abstract: "Write a built-in Gaussian mixture (weights, means, stds, labels, shape) or categorical mixture (weights, probs) to a .safetensors file."
    )

    @Argument(help: "A built-in mixture: \((BuiltInModels.mixtureNames + CategoricalMixture.builtInNames).joined(separator: ", ")).")
    var name: String

    @Argument(help: "The .safetensors file to write.")
    var output: String

    func run() throws {
        guard let file = BuiltInModels.mixture(named: name)?.safetensors() ?? CategoricalMixture.builtIn(named: name)?.safetensors() else {
            throw CLIError("unknown built-in mixture '\(name)' (known: \((BuiltInModels.mixtureNames + CategoricalMixture.builtInNames).joined(separator: ", ")))")
        }
        try OutputKind.checkDirectory(of: output)
        try file.write(to: URL(fileURLWithPath: output))
        print("wrote \(output)")
    }
}
