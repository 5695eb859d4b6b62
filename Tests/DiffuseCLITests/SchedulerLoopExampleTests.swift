import Testing
import Foundation
import DiffusionSolvers

/// `Examples/scheduler-loop` (a pipeline's own loop stepping a ``SolverScheduler``) writes what
/// `diffuse sample` (the pull-style ``SamplingRun``) writes, bit for bit, on the shipped network.
/// Three steps of one sample: a debug build runs the network about 200× slower than release.
@Suite("Examples/scheduler-loop")
struct SchedulerLoopExampleTests {
    static let binary = Diffuse.binary.deletingLastPathComponent().appendingPathComponent("scheduler-loop")

    @Test("the scheduler loop on digits equals diffuse sample bit for bit",
          arguments: ["dpmpp_2m", "uni_pc", "heun", "euler_ancestral"])
    func equalsDiffuseSample(solver: String) throws {
        let dir = try temporaryDirectory()
        let a = dir.appendingPathComponent("a.npy"), b = dir.appendingPathComponent("b.npy")
        let common = ["--solver", solver, "--steps", "3", "--seed", "0", "--count", "1"]
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = common + ["--output", a.path]
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let sampled = try Diffuse.run(["sample", "--model", "digits"] + common + ["--output", b.path])
        #expect(sampled.status == 0, "\(sampled.stderr)")
        let loop = try NPYArray(contentsOf: a), run = try NPYArray(contentsOf: b)
        #expect(loop.shape == [1, 1, 8, 8] && loop.shape == run.shape)
        #expect(loop.float32Values == run.float32Values, "\(solver): the scheduler loop differs from diffuse sample")
    }
}
