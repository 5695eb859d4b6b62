/// Ancestral sampling of a masked diffusion model on `steps` equal time steps (Sahoo et al. 2024,
/// MDLM, with the SUBS parameterization): from `t` to `s = t − 1/N` each masked token is
/// revealed with probability `(α_s − α_t)/(1 − α_t)` and then takes a token drawn from the model's
/// predictive; visible tokens stay. The last step (`α_0 = 1`) reveals every token left.
///
/// The per-step coin flips telescope: from all masks at `t = 1` (`α = 0`) a token is revealed by
/// the end of step `i` with probability `α_{t_{i+1}}`, so its reveal step is the first `i` with
/// `α_{t_{i+1}} > u`, `u ~ U(0, 1)`, drawn once per token; the law is the step-wise one.
///
/// MDLM's cache: the model's output depends only on the tokens (time-agnostic), so it is reused
/// while nothing changes and the model is evaluated once per step that reveals a token. NFE
/// counts those evaluations, at most `min(N, L)`.
public struct MaskedAncestral: MaskedSampler {
    public let steps: Int
    public var name: String { "mdlm" }

    public init(steps: Int) throws {
        guard steps >= 1 else { throw DiscreteError("mdlm needs at least 1 step, got \(steps)") }
        self.steps = steps
    }

    public func sample(_ model: any MaskedDiffusionModel, schedule: MaskingSchedule, precision: CategoricalPrecision,
                       random: inout DiscreteRandom) throws -> (sequence: TokenSequence, evaluations: Int) {
        var state = RevealState(model)
        // alpha[i] = α at t_i = 1 − i/N; step i goes from t_i to t_{i+1}.
        var alpha = (0...steps).map { schedule.alpha(1 - Double($0) / Double(steps)) }
        alpha[steps] = 1
        let revealStep = (0..<model.length).map { _ in Self.firstIndex(in: alpha, above: random.uniform()) - 1 }
        for step in Set(revealStep).sorted() {
            try state.evaluate(time: 1 - Double(step) / Double(steps))
            for l in 0..<model.length where revealStep[l] == step { state.reveal(l, precision: precision, random: &random) }
        }
        return (state.sequence, state.evaluations)
    }

    /// The first `i ≥ 1` with `alpha[i] > u` (`alpha` non-decreasing, `alpha.last = 1 > u`).
    static func firstIndex(in alpha: [Double], above u: Double) -> Int {
        var (lo, hi) = (1, alpha.count - 1)
        while lo < hi {
            let mid = (lo + hi) / 2
            if alpha[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
