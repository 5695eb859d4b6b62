import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// APG and CFG-Zero* against diffusers' guiders on recorded predictions (`tools/fixtures_guiders.py`,
/// `parity_guiders.json`), step by step, and the guidance interval against its definition.
@Suite("Guidance rules: APG, CFG-Zero*, guidance interval")
struct GuidanceRuleTests {
    struct Case: Decodable, Sendable, CustomStringConvertible {
        var name: String, rule: String, scale: Double
        var eta: Double?, norm_threshold: Double?, momentum: Double?, zero_init_steps: Int?
        var cond: [[[Float]]], uncond: [[[Float]]], pred: [[[Float]]]
        var description: String { name }
    }
    struct File: Decodable { var cases: [Case] }
    static let cases: [Case] = (try? JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("parity_guiders.json"))))?.cases ?? []

    @Test("the fixture has APG and CFG-Zero* cases")
    func coverage() { #expect(Set(Self.cases.map(\.rule)) == ["apg", "cfg_zero_star"]) }

    static func tensor(_ rows: [[Float]]) -> SampleTensor { SampleTensor(shape: [rows.count, rows[0].count], scalars: rows.flatMap { $0 }) }

    @Test("every step within float32 precision of diffusers", arguments: cases)
    func parity(_ c: Case) throws {
        let rule: any GuidanceCombination = c.rule == "apg"
            ? try AdaptiveProjectedGuidance(eta: c.eta!, normThreshold: c.norm_threshold!, momentum: c.momentum)
            : try CFGZeroStar(zeroInitSteps: c.zero_init_steps!)
        for step in c.cond.indices {
            let cond = Self.tensor(c.cond[step]), uncond = Self.tensor(c.uncond[step])
            var out = SampleTensor(zeros: cond.shape)
            rule.combine(conditional: cond, unconditional: uncond, scale: c.scale, into: &out)
            let expected = c.pred[step].flatMap { $0 }
            for (a, b) in zip(out.scalars, expected) {
                #expect(abs(a - b) <= 5e-5 + 1e-5 * abs(b), "step \(step): \(a) vs \(b)")
            }
        }
    }

    @Test("outside the guidance interval the guided model is the conditional one; inside it is CFG")
    func interval() throws {
        let mixture = try GaussianMixture(contentsOf: Fixtures.url("mixture_labeled_2d.safetensors"))
        var limited = try ClassifierFreeGuidance(base: mixture, classLabel: 1, scale: 4)
        limited.interval = try GuidanceInterval(low: 0.5, high: 2, frame: .varianceExploding)
        let full = try ClassifierFreeGuidance(base: mixture, classLabel: 1, scale: 4)
        let conditional = try ClassifierFreeGuidance(base: mixture, classLabel: 1, scale: 1)
        let x = TestModels.noise([8, 2])
        for sigma in [0.1, 0.5, 1.0, 2.0, 5.0] {
            let level = VESchedule().level(sigma: sigma)
            var a = SampleTensor(zeros: x.shape), b = a
            try limited.predict(x, at: level, into: &a)
            try ((0.5...2).contains(sigma) ? full : conditional).predict(x, at: level, into: &b)
            #expect(a == b, "sigma \(sigma)")
        }
        #expect(throws: ModelError.self) { try GuidanceInterval(low: 2, high: 1, frame: .varianceExploding) }
        #expect(throws: ModelError.self) { try GuidanceInterval(low: -1, high: 1, frame: .varianceExploding) }
    }
}
