import Foundation
import Testing
import DiffusionSolvers

/// A small deterministic generator so IO tests use reproducible "random" content.
typealias IOTestRandom = SplitMix64

extension SplitMix64 {
    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

/// A fresh, empty temporary directory for one test; remove it with `FileManager.removeItem`.
func makeIOTestDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("io-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs `body`, requires it to throw a ``FileFormatError``, and checks that the error's
/// description is one line starting with `prefix` and containing every string in `mentions`.
func expectIOFormatError(
    _ prefix: String, mentions: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a FileFormatError (\(prefix) ... \(mentions)) but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as FileFormatError {
        let text = error.description
        #expect(!text.contains("\n"), "multi-line error: \(text)", sourceLocation: sourceLocation)
        #expect(text.hasPrefix(prefix), "error \(text) does not start with \(prefix)", sourceLocation: sourceLocation)
        for word in mentions {
            #expect(text.contains(word), "error \(text) does not mention \(word)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a FileFormatError but got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}
