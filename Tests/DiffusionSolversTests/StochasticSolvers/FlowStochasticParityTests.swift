import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// The ancestral samplers on rectified flow against ComfyUI's own code, which switches
/// `euler_ancestral`, `dpm_2_ancestral` and `dpmpp_2s_ancestral` to their `_RF` forms on flow
/// models, `lcm` against ComfyUI's `sample_lcm` and diffusers'
/// `FlowMatchEulerDiscreteScheduler(stochastic_sampling=True)`; every reference fed the draws it
/// consumed, in order (`tools/fixtures_flow_comfy.py`, `parity_flow_stochastic.json`).
@Suite("Parity with ComfyUI and diffusers: stochastic samplers on rectified flow")
struct FlowStochasticParityTests {
    static let fileName = "parity_flow_stochastic.json"
    static let cases: [ParityCase] = (try? ParityFile.load(fileName))?.cases ?? []
    /// The flow sigma of every model call of the reference, in order.
    static let calls = Fixtures.modelCallSigmas(fileName)

    @Test("the fixture has the four samplers on both grids, and diffusers' stochastic Euler")
    func coverage() throws {
        try #require(!Self.cases.isEmpty, "\(Self.fileName) is missing or does not decode")
        #expect(Set(Self.cases.map(\.solver)) == ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "lcm"])
        #expect(Set(Self.cases.map(\.spacing)) == ["shift3", "shift3_from09"])
        #expect(Self.cases.filter { $0.reference.hasPrefix("diffusers") }.count == 6)
    }

    @Test("endpoint within 5e-5 relative RMS of the reference, same NFE, model-call sigmas and draws", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let schedule = try c.schedule()
        let grid = try StepSchedule.grid(sigmas: c.sigmas, on: schedule)
        let options = SolverCatalog.Options(eta: c.number("eta"), sNoise: c.number("s_noise") ?? 1)
        let solver = try SolverCatalog.solver(named: c.solver, options: options)
        let model = LevelRecordingModel(try GaussianMixture(contentsOf: Fixtures.url("\(c.mixture).safetensors")))
        let noise = try #require(c.recordedNoise)
        let (out, nfe) = try c.run(solver, model: model, schedule: schedule, grid: grid, noise: noise)
        #expect(nfe == c.nfe, "NFE \(nfe), reference \(c.nfe)")
        // ComfyUI consumes every draw; diffusers also draws on the last step, where σ′ = 0 multiplies it.
        let draws = c.step_noise?.count ?? 0
        #expect(noise.used == (c.reference.hasPrefix("diffusers") ? draws - 1 : draws), "used \(noise.used) of \(draws) draws")
        let expectedCalls = try #require(Self.calls[c.name])
        let ours = model.levels.map { schedule.displaySigma($0) }
        try #require(ours.count == expectedCalls.count)
        for (a, b) in zip(ours, expectedCalls) { #expect(abs(a - b) <= 1e-6 + 1e-5 * b, "model called at \(a), reference \(b)") }
        let error = Compare.relativeRMS(out, c.expected)
        #expect(error <= 5e-5, "relative RMS \(error)")
    }
}
