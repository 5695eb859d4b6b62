import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// ComfyUI's own samplers (`comfy/k_diffusion/sampling.py`) against the trajectories ComfyUI's code
/// produced on the exact mixtures (EDM, k-diffusion's Karras and exponential sigmas, 5/10/20 steps),
/// the stochastic ones fed the draws it consumed, in order (`tools/fixtures_comfy.py`,
/// `parity_comfy.json`).
@Suite("Parity with ComfyUI: res_multistep, gradient_estimation, ipndm_v, ...")
struct ComfyParityTests {
    /// The solvers this library implements from the fixture file (the file may hold more).
    static let solverNames: Set<String> = ["res_multistep", "res_multistep_ancestral", "gradient_estimation", "ipndm_v", "heunpp2", "seeds_2", "seeds_3", "er_sde"]
    static let file: ParityFile? = try? ParityFile.load("parity_comfy.json")
    static let cases: [ParityCase] = (file?.cases ?? []).filter { solverNames.contains($0.solver) }
    /// The VE sigma of every model call of the reference, in order.
    static let calls = Fixtures.modelCallSigmas("parity_comfy.json")

    @Test("the fixture file has Karras and exponential cases for every solver")
    func coverage() throws {
        try #require(Self.file != nil, "parity_comfy.json is missing or does not decode")
        for name in Self.solverNames {
            let spacings = Set(Self.cases.filter { $0.solver == name }.map(\.spacing))
            #expect(spacings == ["karras", "exponential"], "\(name): \(spacings)")
        }
    }

    @Test("endpoint within 5e-5 relative RMS of ComfyUI's, same NFE and model-call sigmas", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let options = SolverCatalog.Options(eta: c.number("eta"), sNoise: c.number("s_noise") ?? 1)
        try c.expectReferenceRun(try SolverCatalog.solver(named: c.solver, options: options), calls: Self.calls[c.name])
    }
}
