import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Fingerprints for the ground-truth cache")
struct FingerprintTests {
    static let tinyUNet = Fixtures.url("neural").appendingPathComponent("tiny-unet")

    @Test("a loaded network is fingerprinted by its files and skip scales; its ground truth is read back from the cache")
    func network() throws {
        let model = try UNetDiffusionModel(directory: Self.tinyUNet)
        let again = try UNetDiffusionModel(directory: Self.tinyUNet, name: "another name")
        let a = try #require(model.fingerprint)
        #expect(again.fingerprint == a)
        let scaled = try model.withSkipScales([1, 0.9, 1])
        #expect(scaled.fingerprint != nil && scaled.fingerprint != a)
        #expect(try model.withSkipScales([1, 1, 1]).fingerprint == a)
        // Built in code, it cannot name its weights: never cached.
        let built = try UNetDiffusionModel(network: model.network, schedulerConfig: model.schedulerConfig, name: "built")
        #expect(built.fingerprint == nil)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gt-cache-\(UUID().uuidString)")
        let truth = GroundTruth(tolerance: 1e-3, cacheDirectory: directory)
        let schedule = model.schedule
        let start = schedule.level(at: 500)
        let x = SeededNoise(seed: 1).initialNoise(shape: [1] + model.sampleShape)
        let (first, firstCached) = try truth.solve(model: model, schedule: schedule, x: x, from: start, to: schedule.cleanLevel)
        let (second, secondCached) = try truth.solve(model: again, schedule: schedule, x: x, from: start, to: schedule.cleanLevel)
        #expect(!firstCached && secondCached)
        #expect(first.endpoint == second.endpoint)
        #expect(truth.key(model: built, schedule: schedule, x: x, from: start, to: schedule.cleanLevel) == nil)
    }

    @Test("guidance on a model without a fingerprint has none (no shared placeholder value)")
    func guidance() throws {
        let model = try UNetDiffusionModel(directory: Self.tinyUNet)
        let built = try UNetDiffusionModel(network: model.network, schedulerConfig: model.schedulerConfig, name: "built")
        #expect(try ClassifierFreeGuidance(base: built, classLabel: 1, scale: 2).fingerprint == nil)
        #expect(try ClassifierFreeGuidance(base: model, classLabel: 1, scale: 2).fingerprint != nil)
        #expect(try ClassifierFreeGuidance(base: model, classLabel: 1, scale: 2).fingerprint
                != ClassifierFreeGuidance(base: model, classLabel: 2, scale: 2).fingerprint)
    }
}
