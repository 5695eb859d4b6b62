/// The minority score of Um et al. 2024 ("Don't Play Favorites: Minority Guidance for Diffusion
/// Models", Eq. 6) as a reward: how badly the model's own Tweedie reconstruction recovers a clean
/// estimate after noising it to `level`,
/// ```
/// r(x̂₀) = ‖x̂₀ − x̂₀(α·x̂₀ + σ·ε)‖² / D,      ε seeded per sample
/// ```
/// Samples from low-density regions are reconstructed toward the likelier data, so their score is
/// high; steering with it (FK, SVDD) is a derivative-free, classifier-free form of minority
/// guidance that works on any model. Each call evaluates the model once more (not counted in the
/// steered run's NFE).
public struct MinorityReward: Reward {
    public let model: any DiffusionModel
    public let level: NoiseLevel
    public let seed: UInt64

    public init(model: any DiffusionModel, level: NoiseLevel, seed: UInt64 = 0) throws {
        guard !level.isClean, level.sigma.isFinite, level.alpha > 0 else {
            throw ModelError("minority reward: the noise level must be above 0, got \(level)")
        }
        self.model = model
        self.level = level
        self.seed = seed
    }

    public var name: String { "minority" }

    public func rewards(of data: SampleTensor, label: Int?) throws -> [Double] {
        var x = SeededNoise(seed: seed).initialNoise(shape: data.shape)
        x.set((level.sigma, x), (level.alpha, data))
        var output = SampleTensor(zeros: x.shape), reconstruction = output, unused = output
        try model.predict(x, at: level, into: &output)
        guard model.parameterization.convert(output: output, at: x, level: level, data: &reconstruction, noise: &unused, needs: .data) else {
            throw ModelError("minority reward: the model's prediction cannot be converted at \(level)")
        }
        let per = data.sampleCount
        return (0..<data.batchSize).map { b in
            (0..<per).reduce(0.0) { sum, i in
                let d = Double(data.scalars[b * per + i]) - Double(reconstruction.scalars[b * per + i])
                return sum + d * d
            } / Double(per)
        }
    }
}
