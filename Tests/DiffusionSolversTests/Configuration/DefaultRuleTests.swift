import Foundation
import Testing
import DiffusionSolvers

/// The default rule (``RecommendedConfiguration/choice(forNFE:schedule:)``): what it picks for
/// each class of schedule and budget, as `docs/DEFAULT-CONFIGURATION.md` states it, and what it
/// achieves on a cosine-schedule mixture against diffusers' UniPC-bh2 with trailing steps.
@Suite("The default rule")
struct DefaultRuleTests {
    static let scaledLinear = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
    static let cosine = try! DiscreteVPSchedule(betaSchedule: .squaredCosCapV2)

    /// `(solver, spacing)` the documented rule names for budgets 5, 10 and 20, by class.
    static let expected: [RecommendedConfiguration.ScheduleClass: [Int: (String, String)]] = [
        .narrow: [5: ("uni_pc", "usf-5"), 10: ("lms", "karras"), 20: ("uni_pc_bh2", "karras")],
        .wide: [5: ("lms", "trailing"), 10: ("deis", "logsnr"), 20: ("uni_pc_bh2", "logsnr")],
        .flow: [5: ("euler", "time-uniform"), 10: ("uni_pc", "usf-10"), 20: ("uni_pc", "karras")],
    ]

    @Test("the class of a schedule follows its frame and σ/α at its first time (300 the boundary)")
    func classes() throws {
        // σ̃_max = √((1 − ᾱ_T)/ᾱ_T): 14.6 for Stable Diffusion's betas, above 10⁴ for the cosine betas.
        #expect(RecommendedConfiguration.ScheduleClass(Self.scaledLinear) == .narrow)
        #expect(RecommendedConfiguration.ScheduleClass(Self.cosine) == .wide)
        #expect(RecommendedConfiguration.ScheduleClass(try DiscreteVPSchedule(rescaleToZeroTerminalSNR: true)) == .wide)
        #expect(RecommendedConfiguration.ScheduleClass(VESchedule()) == .narrow)
        #expect(RecommendedConfiguration.ScheduleClass(VESchedule(sigmaMax: 500)) == .wide)
        #expect(RecommendedConfiguration.ScheduleClass(RectifiedFlowSchedule()) == .flow)
    }

    @Test("at 5, 10 and 20 NFE it picks the documented solver and spacing on a cosine VP, a scaled-linear VP, EDM and a flow schedule",
          arguments: [5, 10, 20])
    func picks(nfe: Int) throws {
        let cases: [(any NoiseSchedule, RecommendedConfiguration.ScheduleClass)] = [
            (Self.cosine, .wide), (Self.scaledLinear, .narrow), (VESchedule(), .narrow), (RectifiedFlowSchedule(), .flow)]
        for (schedule, scheduleClass) in cases {
            let choice = RecommendedConfiguration.choice(forNFE: nfe, schedule: schedule)
            let (solver, spacing) = try #require(Self.expected[scheduleClass]?[nfe])
            #expect(choice.solver == solver && choice.spacing.name == spacing && choice.scheduleClass == scheduleClass,
                    "\(schedule.name) at \(nfe): \(choice.label)")
            // UniPC's searched per-step decisions come with the table's usf steps, at their own budgets.
            #expect((choice.decisions != nil) == spacing.hasPrefix("usf"))
            // The resolver runs it, within the budget, and says why.
            let plan = try SamplingResolver.resolve(SamplingRequest(nfe: nfe), model: BuiltInModels.ring, schedule: schedule)
            guard case let .recommendedTable(used, budget, _) = plan.reason else { Issue.record("reason \(plan.reason)"); continue }
            #expect(used == choice && budget == nfe && plan.label.hasPrefix(solver) && plan.spacing == spacing)
            #expect(plan.solver.evaluations(on: plan.grid) <= nfe)
        }
    }

    @Test("a noise range set by hand turns a trailing choice into time-uniform steps over that range")
    func rangeByHand() throws {
        let plan = try SamplingResolver.resolve(SamplingRequest(nfe: 5, sigmaMax: 10), model: BuiltInModels.ring, schedule: Self.cosine)
        #expect(plan.label == "lms" && plan.spacing == "time-uniform")
        #expect(abs(Self.cosine.displaySigma(plan.grid[0]) - 10) < 1e-9)
    }

    /// A small mixture under the cosine schedule, unlike those the old table was searched on.
    static func cosineMixture() throws -> GaussianMixture {
        try GaussianMixture(weights: [0.5, 0.3, 0.2],
                            means: [1.2, -0.4, 0.8, 0.0, -1.0, 0.9, -0.6, 0.5, 0.3, -1.3, -0.2, -0.8],
                            stds: [0.10, 0.30, 0.05, 0.20, 0.15, 0.15, 0.15, 0.15, 0.40, 0.08, 0.20, 0.10],
                            name: "cosine-test")
    }

    @Test("on a cosine-schedule mixture at 10 NFE the default's error is at most that of diffusers' UniPC-bh2 with trailing steps")
    func cosineAgainstPeer() throws {
        let comparison = SamplerComparison(model: try Self.cosineMixture(), schedule: Self.cosine,
                                           noise: SeededNoise(seed: 25).initialNoise(shape: [64, 4]),
                                           groundTruth: GroundTruth(tolerance: 1e-7, cacheDirectory: nil))
        comparison.measuresDistances = false
        let (ours, _) = try comparison.runRecommended(nfe: 10)
        let peer = try comparison.run(.init(solver: "uni_pc_bh2", spacing: .trailing, nfe: 10))
        #expect(ours.nfe <= 10 && peer.nfe <= 10)
        #expect(ours.medianError <= peer.medianError, "median \(ours.medianError) against \(peer.medianError)")
        #expect(ours.rmse <= peer.rmse, "RMSE \(ours.rmse) against \(peer.rmse)")
        print("default/uni_pc_bh2 trailing at 10 NFE on the cosine mixture: median \(ours.medianError / peer.medianError), RMSE \(ours.rmse / peer.rmse)")
    }
}
