import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Singlestep DPM-Solver-2/3 and DPM-Solver++(2S)/(3S) against the authors' own update functions
/// (`dpm_solver_pytorch.py`, `singlestep_dpm_solver_update`), stepped on the official time grids
/// (time-uniform, logSNR, time-quadratic; 5/10/20 steps) of the continuous linear VP schedule on the
/// exact mixtures (`tools/fixtures_dpm_solver_official.py`, `parity_dpm_solver_official.json`).
@Suite("Parity with the official DPM-Solver code: dpm_solver_2, dpm_solver_3, dpmpp_2s, dpmpp_3s")
struct DPMSolverOfficialParityTests {
    static let solverNames: Set<String> = ["dpm_solver_2", "dpm_solver_3", "dpmpp_2s", "dpmpp_3s"]
    static let file: ParityFile? = try? ParityFile.load("parity_dpm_solver_official.json")
    static let cases: [ParityCase] = file?.cases ?? []
    static let calls = Fixtures.modelCallSigmas("parity_dpm_solver_official.json")

    @Test("the fixture file covers every solver on every spacing")
    func coverage() throws {
        try #require(Self.file != nil, "parity_dpm_solver_official.json is missing or does not decode")
        for name in Self.solverNames {
            let spacings = Set(Self.cases.filter { $0.solver == name }.map(\.spacing))
            #expect(spacings == ["time_uniform", "logSNR", "time_quadratic"], "\(name): \(spacings)")
        }
    }

    @Test("endpoint within 5e-5 relative RMS of the official code's, same NFE and model-call levels", arguments: cases)
    func parity(_ c: ParityCase) throws {
        try c.expectReferenceRun(try SolverCatalog.solver(named: c.solver), calls: Self.calls[c.name], callTolerance: 1e-6)
    }
}
