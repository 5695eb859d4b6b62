import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// What the parity fixtures of `deis_comfy`, `sa_solver_pece` and `restart` do not reach: DEIS at
/// order 1 (ComfyUI fails there), the refusals, SA-Solver's default window and Restart's counting.
@Suite("deis_comfy, sa_solver_pece, restart: beyond the fixtures")
struct ComfyMoreSolverTests {
    static func run(_ solver: some Solver, schedule: any NoiseSchedule = VESchedule(), steps: Int = 10,
                    noise: (any NoiseSource)? = nil) throws -> (SampleTensor, Int) {
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: steps, final: .zero).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([8, 2]), schedule: schedule, level: grid[0])
        let run = try SamplingRun(model: TestModels.mixture2D(), schedule: schedule, solver: solver, grid: grid,
                                  initialSample: x, noise: noise)
        return (try run.finish(), run.evaluations)
    }

    @Test("deis_comfy --order 1 is Euler (k-diffusion's sample_euler, parity-tested)")
    func deisOrderOne() throws {
        let deis = try SolverCatalog.solver(named: "deis_comfy", options: .init(order: 1))
        let (a, _) = try Self.run(deis as! DEISVPTime)
        let (b, _) = try Self.run(Euler())
        #expect(Compare.relativeRMS(a, b.scalars.map(Double.init)) < 1e-6)
    }

    @Test("orders outside 1-4 and a restart segment the grid cannot hold are refused in one line")
    func refusals() throws {
        for order in [0, 5] {
            #expect { try SolverCatalog.solver(named: "deis_comfy", options: .init(order: order)) } throws: {
                "\($0)".contains("--order must be between 1 and 4, got \(order)")
            }
        }
        // t_max below the level nearest t_min.
        #expect { try Self.run(Restart(segments: [.init(levels: 3, repeats: 1, tMin: 1, tMax: 1.01)])) } throws: {
            "\($0)".contains("restart: the segment [1.0, 1.01]")
        }
        // Two segments on one level.
        let twice = Restart(segments: [.paperDefault, .init(levels: 3, repeats: 1, tMin: 0.061, tMax: 0.5)])
        #expect(throws: SamplingError.self) { try Self.run(twice) }
        #expect(throws: SamplingError.self) { try Self.run(SASolverPECE(), schedule: RectifiedFlowSchedule()) }
    }

    @Test("ComfyUI's default SA-Solver window on EDM: sigma_min·(sigma_max/sigma_min)^p for p = 0.2, 0.8")
    func comfyWindow() {
        let window = SASolverPECE.comfyWindow(for: VESchedule(sigmaMin: 0.002, sigmaMax: 80))
        let ratio = 80.0 / 0.002
        #expect(abs(window.lowerBound - 0.002 * Double.pow(ratio, 0.2)) < 1e-12)
        #expect(abs(window.upperBound - 0.002 * Double.pow(ratio, 0.8)) < 1e-9)
    }

    @Test("restart counts its evaluations, also when the level nearest t_min is the final 0", arguments: [1, 2, 4, 10])
    func restartCount(steps: Int) throws {
        let restart = Restart()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: steps, final: .zero).grid(on: VESchedule())
        let (out, nfe) = try Self.run(restart, steps: steps, noise: SeededNoise(seed: 3))
        #expect(nfe == restart.evaluations(on: grid))
        #expect(out.scalars.allSatisfy { $0.isFinite })
        // The segment adds K·2·(N_restart − 1) = 8 evaluations, 6 when it restarts from the final 0.
        let sigmas = grid.levels.map(\.sigma)
        let nearest = sigmas.indices.min { abs(sigmas[$0] - 0.06) < abs(sigmas[$1] - 0.06) }!
        #expect(nfe - (2 * steps - 1) == (nearest == steps ? 6 : 8), "restart from level \(nearest) of \(steps)")
    }
}
