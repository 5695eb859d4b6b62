import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse optimize-noise`: gradient ascent of a reward on the initial noise, with gradients
/// from AdjointDPM (``NoiseOptimization``).
struct OptimizeNoiseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize-noise",
        abstract: "Raise a reward of the samples by gradient steps on their initial noise (AdjointDPM gradients).",
        discussion: """
        Samples deterministically (order 1: DDIM, order 2: DPM-Solver++(2S)) from seeded noise, takes the reward's \
        gradient with respect to the noise by the adjoint of the sampling ODE (Pan et al. 2024), and moves each \
        noise a normalized step of --learning-rate along it, then back onto its initial norm (the Gaussian shell). \
        A network's denoiser is differentiated by central differences (2D + 1 evaluations per sample and pullback), \
        a Gaussian mixture's exactly. Prints the mean reward (and the mean class probability for class:C) before \
        and after, and the cost.
        """
    )

    @OptionGroup var source: ModelOptions

    @Option(help: "The reward: class:C (the shipped classifier's log-probability of class C) or linear:FILE.npy (w.x).")
    var reward: String

    @Option(parsing: .unconditional, help: "Gradient steps.")
    var iterations: Int = 5

    @Option(parsing: .unconditional, help: "Step size: roughly the angle (radians) each step turns the noise by.")
    var learningRate: Double = 0.2

    @Option(parsing: .unconditional, help: "Sampling steps of the deterministic run being differentiated.")
    var steps: Int = 5

    @Option(parsing: .unconditional, help: "1 (DDIM) or 2 (DPM-Solver++(2S)).")
    var order: Int = 1

    @Option(parsing: .unconditional, help: "Number of samples.")
    var count: Int = 16

    @Option(parsing: .unconditional, help: "Seed of the initial noise (philox, as diffuse sample).")
    var seed: UInt64 = 0

    @Option(help: "Where to write the optimized samples (.png or .npy).")
    var output: String

    func run() throws {
        let started = ContinuousClock.now
        guard (0...10_000).contains(iterations) else { throw CLIError("--iterations must be between 0 and 10000, got \(iterations)") }
        guard learningRate.isFinite, learningRate > 0 else { throw CLIError("--learning-rate must be a positive number, got \(learningRate)") }
        guard (1...1000).contains(steps) else { throw CLIError("--steps must be between 1 and 1000, got \(steps)") }
        guard order == 1 || order == 2 else { throw CLIError("--order must be 1 or 2, got \(order)") }
        guard (1...4096).contains(count) else { throw CLIError("--count must be between 1 and 4096, got \(count)") }
        let outputKind = try OutputKind(path: output)
        let resolved = try source.resolve()
        let model = resolved.model
        try outputKind.check(for: model)
        let parsed = try SteeringOptions.reward(reward, for: model, sampled: model, schedule: resolved.schedule, seed: seed)
        guard let differentiable = parsed as? any DifferentiableReward else {
            throw CLIError("--reward '\(reward)' has no gradient; optimize-noise takes class:C or linear:FILE.npy")
        }
        let plan = try SamplingResolver.resolve(SamplingRequest(solver: order == 1 ? "ddim" : "dpmpp_2s", steps: steps),
                                                model: model, schedule: resolved.schedule, config: resolved.config)
        let denoiser: any DenoiserPullback
        if let mixture = model as? GaussianMixture { denoiser = try MixturePullback(mixture: mixture) } else { denoiser = FiniteDifferencePullback(model: model) }
        let noise = SeededNoise(seed: seed).initialNoise(shape: [count] + model.sampleShape).scalars.map(Double.init)
        let optimizer = try NoiseOptimization(adjoint: try AdjointDPM(order: order), iterations: iterations, learningRate: learningRate)
        let result = try optimizer.run(noise: noise, batch: count, denoiser: denoiser, grid: plan.grid, schedule: plan.schedule,
                                       reward: differentiable)
        try outputKind.write(SampleTensor(shape: [count] + model.sampleShape, scalars: result.sample.map(Float.init)), model: model, to: output)
        let seconds = (ContinuousClock.now - started).seconds

        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        print("model \(model.name); \(count) samples, \(plan.label) with \(plan.grid.steps) steps; reward \(parsed.name); "
              + "\(iterations) iterations, learning rate \(learningRate); denoiser pullback: \(denoiser is MixturePullback ? "exact" : "central differences")")
        var line = String(format: "mean reward %.4f -> %.4f", mean(result.initialRewards), mean(result.finalRewards))
        if parsed is ClassifierReward {
            line += String(format: "; mean p(class) %.4f -> %.4f", mean(result.initialRewards.map { Foundation.exp($0) }),
                           mean(result.finalRewards.map { Foundation.exp($0) }))
        }
        print(line)
        print("\(result.evaluations) model evaluations per sample, \(String(format: "%.2f", seconds)) s; wrote \(output)")
    }
}
