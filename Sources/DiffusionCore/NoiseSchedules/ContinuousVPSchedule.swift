import RealModule

/// Continuous-time variance-preserving schedules with `α² + σ² = 1`, in closed form.
///
/// - `linear`: the score-SDE VP SDE with `β(t) = β₀ + t(β₁ − β₀)`,
///   `log α(t) = −(β₁ − β₀)t²/4 − β₀t/2` (Song et al. 2021, "Score-Based Generative Modeling
///   through SDEs"; defaults `β₀ = 0.1`, `β₁ = 20`), `t ∈ [10⁻³, 1]`.
/// - `cosine`: `log α(t) = log cos((t+s)/(1+s)·π/2) − log cos(s/(1+s)·π/2)`, `s = 0.008`
///   (Nichol & Dhariwal 2021), `t ∈ [10⁻³, 0.9946]` as in DPM-Solver, whose `t(λ)` formulas
///   both cases use (Lu et al. 2022, Appendix D).
public struct ContinuousVPSchedule: NoiseSchedule, Equatable {
    /// The form of `log α(t)`: linear β (DDPM's continuous limit) or cosine (Nichol & Dhariwal).
    public enum Kind: Sendable, Equatable {
        case linear(betaMin: Double, betaMax: Double)
        case cosine(s: Double)
    }
    public let kind: Kind

    /// The score-SDE linear schedule.
    public static func linear(betaMin: Double = 0.1, betaMax: Double = 20) -> ContinuousVPSchedule {
        ContinuousVPSchedule(kind: .linear(betaMin: betaMin, betaMax: betaMax))
    }
    /// The cosine schedule.
    public static let cosine = ContinuousVPSchedule(kind: .cosine(s: 0.008))

    public var name: String {
        switch kind {
        case .linear: return "vp-linear"
        case .cosine: return "vp-cosine"
        }
    }

    public var timeRange: ClosedRange<Double> {
        switch kind {
        case .linear: return 1e-3...1
        case .cosine(let s):
            // DPM-Solver's cosine_t_max: where β(t) reaches 999.
            let tMax = Double.atan(999 * (1 + s) / .pi) * 2 * (1 + s) / .pi - s
            return 1e-3...tMax
        }
    }
    public var frame: ODEFrame { .varianceExploding }

    /// `log α(t)`.
    public func logAlpha(at t: Double) -> Double {
        switch kind {
        case let .linear(b0, b1):
            return -0.25 * t * t * (b1 - b0) - 0.5 * t * b0
        case let .cosine(s):
            let f = { (u: Double) in Double.log(Double.cos((u + s) / (1 + s) * .pi / 2)) }
            return f(t) - f(0)
        }
    }

    public func alpha(at t: Double) -> Double { .exp(logAlpha(at: t)) }
    public func sigma(at t: Double) -> Double { (-Double.expMinusOne(2 * logAlpha(at: t))).squareRoot() }
    public func lambda(at t: Double) -> Double {
        let la = logAlpha(at: t)
        if la == 0 { return .infinity }
        return la - 0.5 * Double.log(-Double.expMinusOne(2 * la))
    }

    /// `log(1 + e^{−2λ})`, stably for any sign of `λ`.
    private func softplusMinusTwoLambda(_ lambda: Double) -> Double {
        let u = -2 * lambda
        return u > 0 ? u + Double.log(onePlus: .exp(-u)) : Double.log(onePlus: .exp(u))
    }

    public func time(lambda: Double) -> Double {
        if lambda == .infinity { return 0 }
        let logOnePlus = softplusMinusTwoLambda(lambda)  // = −2 log α
        switch kind {
        case let .linear(b0, b1):
            let tmp = 2 * (b1 - b0) * logOnePlus
            return tmp / ((b0 * b0 + tmp).squareRoot() + b0) / (b1 - b0)
        case let .cosine(s):
            let logAlpha0 = Double.log(Double.cos(s / (1 + s) * .pi / 2))
            return Double.acos(.exp(-0.5 * logOnePlus + logAlpha0)) * 2 * (1 + s) / .pi - s
        }
    }

    public func priorScale(at level: NoiseLevel) -> Double { 1 }
}
