import RealModule

/// The mean-reverting SDE of IR-SDE (Luo et al. 2023, "Image Restoration with Mean-Reverting
/// Stochastic Differential Equations"), `dx = θ_t(μ − x)dt + g_t dW` with `g_t² = 2σ_∞²θ_t`, whose
/// marginal given the clean `x₀` and the condition `μ` (the degraded image) is
/// ```
/// x_t = μ + α_t(x₀ − μ) + σ_t·ε,   α_t = exp(−∫₀ᵗθ),   σ_t = σ_∞·√(1 − α_t²),   λ_t = log(α_t/σ_t)
/// ```
/// so `x − μ` is an ordinary diffusion with coefficients `(α_t, σ_t)`, which is what the MR
/// Sampler integrates (Li et al. 2024, "Fast Sampling of Mean-Reverting Diffusion", Sec. 3).
///
/// Training timesteps are `k = 0…T` with the θ schedule of the IR-SDE code (`θ_k` the betas of a
/// cosine, linear or constant schedule over `T + 1` steps) and `α_k = exp(−Δt·Σ_{j≤k}θ_j)`, where
/// `Δt = −log(ε)/Σ_jθ_j` makes `α_T = ε`. Between training timesteps `θ` is constant, so
/// `log α` is linear in `t` there and `α`, `σ`, `λ` stay consistent at fractional times (the
/// official sampler interpolates the three linearly and separately; they agree at integer `t`).
/// `α_0 < 1`: the smallest time still carries noise `σ_0 > 0`, and sampling ends there.
public struct MeanRevertingSchedule: Sendable, Equatable {
    /// IR-SDE's θ schedules (its `schedule` option).
    public enum ThetaSchedule: String, Sendable, CaseIterable {
        /// The cosine `ᾱ` of Nichol & Dhariwal over `T + 2` steps, its betas `1…T+1`.
        case cosine
        /// Betas linear from `10⁻⁴` to `0.02`, scaled by `1000/(T + 1)`.
        case linear
        /// `θ = 1`.
        case constant
    }

    public let thetaSchedule: ThetaSchedule
    /// `T`, the largest training timestep.
    public let trainingSteps: Int
    /// `σ_∞`, the stationary standard deviation (IR-SDE's `max_sigma`, there in pixel units /255).
    public let sigmaInfinity: Double
    /// `α_T` (IR-SDE's `eps`).
    public let terminalAlpha: Double
    /// `θ_k`, `k = 0…T`.
    public let thetas: [Double]
    /// `Δt`.
    public let dt: Double
    /// `Δt·Σ_{j≤k}θ_j`, `k = 0…T` (so `α_k = exp(−cumulative[k])`).
    public let cumulative: [Double]

    /// Builds the schedule of IR-SDE's `_initialize`.
    ///
    /// - Throws: ``ScheduleError`` when `T < 2`, `σ_∞ ≤ 0` or `ε ∉ (0, 1)`.
    public init(thetaSchedule: ThetaSchedule = .cosine, trainingSteps: Int = 100, sigmaInfinity: Double,
                terminalAlpha: Double = 0.005) throws {
        guard trainingSteps >= 2 else { throw ScheduleError("mean-reverting schedule: T must be at least 2, got \(trainingSteps)") }
        guard sigmaInfinity > 0, sigmaInfinity.isFinite else {
            throw ScheduleError("mean-reverting schedule: sigma_inf must be positive, got \(sigmaInfinity)")
        }
        guard terminalAlpha > 0, terminalAlpha < 1 else {
            throw ScheduleError("mean-reverting schedule: eps (the terminal alpha) must lie in (0, 1), got \(terminalAlpha)")
        }
        self.thetaSchedule = thetaSchedule
        self.trainingSteps = trainingSteps
        self.sigmaInfinity = sigmaInfinity
        self.terminalAlpha = terminalAlpha
        let n = trainingSteps + 1
        var thetas = [Double](repeating: 1, count: n)
        switch thetaSchedule {
        case .cosine:
            let m = Double(trainingSteps + 2)
            func alphaBar(_ i: Int) -> Double {
                let c = Double.cos((Double(i) / m + 0.008) / 1.008 * Double.pi / 2)
                return c * c
            }
            for k in 0..<n { thetas[k] = 1 - alphaBar(k + 1) / alphaBar(0) }
        case .linear:
            let scale = 1000 / Double(n)
            for k in 0..<n { thetas[k] = scale * (0.0001 + (0.02 - 0.0001) * Double(k) / Double(n - 1)) }
        case .constant:
            break
        }
        var sums = [Double](repeating: 0, count: n)
        var running = 0.0
        for k in 0..<n { running += thetas[k]; sums[k] = running }
        let dt = -Double.log(terminalAlpha) / running
        self.dt = dt
        self.cumulative = sums.map { $0 * dt }
        self.thetas = thetas
    }

    public var name: String { "mean-reverting(\(thetaSchedule.rawValue), T=\(trainingSteps), sigma_inf=\(sigmaInfinity))" }

    /// `Δt·∫₀ᵗθ`, linear between training timesteps.
    func integratedTheta(at t: Double) -> Double {
        let k = Swift.min(Swift.max(Int(t.rounded(.down)), 0), trainingSteps - 1)
        return cumulative[k] + (t - Double(k)) * (cumulative[k + 1] - cumulative[k])
    }

    /// `α_t`, `σ_t` and `λ_t` at time `t ∈ [0, T]`.
    public func level(at t: Double) -> NoiseLevel {
        let theta = integratedTheta(at: t)
        let alpha = Double.exp(-theta)
        // 1 − α² = −expm1(−2Θ), accurate where α is close to 1.
        let sigma = sigmaInfinity * (-Double.expMinusOne(-2 * theta)).squareRoot()
        return NoiseLevel(t: t, alpha: alpha, sigma: sigma, lambda: .log(alpha) - .log(sigma))
    }

    /// The largest time the sampler starts from: the official `set_timesteps` drops the training
    /// timesteps whose `λ_k` lies below `lambdaMin` ("critical for the cosine schedule").
    public func maximumTime(lambdaMin: Double) -> Int {
        let clipped = (0...trainingSteps).filter { level(at: Double($0)).lambda < lambdaMin }.count
        return trainingSteps - clipped
    }

    /// The official `linspace` grid: `steps + 1` times evenly spaced from ``maximumTime(lambdaMin:)``
    /// down to 0.
    ///
    /// - Throws: ``ScheduleError`` when `steps < 1` or `lambdaMin` leaves no room to step.
    public func grid(steps: Int, lambdaMin: Double = -5) throws -> TimeGrid {
        guard steps >= 1 else { throw ScheduleError("mean-reverting grid: steps must be at least 1, got \(steps)") }
        let top = maximumTime(lambdaMin: lambdaMin)
        guard top > 0 else { throw ScheduleError("mean-reverting grid: lambda_min \(lambdaMin) is above every training timestep's lambda") }
        return try TimeGrid(levels: (0...steps).map { level(at: Double(top) * Double(steps - $0) / Double(steps)) })
    }
}
