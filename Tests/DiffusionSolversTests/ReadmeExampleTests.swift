import Testing
import Foundation
import DiffusionSolvers

/// The library examples of the README (ask/tell) and docs/LIBRARY.md (pull-style), compiled and run here (the
/// documents add the import lines); the `shows exactly` tests keep the texts identical, so neither shows code that does not build.
@Suite("README example")
struct ReadmeExampleTests {
    func example() throws -> SampleTensor {
        // README example begin
        // An exact model: ten 8x8 digit glyphs as a Gaussian mixture.
        let model = BuiltInModels.glyphs

        // Stable Diffusion's noise schedule, 20 Karras-spaced steps down to sigma = 0.
        let schedule = try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 20).grid(on: schedule)

        // Sixteen samples from seeded noise; the loop is yours (progress, previews, cancellation).
        let noise = SeededNoise(seed: 42)
        let x = SampleTensor.initialSample(noise: noise.initialNoise(shape: [16, 1, 8, 8]), schedule: schedule, level: grid[0])
        let run = try SamplingRun(model: model, schedule: schedule, solver: Heun(), grid: grid, initialSample: x)
        while let step = try run.advance() {
            print("step \(step.index + 1)/\(step.count), \(step.evaluations) model evaluations")
        }
        try ImageGrid.render(values: run.sample.scalars, count: 16, channels: 1, height: 8, width: 8)
            .write(to: URL(fileURLWithPath: "digits.png"))
        // README example end
        return run.sample
    }

    func askTellExample() throws -> SampleTensor {
        // README ask/tell example begin
        // The glyph mixture on Stable Diffusion's schedule, 20 Karras steps; your pipeline calls the model.
        let model = BuiltInModels.glyphs
        let schedule = try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 20).grid(on: schedule)
        let scheduler = try SolverScheduler(solver: Heun(), grid: grid, schedule: schedule,
                                            parameterization: model.parameterization, sampleShape: model.sampleShape)

        var x = SeededNoise(seed: 42).initialNoise(shape: [16, 1, 8, 8])
        x.scale(by: scheduler.initNoiseSigma)
        var output = SampleTensor(zeros: x.shape)
        for (t, level) in zip(scheduler.timeSteps, scheduler.levels) {  // one entry per model evaluation (39 for Heun)
            let input = try scheduler.scaleModelInput(timeStep: t, sample: x)
            try model.predict(input, at: level, into: &output)           // your call: batching, guidance, ControlNets
            x = try scheduler.step(output: output, timeStep: t, sample: x)  // previews: scheduler.denoised
        }
        // README ask/tell example end
        return x
    }

    @Test("the ask/tell example gives the pull-style example's samples bit for bit")
    func askTellRuns() throws {
        // The pull-style example's run (without its file, so no change of directory races `runs`).
        let schedule = try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 20).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: SeededNoise(seed: 42).initialNoise(shape: [16, 1, 8, 8]), schedule: schedule, level: grid[0])
        let pulled = try SamplingRun(model: BuiltInModels.glyphs, schedule: schedule, solver: Heun(), grid: grid, initialSample: x).finish()
        let asked = try askTellExample()
        #expect(asked.shape == pulled.shape && asked.scalars == pulled.scalars)
    }

    @Test("the README shows exactly the ask/tell example")
    func readmeShowsAskTell() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex { $0.contains("// README ask/tell example begin") })
        let end = try #require(lines.firstIndex { $0.contains("// README ask/tell example end") })
        let body = lines[(begin + 1)..<end].map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : $0 }
            .joined(separator: "\n")
        let block = "```swift\nimport DiffusionSolvers\n\n" + body + "\n```"
        #expect(readme.contains(block), "README.md must contain the ask/tell example block:\n\(block)")
    }

    @Test("docs/LIBRARY.md shows exactly this example")
    func readmeMatchesThisFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("docs/LIBRARY.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex { $0.contains("// README example begin") })
        let end = try #require(lines.firstIndex { $0.contains("// README example end") })
        let body = lines[(begin + 1)..<end].map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : $0 }
            .joined(separator: "\n")
        let block = "```swift\nimport DiffusionSolvers\nimport Foundation\n\n" + body + "\n```"
        #expect(readme.contains(block), "docs/LIBRARY.md must contain the example block:\n\(block)")
    }
}
