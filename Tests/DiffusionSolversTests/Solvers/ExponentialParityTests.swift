import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// DPM-Solver(++), UniPC, DEIS and singlestep DPM-Solver against diffusers
/// (`DPMSolverMultistepScheduler`, `DPMSolverSinglestepScheduler`, `UniPCMultistepScheduler`,
/// `DEISMultistepScheduler`) and k-diffusion (`sample_dpmpp_2m`), including classifier-free
/// guidance, guidance rescale and dynamic thresholding, on exact Gaussian-mixture denoisers with
/// the same initial state and grid (fixtures from `tools/fixtures_solvers.py`).
@Suite("Parity with diffusers and k-diffusion: DPM-Solver, UniPC, DEIS")
struct ExponentialParityTests {
    static let file = try! ParityFile.load("parity_solvers.json")
    static let ours: Set<String> = ["dpmpp_2m", "dpmpp_2m_heun", "dpmpp_3m", "dpm_2m", "dpm_3m", "uni_pc", "uni_pc_bh2", "deis",
                                    "dpmpp_2s_diffusers", "dpmpp_3s_diffusers", "dpm_solver_2_diffusers", "dpm_solver_3_diffusers"]
    static let cases = file.cases.filter { ours.contains($0.solver) }
    static let mixtures: [String: GaussianMixture] = [
        "mixture_2d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")),
        "mixture_16d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")),
        "mixture_labeled_2d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_labeled_2d.safetensors")),
    ]

    /// - Parameter orders: the reference's per-step orders, when our grid drops its zero-length last
    ///   step: its index-based order rules then see one more step than we take.
    static func solver(for c: ParityCase, orders: [Int]? = nil) -> any Solver {
        let prediction: PredictionKind = c.string("algorithm_type") == "dpmsolver" ? .noise : .data
        let order = Int(c.number("solver_order") ?? 2)
        let form: DPMSolverMultistep.SecondOrderForm = c.string("solver_type") == "heun" ? .heun : .midpoint
        let lowerOrderFinal = c.bool("lower_order_final") ?? true
        if c.reference.hasPrefix("k_diffusion") { return DPMSolverMultistep(prediction: .data, solverOrder: 2, lowerOrderFinal: false) }
        switch c.solver {
        case "uni_pc", "uni_pc_bh2":
            // With a repeated final sigma diffusers corrects its last sample with one more evaluation.
            return UniPC(variant: c.string("solver_type") == "bh1" ? .bh1 : .bh2, solverOrder: order,
                         prediction: c.bool("predict_x0") == false ? .noise : .data, lowerOrderFinal: lowerOrderFinal,
                         disabledCorrectorSteps: Set(c.integers("disable_corrector") ?? []), finalCorrector: orders != nil,
                         stepOrders: orders)
        case "deis":
            return DEIS(solverOrder: order, lowerOrderFinal: lowerOrderFinal, stepOrders: orders)
        case let name where name.hasSuffix("_diffusers"):
            return DPMSolverSinglestepGrid(prediction: prediction, solverOrder: order, secondOrderForm: form,
                                           lowerOrderFinal: c.bool("lower_order_final") ?? false, stepOrders: orders)
        default:
            return DPMSolverMultistep(prediction: prediction, solverOrder: order, secondOrderForm: form, lowerOrderFinal: lowerOrderFinal,
                                      eulerAtFinal: c.bool("euler_at_final") ?? false, stepOrders: orders)
        }
    }

    static func model(for c: ParityCase) throws -> any DiffusionModel {
        let mixture = try #require(mixtures[c.mixture])
        guard let w = c.number("guidance_scale") else { return mixture }
        return try ClassifierFreeGuidance(base: mixture, classLabel: Int(c.number("class_label") ?? 0), scale: w,
                                          rescale: c.number("guidance_rescale") ?? 0)
    }

    func run<S: Solver>(_ solver: S, _ c: ParityCase, model: any DiffusionModel, schedule: any NoiseSchedule,
                        grid: TimeGrid) throws -> (SampleTensor, Int) {
        let thresholding = c.bool("thresholding") == true
            ? try DynamicThresholding(ratio: c.number("dynamic_thresholding_ratio") ?? 0.995, maxValue: c.number("sample_max_value") ?? 1)
            : nil
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: c.initialSample,
                                  thresholding: thresholding)
        return (try run.finish(), run.evaluations)
    }

    @Test("endpoint within 5e-5 relative RMS of the reference, or of its float64 recomputation on our grid", arguments: cases)
    func parity(_ c: ParityCase) throws {
        let schedule = try c.schedule()
        let reference = c.reconciled()
        let stepSchedule = reference.stepSchedule
        var expectedNFE = reference.nfe
        let orders = reference.orders
        // diffusers' NaN endpoints (UniPC to σ = 0; 2M-heun and 3M across a repeated last sigma) and
        // its singlestep runs across a repeated last sigma (a degenerate r = 1 macro step) have no
        // counterpart on our grids: those are compared with the same formulas recomputed in float64
        // on our grid (`tools/fixtures_f64_grid.py`), the step to σ = 0 returning x̂₀.
        let recomputed = c.reference_nan == true || (reference.droppedRepeatedFinal && c.solver.hasSuffix("_diffusers"))
        if reference.droppedRepeatedFinal && c.solver.hasPrefix("uni_pc") {
            // UniPC then corrects its last sample with the evaluation at the repeated level.
            expectedNFE += 1
        }
        let grid = try stepSchedule.grid(on: schedule)
        if let mismatch = reference.expectMatches(grid, schedule: schedule) { Issue.record(Comment(rawValue: mismatch)); return }
        let (out, nfe) = try run(Self.solver(for: c, orders: orders), c, model: try Self.model(for: c), schedule: schedule, grid: grid)
        #expect(out.isFinite)
        #expect(nfe == expectedNFE)
        // The noise-prediction singlestep updates cancel terms far larger than their result, so
        // their float32 error differs severalfold between two roundings of the same run: 1e-4 there.
        let floor = c.solver.hasSuffix("_diffusers") && c.string("algorithm_type") == "dpmsolver" ? 1e-4 : 5e-5
        if recomputed {
            GridRecomputations.expectMatches(out, c, floor: floor)
        } else {
            let error = Compare.relativeRMS(out, c.expected)
            // Where the reference's own float32 arithmetic is off by more (its distance to a float64
            // recomputation, `f64_check_rel_rms`: up to 7.3e-4 for diffusers' singlestep DPM-Solver-3
            // at 5–6 steps), allow three times that distance.
            let tolerance = Swift.max(5e-5, 3 * (c.f64_check_rel_rms ?? 0))
            #expect(error <= tolerance, "relative RMS \(error)")
            // Those cases are also held to the float64 run on the same grid.
            if GridRecomputations.entries[c.name] != nil { GridRecomputations.expectMatches(out, c, floor: floor) }
        }
    }
}
