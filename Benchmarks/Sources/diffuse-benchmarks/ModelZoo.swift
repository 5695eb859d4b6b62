import DiffusionSolvers
import Foundation


/// Exact models for choosing and checking the default configuration on models it was not chosen
/// on: Gaussian mixtures (whose denoiser and ground truth are exact) under every kind of noise
/// schedule the package reads, drawn from a seed rather than picked by hand.
///
/// Each model belongs to a family, its noise schedule, so that a rule chosen on some families can
/// be measured on another (leave-one-family-out). Within a family the models vary the dimension
/// (2 to 256), the number and spread of the modes, and their shape: isotropic, anisotropic (per
/// coordinate scales over two decades), or concentrated near a low-dimensional subspace (means in
/// a random `r`-dimensional subspace, `r ≤ 3`, with small spread around them).
enum ModelZoo {
    struct Model {
        var name: String
        var family: String
        var schedule: any NoiseSchedule
        var mixture: GaussianMixture
    }

    /// The families: a name and its schedule (diffusers' DDPM, Stable Diffusion's and the cosine
    /// betas, Stable Diffusion's rescaled to zero terminal SNR, score-SDE's continuous VP schedules,
    /// EDM's VE schedule, and rectified flow without and with SD3's shift of 3).
    static func families() throws -> [(String, any NoiseSchedule)] {
        [("ddpm-linear", try DiscreteVPSchedule(betaSchedule: .linear, betaStart: 0.0001, betaEnd: 0.02)),
         ("scaled-linear", try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)),
         ("cosine", try DiscreteVPSchedule(betaSchedule: .squaredCosCapV2)),
         ("zero-snr", try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012,
                                             rescaleToZeroTerminalSNR: true)),
         ("vp-linear", ContinuousVPSchedule.linear()),
         ("vp-cosine", ContinuousVPSchedule.cosine),
         ("edm", VESchedule()),
         ("flow", RectifiedFlowSchedule()),
         ("flow-shift3", ShiftedFlowSchedule(shift: 3))]
    }

    /// Rectified flow in the time of a shifted flow model (SD3's and Flux's `shift`): at time `u`
    /// the noise level is `σ = s·u/(1 + (s − 1)·u)`, so the peers' steps uniform in `u`
    /// (diffusers' `FlowMatchEulerDiscreteScheduler` with `shift = s`) crowd at high noise.
    struct ShiftedFlowSchedule: NoiseSchedule {
        let shift: Double
        var name: String { "flow-shift\(shift)" }
        var timeRange: ClosedRange<Double> { 1e-3...1 }
        var frame: ODEFrame { .rectifiedFlow }
        func sigma(at u: Double) -> Double { shift * u / (1 + (shift - 1) * u) }
        func alpha(at u: Double) -> Double { 1 - sigma(at: u) }
        func lambda(at u: Double) -> Double {
            if u <= 0 { return .infinity }
            if u >= 1 { return -.infinity }
            let s = sigma(at: u)
            return Foundation.log((1 - s) / s)
        }
        func time(lambda: Double) -> Double {
            let s = lambda >= 0 ? Foundation.exp(-lambda) / (1 + Foundation.exp(-lambda)) : 1 / (1 + Foundation.exp(lambda))
            return s / (shift - (shift - 1) * s)
        }
        func priorScale(at level: NoiseLevel) -> Double { level.alpha + level.sigma }
    }

    /// `perFamily` models per family, deterministic from `seed`. At most one model in eight has
    /// dimension above 64, so that a zoo run stays cheap.
    static func generate(seed: UInt64, perFamily: Int) throws -> [Model] {
        var rng = SplitMix64(seed: seed)
        var models: [Model] = []
        for (family, schedule) in try families() {
            for i in 0..<perFamily {
                let (mixture, description) = try mixture(using: &rng, large: (models.count + i) % 8 == 7)
                models.append(Model(name: "\(family)-\(i) \(description)", family: family, schedule: schedule, mixture: mixture))
            }
        }
        return models
    }

    enum Shape: CaseIterable { case isotropic, anisotropic, subspace }

    /// One random mixture and a short description (`d16 k6 anisotropic`).
    static func mixture(using rng: inout SplitMix64, large: Bool) throws -> (GaussianMixture, String) {
        func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * rng.uniform() }
        func logUniform(_ a: Double, _ b: Double) -> Double { exp(uniform(log(a), log(b))) }
        func normal() -> Double {
            let u = Swift.max(rng.uniform(), 1e-300), v = rng.uniform()
            return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
        }
        let dimensions = large ? [128, 256] : [2, 4, 8, 16, 32, 64]
        let d = dimensions[rng.below(dimensions.count)]
        let k = 2 + rng.below(15)
        let shape = Shape.allCases[rng.below(Shape.allCases.count)]
        // The spread of the means around the origin, per coordinate; data of unit-order scale.
        let spread = logUniform(0.3, 2)
        var means = [Double](repeating: 0, count: k * d), stds = means
        switch shape {
        case .isotropic, .anisotropic:
            for j in means.indices { means[j] = spread * normal() }
            for c in 0..<k {
                let base = logUniform(0.02, 0.5)
                for j in 0..<d { stds[c * d + j] = shape == .isotropic ? base : base * logUniform(0.1, 1) }
            }
        case .subspace:
            let r = 1 + rng.below(Swift.min(3, d))
            let basis = (0..<(r * d)).map { _ in normal() / Double(r).squareRoot() }
            for c in 0..<k {
                let z = (0..<r).map { _ in spread * normal() }
                for j in 0..<d { means[c * d + j] = (0..<r).reduce(0) { $0 + basis[$1 * d + j] * z[$1] } }
            }
            let thin = logUniform(0.005, 0.05)
            for j in stds.indices { stds[j] = thin }
        }
        let weights = (0..<k).map { _ in logUniform(0.2, 5) }
        let description = "d\(d) k\(k) \(shape)"
        return (try GaussianMixture(weights: weights, means: means, stds: stds, name: "zoo " + description), description)
    }
}
