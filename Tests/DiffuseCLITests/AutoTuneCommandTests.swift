import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `diffuse sample` without `--solver` on a mixture: the automatic tuning's time bound, its cache
/// by the model's fingerprint, `--no-auto-tune`, and a corrupt cache file.
@Suite("diffuse sample, automatic tuning", .serialized)
struct AutoTuneCommandTests {
    /// The stated bound of the tests' tunings, in seconds (`--auto-tune-seconds`). The tuning only
    /// starts when its ground truth fits half the bound: in a debug build on a loaded 2-core
    /// machine that estimate reached 5 s, so 8 s skipped the tuning there.
    static let bound = 16.0

    /// A run of `diffuse sample` on `mixture-2d` at 8 NFE with the tuning on, caching under `cache`;
    /// its wall time, measured here.
    static func sample(_ extra: [String], cache: URL, output: URL) throws -> (Diffuse.Result, seconds: Double) {
        let began = ContinuousClock.now
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--noise-schedule", "vp-cosine", "--nfe", "8", "--count", "64",
                                      "--output", output.path] + extra,
                                     environment: ["DIFFUSE_AUTO_TUNE": "on", "XDG_CACHE_HOME": cache.path])
        let elapsed = ContinuousClock.now - began
        return (result, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    static func cachedFiles(_ cache: URL) -> [URL] {
        let folder = cache.appendingPathComponent("diffuse/auto-tuned")
        return ((try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []).filter { $0.pathExtension == "json" }
    }

    @Test("the tuning keeps its stated bound, is cached by fingerprint, and the cached run samples bit for bit as --tuned with the cached file")
    func boundAndCache() throws {
        let dir = try temporaryDirectory(), cache = dir.appendingPathComponent("cache")
        let plain = try Self.sample(["--no-auto-tune"], cache: cache, output: dir.appendingPathComponent("plain.npy"))
        try #require(plain.0.status == 0, "\(plain.0.stderr)")
        #expect(Self.cachedFiles(cache).isEmpty, "--no-auto-tune wrote an auto-tune cache")

        let first = try Self.sample(["--auto-tune-seconds", "\(Self.bound)"], cache: cache, output: dir.appendingPathComponent("a.npy"))
        try #require(first.0.status == 0, "\(first.0.stderr)")
        #expect(first.0.stderr.contains("auto-tune: tuned") && first.0.stderr.contains("bound \(Self.bound) s"), "\(first.0.stderr)")
        // The tuning phase's wall time: the run's minus the same run without it (ground truth computed afresh).
        let phase = first.seconds - plain.seconds
        #expect(phase <= Self.bound + 0.5, "auto-tune phase took \(phase) s, bound \(Self.bound) s")
        let files = Self.cachedFiles(cache)
        try #require(files.count == 1, "\(files)")
        let tuned = try TunedFile(contentsOf: files[0])
        #expect(tuned.configurations.map(\.nfe) == [8])

        let second = try Self.sample(["--auto-tune-seconds", "\(Self.bound)"], cache: cache, output: dir.appendingPathComponent("b.npy"))
        try #require(second.0.status == 0, "\(second.0.stderr)")
        #expect(second.0.stderr.contains("using the cached tuning") && !second.0.stderr.contains("auto-tune: tuned"), "\(second.0.stderr)")
        let a = try NPYArray(contentsOf: dir.appendingPathComponent("a.npy")), b = try NPYArray(contentsOf: dir.appendingPathComponent("b.npy"))
        #expect(a.float32Values == b.float32Values, "the cached run differs from the tuned run")

        // The same samples as the cached file named explicitly, with the tuning off.
        let explicit = try Diffuse.run(["sample", "--model", "mixture-2d", "--noise-schedule", "vp-cosine", "--nfe", "8", "--count", "64",
                                        "--tuned", files[0].path, "--output", dir.appendingPathComponent("c.npy").path])
        try #require(explicit.status == 0, "\(explicit.stderr)")
        #expect(try NPYArray(contentsOf: dir.appendingPathComponent("c.npy")).float32Values == a.float32Values)
    }

    @Test("--no-auto-tune samples with the default rule: the rule's solver and spacing named explicitly give the same samples")
    func noAutoTuneIsTheRule() throws {
        let dir = try temporaryDirectory(), cache = dir.appendingPathComponent("cache")
        let off = try Self.sample(["--no-auto-tune"], cache: cache, output: dir.appendingPathComponent("off.npy"))
        try #require(off.0.status == 0, "\(off.0.stderr)")
        #expect(off.0.stdout.contains("recommended for 8 NFE") && !off.0.stderr.contains("auto-tune"), "\(off.0.stdout)\(off.0.stderr)")
        let choice = RecommendedConfiguration.choice(forNFE: 8, schedule: ContinuousVPSchedule.cosine)
        try #require(choice.decisions == nil)
        let named = try Diffuse.run(["sample", "--model", "mixture-2d", "--noise-schedule", "vp-cosine", "--nfe", "8", "--count", "64",
                                     "--solver", choice.solver, "--schedule", choice.spacing.name, "--output", dir.appendingPathComponent("named.npy").path])
        try #require(named.status == 0, "\(named.stderr)")
        #expect(try NPYArray(contentsOf: dir.appendingPathComponent("off.npy")).float32Values
                == NPYArray(contentsOf: dir.appendingPathComponent("named.npy")).float32Values)
    }

    @Test("no tuning runs with a named solver, a budget above the policy's largest, or on a network",
          arguments: [["--model", "mixture-2d", "--solver", "euler", "--nfe", "8"], ["--model", "mixture-2d", "--nfe", "\(AutoTuning.maximumBudget + 1)"],
                      ["--model", "digits", "--nfe", "8", "--count", "1"]])
    func policy(arguments: [String]) throws {
        let dir = try temporaryDirectory(), cache = dir.appendingPathComponent("cache")
        let result = try Diffuse.run(["sample", "--output", dir.appendingPathComponent("o.npy").path] + arguments,
                                     environment: ["DIFFUSE_AUTO_TUNE": "on", "XDG_CACHE_HOME": cache.path])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("auto-tune") && Self.cachedFiles(cache).isEmpty, "\(result.stderr)")
    }

    @Test("a corrupt cache file is ignored with a one-line note and rewritten")
    func corruptCache() throws {
        let dir = try temporaryDirectory(), cache = dir.appendingPathComponent("cache")
        let first = try Self.sample(["--auto-tune-seconds", "\(Self.bound)"], cache: cache, output: dir.appendingPathComponent("a.npy"))
        try #require(first.0.status == 0, "\(first.0.stderr)")
        let file = try #require(Self.cachedFiles(cache).first)
        try Data("{\"format\": \"diffuse-tuned/1\", \"configurations\": [".utf8).write(to: file)
        let again = try Self.sample(["--auto-tune-seconds", "\(Self.bound)"], cache: cache, output: dir.appendingPathComponent("b.npy"))
        try #require(again.0.status == 0, "\(again.0.stderr)")
        let notes = again.0.stderr.split(separator: "\n").filter { $0.contains("ignoring the auto-tune cache") }
        #expect(notes.count == 1 && again.0.stderr.contains("auto-tune: tuned"), "\(again.0.stderr)")
        #expect(try TunedFile(contentsOf: file).configurations.map(\.nfe) == [8], "the cache file was not rewritten")
    }

    @Test("a bad --auto-tune-seconds or DIFFUSE_AUTO_TUNE is refused in one line",
          arguments: [("--auto-tune-seconds", "-1", "on"), ("--auto-tune-seconds", "0", "on"), ("--auto-tune-seconds", "nan", "on"),
                      ("DIFFUSE_AUTO_TUNE", "1", "sometimes")])
    func badBound(named: String, value: String, environment: String) throws {
        let dir = try temporaryDirectory()
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--auto-tune-seconds", value, "--output", dir.appendingPathComponent("o.npy").path],
                                     environment: ["DIFFUSE_AUTO_TUNE": environment, "XDG_CACHE_HOME": dir.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains(named) && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }
}
