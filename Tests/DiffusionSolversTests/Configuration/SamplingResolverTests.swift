import Foundation
import Testing
import DiffusionSolvers

/// ``SamplingResolver`` decides what `diffuse sample` runs, as docs/CLI.md and docs/TUNING.md
/// describe it; each test names the rule it checks.
@Suite("Resolving what runs")
struct SamplingResolverTests {
    static let sd = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)

    static func resolve(_ request: SamplingRequest, model: any DiffusionModel = BuiltInModels.ring,
                        schedule: any NoiseSchedule = sd) throws -> SamplingPlan {
        try SamplingResolver.resolve(request, model: model, schedule: schedule)
    }

    @Test("a named solver runs as named, on Karras steps by default, for --steps or within --nfe")
    func namedSolver() throws {
        let plan = try Self.resolve(SamplingRequest(solver: "dpmpp_2m", steps: 7))
        guard case .namedSolver = plan.reason else { Issue.record("reason \(plan.reason)"); return }
        #expect(plan.label == "dpmpp_2m" && plan.solver.name == "dpmpp_2m" && plan.spacing == "karras" && plan.grid.steps == 7)
        let budgeted = try Self.resolve(SamplingRequest(solver: "heun", nfe: 9, spacing: "logsnr"))
        #expect(budgeted.spacing == "logsnr" && budgeted.solver.evaluations(on: budgeted.grid) <= 9)
        let explicit = try Self.resolve(SamplingRequest(solver: "euler", sigmas: [14.6, 3, 0.5, 0]))
        #expect(explicit.spacing == "explicit sigmas" && explicit.grid.steps == 3)
    }

    @Test("--nfe without a solver runs the default rule's choice for the schedule and budget",
          arguments: [3, 5, 6, 10, 12, 20])
    func recommendedTable(nfe: Int) throws {
        let plan = try Self.resolve(SamplingRequest(nfe: nfe))
        let choice = RecommendedConfiguration.choice(forNFE: nfe, schedule: Self.sd)
        guard case let .recommendedTable(used, budget, note) = plan.reason else { Issue.record("reason \(plan.reason)"); return }
        #expect(used == choice && budget == nfe && note == nil)
        #expect(plan.spacing == choice.spacing.name && plan.solver.evaluations(on: plan.grid) <= nfe)
        #expect(plan.label == choice.solver + (choice.decisions.map { " [\($0.summary)]" } ?? ""))
    }

    @Test("without --nfe, --steps is the budget and 20 the default")
    func stepsAsBudget() throws {
        guard case let .recommendedTable(choice, budget, _) = try Self.resolve(SamplingRequest(steps: 6)).reason else {
            Issue.record("not the table"); return
        }
        #expect(budget == 6 && choice == RecommendedConfiguration.choice(forNFE: 6, schedule: Self.sd))
        guard case .recommendedTable(_, 20, _) = try Self.resolve(SamplingRequest()).reason else { Issue.record("default budget"); return }
    }

    @Test("with steps or orders set by hand, the rule's named solver runs, without searched decisions")
    func setByHand() throws {
        let requests = [SamplingRequest(nfe: 5, spacing: "karras"), SamplingRequest(options: .init(order: 2), nfe: 5),
                        SamplingRequest(nfe: 10, spacing: "logsnr")]
        for request in requests {
            let plan = try Self.resolve(request)
            let budget = request.nfe ?? 0
            let named = RecommendedConfiguration.namedChoice(forNFE: budget, schedule: Self.sd)
            guard case let .recommendedTable(choice, _, _) = plan.reason else { Issue.record("reason \(plan.reason)"); continue }
            #expect(choice == named && choice.decisions == nil && plan.label == named.solver)
        }
        // A range set by hand keeps the rule's own solver.
        let ranged = try Self.resolve(SamplingRequest(nfe: 6, sigmaMax: 10))
        #expect(ranged.label == RecommendedConfiguration.choice(forNFE: 6, schedule: Self.sd).solver)
    }

    @Test("the digits network runs its own tuned.json at the budgets it has, the table elsewhere and under guidance")
    func modelTuning() throws {
        let model = try #require(try BuiltInModels.model(named: "digits") as? UNetDiffusionModel)
        let tuning = try #require(model.tuning)
        for configuration in tuning.file.configurations {
            let plan = try Self.resolve(SamplingRequest(nfe: configuration.nfe), model: model, schedule: model.schedule)
            guard case .modelTuning(_, _, configuration.nfe) = plan.reason else { Issue.record("\(configuration.nfe): \(plan.reason)"); continue }
            #expect(plan.label == configuration.runLabel && plan.spacing == "tuned")
        }
        let tunedBudget = try #require(tuning.file.configurations.first?.nfe)
        for request in [SamplingRequest(nfe: tunedBudget + 1), SamplingRequest(nfe: tunedBudget, guided: true),
                        SamplingRequest(nfe: tunedBudget, spacing: "karras"), SamplingRequest(nfe: tunedBudget, final: .minimum)] {
            guard case .recommendedTable = try Self.resolve(request, model: model, schedule: model.schedule).reason else {
                Issue.record("\(request) did not run the table"); continue
            }
        }
        guard case .namedSolver = try Self.resolve(SamplingRequest(solver: "euler", nfe: tunedBudget), model: model, schedule: model.schedule).reason
        else { Issue.record("a named solver must win over the model's tuning"); return }
    }

    @Test("--tuned FILE runs the file's configuration for --nfe and refuses options that contradict it")
    func tunedFile() throws {
        let model = try #require(try BuiltInModels.model(named: "digits") as? UNetDiffusionModel)
        let tuning = try #require(model.tuning)
        let url = tuning.directory.appendingPathComponent(ModelTuning.fileName)
        let configuration = try #require(tuning.file.configurations.last)
        let plan = try Self.resolve(SamplingRequest(nfe: configuration.nfe, tunedFile: url), model: model, schedule: model.schedule)
        guard case .tunedFile(url) = plan.reason else { Issue.record("reason \(plan.reason)"); return }
        #expect(plan.label == configuration.runLabel && plan.spacing == "tuned")
        for (request, words) in [(SamplingRequest(solver: "ddim", nfe: configuration.nfe, tunedFile: url), "drop --solver"),
                                 (SamplingRequest(nfe: configuration.nfe, tunedFile: url, guided: true), "unguided model"),
                                 (SamplingRequest(tunedFile: url), "give --nfe")] {
            do {
                _ = try Self.resolve(request, model: model, schedule: model.schedule)
                Issue.record("resolved \(request)")
            } catch {
                #expect(String(describing: error).contains(words), "\(error)")
            }
        }
    }

    /// Before the property, `diffuse sample` picked the tree by name: `hasSuffix("_sde") ||
    /// contains("_sde_")`, except `score_sde_pc`. Every catalog name must get the same noise now.
    @Test("the SDE solvers declare a Brownian tree, every other solver independent draws")
    func stepNoise() throws {
        let needInputs = Set(SolverCatalog.entries.filter { $0.needs != nil }.flatMap { [$0.name] + $0.aliases })
        for name in SolverCatalog.names where !needInputs.contains(name) {
            let solver = try SolverCatalog.solver(named: name)
            // diffusers' sde-dpmsolver++ and ComfyUI's er_sde and exp_heun_2_x0_sde draw independent Gaussian noise, as their references do.
            let byName = (name.hasSuffix("_sde") || name.contains("_sde_")) && name != "score_sde_pc" && !name.hasSuffix("_diffusers")
                && name != "er_sde" && name != "exp_heun_2_x0_sde"
            #expect(solver.stepNoise == (byName ? .brownianTree : .independent), "\(name)")
        }
        #expect(try Self.resolve(SamplingRequest(solver: "dpmpp_2m_sde", steps: 4)).stepNoise == .brownianTree)
        #expect(try Self.resolve(SamplingRequest(solver: "dpmpp_sde_gpu", steps: 4)).stepNoise == .brownianTree)
        #expect(try Self.resolve(SamplingRequest(solver: "dpmpp_2m_sde", steps: 4, stepNoise: .independent)).stepNoise == .independent)
        #expect(try Self.resolve(SamplingRequest(solver: "euler_ancestral", steps: 4)).stepNoise == .independent)
        #expect(try Self.resolve(SamplingRequest(solver: "euler_ancestral", steps: 4, stepNoise: .brownianTree)).stepNoise == .brownianTree)
    }

    @Test("a diffusers config's timestep_spacing is the default spacing; DDIM-family configs take DDIM's own rules")
    func defaultSpacing() {
        #expect(SamplingResolver.defaultSpacingName(for: nil) == "karras")
        var config = DiffusersSchedulerConfig()
        #expect(SamplingResolver.defaultSpacingName(for: config) == "karras")
        config.timestepSpacing = "leading"
        #expect(SamplingResolver.defaultSpacingName(for: config) == "leading")
        config.setAlphaToOne = false
        #expect(SamplingResolver.defaultSpacingName(for: config) == "ddim-leading")
        config.timestepSpacing = "trailing"
        #expect(SamplingResolver.defaultSpacingName(for: config) == "trailing")
    }
}
