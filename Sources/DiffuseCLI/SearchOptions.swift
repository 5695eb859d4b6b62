import ArgumentParser
import Foundation
import DiffusionSolvers

/// What the searches on a user's model share: the tuning noise, the held-out noise the result is
/// reported on, and the JSON file the result goes to.
struct SearchOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Seed of the tuning noise.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Seed of the held-out noise the result is reported on.")
    var holdoutSeed: UInt64 = 1

    @Option(help: "Write the result as JSON to this file.")
    var output: String?

    /// The comma-separated whole numbers of `--nfe`, each in `range`.
    static func budgets(_ text: String, in range: ClosedRange<Int>, bound: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try parts.map { part in
            guard let n = Int(part), range.contains(n) else {
                throw CLIError("--nfe: '\(part)' is not a whole number from \(range.lowerBound) to \(bound)")
            }
            return n
        }
    }

    /// Fails before any work when the noise sets coincide or the output cannot be written.
    func check() throws {
        guard seed != holdoutSeed else { throw CLIError("--seed and --holdout-seed must differ (the result is reported on held-out noise)") }
        if let output { try OutputKind.checkDirectory(of: output) }
    }

    /// Writes `value` as pretty, snake-case JSON to `--output`, if given.
    func write<T: Encodable>(_ value: T) throws {
        guard let output else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try AtomicFile.write(try encoder.encode(value), to: URL(fileURLWithPath: output))
        print("wrote \(output)")
    }
}
