import Foundation
import Testing
@testable import DiffusionSolvers
import DiffusionTestSupport

@Suite("Tuning to a model (Tuner, tuned files)")
struct TunerTests {
    static let schedule = EvolutionarySearchTests.schedule

    static func settings(seed: UInt64 = 0) -> Tuner.Settings {
        Tuner.Settings(budgets: [4, 6], tuningSamples: 32, seed: seed, holdoutSamples: 32, holdoutSeed: 9, tolerance: 1e-8,
                       budgetSeconds: 600, search: EvolutionarySearch(population: 12, parents: 4, mutations: 6, crossovers: 3, generations: 3),
                       fineSteps: 40, untunedSolvers: ["dpmpp_2m", "uni_pc"], untunedSpacings: [.karras(rho: 7), .logSNR])
    }

    static let tuned = try! Tuner(model: BuiltInModels.ring, schedule: schedule, settings: settings(), cacheDirectory: nil).run()

    @Test("each budget gets a configuration within its NFE, chosen on validation noise over the best untuned one; the held-out figures are what it reaches")
    func budgetsAndBaseline() throws {
        #expect(Self.tuned.configurations.map(\.nfe) == [4, 6])
        let tuner = Tuner(model: BuiltInModels.ring, schedule: Self.schedule, settings: Self.settings(), cacheDirectory: nil)
        #expect(![tuner.settings.seed, tuner.settings.holdoutSeed].contains(tuner.validationSeed))
        func objective(seed: UInt64) -> SchedulingObjective {
            SchedulingObjective(model: BuiltInModels.ring, schedule: Self.schedule, noise: SeededNoise(seed: seed).initialNoise(shape: [32, 2]),
                                groundTruth: GroundTruth(tolerance: 1e-8, cacheDirectory: nil))
        }
        let validation = objective(seed: tuner.validationSeed), heldOut = objective(seed: 9)
        for c in Self.tuned.configurations {
            let (solver, grid) = try c.prepared(on: Self.schedule)
            #expect(solver.evaluations(on: grid) <= c.nfe)
            #expect(grid.endsClean)
            // The untuned reference, rebuilt from its solver and spacing.
            let untunedSolver = try SolverCatalog.solver(named: c.untuned.solver)
            let spacing = c.untuned.spacing
            let (_, untunedGrid) = try #require(try untunedSolver.steps(forBudget: c.nfe) {
                try StepSchedule(spacing: spacing, steps: $0, final: .zero).grid(on: Self.schedule)
            })
            let untunedValidation = try validation.error(untunedSolver, grid: untunedGrid)
            #expect(try validation.error(solver, grid: grid) == c.validationRMSE)
            #expect(c.validationRMSE! <= untunedValidation, "NFE \(c.nfe): \(c.validationRMSE!) vs untuned \(untunedValidation)")
            #expect(try heldOut.error(solver, grid: grid) == c.heldOutRMSE)
            #expect(try heldOut.error(untunedSolver, grid: untunedGrid) == c.untunedHeldOutRMSE)
        }
        #expect(Self.tuned.tuningSeed == 0 && Self.tuned.holdoutSeed == 9)
    }

    /// The anchor stands for what the user would run untuned: the choice is the anchor itself, or
    /// it beats the anchor on the validation draws by both the median per-draw error and the
    /// RMSE, recomputed here from the two configurations' grids.
    @Test("with an anchor, the choice is the anchor or beats it on validation noise by both measures",
          arguments: [StandardConfiguration(solver: "euler", spacing: .karras(rho: 7)),
                      StandardConfiguration(solver: "uni_pc_bh2", spacing: .logSNR),
                      StandardConfiguration(solver: "deis", spacing: .logSNR)])
    func anchor(_ anchor: StandardConfiguration) throws {
        var settings = Self.settings()
        settings.budgets = [5]
        settings.search.generations = 1
        settings.anchors = [anchor]
        let tuner = Tuner(model: BuiltInModels.ring, schedule: Self.schedule, settings: settings, cacheDirectory: nil)
        let c = try #require(try tuner.run().configurations.first)
        let validation = SchedulingObjective(model: BuiltInModels.ring, schedule: Self.schedule,
                                             noise: SeededNoise(seed: tuner.validationSeed).initialNoise(shape: [32, 2]),
                                             groundTruth: GroundTruth(tolerance: 1e-8, cacheDirectory: nil))
        let anchorSolver = try SolverCatalog.solver(named: anchor.solver)
        let (_, anchorGrid) = try #require(try anchorSolver.steps(forBudget: 5) {
            try StepSchedule(spacing: anchor.spacing, steps: $0, final: .zero).grid(on: Self.schedule)
        })
        let (solver, grid) = try c.prepared(on: Self.schedule)
        let chosen = try validation.result(solver, grid: grid), reference = try validation.result(anchorSolver, grid: anchorGrid)
        if c.keptStandardLabel == anchor.label {
            #expect(chosen.sampleErrors == reference.sampleErrors)
        } else {
            #expect(chosen.medianError <= reference.medianError && chosen.rmse <= reference.rmse,
                    "\(c.method): median \(chosen.medianError) RMSE \(chosen.rmse); anchor \(anchor.label): \(reference.medianError), \(reference.rmse)")
        }
    }

    /// The guard against the anchors on hand-made validation figures (median, RMSE), with "at or
    /// below" as both figures at most the other's: finalist 0 is the search's choice, 1 and 2 are
    /// anchors that trade the median against the RMSE.
    @Test("against anchors that trade the median for the RMSE, a finalist at or below both is kept over either anchor")
    func anchorGuard() {
        func guarded(_ medians: [Double], _ rmses: [Double], anchors: [Int] = [1, 2]) -> Int {
            Tuner.guarded(chosen: 0, anchors: anchors, count: medians.count, atOrBelow: { medians[$0] <= medians[$1] && rmses[$0] <= rmses[$1] },
                          product: { medians[$0] * rmses[$0] })
        }
        // 0 beats anchor 1 but not anchor 2's RMSE; 3 is at or below both anchors by both measures.
        #expect(guarded([1, 2, 4, 1.5], [3, 5, 2, 2]) == 3)
        // Two finalists at or below both anchors: the least product, 4 (1.5 · 1.8 = 2.7 < 1.9 · 2 = 3.8).
        #expect(guarded([1, 2, 4, 1.9, 1.5], [3, 5, 2, 2, 1.8]) == 4)
        // None at or below both: the first anchor, the best single peer, whatever the products (2 · 5 = 10 > 4 · 2 = 8).
        #expect(guarded([1, 2, 4, 3], [3, 5, 2, 6]) == 1)
        #expect(guarded([1, 2, 4, 3], [3, 5, 2, 6], anchors: [2, 1]) == 2)
        // An anchor that beats the other is itself at or below both.
        #expect(guarded([1, 2, 3], [9, 2, 3]) == 1)
        // A choice at or below every anchor stays, even when another has a smaller product.
        #expect(guarded([2, 2, 4, 0.1], [2, 5, 2, 0.1]) == 0)
        // A finalist that did not run (infinite figures) is never chosen.
        #expect(guarded([1, 2, 4, .infinity], [3, 5, 2, .infinity]) == 1)
        #expect(guarded([1, 2, 4, .infinity, 1.5], [3, 5, 2, .infinity, 2]) == 4)
        #expect(guarded([1], [1], anchors: []) == 0)
    }

    /// Rectified flow starts at pure noise (`λ = −∞` at `t = 1`), where log-SNR spacing has no first
    /// point: the fine grid and DC-Solver's rule grid are then uniform in time, and every grid starts at `t = 1`.
    @Test("the tuner runs on a rectified-flow schedule, its grids starting at pure noise")
    func flowSchedule() throws {
        let flow = RectifiedFlowSchedule()
        var settings = Self.settings()
        settings.budgets = [4]
        settings.tuningSamples = 8
        settings.holdoutSamples = 8
        settings.fineSteps = 20
        settings.search = EvolutionarySearch(population: 6, parents: 2, mutations: 3, crossovers: 1, generations: 1)
        let tuner = Tuner(model: BuiltInModels.ring, schedule: flow, settings: settings, cacheDirectory: nil)
        #expect(tuner.fineSpacing == .timeUniform && tuner.compensationSpacing == .timeUniform)
        let file = try tuner.run()
        let c = try #require(file.configurations.first)
        let (solver, grid) = try c.prepared(on: flow)
        #expect(solver.evaluations(on: grid) <= 4 && grid.endsClean)
        #expect(flow.displaySigma(grid[0]) == 1, "starts at \(flow.displaySigma(grid[0]))")
        #expect(c.heldOutRMSE.map { $0.isFinite } == true)
        settings.statisticsFile = "flow.ems.safetensors"
        do {
            _ = try Tuner(model: BuiltInModels.ring, schedule: flow, settings: settings, cacheDirectory: nil).run()
            Issue.record("estimated DPM-Solver-v3 statistics on a schedule that starts at pure noise")
        } catch {
            #expect("\(error)".contains("--no-statistics") && !"\(error)".contains("\n"), "\(error)")
        }
    }

    @Test("a standard configuration the tuner kept is named by its label")
    func keptStandardLabel() {
        let standard = StandardConfiguration(solver: "ipndm", spacing: .logSNR)
        var c = TunedConfiguration(nfe: 5, kind: .catalog(name: "ipndm", order: nil), sigmas: [1, 0], provenance: .kept(standard), tuningRMSE: 1,
                                   untuned: standard, untunedTuningRMSE: 1)
        #expect(c.keptStandardLabel == "ipndm logsnr" && c.runLabel == "ipndm logsnr")
        c.provenance = .tuned(method: "DC-Solver ratios (UniPC bh2, order 2) on the logsnr grid")
        c.kind = .dcSolver(variant: .bh2, order: 2, ratios: [1])
        #expect(c.keptStandardLabel == nil && c.runLabel == "tuned dc_solver")
        // What the tuner writes when it keeps one.
        for kept in Self.tuned.configurations {
            guard case let .kept(standard) = kept.provenance else { continue }
            #expect(standard == kept.untuned && kept.keptStandardLabel == kept.untunedLabel)
        }
    }

    @Test("the same seed gives the same tuned configurations")
    func deterministic() throws {
        let again = try Tuner(model: BuiltInModels.ring, schedule: Self.schedule, settings: Self.settings(), cacheDirectory: nil).run()
        #expect(again.configurations == Self.tuned.configurations)
    }

    @Test("a tuned file survives writing and reading; a file for another model or schedule is refused")
    func fileRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tuned-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("tuned.json")
        try Self.tuned.encoded().write(to: url)
        let read = try TunedFile(contentsOf: url)
        #expect(read == Self.tuned)
        try read.check(model: BuiltInModels.ring, schedule: Self.schedule)
        #expect(throws: SamplingError.self) { try read.check(model: BuiltInModels.glyphs, schedule: Self.schedule) }
        #expect(throws: SamplingError.self) { try read.check(model: BuiltInModels.ring, schedule: VESchedule()) }
        #expect(throws: SamplingError.self) { try read.configuration(nfe: 5) }
    }

    /// The committed `tuned.json` of a shipped network, written before configurations were typed.
    static func shippedTunedFile(_ network: String) throws -> URL {
        let model = try #require(try BuiltInModels.model(named: network) as? UNetDiffusionModel)
        let directory = try #require(model.tuning?.directory)
        return directory.appendingPathComponent(ModelTuning.fileName)
    }

    @Test("a committed tuned.json reads into typed configurations (a solver schedule, a kept standard configuration, DC-Solver) and writes back equal")
    func committedFileRoundTrip() throws {
        let url = try Self.shippedTunedFile("photos")
        let file = try TunedFile(contentsOf: url)
        #expect(file.configurations.contains { if case .solverSchedule = $0.kind { true } else { false } })
        #expect(file.configurations.contains {
            if case .dcSolver(.bh2, 2, let ratios) = $0.kind { ratios.count == $0.sigmas.count - 1 } else { false }
        })
        let kept = try #require(file.configurations.first { $0.keptStandardLabel != nil })
        #expect(kept.provenance == .kept(StandardConfiguration(solver: "ipndm", spacing: .logSNR)))
        #expect(kept.kind == .catalog(name: "ipndm", order: nil) && kept.method == "untuned: ipndm logsnr")
        let schedule = try #require(file.configurations.compactMap(\.solverSchedule).first)
        #expect(schedule.sigmas.count == schedule.decisions.steps + 1)
        // The same JSON, field for field, as the committed file.
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? NSDictionary
        let written = try JSONSerialization.jsonObject(with: file.encoded()) as? NSDictionary
        #expect(original != nil && original == written)
        let again = try JSONDecoder().decode(TunedFile.self, from: file.encoded())
        #expect(again == file)
    }

    @Test("every committed tuned file (shipped networks, benchmark models) reads and writes back the same JSON")
    func committedFilesRoundTrip() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let urls = try BuiltInModels.networkNames.map { try Self.shippedTunedFile($0) }
            + ["mixture-2d", "glyphs-8x8", "digits-mixture"].map { root.appendingPathComponent("Benchmarks/tuned/\($0).json") }
        for url in urls {
            let file = try TunedFile(contentsOf: url)
            let original = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? NSDictionary
            let written = try JSONSerialization.jsonObject(with: file.encoded()) as? NSDictionary
            #expect(original != nil && original == written, "\(url.lastPathComponent)")
        }
    }

    @Test("a tuned file naming an unknown solver kind is refused with one line")
    func unknownSolverKind() throws {
        let text = try String(contentsOf: try Self.shippedTunedFile("digits"), encoding: .utf8)
            .replacingOccurrences(of: "\"solver\" : \"ipndm\"", with: "\"solver\" : \"warp_drive\"")
        #expect(text.contains("warp_drive"))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("unknown-kind-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try TunedFile(contentsOf: url)
            Issue.record("accepted a tuned file with solver 'warp_drive'")
        } catch let error as SamplingError {
            #expect("\(error)".contains("unknown solver kind 'warp_drive'") && !"\(error)".contains("\n"), "\(error)")
        }
    }

    @Test("malformed tuned files fail with a message that names the problem", arguments: [
        ("{", "not valid JSON"),
        (#"{"format": "diffuse-tuned/1"}"#, "missing field"),
        (#"{"format": "other/2", "model": "m", "schedule": "s", "tuning_seed": 0, "tuning_samples": 1, "holdout_seed": 1, "holdout_samples": 1, "tolerance": 1e-7, "seconds": 1, "budget_seconds": 1, "configurations": []}"#, "expected 'diffuse-tuned/1'"),
        (#"{"format": "diffuse-tuned/1", "model": "m", "schedule": "s", "tuning_seed": 0, "tuning_samples": 1, "holdout_seed": 1, "holdout_samples": 1, "tolerance": 1e-7, "seconds": 1, "budget_seconds": 1, "configurations": []}"#, "no configurations"),
    ])
    func malformed(text: String, mention: String) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-tuned-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        do {
            _ = try TunedFile(contentsOf: url)
            Issue.record("accepted \(text)")
        } catch let error as SamplingError {
            #expect("\(error)".contains(mention), "\(error)")
            #expect(!"\(error)".contains("\n"))
        }
    }

    @Test("a tuned finalist replaces the best untuned one only when it is better beyond chance on validation samples")
    func choiceBeyondChance() throws {
        // Per-sample errors of 64 validation samples: the untuned reference (index 1), with one
        // sample far off, and an untuned one 20% worse (index 0); a tuned one with the least RMSE
        // that is 5% worse on 63 samples and only better on the one far off (index 2); a tuned one
        // 5% better on every sample (index 3).
        let n = 64
        var reference = [Double](repeating: 1, count: n)
        reference[0] = 5
        let worseUntuned = reference.map { 1.2 * $0 }
        var lucky = reference.map { 1.05 * $0 }
        lucky[0] = 3
        let better = reference.map { 0.95 * $0 }
        func rmse(_ e: [Double]) -> Double { (e.map { $0 * $0 }.reduce(0, +) / Double(e.count)).squareRoot() }
        #expect(rmse(lucky) < rmse(reference) && rmse(better) > rmse(lucky))
        let all = [worseUntuned, reference, lucky, better]
        let rmses = all.map(rmse), untuned = [true, true, false, false]
        // The lucky one has the least RMSE, but its interval reaches 1; the consistent one is chosen.
        let c = Tuner.choose(validationRMSE: rmses, sampleErrors: all, isUntuned: untuned, confidence: 0.9, seed: 1)
        #expect(c.chosen == 3 && c.reference == 1 && c.rejected == nil)
        let accepted = try #require(c.interval)
        // 5% better on every draw: every resample's ratio is 0.95.
        #expect(abs(accepted.lowerBound - 0.95) < 1e-9 && abs(accepted.upperBound - 0.95) < 1e-9, "\(accepted)")
        // Without the consistent one the reference is kept, and the lucky one is reported with its interval.
        let three = Tuner.choose(validationRMSE: Array(rmses.prefix(3)), sampleErrors: Array(all.prefix(3)), isUntuned: Array(untuned.prefix(3)),
                                 confidence: 0.9, seed: 1)
        #expect(three.chosen == 1 && three.reference == 1 && three.interval == nil)
        let rejected = try #require(three.rejected)
        #expect(rejected.index == 2 && rejected.interval.lowerBound < 1 && rejected.interval.upperBound >= 1)
        // Without a confidence the least validation RMSE wins.
        #expect(Tuner.choose(validationRMSE: rmses, sampleErrors: all, isUntuned: untuned, confidence: nil, seed: 1).chosen == 2)
        // A tuned finalist that failed (no per-sample errors, infinite RMSE) is never chosen.
        let failed = Tuner.choose(validationRMSE: [1, .infinity], sampleErrors: [reference, []], isUntuned: [true, false], confidence: 0.9, seed: 1)
        #expect(failed.chosen == 0)
        // When no untuned finalist ran, a tuned one that did is chosen.
        let noBaseline = Tuner.choose(validationRMSE: [.infinity, 1], sampleErrors: [[], reference], isUntuned: [true, false], confidence: 0.9, seed: 1)
        #expect(noBaseline.chosen == 1)
    }

    @Test("bad settings are refused before any work")
    func badSettings() throws {
        var s = Self.settings()
        s.holdoutSeed = s.seed
        #expect(throws: SamplingError.self) { try Tuner(model: BuiltInModels.ring, schedule: Self.schedule, settings: s, cacheDirectory: nil).run() }
        s = Self.settings()
        s.budgets = [0]
        #expect(throws: SamplingError.self) { try Tuner(model: BuiltInModels.ring, schedule: Self.schedule, settings: s, cacheDirectory: nil).run() }
        s = Self.settings()
        s.replacementConfidence = 1
        #expect(throws: SamplingError.self) { try Tuner(model: BuiltInModels.ring, schedule: Self.schedule, settings: s, cacheDirectory: nil).run() }
    }
}
