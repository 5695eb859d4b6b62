import ArgumentParser
import DiffusionSolvers
import Foundation

/// ml-stable-diffusion's denoising loop on the shipped `digits` network with any catalog solver:
/// the pipeline calls the model, the scheduler (``SolverScheduler``) only steps. Writes what
/// `diffuse sample --model digits --solver S --steps N --seed K --count C --output b.npy` writes.
@main
struct SchedulerLoop: ParsableCommand {
    @Option(help: "Solver name (any in the catalog but dpm_adaptive); default: what diffuse sample chooses.") var solver: String?
    @Option(help: "Solver steps.") var steps = 10
    @Option(help: "Seed of the initial and step noise.") var seed: UInt64 = 0
    @Option(help: "Number of samples.") var count = 16
    @Option(help: "Output .npy file.") var output = "samples.npy"

    func run() throws {
        // The network, its training schedule, and the solver and grid `diffuse sample` would run.
        guard let network = try BuiltInModels.model(named: "digits") as? any ScheduledDiffusionModel else {
            throw ValidationError("the digits network is not installed")
        }
        let schedule = try network.schedulerConfig.schedule()
        let plan = try SamplingResolver.resolve(SamplingRequest(solver: solver, steps: steps), model: network,
                                                schedule: schedule, config: network.schedulerConfig)
        let scheduler = try SolverScheduler(plan: plan, schedule: schedule, parameterization: network.parameterization,
                                            sampleShape: network.sampleShape, noise: plan.seededStepNoise(seed: seed, schedule: schedule))

        // The pipeline's loop: it owns the model call (its batching, guidance, masks), the scheduler steps.
        var x = SeededNoise(seed: seed).initialNoise(shape: [count] + network.sampleShape)
        x.scale(by: scheduler.initNoiseSigma)
        var prediction = SampleTensor(zeros: x.shape)
        for t in scheduler.timeSteps {
            let input = try scheduler.scaleModelInput(timeStep: t, sample: x)
            try network.predict(input, at: schedule.level(at: t), into: &prediction)  // the U-Net reads the timestep t
            x = try scheduler.step(output: prediction, timeStep: t, sample: x)
        }
        try NPYArray(shape: x.shape, float32: x.scalars).write(to: URL(fileURLWithPath: output))
        print("wrote \(output): \(count) samples, \(scheduler.timeSteps.count) model evaluations with \(plan.label)")
    }
}
