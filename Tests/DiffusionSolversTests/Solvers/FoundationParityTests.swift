import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// DDIM, Euler and Heun against diffusers (DDIMScheduler, EulerDiscreteScheduler,
/// HeunDiscreteScheduler) and k-diffusion (sample_euler, sample_heun) on exact Gaussian-mixture
/// denoisers, from the same initial state over the same grid: 192 trajectories recorded by
/// `tools/fixtures_foundation.py`.
@Suite("Parity with diffusers and k-diffusion: DDIM, Euler, Heun")
struct FoundationParityTests {
    static let file = try! ParityFile.load("parity_foundation.json")
    static let mixtures: [String: GaussianMixture] = [
        "mixture_2d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")),
        "mixture_16d": try! GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")),
    ]

    static func solver(for c: ParityCase) -> any Solver {
        switch c.solver {
        case "ddim": return DDIM(eta: c.eta)
        case "euler": return Euler()
        default: return Heun()
        }
    }

    func run<S: Solver>(_ solver: S, _ c: ParityCase, model: GaussianMixture, schedule: any NoiseSchedule,
                        grid: TimeGrid) throws -> (SampleTensor, Int) {
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid,
                                  initialSample: c.initialSample, noise: c.recordedNoise)
        return (try run.finish(), run.evaluations)
    }

    @Test("endpoint within 5e-5 relative RMS of the reference", arguments: file.cases)
    func parity(_ c: ParityCase) throws {
        let schedule = try c.schedule()
        let reference = c.reconciled()
        let grid = try reference.stepSchedule.grid(on: schedule)
        if let mismatch = reference.expectMatches(grid, schedule: schedule) { Issue.record(Comment(rawValue: mismatch)); return }
        let model = try #require(Self.mixtures[c.mixture])
        let (out, nfe) = try run(Self.solver(for: c), c, model: model, schedule: schedule, grid: grid)
        let error = Compare.relativeRMS(out, c.expected)
        #expect(error <= 5e-5, "relative RMS \(error)")
        #expect(nfe == reference.nfe)
    }
}
