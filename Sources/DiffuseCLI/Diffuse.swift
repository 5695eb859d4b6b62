import ArgumentParser
import Foundation

/// The `diffuse` command: sample diffusion and flow models with fast solvers.
public struct Diffuse: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "diffuse",
        abstract: "Sample diffusion and flow models with fast, training-free solvers.",
        subcommands: [SampleCommand.self, CompareCommand.self, TuneCommand.self, SkipTuneCommand.self, TuneStepsCommand.self, ExportModelCommand.self, LikelihoodCommand.self, OptimizeNoiseCommand.self,
                      RestoreCommand.self,
                      CompareDiscreteCommand.self],
        defaultSubcommand: SampleCommand.self
    )
    public init() {}

    /// Parses and runs `arguments` (without the program name). Every failure becomes one line
    /// on standard error and a non-zero status: 64 for bad usage, 1 for anything else.
    public static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and --version: print the full text.
                print(fullMessage(for: error))
                return 0
            }
            let message = oneLine(message(for: error))
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            return error is CLIError || code != .failure ? (code == .failure ? 1 : code.rawValue) : 1
        }
    }

    /// The first non-empty line of `message`, without ArgumentParser's "Error: " prefix.
    static func oneLine(_ message: String) -> String {
        let line = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? "failed"
        return line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : line
    }
}

/// A problem with the command line or its files, stated in one line.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
