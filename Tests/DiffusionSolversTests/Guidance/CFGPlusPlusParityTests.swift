import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// The CFG++ samplers against ComfyUI's own (`comfy/k_diffusion/sampling.py`, `*_cfg_pp`) on its CFG of
/// the exact labelled mixture, fed the draws ComfyUI consumed (`tools/fixtures_cfgpp.py`, `parity_cfgpp.json`).
@Suite("Parity with ComfyUI: CFG++ samplers")
struct CFGPlusPlusParityTests {
    static let file: ParityFile? = try? ParityFile.load("parity_cfgpp.json")
    static let cases: [ParityCase] = file?.cases ?? []
    static let mixture = try! GaussianMixture(contentsOf: Fixtures.url("mixture_labeled_2d.safetensors"))

    @Test("the fixture file has every CFG++ sampler")
    func coverage() throws {
        try #require(Self.file != nil, "parity_cfgpp.json is missing or does not decode")
        #expect(Set(Self.cases.map(\.solver)) == ["euler_cfg_pp", "euler_ancestral_cfg_pp", "dpmpp_2m_cfg_pp", "dpmpp_2s_ancestral_cfg_pp"])
    }

    @Test("endpoint within 5e-5 relative RMS of ComfyUI's, same NFE", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let schedule = try c.schedule()
        let grid = try StepSchedule.grid(sigmas: c.sigmas, on: schedule)
        let model = try ClassifierFreeGuidance(base: Self.mixture, classLabel: try #require(c.number("class_label").map { Int($0) }),
                                               scale: try #require(c.number("guidance_scale")))
        let solver = try SolverCatalog.solver(named: c.solver)
        let (out, nfe) = try c.run(solver, model: model, schedule: schedule, grid: grid)
        #expect(nfe == c.nfe, "NFE \(nfe), reference \(c.nfe)")
        let error = Compare.relativeRMS(out, c.expected)
        #expect(error <= 5e-5, "relative RMS \(error)")
        // The unconditional direction matters: plain guidance with the base sampler ends elsewhere.
        let plain: [String: String] = ["euler_cfg_pp": "euler", "euler_ancestral_cfg_pp": "euler_ancestral", "dpmpp_2m_cfg_pp": "dpmpp_2m",
                                       "dpmpp_2s_ancestral_cfg_pp": "dpmpp_2s_ancestral"]
        let (other, _) = try c.run(try SolverCatalog.solver(named: plain[c.solver]!), model: model, schedule: schedule, grid: grid)
        #expect(Compare.relativeRMS(other, c.expected) > 1e-3, "\(c.solver) equals its plain sampler")
    }
}
