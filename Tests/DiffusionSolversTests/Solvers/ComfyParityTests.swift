import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// ComfyUI's own samplers (`comfy/k_diffusion/sampling.py`) against the trajectories ComfyUI's code
/// produced on the exact mixtures (EDM, k-diffusion's Karras and exponential sigmas, 5/10/20 steps),
/// the stochastic ones fed the draws it consumed, in order (`tools/fixtures_comfy.py`,
/// `parity_comfy.json`; `tools/fixtures_comfy_more.py`, `parity_comfy_more.json`, which also holds the
/// Restart sampler's reference written from the official code's formulas, Karras grids only).
@Suite("Parity with ComfyUI: res_multistep, gradient_estimation, ipndm_v, ..., restart")
struct ComfyParityTests {
    /// The solvers this library implements from the fixture files (the files may hold more).
    static let solverNames: Set<String> = ["res_multistep", "res_multistep_ancestral", "gradient_estimation", "ipndm_v", "heunpp2", "seeds_2", "seeds_3", "er_sde",
                                           "exp_heun_2_x0", "exp_heun_2_x0_sde", "sa_solver_pece", "deis_comfy", "restart", "ipndm"]
    static let fileNames = ["parity_comfy.json", "parity_comfy_more.json", "parity_ipndm.json"]
    static let files: [ParityFile?] = fileNames.map { try? ParityFile.load($0) }
    static let cases: [ParityCase] = files.flatMap { $0?.cases ?? [] }.filter { solverNames.contains($0.solver) }
    /// The VE sigma of every model call of the reference, in order.
    static let calls = fileNames.reduce(into: [String: [Double]]()) { $0.merge(Fixtures.modelCallSigmas($1)) { a, _ in a } }

    @Test("the fixture file has Karras and exponential cases for every solver")
    func coverage() throws {
        for (name, file) in zip(Self.fileNames, Self.files) { try #require(file != nil, "\(name) is missing or does not decode") }
        for name in Self.solverNames {
            let spacings = Set(Self.cases.filter { $0.solver == name }.map(\.spacing))
            #expect(spacings == (name == "restart" ? ["karras"] : ["karras", "exponential"]), "\(name): \(spacings)")
        }
    }

    @Test("endpoint within 5e-5 relative RMS of ComfyUI's, same NFE and model-call sigmas", arguments: cases)
    func parity(_ c: ParityCase) throws {
        try c.expectReferenceRun(try Self.solver(for: c), calls: Self.calls[c.name])
    }

    /// The catalog's solver with the case's options; Restart with the case's segments.
    static func solver(for c: ParityCase) throws -> any Solver {
        if c.solver == "restart" {
            guard case .array(let rows)? = c.option("segments") else { throw ScheduleError("\(c.name): no segments") }
            let segments = rows.map { row -> Restart.Segment in
                guard case .array(let v) = row, v.count == 4, case .number(let n) = v[0], case .number(let k) = v[1],
                      case .number(let lo) = v[2], case .number(let hi) = v[3] else { return Restart.Segment(levels: 0, repeats: 0, tMin: 0, tMax: 0) }
                return Restart.Segment(levels: Int(n), repeats: Int(k), tMin: lo, tMax: hi)
            }
            return Restart(segments: segments, sNoise: c.number("s_noise") ?? 1)
        }
        let options = SolverCatalog.Options(eta: c.number("eta"), order: c.number("order").map { Int($0) }, sNoise: c.number("s_noise") ?? 1)
        return try SolverCatalog.solver(named: c.solver, options: options)
    }
}
