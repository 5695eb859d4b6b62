/// A guided model that also returns the unconditional prediction it guided from, which the CFG++
/// samplers (Chung et al. 2024) step with: they take the guided `x̂₀` as the clean estimate and
/// re-noise along the *unconditional* noise direction, which keeps the sample on the data manifold
/// at guidance scales where plain classifier-free guidance overshoots.
public protocol UnconditionalPredicting: DiffusionModel {
    /// Writes the guided prediction into `output` and the unconditional one into `unconditional`,
    /// both in ``DiffusionModel/parameterization``.
    func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor, unconditional: inout SampleTensor) throws
}

extension ClassifierFreeGuidance: UnconditionalPredicting {}

extension Denoiser {
    /// The guided clean estimate into `guided` and the unconditional one into `unconditional`, as one
    /// evaluation. A model without guidance is its own unconditional model: both get its `x̂₀`, and a
    /// CFG++ sampler becomes its plain counterpart.
    ///
    /// - Throws: when dynamic thresholding is on (CFG++ is defined on the raw estimates), or the
    ///   predictions are not finite.
    public func predictWithUnconditional(_ x: SampleTensor, at level: NoiseLevel, guided: inout SampleTensor,
                                         unconditional: inout SampleTensor, solver: String) throws {
        guard thresholding == nil else { throw SamplingError.invalidConfiguration("\(solver) does not combine with dynamic thresholding") }
        guard let model = model as? any UnconditionalPredicting else {
            var prediction = ModelPrediction(like: x)
            try predict(x, at: level, into: &prediction, needs: .data)
            guided.assign(prediction.data)
            unconditional.assign(prediction.data)
            return
        }
        var output = SampleTensor(zeros: x.shape), raw = SampleTensor(zeros: x.shape), unused = SampleTensor(zeros: x.shape)
        try model.predict(x, at: level, into: &output, unconditional: &raw)
        evaluations += 1
        let p = model.parameterization
        guard p.convert(output: output, at: x, level: level, data: &guided, noise: &unused, needs: .data),
              p.convert(output: raw, at: x, level: level, data: &unconditional, noise: &unused, needs: .data),
              guided.isFinite, unconditional.isFinite else {
            throw SamplingError.nonFiniteModelOutput(step: currentStep, t: level.t, sigma: schedule.displaySigma(level))
        }
    }
}

/// The state of a CFG++ sampler: the guided and unconditional clean estimates at the step's start
/// (and at a second stage), the unconditional estimate of the previous step (DPM-Solver++(2M)),
/// and a buffer for fresh noise.
public struct CFGPlusPlusState: SolverState {
    var guided: SampleTensor
    var unconditional: SampleTensor
    var stage: SampleTensor
    var stageGuided: SampleTensor
    var previousUnconditional: SampleTensor?
    var z: SampleTensor
    public var denoised: SampleTensor { guided }

    init(like x: SampleTensor) {
        guided = SampleTensor(zeros: x.shape)
        unconditional = guided; stage = guided; stageGuided = guided; z = guided
    }

    /// The first evaluation of a step, at `grid[step]`.
    mutating func begin(_ step: Int, x: SampleTensor, context: SolverContext, solver: String) throws {
        try Ancestral.requireVEFrame(context, solver: solver)
        context.denoiser.currentStep = step
        try context.denoiser.predictWithUnconditional(x, at: context.grid[step], guided: &guided, unconditional: &unconditional, solver: solver)
    }
}
