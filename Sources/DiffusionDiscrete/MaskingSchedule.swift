import Foundation

/// The masking schedule `α_t` of a masked diffusion model: the probability that a token is still
/// unmasked at time `t ∈ [0, 1]`, decreasing from `α_0 = 1` (data) to `α_1 = 0` (all masks)
/// (Sahoo et al. 2024, MDLM; Shi et al. 2024, MD4). A token masked at `t` is still masked at
/// `s < t` with probability `(1 − α_s)/(1 − α_t)`, which is all the samplers need, together with
/// the inverse `t(α)` that the first-hitting sampler uses to turn a drawn `α` into a time.
public enum MaskingSchedule: Sendable, Equatable {
    /// `α_t = 1 − t`.
    case linear
    /// `α_t = 1 − cos(π/2 · (1 − t))` (MD4's cosine schedule).
    case cosine
    /// A user-given table: `α` at increasing `times` from 0 to 1, linear in between.
    case tabulated(times: [Double], alphas: [Double])

    /// A checked table: times increase strictly from 0 to 1, alphas decrease from 1 to 0.
    public static func table(times: [Double], alphas: [Double]) throws -> MaskingSchedule {
        guard times.count == alphas.count, times.count >= 2 else {
            throw DiscreteError("a masking schedule table needs at least two (t, α) pairs of equal count")
        }
        guard times.first == 0, times.last == 1, zip(times, times.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw DiscreteError("masking schedule times must increase strictly from 0 to 1")
        }
        guard alphas.first == 1, alphas.last == 0, zip(alphas, alphas.dropFirst()).allSatisfy({ $0 >= $1 }) else {
            throw DiscreteError("masking schedule alphas must decrease from 1 to 0")
        }
        return .tabulated(times: times, alphas: alphas)
    }

    /// `α_t`.
    public func alpha(_ t: Double) -> Double {
        let t = min(max(t, 0), 1)
        switch self {
        case .linear: return 1 - t
        case .cosine: return t == 0 ? 1 : 1 - cos(Double.pi / 2 * (1 - t))
        case let .tabulated(times, alphas):
            guard let i = times.firstIndex(where: { $0 >= t }), i > 0 else { return alphas[0] }
            let w = (t - times[i - 1]) / (times[i] - times[i - 1])
            return alphas[i - 1] + w * (alphas[i] - alphas[i - 1])
        }
    }

    /// The time at which `α_t = alpha` (the latest such time where the table is flat).
    public func time(alpha: Double) -> Double {
        let a = min(max(alpha, 0), 1)
        switch self {
        case .linear: return 1 - a
        case .cosine: return 1 - 2 / Double.pi * acos(1 - a)
        case let .tabulated(times, alphas):
            guard let i = alphas.lastIndex(where: { $0 >= a }), i + 1 < alphas.count else { return a >= 1 ? 0 : 1 }
            let span = alphas[i] - alphas[i + 1]
            return span == 0 ? times[i + 1] : times[i] + (alphas[i] - a) / span * (times[i + 1] - times[i])
        }
    }
}

/// A problem with a discrete model, schedule or sampler configuration, in one line.
public struct DiscreteError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
