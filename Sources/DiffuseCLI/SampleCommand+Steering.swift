import Foundation
import DiffusionSolvers

extension SampleCommand {
    /// Runs the plan steered by `steering` from `x` (`count × K` particles, or `count` states each
    /// branching into K candidates); returns the samples, the NFE per sample and the grid.
    func steered(_ steering: any ParticleSteering, plan: SamplingPlan, model: any DiffusionModel, schedule: any NoiseSchedule,
                 x: SampleTensor, noise: any NoiseSource, thresholding: DynamicThresholding?) throws -> (SampleTensor, Int, TimeGrid) {
        if initImage != nil || stepNoise != nil || (initialNoise != nil && !steering.sharesInitialSample && steering.particles > 1) {
            throw CLIError("--steer does not combine with --init-image, --step-noise, or (for fk) --initial-noise")
        }
        if guidanceRules.apgMomentum != nil {
            throw CLIError("--apg-momentum does not combine with --steer: resampling reorders the samples the momentum belongs to")
        }
        let k = steering.particles
        let particles = steering.sharesInitialSample ? x.gathering((0..<(x.batchSize * k)).map { $0 / k }) : x
        func run<S: Solver>(_ solver: S) throws -> (SampleTensor, Int, TimeGrid) {
            let run: SteeringRun<S>
            do {
                run = try SteeringRun(model: model, schedule: schedule, solver: solver, grid: plan.grid, initialSample: particles,
                                      noise: noise, steering: steering, label: classLabel, seed: seed, thresholding: thresholding)
            } catch let error as SamplingError { throw CLIError("--steer: \(error)") }
            let progress = ProgressLine(enabled: isatty(STDERR_FILENO) != 0)
            while let step = try run.advance() { progress.show(step, sigma: schedule.displaySigma(step.to)) }
            progress.finish()
            return (try run.finish(), run.evaluations, run.grid)
        }
        let solver = AncestralTransitions<Euler>.forSteering(plan.solver)
        if steering.sharesInitialSample, k > 1, solver.name == plan.solver.name, !SolverCatalog.stochasticNames.contains(solver.name) {
            throw CLIError("--steer svdd branches its candidates with the sampler's noise, and \(solver.name) draws none (use a stochastic one, e.g. dpmpp_2m_sde)")
        }
        return try run(solver)
    }
}
