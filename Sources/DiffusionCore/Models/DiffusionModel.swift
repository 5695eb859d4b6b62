/// A trained (or exact) diffusion model: a function of a noisy batch and a noise level.
///
/// A model states what it predicts (``parameterization``); ``Denoiser`` turns that into the
/// data and noise predictions solvers use. Models receive the full ``NoiseLevel``, so a
/// discrete-time network can read the fractional training timestep `t` and an exact model can
/// use `α` and `σ` directly.
public protocol DiffusionModel: Sendable {
    /// The shape of one sample, for example `[2]` or `[1, 8, 8]`.
    var sampleShape: [Int] { get }
    /// What ``predict(_:at:into:)`` writes.
    var parameterization: Parameterization { get }
    /// A short description for reports.
    var name: String { get }
    /// Writes the model's prediction for the batch `x` at `level` into `output` (same shape as `x`).
    func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws
}

/// A model trained on one noise schedule, which sampling must use: a network has only seen the
/// noise levels (and timestep values) of its training schedule.
public protocol ScheduledDiffusionModel: DiffusionModel {
    /// The diffusers scheduler configuration the model was trained with (betas, prediction type,
    /// timestep spacing).
    var schedulerConfig: DiffusersSchedulerConfig { get }
}

/// Both predictions of a model at one point: `x = α·data + σ·noise`.
public struct ModelPrediction: Sendable, Equatable {
    /// `x̂₀`, the denoised estimate.
    public var data: SampleTensor
    /// `ε̂`, the noise estimate.
    public var noise: SampleTensor

    /// Zero-filled buffers shaped like `like`.
    public init(like: SampleTensor) {
        data = SampleTensor(zeros: like.shape)
        noise = SampleTensor(zeros: like.shape)
    }
}

/// Evaluates a model for solvers: converts its output to `(x̂₀, ε̂)`, counts evaluations (NFE),
/// and reports a non-finite output with the step and noise level where it appeared.
///
/// A reference type, so that a solver and the driver that owns it see one evaluation count.
public final class Denoiser {
    /// The model being sampled.
    public let model: any DiffusionModel
    /// The number of model evaluations so far (the NFE).
    public package(set) var evaluations = 0
    /// The step (0-based) that the next evaluations belong to; set by the sampling loop so
    /// errors can name it.
    public var currentStep = 0
    /// The schedule, used to state noise levels in errors in the user's sigma.
    public let schedule: any NoiseSchedule
    /// Dynamic thresholding of `x̂₀`, applied to every evaluation (then `ε̂` follows from it).
    public let thresholding: DynamicThresholding?
    private var raw: SampleTensor
    private var scratch: [Float] = []

    public init(model: any DiffusionModel, schedule: any NoiseSchedule, thresholding: DynamicThresholding? = nil) {
        self.model = model
        self.schedule = schedule
        self.thresholding = thresholding
        self.raw = SampleTensor(zeros: [1] + model.sampleShape)
    }

    /// Evaluates the model at `x` and `level` and writes the predictions into `prediction`.
    ///
    /// When the one prediction read is the model's own output (``Parameterization/outputPrediction``:
    /// `ε̂` of an ε-model, `x̂₀` of an x̂₀-model), the model writes it in place and the conversion
    /// pass shrinks to the finiteness check.
    ///
    /// - Parameters:
    ///   - x: The batch, in the model's coordinates.
    ///   - level: The noise level of `x`.
    ///   - prediction: Receives `x̂₀` and `ε̂` (those in `needs`).
    ///   - needs: The predictions the caller reads; the others are not written, which
    ///     saves a pass over memory.
    /// - Throws: ``SamplingError/nonFiniteModelOutput(step:t:sigma:)`` when the predictions contain
    ///   NaN or infinity (from the model, or from a parameterization that cannot be converted at this
    ///   level), or whatever the model throws.
    public func predict(_ x: SampleTensor, at level: NoiseLevel, into prediction: inout ModelPrediction,
                        needs: PredictionNeeds = .both) throws {
        let written = thresholding == nil ? needs : needs.union(.data)
        let finite: Bool
        switch written == model.parameterization.outputPrediction ? written : [] {
        case .noise:
            finite = try predictInPlace(x, at: level, into: &prediction.noise)
        case .data:
            finite = try predictInPlace(x, at: level, into: &prediction.data)
        default:
            if raw.shape != x.shape { raw = SampleTensor(zeros: x.shape) }
            try model.predict(x, at: level, into: &raw)
            finite = model.parameterization.convert(output: raw, at: x, level: level, data: &prediction.data,
                                                    noise: &prediction.noise, needs: written)
        }
        evaluations += 1
        guard finite else {
            throw SamplingError.nonFiniteModelOutput(step: currentStep, t: level.t, sigma: schedule.displaySigma(level))
        }
        if let thresholding {
            thresholding.apply(to: &prediction.data, scratch: &scratch)
            if needs.contains(.noise) {
                // ε̂ = (x − α·x̂₀)/σ from the thresholded x̂₀.
                prediction.noise.set((1 / level.sigma, x), (-level.alpha / level.sigma, prediction.data))
            }
        }
    }

    /// The model's output at `x`, written to `output` (as many values as `x`); returns whether it is finite.
    private func predictInPlace(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws -> Bool {
        precondition(output.count == x.count, "Denoiser: prediction shape \(output.shape) does not match \(x.shape)")
        try model.predict(x, at: level, into: &output)
        return output.isFinite
    }
}

/// Errors raised while sampling, each one line.
public enum SamplingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The model returned NaN or infinity.
    case nonFiniteModelOutput(step: Int, t: Double, sigma: Double)
    /// The initial state does not fit the model.
    case shapeMismatch(expected: [Int], got: [Int])
    /// A configuration the solver cannot run.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case let .nonFiniteModelOutput(step, t, sigma):
            return "model output contains NaN or Inf at step \(step + 1) (t = \(t), sigma = \(sigma))"
        case let .shapeMismatch(expected, got):
            return "initial sample shape \(got) does not fit the model's sample shape \(expected)"
        case let .invalidConfiguration(message):
            return message
        }
    }
}
