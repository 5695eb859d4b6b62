import Foundation

/// The first-hitting sampler (Zheng et al. 2024, "Masked Diffusion Models are Secretly
/// Time-Agnostic Masked Models and Exploit Inaccurate Categorical Sampling"). With `n`
/// tokens masked at time `t`, each stays masked until `s` with probability `(1 − α_s)/(1 − α_t)`,
/// independently, so the first of them is revealed at `α_s = 1 − (1 − α_t)·u^{1/n}`, `u ~ U(0, 1)`;
/// by symmetry it is a uniformly chosen masked position. Jumping from event to event is exact
/// and costs one evaluation per token: NFE = L, against one per step for ``MaskedAncestral``.
///
/// `tokensPerStep = k > 1` is the parallel variant: the next `k` hitting times are drawn and `k`
/// uniformly chosen positions are revealed from one evaluation, `⌈L/k⌉` in all. The `k` tokens
/// are drawn independently from their predictives given the same state, an approximation that
/// ignores their dependence (exact for `k = 1`).
public struct FirstHitting: MaskedSampler {
    public let tokensPerStep: Int
    public var name: String { tokensPerStep == 1 ? "fhs" : "fhs (\(tokensPerStep) tokens per evaluation)" }

    public init(tokensPerStep: Int = 1) throws {
        guard tokensPerStep >= 1 else { throw DiscreteError("fhs needs at least 1 token per step, got \(tokensPerStep)") }
        self.tokensPerStep = tokensPerStep
    }

    public func sample(_ model: any MaskedDiffusionModel, schedule: MaskingSchedule, precision: CategoricalPrecision,
                       random: inout DiscreteRandom) throws -> (sequence: TokenSequence, evaluations: Int) {
        var state = RevealState(model)
        var masked = Array(0..<model.length)
        var t = 1.0
        while !masked.isEmpty {
            let k = min(tokensPerStep, masked.count)
            var alpha = schedule.alpha(t)
            for j in 0..<k { alpha = 1 - (1 - alpha) * pow(random.uniform(), 1 / Double(masked.count - j)) }
            try state.evaluate(time: t)
            for _ in 0..<k { state.reveal(masked.remove(at: random.index(below: masked.count)), precision: precision, random: &random) }
            t = schedule.time(alpha: alpha)
        }
        return (state.sequence, state.evaluations)
    }
}
