import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Stochastic samplers against k-diffusion (`sample_euler_ancestral`, `sample_dpm_2_ancestral`,
/// `sample_dpmpp_2s_ancestral`, `sample_dpmpp_sde`, `sample_dpmpp_2m_sde`, `sample_dpmpp_3m_sde`,
/// `sample_euler`/`sample_heun` with churn) and diffusers (`DDPMScheduler`, `DDIMScheduler` with
/// η = 1, `DPMSolverMultistepScheduler` with `sde-dpmsolver++`), each fed the draws the reference
/// consumed, in order (`tools/fixtures_stochastic.py`). SA-Solver's and the score-SDE
/// predictor-corrector sampler's cases in the same file are checked by `SASolverTests` and
/// `ScoreSDETests`, which map their own options and grids.
@Suite("Parity with k-diffusion and diffusers: stochastic samplers")
struct StochasticParityTests {
    static let file = try! ParityFile.load("parity_stochastic.json")
    static let testedElsewhere: Set<String> = ["sa_solver", "score_sde_pc"]
    static let cases = file.cases.filter { !testedElsewhere.contains($0.solver) }
    static let mixtures: [String: GaussianMixture] = [
        "mixture_2d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")),
        "mixture_16d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")),
    ]

    static func solver(for c: ParityCase, orders: [Int]?) throws -> any Solver {
        let eta = c.number("eta") ?? c.eta
        let sNoise = c.number("s_noise") ?? 1
        switch c.solver {
        case "euler", "heun":
            let churn = Churn(sChurn: c.number("s_churn") ?? 0, sTmin: c.number("s_tmin") ?? 0, sTmax: c.number("s_tmax") ?? .infinity,
                              sNoise: sNoise)
            return c.solver == "euler" ? Euler(churn: churn) as any Solver : Heun(churn: churn)
        case "ddpm": return DDPM(variance: c.string("variance_type") == "fixed_large" ? .fixedLarge : .fixedSmall)
        case "ddim": return DDIM(eta: eta)
        case let name where name.hasSuffix("_diffusers") && name.contains("_sde"):
            var s = DPMSolverMultistep(prediction: .data, solverOrder: Int(c.number("solver_order") ?? 2),
                                       secondOrderForm: c.string("solver_type") == "heun" ? .heun : .midpoint,
                                       lowerOrderFinal: c.bool("lower_order_final") ?? true, stepOrders: orders)
            s.stochastic = true
            return s
        default:
            let options = SolverCatalog.Options(eta: eta, sNoise: sNoise)
            return try SolverCatalog.solver(named: c.solver, options: options)
        }
    }

    @Test("endpoint within 5e-5 relative RMS of the reference fed the same draws (of its float64 recomputation where it is NaN)", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let schedule = try c.schedule()
        let reference = c.reconciled()
        let ours = try reference.stepSchedule.grid(on: schedule)
        if let mismatch = reference.expectMatches(ours, schedule: schedule) { Issue.record(Comment(rawValue: mismatch)); return }
        // Our grid equals the reference's to its float32 ᾱ (checked above); the run itself uses the
        // reference's recorded sigmas, so the comparison isolates the sampler: fresh noise scaled by
        // σ_t·√(1 − e^{−2h}) otherwise carries diffusers' float32 schedule error (up to 8.3e-5) into
        // the endpoint. DDPM decides whether to add noise from the exact training timestep (t > 0),
        // which a round trip through float32 sigmas would blur: it runs on our own (identical) grid.
        let grid = c.solver == "ddpm" ? ours : try StepSchedule.grid(sigmas: reference.sigmas, on: schedule)
        let orders = reference.orders
        let model = try #require(Self.mixtures[c.mixture])
        func run<S: Solver>(_ solver: S) throws -> (SampleTensor, Int) {
            let r = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: c.initialSample,
                                    noise: c.recordedNoise)
            return (try r.finish(), r.evaluations)
        }
        let (out, nfe) = try run(try Self.solver(for: c, orders: orders))
        #expect(out.isFinite)
        #expect(nfe == reference.nfe)
        if c.reference_nan == true {
            // diffusers' NaN across a repeated last sigma: the same formulas and draws recomputed in
            // float64 on our grid (`tools/fixtures_f64_grid.py`).
            GridRecomputations.expectMatches(out, c)
        } else {
            let error = Compare.relativeRMS(out, c.expected)
            #expect(error <= Swift.max(5e-5, 3 * (c.f64_check_rel_rms ?? 0)), "relative RMS \(error)")
        }
    }
}
