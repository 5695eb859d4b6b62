import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse restore`: samples a mean-reverting model (IR-SDE) from degraded inputs `μ` with the MR
/// Sampler (`MRSampler`), from the official prior `x = μ + σ_∞·ε` on the official `linspace` grid:
/// an exact mixture (`MeanRevertingMixture`) or a shipped network (`UNetMeanRevertingModel`, on its own schedule).
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Sample a mean-reverting diffusion from degraded inputs with the MR Sampler (mrs_ode, mrs_sde).",
        discussion: """
        The built-in mean-reverting models are the exact mixtures (glyphs-8x8, mixture-2d) as clean data under \
        IR-SDE's dx = theta_t (mu - x) dt + sigma_t dW, and the network digits-mr (trained to remove Gaussian noise \
        of std 0.5 from the 8x8 digits in [-1, 1]; it runs on its training schedule, so --theta, --sigma-inf, \
        --training-steps, --eps and --fit may only repeat it): each sample reverts to its row of --mean. The run starts \
        from mu + sigma_inf * eps at the largest time whose lambda is at least --lambda-min and ends at time 0 \
        (sigma > 0, as the official sampler). See docs/MEAN-REVERTING.md.
        """
    )

    @Option(help: "A built-in mean-reverting model: \((BuiltInModels.mixtureNames + BuiltInModels.meanRevertingNetworkNames).joined(separator: ", ")).")
    var model: String

    @Option(name: [.customLong("mean"), .customLong("input")],
            help: "The degraded inputs mu: an .npy of shape [B, D] or [B] + the model's sample shape, or (image models) a PNG whose HxW tiles, row by row, are the inputs (pixel/127.5 - 1).")
    var mean: String

    @Option(help: "mrs_ode or mrs_sde.")
    var solver = "mrs_ode"

    @Option(parsing: .unconditional, help: "Order: 1-3 for mrs_ode, 1-2 for mrs_sde.")
    var order = 2

    @Option(help: "What the steps extrapolate: data or noise.")
    var prediction = "data"

    @Option(help: "What the model outputs (its fit target): noise, data or velocity (mixtures; default noise).")
    var fit: String?

    @Option(parsing: .unconditional, help: "The inputs are clean samples plus noise of this standard deviation: the model's clean data is then the mixture's posterior given each input (an exact restoration model).")
    var degradationSigma: Double?

    @Flag(help: "Dynamic thresholding of every data prediction (the official quantile 0.995, max 1.5); data steps only.")
    var thresholding = false

    @Option(parsing: .unconditional, help: "Number of steps (= NFE).")
    var steps = 20

    @Option(parsing: .unconditional, help: "Training timesteps whose lambda lies below this are skipped (official default -5).")
    var lambdaMin = -5.0

    @Option(help: "The theta schedule: cosine, linear or constant (mixtures; default cosine).")
    var theta: String?

    @Option(parsing: .unconditional, help: "sigma_inf, the stationary noise (mixtures; default IR-SDE's max_sigma 50, i.e. 50/255).")
    var sigmaInf: Double?

    @Option(parsing: .unconditional, help: "T, the number of training timesteps (mixtures; default 100).")
    var trainingSteps: Int?

    @Option(parsing: .unconditional, help: "eps, alpha at the last training timestep (mixtures; default 0.005).")
    var eps: Double?

    @Option(parsing: .unconditional, help: "Seed of the prior and step noise.")
    var seed: UInt64 = 0

    @Option(help: "Where to write the samples: float32 .npy of [B] + the sample shape, or (image models) a .png grid.")
    var output: String

    func run() throws {
        guard let kind = MRSampler.Kind(rawValue: solver.hasPrefix("mrs_") ? String(solver.dropFirst(4)) : "") else {
            throw CLIError("unknown solver '\(solver)' (known: mrs_ode, mrs_sde)")
        }
        guard let predictionKind = PredictionKind(rawValue: prediction) else {
            throw CLIError("unknown --prediction '\(prediction)' (known: data, noise)")
        }
        let parameterization = try fit.map { name in
            guard let p = MeanRevertingParameterization(rawValue: name) else {
                throw CLIError("unknown --fit '\(name)' (known: noise, data, velocity)")
            }
            return p
        }
        let thetaSchedule = try theta.map { name in
            guard let t = MeanRevertingSchedule.ThetaSchedule(rawValue: name) else {
                throw CLIError("unknown --theta '\(name)' (known: cosine, linear, constant)")
            }
            return t
        }
        let imageOutput = URL(fileURLWithPath: output).pathExtension.lowercased() == "png"
        let sampler = try MRSampler(.init(kind: kind, order: order, prediction: predictionKind,
                                          thresholding: thresholding ? DynamicThresholding(ratio: 0.995, maxValue: 1.5) : nil))
        let mrModel: any MeanRevertingModel
        let schedule: MeanRevertingSchedule
        if let network = try BuiltInModels.meanRevertingModel(named: model) {
            schedule = network.schedule
            let trained: [(given: String?, own: String, flag: String)] = [
                (theta, schedule.thetaSchedule.rawValue, "--theta"), (sigmaInf.map { "\($0)" }, "\(schedule.sigmaInfinity)", "--sigma-inf"),
                (trainingSteps.map { "\($0)" }, "\(schedule.trainingSteps)", "--training-steps"),
                (eps.map { "\($0)" }, "\(schedule.terminalAlpha)", "--eps"), (fit, network.parameterization.rawValue, "--fit"),
            ]
            if let bad = trained.first(where: { $0.given != nil && $0.given != $0.own }) {
                throw CLIError("\(model) was trained with \(bad.flag) \(bad.own); it cannot run with \(bad.flag) \(bad.given!)")
            }
            if degradationSigma != nil {
                throw CLIError("--degradation-sigma describes an exact mixture's restoration model; \(model) learned its degradation (\(network.degradation))")
            }
            mrModel = network
        } else if let mixture = BuiltInModels.mixture(named: model) {
            let sigma = sigmaInf ?? 50.0 / 255
            schedule = try MeanRevertingSchedule(thetaSchedule: thetaSchedule ?? .cosine, trainingSteps: trainingSteps ?? 100,
                                                 sigmaInfinity: sigma, terminalAlpha: eps ?? 0.005)
            if let degradationSigma, !(degradationSigma > 0 && degradationSigma.isFinite) {
                throw CLIError("--degradation-sigma must be positive, got \(degradationSigma)")
            }
            mrModel = MeanRevertingMixture(mixture: mixture, parameterization: parameterization ?? .noise, sigmaInfinity: sigma,
                                           degradationSigma: degradationSigma)
        } else {
            let known = (BuiltInModels.mixtureNames + BuiltInModels.meanRevertingNetworkNames).joined(separator: ", ")
            throw CLIError("'\(model)' is not a mean-reverting model (built-in mean-reverting models: \(known))")
        }
        let shape = mrModel.sampleShape
        if imageOutput && shape.count != 3 {
            throw CLIError("PNG output needs an image-shaped model (shape like 1,8,8); \(model)'s sample shape is \(shape): use .npy")
        }
        let grid = try schedule.grid(steps: steps, lambdaMin: lambdaMin)
        let mu = try Self.readInputs(mean, sampleShape: shape)
        try OutputKind.checkDirectory(of: output)
        let noise = SeededNoise(seed: seed)
        var x = noise.initialNoise(shape: mu.shape)
        x.update(scale: schedule.sigmaInfinity, (1, mu))
        let samples = try sampler.sample(model: mrModel, mean: mu, from: x, grid: grid, noise: noise)
        if imageOutput {
            try ImageGrid.render(values: samples.scalars, count: samples.batchSize, channels: shape[0], height: shape[1], width: shape[2],
                                 scale: max(1, 64 / max(shape[1], shape[2]))).write(to: URL(fileURLWithPath: output))
        } else {
            try NPYArray(shape: mu.shape, float32: samples.scalars).write(to: URL(fileURLWithPath: output))
        }
        let start = grid[0]
        print("\(sampler.name) order \(order) (\(prediction) steps, \(mrModel.parameterization.rawValue) model \(mrModel.name)) on \(schedule.name); "
              + "\(mu.batchSize) inputs, \(grid.steps) steps from t = \(start.t) (lambda \(String(format: "%.3f", start.lambda))) to t = 0; "
              + "NFE \(grid.steps); wrote \(output)")
    }

    /// The inputs `μ` as `[B] + sampleShape`: an .npy (``LikelihoodCommand/read(_:sampleShape:)``) or, for a
    /// `[C, H, W]` model, a PNG with `C` channels whose `H×W` tiles, row by row, are the inputs.
    static func readInputs(_ path: String, sampleShape shape: [Int]) throws -> SampleTensor {
        guard URL(fileURLWithPath: path).pathExtension.lowercased() == "png" else {
            return try LikelihoodCommand.read(path, sampleShape: shape)
        }
        guard shape.count == 3 else { throw CLIError("input '\(path)': a PNG input needs an image-shaped model; this one's samples are \(shape)") }
        let image: PNGImage
        do { image = try PNGDecoder.decode(contentsOf: URL(fileURLWithPath: path)) } catch { throw CLIError("input '\(path)': \(error)") }
        let (c, h, w) = (shape[0], shape[1], shape[2])
        guard image.format.channels == c, image.width % w == 0, image.height % h == 0, image.width > 0, image.height > 0 else {
            throw CLIError("input '\(path)' is \(image.width)x\(image.height) with \(image.format.channels) channel(s); "
                           + "the model needs \(c) channel(s) and a size that is a multiple of \(w)x\(h)")
        }
        let columns = image.width / w, rows = image.height / h
        var scalars = [Float](repeating: 0, count: rows * columns * c * h * w)
        for tile in 0..<(rows * columns) {
            let (top, left) = (tile / columns * h, tile % columns * w)
            for k in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let pixel = image.pixels[((top + y) * image.width + left + x) * c + k]
                        scalars[((tile * c + k) * h + y) * w + x] = Float(pixel) / 127.5 - 1
                    }
                }
            }
        }
        return SampleTensor(shape: [rows * columns] + shape, scalars: scalars)
    }
}
