import Foundation
import Testing
import DiffusionSolvers

@Suite("Atomic file writes")
struct AtomicFileTests {
    static func listing(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    @Test("writing into a directory that does not exist throws and leaves nothing behind")
    func missingDirectory() throws {
        let directory = try makeIOTestDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("no-such-dir")
        let url = missing.appendingPathComponent("out.bin")
        do {
            try AtomicFile.write(Data([1, 2, 3]), to: url)
            Issue.record("write into a missing directory succeeded")
        } catch let error as FileWriteError {
            #expect(!error.description.contains("\n"))
            #expect(error.description.contains(url.path))
            #expect(error.path == url.path)
        }
        #expect(!FileManager.default.fileExists(atPath: missing.path))
        #expect(try Self.listing(directory).isEmpty)
    }

    @Test("writing over an existing file replaces it and leaves no temporary files")
    func replacesExistingFile() throws {
        let directory = try makeIOTestDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("data.bin")
        try AtomicFile.write(Data(repeating: 7, count: 1000), to: url)
        #expect(try Data(contentsOf: url) == Data(repeating: 7, count: 1000))
        try AtomicFile.write(Data([1, 2]), to: url)
        #expect(try Data(contentsOf: url) == Data([1, 2]))
        try AtomicFile.write(Data(), to: url)
        #expect(try Data(contentsOf: url).isEmpty)
        #expect(try Self.listing(directory) == ["data.bin"])
    }

    @Test("a failed rename (destination is a directory) removes the temporary file")
    func failedRenameCleansUp() throws {
        let directory = try makeIOTestDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(at: target.appendingPathComponent("child"), withIntermediateDirectories: false)
        #expect(throws: FileWriteError.self) { try AtomicFile.write(Data([1]), to: target) }
        #expect(try Self.listing(directory) == ["occupied"])
        #expect(try Self.listing(target) == ["child"])
    }

    @Test("non-file URLs are rejected with a one-line error")
    func nonFileURL() throws {
        let url = try #require(URL(string: "https://example.com/file.bin"))
        do {
            try AtomicFile.write(Data([1]), to: url)
            Issue.record("non-file URL accepted")
        } catch let error as FileWriteError {
            #expect(error.description.contains("not a file URL"))
        }
    }
}
