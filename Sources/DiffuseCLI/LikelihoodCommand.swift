import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse likelihood`: the exact log-likelihood of data under a model through the
/// probability-flow ODE (``LikelihoodEstimator``), in nats per point and mean bits/dim.
struct LikelihoodCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "likelihood",
        abstract: "Log-likelihood of data under a model through the probability-flow ODE (nats per point, mean bits/dim).",
        discussion: """
        Integrates the probability-flow ODE and its divergence from the data (the schedule's smallest time, or \
        --data-sigma) to the prior at its largest time (Song et al. 2021, App. D.2). The divergence is exact \
        (the model's own Jacobian trace, or D central differences) or a Hutchinson estimate with --probes Rademacher \
        vectors, whose standard error is reported. --dequantize uniform treats data in [-1, 1] as 256 levels: \
        x' = -1 + (k + u)·2/256 with u ~ U[0, 1), and adds D·log(2/256) nats (+7 bits/dim).
        """
    )

    @OptionGroup var source: ModelOptions

    @Option(help: "Data points: an .npy of shape [B, D] or [B] + the model's sample shape (float32 or float64).")
    var data: String

    @Flag(help: "The exact divergence (closed form where the model has it, else D central differences per evaluation).")
    var exactDivergence = false

    @Option(parsing: .unconditional, help: "Hutchinson–Skilling estimate with N Rademacher probes per point (default: exact for D ≤ 64 or a mixture, else 1 probe).")
    var probes: Int?

    @Option(help: "Dequantization of discrete data: 'uniform' (256 levels in [-1, 1]).")
    var dequantize: String?

    @Option(parsing: .unconditional, help: "Seed of the probes and the dequantization noise.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Relative and absolute tolerance of the adaptive ODE solver.")
    var tolerance: Double = 1e-5

    @Option(parsing: .unconditional, help: "The noise level (user-facing sigma) at which the data are placed (default: the schedule's smallest).")
    var dataSigma: Double?

    @Option(help: "Where to write the log-likelihoods: float64 .npy of shape [B], nats per point.")
    var output: String

    func run() throws {
        if let probes, probes < 1 { throw CLIError("--probes must be at least 1, got \(probes)") }
        if exactDivergence, probes != nil { throw CLIError("give either --exact-divergence or --probes, not both") }
        guard tolerance > 0, tolerance < 1 else { throw CLIError("--tolerance must lie in (0, 1), got \(tolerance)") }
        if let dataSigma, !(dataSigma > 0) { throw CLIError("--data-sigma must be positive, got \(dataSigma)") }
        var dequantization: UniformDequantization?
        if let dequantize {
            guard dequantize == "uniform" else { throw CLIError("unknown dequantization '\(dequantize)' (known: uniform)") }
            dequantization = UniformDequantization(seed: seed)
        }
        let resolved = try source.resolve()
        let (model, schedule) = (resolved.model, resolved.schedule)
        let points = try Self.read(data, model: model)
        let d = resolved.dimension
        let divergence: LikelihoodEstimator.Divergence
        if let probes {
            divergence = .hutchinson(probes: probes, seed: seed)
        } else if exactDivergence || model is any JacobianTraceDenoising || d <= 64 {
            divergence = .exact
        } else {
            divergence = .hutchinson(probes: 1, seed: seed)
        }
        let estimator = LikelihoodEstimator(divergence: divergence, relativeTolerance: tolerance, absoluteTolerance: tolerance,
                                            dataSigma: dataSigma)
        let result = try estimator.logLikelihood(of: points, model: model, schedule: schedule, dequantization: dequantization)
        try NPYArray(shape: [points.batchSize], float64: result.logLikelihood).write(to: URL(fileURLWithPath: output))

        let method: String
        switch divergence {
        case .exact: method = model is any JacobianTraceDenoising ? "exact trace (closed form)" : "exact trace (central differences)"
        case let .hutchinson(n, _): method = "Hutchinson, \(n) probe\(n == 1 ? "" : "s")"
        case let .probeVectors(n, _): method = "Hutchinson, \(n) given probes"
        }
        let meanNats = result.logLikelihood.reduce(0, +) / Double(result.logLikelihood.count)
        print("model \(model.name) on \(schedule.name); \(points.batchSize) points, D = \(d); divergence: \(method); tolerance \(tolerance)")
        if dequantization != nil { print("uniform dequantization, 256 levels in [-1, 1]: includes D·log(2/256) nats (+7 bits/dim)") }
        var line = String(format: "mean log-likelihood %.6f nats; mean bits/dim %.6f", meanNats, result.meanBitsPerDimension)
        if let se = result.probeStandardErrorOfMeanBitsPerDimension { line += String(format: " ± %.6f (probe standard error)", se) }
        print(line)
        print("\(result.evaluations) ODE evaluations, \(result.acceptedSteps) accepted and \(result.rejectedSteps) rejected steps; wrote \(output)")
    }

    /// The data as `[B] + sampleShape`, refusing other shapes and non-finite values.
    static func read(_ path: String, model: any DiffusionModel) throws -> SampleTensor {
        try read(path, sampleShape: model.sampleShape)
    }

    /// The data as `[B] + shape`, refusing other shapes and non-finite values.
    static func read(_ path: String, sampleShape shape: [Int]) throws -> SampleTensor {
        let dimension = shape.reduce(1, *)
        let array = try NPYArray(contentsOf: URL(fileURLWithPath: path))
        let fitsFlat = array.shape.count == 2 && array.shape[1] == dimension
        let fitsShaped = array.shape.count == shape.count + 1 && Array(array.shape.dropFirst()) == shape
        guard fitsFlat || fitsShaped, array.shape[0] >= 1 else {
            let shaped = shape.count == 1 ? "" : " or [B, \(shape.map(String.init).joined(separator: ", "))]"
            throw CLIError("data '\(path)' has shape \(array.shape); the model needs [B, \(dimension)]\(shaped)")
        }
        let values = array.float64Values
        guard values.allSatisfy(\.isFinite) else { throw CLIError("data '\(path)' contains NaN or Inf") }
        return SampleTensor(shape: [array.shape[0]] + shape, scalars: values.map { Float($0) })
    }
}
