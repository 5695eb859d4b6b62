/// A solver state that can follow its samples when a particle method resamples them: after
/// ``SteeringRun`` replaces particle `i` by a copy of particle `indices[i]`, ``gather(_:)`` does the
/// same to every per-sample buffer the state keeps across steps (the history of model outputs of
/// a multistep solver, a corrector's previous sample, a carried draw), so the next step continues
/// each particle with the history of its ancestor, as if the batch had been run in that order.
/// A state that keeps no sample-dependent data between steps only reorders its latest estimate.
public protocol ParticleState: SolverState {
    /// Makes row `i` of every per-sample buffer a copy of row `indices[i]` (repeats allowed).
    mutating func gather(_ indices: [Int])
}

extension SampleTensor {
    /// Reorders the rows of a per-sample buffer; a buffer of another batch size is a placeholder
    /// (a one-element buffer a solver does not use) and stays as it is.
    package mutating func gather(_ indices: [Int]) {
        guard batchSize == indices.count, indices != Array(indices.indices) else { return }
        self = gathering(indices)
    }
}

extension Optional where Wrapped == SampleTensor {
    mutating func gather(_ indices: [Int]) { self?.gather(indices) }
}

extension ModelPrediction {
    mutating func gather(_ indices: [Int]) {
        data.gather(indices)
        noise.gather(indices)
    }
}

// The conformances, one line per state: every stored tensor that holds samples is listed.

extension StageState: ParticleState {
    public mutating func gather(_ indices: [Int]) { first.gather(indices); second.gather(indices); stage.gather(indices); z.gather(indices) }
}

extension DDIM.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { prediction.gather(indices); noise.gather(indices) }
}

extension ScoreSDEPredictorCorrector.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { prediction.gather(indices); z.gather(indices) }
}

extension DPMSolver.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { first.gather(indices); second.gather(indices); third.gather(indices); stage.gather(indices) }
}

extension HeunPlusPlus2.State: ParticleState {
    public mutating func gather(_ indices: [Int]) {
        first.gather(indices); second.gather(indices); third.gather(indices); stage.gather(indices); stage2.gather(indices)
    }
}

extension SEEDS.State: ParticleState {
    public mutating func gather(_ indices: [Int]) {
        first.gather(indices); second.gather(indices); third.gather(indices); stage.gather(indices); z.gather(indices); noise.gather(indices)
    }
}

extension DPMSolverMultistep.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); z.gather(indices) }
}

extension DPMSolverPlusPlusMultistepSDE.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); z.gather(indices) }
}

// The states whose only per-sample buffers are their history of model outputs or derivatives.
extension UniPC.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }
extension DEIS.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }
extension DCSolver.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }
extension IPNDM.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }
extension IPNDMV.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }
extension LMS.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }
extension DEISVPTime.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }
extension GradientEstimation.State: ParticleState { public mutating func gather(_ indices: [Int]) { history.gather(indices) } }

extension RESMultistep.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); z.gather(indices) }
}

extension ERSDE.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); slope.gather(indices); z.gather(indices) }
}

extension SASolver.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); previousSample.gather(indices); z.gather(indices) }
}

extension SASolverPECE.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); previousSample.gather(indices); z.gather(indices) }
}

extension DPMSolverSinglestepGrid.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); start.gather(indices) }
}

extension PLMS.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { history.gather(indices); predictor.gather(indices); corrector.gather(indices) }
}

extension CFGPlusPlusState: ParticleState {
    public mutating func gather(_ indices: [Int]) {
        guided.gather(indices); unconditional.gather(indices); stage.gather(indices); stageGuided.gather(indices)
        previousUnconditional.gather(indices); z.gather(indices)
    }
}

extension Array {
    /// Reorders a per-sample array (one element per sample); an empty one is not filled yet.
    mutating func gatherSamples(_ indices: [Int]) {
        guard count == indices.count else { return }
        self = indices.map { self[$0] }
    }
}

extension TimeShiftDDIM.State: ParticleState {
    public mutating func gather(_ indices: [Int]) { prediction.gather(indices); targetTimes.gatherSamples(indices) }
}

extension TimeShiftDPMSolver.State: ParticleState {
    public mutating func gather(_ indices: [Int]) {
        newest.gather(indices); previous.gather(indices)
        levels.gatherSamples(indices); previousLevels.gatherSamples(indices); targetTimes.gatherSamples(indices)
    }
}

extension DPMSolverV3.State: ParticleState {
    /// `f` holds `capacity` slots of one batch each, gathered slot by slot.
    public mutating func gather(_ indices: [Int]) {
        prediction.gather(indices); previous.gather(indices)
        let batch = prediction.data.count
        for slot in 0..<capacity {
            var rows = SampleTensor(shape: prediction.data.shape, scalars: Array(f[(slot * batch)..<((slot + 1) * batch)]))
            rows.gather(indices)
            f.replaceSubrange((slot * batch)..<((slot + 1) * batch), with: rows.scalars)
        }
    }
}
