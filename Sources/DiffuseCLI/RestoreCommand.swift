import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse restore`: samples a mean-reverting model (IR-SDE) from degraded inputs `μ` with the MR
/// Sampler (`MRSampler`), from the official prior `x = μ + σ_∞·ε` on the official `linspace` grid.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Sample a mean-reverting diffusion from degraded inputs with the MR Sampler (mrs_ode, mrs_sde).",
        discussion: """
        The built-in mean-reverting models are the exact mixtures (glyphs-8x8, mixture-2d) as clean data under \
        IR-SDE's dx = theta_t (mu - x) dt + sigma_t dW: each sample reverts to its row of --mean. The run starts \
        from mu + sigma_inf * eps at the largest time whose lambda is at least --lambda-min and ends at time 0 \
        (sigma > 0, as the official sampler). See docs/MEAN-REVERTING.md.
        """
    )

    @Option(help: "A built-in exact mean-reverting mixture: \(BuiltInModels.mixtureNames.joined(separator: ", ")).")
    var model: String

    @Option(help: "The degraded inputs mu: an .npy of shape [B, D] or [B] + the model's sample shape.")
    var mean: String

    @Option(help: "mrs_ode or mrs_sde.")
    var solver = "mrs_ode"

    @Option(parsing: .unconditional, help: "Order: 1-3 for mrs_ode, 1-2 for mrs_sde.")
    var order = 2

    @Option(help: "What the steps extrapolate: data or noise.")
    var prediction = "data"

    @Option(help: "What the model outputs (its fit target): noise, data or velocity.")
    var fit = "noise"

    @Option(parsing: .unconditional, help: "The inputs are clean samples plus noise of this standard deviation: the model's clean data is then the mixture's posterior given each input (an exact restoration model).")
    var degradationSigma: Double?

    @Flag(help: "Dynamic thresholding of every data prediction (the official quantile 0.995, max 1.5); data steps only.")
    var thresholding = false

    @Option(parsing: .unconditional, help: "Number of steps (= NFE).")
    var steps = 20

    @Option(parsing: .unconditional, help: "Training timesteps whose lambda lies below this are skipped (official default -5).")
    var lambdaMin = -5.0

    @Option(help: "The theta schedule: cosine, linear or constant.")
    var theta = "cosine"

    @Option(parsing: .unconditional, help: "sigma_inf, the stationary noise (IR-SDE's max_sigma 50 is 50/255).")
    var sigmaInf = 50.0 / 255

    @Option(parsing: .unconditional, help: "T, the number of training timesteps.")
    var trainingSteps = 100

    @Option(parsing: .unconditional, help: "eps, alpha at the last training timestep.")
    var eps = 0.005

    @Option(parsing: .unconditional, help: "Seed of the prior and step noise.")
    var seed: UInt64 = 0

    @Option(help: "Where to write the samples (float32 .npy, the shape of --mean).")
    var output: String

    func run() throws {
        guard let kind = MRSampler.Kind(rawValue: solver.hasPrefix("mrs_") ? String(solver.dropFirst(4)) : "") else {
            throw CLIError("unknown solver '\(solver)' (known: mrs_ode, mrs_sde)")
        }
        guard let predictionKind = PredictionKind(rawValue: prediction) else {
            throw CLIError("unknown --prediction '\(prediction)' (known: data, noise)")
        }
        guard let parameterization = MeanRevertingParameterization(rawValue: fit) else {
            throw CLIError("unknown --fit '\(fit)' (known: noise, data, velocity)")
        }
        guard let thetaSchedule = MeanRevertingSchedule.ThetaSchedule(rawValue: theta) else {
            throw CLIError("unknown --theta '\(theta)' (known: cosine, linear, constant)")
        }
        guard let mixture = BuiltInModels.mixture(named: model) else {
            throw CLIError("'\(model)' is not a mean-reverting model (built-in exact mean-reverting mixtures: \(BuiltInModels.mixtureNames.joined(separator: ", ")))")
        }
        let sampler = try MRSampler(.init(kind: kind, order: order, prediction: predictionKind,
                                          thresholding: thresholding ? DynamicThresholding(ratio: 0.995, maxValue: 1.5) : nil))
        let schedule = try MeanRevertingSchedule(thetaSchedule: thetaSchedule, trainingSteps: trainingSteps, sigmaInfinity: sigmaInf,
                                                 terminalAlpha: eps)
        let grid = try schedule.grid(steps: steps, lambdaMin: lambdaMin)
        if let degradationSigma, !(degradationSigma > 0 && degradationSigma.isFinite) {
            throw CLIError("--degradation-sigma must be positive, got \(degradationSigma)")
        }
        let mrModel = MeanRevertingMixture(mixture: mixture, parameterization: parameterization, sigmaInfinity: sigmaInf,
                                           degradationSigma: degradationSigma)
        let mu = try LikelihoodCommand.read(mean, model: mixture)  // [B] + the sample shape, finite
        let noise = SeededNoise(seed: seed)
        var x = noise.initialNoise(shape: mu.shape)
        x.update(scale: sigmaInf, (1, mu))
        let samples = try sampler.sample(model: mrModel, mean: mu, from: x, grid: grid, noise: noise)
        try NPYArray(shape: mu.shape, float32: samples.scalars).write(to: URL(fileURLWithPath: output))
        let start = grid[0]
        print("\(sampler.name) order \(order) (\(prediction) steps, \(fit) model) on \(schedule.name); \(mu.batchSize) inputs, "
              + "\(grid.steps) steps from t = \(start.t) (lambda \(String(format: "%.3f", start.lambda))) to t = 0; NFE \(grid.steps); wrote \(output)")
    }
}
