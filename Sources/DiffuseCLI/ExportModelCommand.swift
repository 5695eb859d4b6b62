import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse export-model`: write a built-in model as a safetensors file.
struct ExportModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-model",
        abstract: "Write a built-in Gaussian mixture to a .safetensors file (weights, means, stds, labels, shape)."
    )

    @Argument(help: "A built-in mixture: \(BuiltInModels.mixtureNames.joined(separator: ", ")).")
    var name: String

    @Argument(help: "The .safetensors file to write.")
    var output: String

    func run() throws {
        guard let model = BuiltInModels.mixture(named: name) else {
            throw CLIError("unknown built-in mixture '\(name)' (known: \(BuiltInModels.mixtureNames.joined(separator: ", ")))")
        }
        try OutputKind.checkDirectory(of: output)
        try model.safetensors().write(to: URL(fileURLWithPath: output))
        print("wrote \(output)")
    }
}
