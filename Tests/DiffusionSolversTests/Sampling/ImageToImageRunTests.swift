import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// ``ImageToImage`` (a ``SamplingRun`` with ``SamplingRun/afterStep``) against the ask/tell loop a
/// pipeline writes with ``SolverScheduler`` (``SolverSchedulerTests`` holds it to ``SamplingRun``):
/// shortened grid, noised start and re-blend after every step, bit for bit.
@Suite("ImageToImage")
struct ImageToImageRunTests {
    @Test("an RGB PNG maps its bytes to [-1, 1] channel-first; a gray mask keeps black and regenerates white")
    func pngMapping() throws {
        // 2x1 RGB: pixel (0,0) = (0, 255, 51), pixel (1,0) = (102, 153, 204).
        let png = PNGImage(width: 2, height: 1, format: .rgb8, pixels: [0, 255, 51, 102, 153, 204])
        let image = try SampleTensor(image: png, sampleShape: [3, 1, 2])
        #expect(image.shape == [1, 3, 1, 2])
        #expect(image.scalars == [-1, Float(102) / 127.5 - 1, 1, Float(153) / 127.5 - 1, Float(51) / 127.5 - 1, Float(204) / 127.5 - 1])
        let mask = PNGImage(width: 2, height: 1, format: .gray8, pixels: [127, 128])
        #expect(try SampleTensor.keepMask(mask, sampleShape: [3, 1, 2]).scalars == [1, 0, 1, 0, 1, 0])
        #expect(throws: SamplingError.self) { _ = try SampleTensor(image: png, sampleShape: [1, 1, 2]) }
        #expect(throws: SamplingError.self) { _ = try SampleTensor(image: png, sampleShape: [2]) }
        #expect(try ImageToImage(image: image).strength == 0.8 && ImageToImage(image: image, keep: image).strength == 1)
        #expect(throws: SamplingError.self) { _ = try ImageToImage(image: image, strength: 0) }
        #expect(throws: SamplingError.self) { _ = try ImageToImage(image: image, strength: .nan) }
    }

    static func run<S: Solver>(_ i2i: ImageToImage, solver: S, schedule: any NoiseSchedule, grid: TimeGrid,
                               noise: SampleTensor) throws -> (SampleTensor, Int) {
        let run = try i2i.makeRun(model: BuiltInModels.glyphs, schedule: schedule, solver: solver, grid: grid, noise: noise)
        return (try run.finish(), run.grid.steps)
    }

    @Test("img2img and inpainting runs equal a SolverScheduler loop with startingAt, addNoise and blendKnown",
          arguments: ["dpmpp_2m", "heun"], [0.5, 1.0])
    func matchesSchedulerLoop(name: String, strength: Double) throws {
        let model = BuiltInModels.glyphs
        let schedule = try DiscreteVPSchedule()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 8).grid(on: schedule)
        let solver = try SolverCatalog.solver(named: name)
        let image = SampleTensor(shape: [1, 1, 8, 8], scalars: (0..<64).map { Float($0 % 9) / 4 - 1 })
        let keep = SampleTensor(shape: [1, 1, 8, 8], scalars: (0..<64).map { $0 < 24 ? 1 : 0 })
        let noise = TestModels.noise([3, 1, 8, 8], seed: 7)
        let known = SampleTensor(shape: [3, 1, 8, 8], scalars: Array([[Float]](repeating: image.scalars, count: 3).joined()))
        for mask in [nil, keep] {
            let (sampled, steps) = try Self.run(try ImageToImage(image: image, strength: strength, keep: mask), solver: solver,
                                                schedule: schedule, grid: grid, noise: noise)
            let scheduler = try SolverScheduler(solver: solver, grid: grid, schedule: schedule, parameterization: model.parameterization,
                                                sampleShape: model.sampleShape).startingAt(strength: strength)
            var x = try scheduler.addNoise(originalSample: known, noise: noise, timeStep: scheduler.timeSteps[0])
            var output = SampleTensor(zeros: x.shape)
            for (t, level) in zip(scheduler.timeSteps, scheduler.levels) {
                try model.predict(try scheduler.scaleModelInput(timeStep: t, sample: x), at: level, into: &output)
                x = try scheduler.step(output: output, timeStep: t, sample: x)
                if let mask, scheduler.isAtStepBoundary { x.blendKnown(known, mask: mask, noise: noise, level: scheduler.currentLevel) }
            }
            #expect(steps == Int(8 * strength) && scheduler.grid.steps == steps)
            #expect(sampled.scalars == x.scalars, "\(name) strength \(strength) mask \(mask != nil)")
            if mask != nil {
                #expect((0..<(3 * 64)).filter { $0 % 64 < 24 }.allSatisfy { sampled.scalars[$0] == known.scalars[$0] })
            }
        }
    }
}
