import Testing
import Foundation
import DiffusionSolvers

/// The async example of docs/LIBRARY.md, compiled and run here (the document adds the import line);
/// `readmeShowsIt` keeps the texts identical, as ``ReadmeExampleTests`` does for the others.
@Suite("README async example")
struct ReadmeAsyncExampleTests {
    func asyncExample() async throws -> SampleTensor {
        // README async example begin
        // Any model you await: an actor, or a network waiting for a GPU (here the glyph mixture, adapted).
        let model = AsyncModelAdapter(BuiltInModels.glyphs)
        let schedule = try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 20).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: SeededNoise(seed: 42).initialNoise(shape: [16, 1, 8, 8]), schedule: schedule, level: grid[0])
        let run = try AsyncSamplingRun(model: model, schedule: schedule, solver: DPMSolverMultistep(), grid: grid, initialSample: x)
        let task = Task {  // the run moves to the task; task.cancel() stops it before the next model evaluation
            while let step = try await run.advance() { print("step \(step.index + 1)/\(step.count)") }
            return run.sample
        }
        let samples = try await task.value
        // README async example end
        return samples
    }

    @Test("the async example gives SamplingRun's samples bit for bit")
    func runs() async throws {
        let schedule = try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 20).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: SeededNoise(seed: 42).initialNoise(shape: [16, 1, 8, 8]), schedule: schedule, level: grid[0])
        let pulled = try SamplingRun(model: BuiltInModels.glyphs, schedule: schedule, solver: DPMSolverMultistep(), grid: grid,
                                     initialSample: x).finish()
        let awaited = try await asyncExample()
        #expect(awaited.shape == pulled.shape && awaited.scalars == pulled.scalars)
    }

    @Test("docs/LIBRARY.md shows exactly the async example")
    func readmeShowsIt() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("docs/LIBRARY.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex { $0.contains("// README async example begin") })
        let end = try #require(lines.firstIndex { $0.contains("// README async example end") })
        let body = lines[(begin + 1)..<end].map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : $0 }
            .joined(separator: "\n")
        let block = "```swift\nimport DiffusionSolvers\n\n" + body + "\n```"
        #expect(readme.contains(block), "docs/LIBRARY.md must contain the async example block:\n\(block)")
    }
}
