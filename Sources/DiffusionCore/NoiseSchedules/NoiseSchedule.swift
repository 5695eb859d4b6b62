import RealModule

/// A forward noising process `x_t = α(t)·x₀ + σ(t)·ε`, with `ε` standard normal.
///
/// Everything a solver needs is expressed through `α`, `σ` and the half log-SNR
/// ```
/// λ(t) = log(α(t) / σ(t))
/// ```
/// which decreases in `t` (more noise at larger `t`). Coefficients are `Double`: differences of
/// `λ` between neighbouring steps are small, and their exponentials enter every update
/// (Lu et al. 2022, "DPM-Solver", Eq. 3.4).
///
/// Time `t` is in the schedule's own units: training timesteps `0…T−1` for a discrete schedule,
/// `[0, 1]` for continuous VP and rectified flow, and `t = σ` for VE / EDM.
public protocol NoiseSchedule: Sendable {
    /// A short name for reports, such as `vp-linear` or `edm`.
    var name: String { get }
    /// The times at which sampling may start and stop (`t` of the largest and smallest noise
    /// level a model is evaluated at).
    var timeRange: ClosedRange<Double> { get }
    /// The frame in which the probability-flow ODE is integrated by Euler-type solvers, and in
    /// which users state noise levels (`--sigma-min`, `--sigma-max`, Karras spacing).
    var frame: ODEFrame { get }
    /// `α(t)`, the signal scale.
    func alpha(at t: Double) -> Double
    /// `σ(t)`, the noise scale.
    func sigma(at t: Double) -> Double
    /// `λ(t) = log(α/σ)`; `+∞` where `σ = 0`.
    func lambda(at t: Double) -> Double
    /// The inverse of `λ(t)`: the time at which the half log-SNR equals `lambda`.
    func time(lambda: Double) -> Double
    /// The time at which the frame time (the user-facing sigma, see ``ODEFrame``) equals `sigma`.
    /// The default goes through `λ`; schedules override it where a direct inverse is exact.
    func time(sigma: Double) -> Double
    /// The standard deviation of the prior that initial noise is scaled by at `level`:
    /// `σ_max` for VE, 1 for VP and rectified flow.
    func priorScale(at level: NoiseLevel) -> Double
    /// The number of training timesteps of a discrete-time schedule, `nil` when continuous.
    var trainingTimesteps: Int? { get }
    /// The time that stands for the clean data (`σ = 0`).
    var cleanTime: Double { get }
}

extension NoiseSchedule {
    public func lambda(at t: Double) -> Double {
        let a = alpha(at: t), s = sigma(at: t)
        if s == 0 { return .infinity }
        if a == 0 { return -.infinity }
        return .log(a) - .log(s)
    }
    public var trainingTimesteps: Int? { nil }
    public var cleanTime: Double { 0 }
    public func time(sigma: Double) -> Double { time(lambda: frame.lambda(tau: sigma)) }

    /// The noise level at time `t`.
    public func level(at t: Double) -> NoiseLevel {
        NoiseLevel(t: t, alpha: alpha(at: t), sigma: sigma(at: t), lambda: lambda(at: t))
    }

    /// The clean endpoint `σ = 0`, `α = 1`, `λ = +∞`.
    public var cleanLevel: NoiseLevel {
        NoiseLevel(t: cleanTime, alpha: 1, sigma: 0, lambda: .infinity)
    }

    /// The noise level whose frame time (the user-facing sigma) is `sigma`; `sigma = 0` gives
    /// ``cleanLevel``.
    public func level(sigma: Double) -> NoiseLevel {
        if sigma == 0 { return cleanLevel }
        return level(at: time(sigma: sigma))
    }

    /// The user-facing noise level of `level`: `σ/α` in the VE frame, `t` in the flow frame.
    public func displaySigma(_ level: NoiseLevel) -> Double { frame.tau(level) }
}

/// One point of a sampling grid: the time and the schedule's coefficients there.
public struct NoiseLevel: Sendable, Equatable, CustomStringConvertible {
    /// The model's time input (fractional for discrete-time models between training steps).
    public var t: Double
    /// Signal scale `α`.
    public var alpha: Double
    /// Noise scale `σ`.
    public var sigma: Double
    /// Half log-SNR `λ = log(α/σ)`, `+∞` at `σ = 0`.
    public var lambda: Double

    public init(t: Double, alpha: Double, sigma: Double, lambda: Double) {
        self.t = t; self.alpha = alpha; self.sigma = sigma; self.lambda = lambda
    }

    /// Whether this is the clean endpoint `σ = 0`.
    public var isClean: Bool { sigma == 0 }

    public var description: String { "t=\(t) alpha=\(alpha) sigma=\(sigma)" }
}

/// The coordinates `(τ, y = x / s)` in which the probability-flow ODE becomes
/// ```
/// dy/dτ = a′·x̂₀ + b′·ε̂,    y = a(τ)·x₀ + b(τ)·ε
/// ```
/// with `a`, `b` affine in `τ`. An Euler step in these coordinates is exact when the model's
/// prediction is constant over the step, which is why Euler here equals DDIM (Song et al. 2021;
/// Karras et al. 2022, Sec. 3).
///
/// - `varianceExploding`: `τ = σ/α`, `s = α`, `a = 1`, `b = τ` — k-diffusion's sigma and the
///   EDM ODE `dx̃/dσ̃ = (x̃ − D)/σ̃` (Karras et al. 2022, Algorithm 1 with `σ(t) = t`, `s(t) = 1`).
/// - `rectifiedFlow`: `τ = σ/(α+σ)`, `s = α + σ`, `a = 1 − τ`, `b = τ` — the flow-matching time,
///   finite at pure noise where `α = 0`.
public enum ODEFrame: String, Sendable {
    case varianceExploding
    case rectifiedFlow

    /// The frame time `τ` of a level.
    @inlinable public func tau(_ level: NoiseLevel) -> Double {
        switch self {
        case .varianceExploding: return level.sigma / level.alpha
        case .rectifiedFlow: return level.sigma / (level.alpha + level.sigma)
        }
    }
    /// The scale `s` with `x = s·y`.
    @inlinable public func scale(_ level: NoiseLevel) -> Double {
        switch self {
        case .varianceExploding: return level.alpha
        case .rectifiedFlow: return level.alpha + level.sigma
        }
    }
    /// `da/dτ` (the coefficient of `x̂₀` in `dy/dτ`).
    @inlinable public var dataSlope: Double { self == .varianceExploding ? 0 : -1 }
    /// The half log-SNR of frame time `τ`.
    public func lambda(tau: Double) -> Double {
        switch self {
        case .varianceExploding: return -Double.log(tau)
        case .rectifiedFlow: return Double.log(onePlus: -tau) - Double.log(tau)
        }
    }
}
