import Testing
import Foundation

/// The module boundaries of docs/ARCHITECTURE.md, checked on the sources: SwiftPM lets a target
/// import a module it does not depend on when the build happens to order them so, so the
/// compiler alone does not keep a lower layer from reaching up.
@Suite("Module boundaries")
struct ModuleBoundaryTests {
    /// What each module's files may import besides the standard library, Foundation and the
    /// platform C library. The same table is docs/ARCHITECTURE.md's.
    static let allowed: [String: Set<String>] = [
        "CDiffusionKernels": [],
        "DiffusionFormats": [],
        "DiffusionCore": ["DiffusionFormats", "RealModule"],
        "DiffusionDiscrete": ["DiffusionCore", "DiffusionFormats", "DiffusionNeural"],
        "DiffusionNeural": ["CDiffusionKernels", "DiffusionCore", "DiffusionFormats", "RealModule"],
        "DiffusionEvaluation": ["DiffusionCore", "DiffusionNeural", "DiffusionFormats", "RealModule"],
        "DiffusionTuning": ["DiffusionCore", "DiffusionEvaluation", "DiffusionNeural", "DiffusionFormats", "RealModule"],
        "DiffusionRendering": ["DiffusionFormats"],
        "DiffusionSolvers": ["DiffusionCore", "DiffusionDiscrete", "DiffusionEvaluation", "DiffusionFormats", "DiffusionNeural", "DiffusionRendering",
                             "DiffusionTuning"],
        "DiffuseCLI": ["DiffusionSolvers", "ArgumentParser"],
        "diffuse": ["DiffuseCLI"],
    ]
    static let system: Set<String> = ["Foundation", "Glibc", "Musl", "Darwin", "Dispatch", "Synchronization"]

    static var sources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
    }

    /// `(module, file, imported module)` for every import line under Sources/.
    static func imports() throws -> [(module: String, file: String, imported: String)] {
        var found: [(String, String, String)] = []
        let modules = try FileManager.default.contentsOfDirectory(atPath: sources.path).sorted()
        for module in modules {
            let root = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(atPath: root.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ").filter { !$0.hasPrefix("@") }
                    guard words.count == 2, words[0] == "import" else { continue }
                    found.append((module, file, String(words[1])))
                }
            }
        }
        return found
    }

    @Test func everyModuleIsInTheTable() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path)
        #expect(Set(modules) == Set(Self.allowed.keys))
    }

    @Test func importsFollowTheLayers() throws {
        let all = try Self.imports()
        #expect(all.count > 100)
        let violations = all.filter { !Self.system.contains($0.imported) && !(Self.allowed[$0.module] ?? []).contains($0.imported) }
        #expect(violations.isEmpty, "\(violations.map { "\($0.module)/\($0.file) imports \($0.imported)" })")
    }
}
