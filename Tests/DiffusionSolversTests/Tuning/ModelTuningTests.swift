import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport

/// A model folder's own tuned configurations (`tuned.json`, ``ModelTuning``): read with the model,
/// run without a named solver at the budgets they were tuned for, and never applied to other
/// weights, skip scales or schedules.
@Suite("Tuned configurations a model carries")
struct ModelTuningTests {
    /// A copy of the `tiny-unet` fixture in a fresh temporary folder.
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("model-tuning-\(UUID().uuidString)").appendingPathComponent("tiny")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let source = NeuralFixtures.url("tiny-unet")
        for file in ["config.json", "scheduler_config.json", "diffusion_pytorch_model.safetensors"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: folder.appendingPathComponent(file))
        }
        return folder
    }

    /// A tuned file for `model` with one configuration: `solver` on Karras steps within `nfe`.
    static func tunedFile(for model: UNetDiffusionModel, fingerprint: UInt64?, nfe: Int, solver: String) throws -> TunedFile {
        let named = try SolverCatalog.solver(named: solver)
        let grid = try #require(try named.steps(forBudget: nfe) { try StepSchedule(spacing: .karras(rho: 7), steps: $0).grid(on: model.schedule) }).1
        let configuration = TunedConfiguration(nfe: nfe, kind: .catalog(name: solver, order: nil), sigmas: grid.levels.map { model.schedule.displaySigma($0) },
                                               provenance: .tuned(method: "test"), tuningRMSE: 0,
                                               untuned: StandardConfiguration(solver: solver, spacing: .karras(rho: 7)), untunedTuningRMSE: 0)
        return TunedFile(model: model.name, modelFingerprint: fingerprint, schedule: model.schedule.name, tuningSeed: 1, tuningSamples: 1,
                         holdoutSeed: 2, holdoutSamples: 1, tolerance: 1e-5, seconds: 0, budgetSeconds: 0, configurations: [configuration])
    }

    @Test("a folder's tuned.json runs at its budget, the table elsewhere, and never on other weights or skip scales")
    func folderTuning() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let untuned = try UNetDiffusionModel(directory: folder)
        #expect(untuned.tuning == nil)
        let schedule = untuned.schedule
        // Heun at 5 NFE: a configuration the table never recommends, so the test sees which one ran.
        try Self.tunedFile(for: untuned, fingerprint: untuned.fingerprint, nfe: 5, solver: "heun").encoded()
            .write(to: folder.appendingPathComponent(ModelTuning.fileName))
        let model = try UNetDiffusionModel(directory: folder)
        #expect(model.tuning?.file.configurations.map(\.nfe) == [5])
        let (atFive, noteAtFive) = RecommendedConfiguration.recommendation(forNFE: 5, model: model, schedule: schedule)
        guard case let .tuned(configuration, _) = atFive else { Issue.record("not tuned at 5 NFE: \(atFive.label)"); return }
        #expect(configuration.solver == "heun" && noteAtFive == nil)
        guard case .table = RecommendedConfiguration.recommendation(forNFE: 6, model: model, schedule: schedule).recommendation else {
            Issue.record("a budget without a tuned configuration must get the table"); return
        }

        let comparison = SamplerComparison(model: model, schedule: schedule, noise: SeededNoise(seed: 5).initialNoise(shape: [2] + model.sampleShape),
                                           groundTruth: GroundTruth(tolerance: 1e-3, cacheDirectory: nil))
        comparison.measuresDistances = false
        let (result, used) = try comparison.runRecommended(nfe: 5)
        #expect(result.solver == "tuned" && result.nfe <= 5 && result.rmse.isFinite, "\(result)")
        guard case .tuned = used else { Issue.record("runRecommended ran \(used.label)"); return }
        #expect(try comparison.runRecommended(nfe: 6).result.solver == RecommendedConfiguration.choice(forNFE: 6, schedule: schedule).solver)

        // Scaled skip connections change the model: its tuned steps no longer apply, and the reason is given.
        let scaled = try model.withSkipScales(Array(repeating: 0.9, count: model.skipLevelCount))
        let (onScaled, why) = RecommendedConfiguration.recommendation(forNFE: 5, model: scaled, schedule: schedule)
        guard case .table = onScaled else { Issue.record("tuned steps applied to a skip-scaled model"); return }
        #expect(why?.contains("fingerprint") == true, "\(why ?? "no reason")")

        // A file made for other weights is named and not applied.
        try Self.tunedFile(for: untuned, fingerprint: 0xBAD, nfe: 5, solver: "heun").encoded()
            .write(to: folder.appendingPathComponent(ModelTuning.fileName))
        let stale = try UNetDiffusionModel(directory: folder)
        let (onStale, staleWhy) = RecommendedConfiguration.recommendation(forNFE: 5, model: stale, schedule: schedule)
        guard case .table = onStale else { Issue.record("a tuned file for other weights was applied"); return }
        #expect(staleWhy?.contains("bad") == true, "\(staleWhy ?? "no reason")")
    }

    @Test("a tuned.json that is not a tuned file stops loading with one line naming it")
    func brokenFile() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        for contents in ["not json", "{\"format\": \"diffuse-tuned/1\"}"] {
            try Data(contents.utf8).write(to: folder.appendingPathComponent(ModelTuning.fileName))
            do {
                _ = try UNetDiffusionModel(directory: folder)
                Issue.record("loaded a folder whose tuned.json reads '\(contents)'")
            } catch {
                let message = String(describing: error)
                #expect(message.contains("tiny/tuned.json") && !message.contains("\n"), "\(message)")
            }
        }
    }

    /// The shipped networks' files must match the shipped weights: a weight update without a new
    /// `diffuse tune` run fails here instead of silently sampling on the table.
    @Test("the shipped networks carry tuned configurations for 5, 10 and 20 NFE, made for their weights and schedules",
          arguments: BuiltInModels.networkNames)
    func shippedNetworks(name: String) throws {
        let model = try #require(try BuiltInModels.model(named: name) as? UNetDiffusionModel)
        guard let tuning = model.tuning else { Issue.record("\(name) carries no \(ModelTuning.fileName)"); return }
        try tuning.file.check(model: model, schedule: model.schedule)
        #expect(tuning.file.configurations.map(\.nfe) == [5, 10, 20])
        for c in tuning.file.configurations {
            let (solver, grid) = try c.prepared(on: model.schedule, relativeTo: tuning.directory)
            #expect(solver.evaluations(on: grid) <= c.nfe, "\(name) \(c.nfe) NFE: \(c.method)")
            guard case .tuned = RecommendedConfiguration.recommendation(forNFE: c.nfe, model: model, schedule: model.schedule).recommendation else {
                Issue.record("\(name) at \(c.nfe) NFE does not run its tuned configuration"); continue
            }
        }
    }
}
