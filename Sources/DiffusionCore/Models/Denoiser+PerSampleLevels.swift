extension Denoiser {
    /// Evaluates the model with each sample at its own level: one call for the batch when the
    /// levels agree, else one call per distinct level on the samples there (in order of first
    /// appearance), counted as one evaluation of the batch — the cost of one call with a vector of
    /// times, which is what time-shifted and MCMC samplers make.
    public func predict(_ x: SampleTensor, atEach levels: [NoiseLevel], into prediction: inout ModelPrediction,
                        needs: PredictionNeeds = .both) throws {
        precondition(levels.count == x.batchSize, "Denoiser: \(levels.count) levels for a batch of \(x.batchSize)")
        guard levels.contains(where: { $0 != levels[0] }) else {
            try predict(x, at: levels[0], into: &prediction, needs: needs)
            return
        }
        var groups: [(level: NoiseLevel, members: [Int])] = []
        for (b, level) in levels.enumerated() {
            if let g = groups.firstIndex(where: { $0.level == level }) { groups[g].members.append(b) } else { groups.append((level, [b])) }
        }
        let size = x.sampleCount
        for group in groups {
            var part = SampleTensor(zeros: [group.members.count] + x.sampleShape)
            for (j, b) in group.members.enumerated() { part.scalars[j * size..<(j + 1) * size] = x.sample(b) }
            var out = ModelPrediction(like: part)
            try predict(part, at: group.level, into: &out, needs: needs)
            for (j, b) in group.members.enumerated() {
                prediction.data.scalars[b * size..<(b + 1) * size] = out.data.scalars[j * size..<(j + 1) * size]
                prediction.noise.scalars[b * size..<(b + 1) * size] = out.noise.scalars[j * size..<(j + 1) * size]
            }
        }
        evaluations -= groups.count - 1
    }
}
