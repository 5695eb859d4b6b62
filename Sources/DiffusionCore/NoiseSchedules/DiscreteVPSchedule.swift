import RealModule

/// A discrete-time variance-preserving schedule defined by training betas, as used by DDPM,
/// Stable Diffusion and diffusers' schedulers: `ᾱ_i = Π_{j≤i} (1 − β_j)`, `α_i = √ᾱ_i`,
/// `σ_i = √(1 − ᾱ_i)` for training timesteps `i = 0…T−1`.
///
/// Between training timesteps the k-diffusion sigma `σ̃ = σ/α = √((1 − ᾱ)/ᾱ)` is interpolated
/// linearly in `t`, as diffusers' `np.interp(timesteps, arange(T), sigmas)` does for fractional
/// timesteps; `t(λ)` inverts that interpolation exactly. Below `t = 0` the interpolation
/// continues linearly to `σ̃ = 0` at `t = −1`, the clean endpoint of DDIM's `set_alpha_to_one`.
///
/// Coefficients are accumulated in `Double` (diffusers accumulates `ᾱ` in float32; the two
/// agree to about 1e-6 relative).
public struct DiscreteVPSchedule: NoiseSchedule, Equatable {
    /// The beta schedules of diffusers' `beta_schedule` option.
    public enum BetaSchedule: String, Sendable, CaseIterable {
        /// `β` linear from `betaStart` to `betaEnd` (Ho et al. 2020).
        case linear
        /// `√β` linear, then squared (Stable Diffusion).
        case scaledLinear = "scaled_linear"
        /// The cosine schedule of Nichol & Dhariwal 2021, betas capped at 0.999.
        case squaredCosCapV2 = "squaredcos_cap_v2"
    }

    public let betaSchedule: BetaSchedule
    public let betaStart: Double
    public let betaEnd: Double
    public let trainingSteps: Int
    public let rescaledToZeroTerminalSNR: Bool
    /// `ᾱ_i` for `i = 0…T−1`.
    public let alphasCumprod: [Double]
    /// `σ̃_i = √((1 − ᾱ_i)/ᾱ_i)`, increasing in `i`.
    public let sigmas: [Double]

    /// Builds the schedule.
    ///
    /// - Parameters:
    ///   - betaSchedule: How the betas run from `betaStart` to `betaEnd` (diffusers' `beta_schedule`).
    ///   - betaStart: The first beta (diffusers' `beta_start`).
    ///   - betaEnd: The last beta (diffusers' `beta_end`).
    ///   - trainingSteps: The number of training timesteps `T` (diffusers' `num_train_timesteps`).
    ///   - rescaleToZeroTerminalSNR: Lin et al. 2024, "Common Diffusion Noise Schedules and
    ///     Sample Steps are Flawed", Algorithm 1; the last `ᾱ` is then set to 2⁻²⁴ as diffusers does,
    ///     so that `σ̃_max` stays finite.
    public init(betaSchedule: BetaSchedule = .scaledLinear, betaStart: Double = 0.00085, betaEnd: Double = 0.012,
                trainingSteps: Int = 1000, rescaleToZeroTerminalSNR: Bool = false) throws {
        guard trainingSteps >= 2 else { throw ScheduleError("num_train_timesteps must be at least 2, got \(trainingSteps)") }
        guard betaStart > 0, betaEnd > 0, betaStart < 1, betaEnd < 1 else {
            throw ScheduleError("beta_start and beta_end must lie in (0, 1), got \(betaStart) and \(betaEnd)")
        }
        self.betaSchedule = betaSchedule
        self.betaStart = betaStart
        self.betaEnd = betaEnd
        self.trainingSteps = trainingSteps
        self.rescaledToZeroTerminalSNR = rescaleToZeroTerminalSNR

        let n = trainingSteps
        var betas = [Double](repeating: 0, count: n)
        switch betaSchedule {
        case .linear:
            for i in 0..<n { betas[i] = betaStart + (betaEnd - betaStart) * Double(i) / Double(n - 1) }
        case .scaledLinear:
            let a = betaStart.squareRoot(), b = betaEnd.squareRoot()
            for i in 0..<n { let r = a + (b - a) * Double(i) / Double(n - 1); betas[i] = r * r }
        case .squaredCosCapV2:
            func alphaBar(_ t: Double) -> Double {
                let c = Double.cos((t + 0.008) / 1.008 * Double.pi / 2)
                return c * c
            }
            for i in 0..<n {
                let t1 = Double(i) / Double(n), t2 = Double(i + 1) / Double(n)
                betas[i] = Swift.min(1 - alphaBar(t2) / alphaBar(t1), 0.999)
            }
        }
        var cumprod = [Double](repeating: 0, count: n)
        var running = 1.0
        for i in 0..<n { running *= 1 - betas[i]; cumprod[i] = running }
        if rescaleToZeroTerminalSNR {
            var roots = cumprod.map { $0.squareRoot() }
            let first = roots[0], last = roots[n - 1]
            for i in 0..<n { roots[i] = (roots[i] - last) * first / (first - last) }
            cumprod = roots.map { $0 * $0 }
            cumprod[n - 1] = 0x1p-24
        }
        self.alphasCumprod = cumprod
        self.sigmas = cumprod.map { ((1 - $0) / $0).squareRoot() }
        for i in 1..<n where !(sigmas[i] > sigmas[i - 1]) {
            throw ScheduleError("the beta schedule does not increase the noise level at timestep \(i)")
        }
    }

    public var name: String { "vp-discrete(\(betaSchedule.rawValue), T=\(trainingSteps))" }
    public var timeRange: ClosedRange<Double> { 0...Double(trainingSteps - 1) }
    public var frame: ODEFrame { .varianceExploding }
    public var trainingTimesteps: Int? { trainingSteps }
    public var cleanTime: Double { -1 }

    /// `σ̃(t)`, piecewise linear through `(i, σ̃_i)` and `(−1, 0)`, extended linearly past the last
    /// timestep (where ``time(sigma:)`` puts a larger sigma; a time too large for `Int` stays there).
    public func kSigma(at t: Double) -> Double {
        if t <= -1 { return 0 }
        if t < 0 { return (t + 1) * sigmas[0] }
        let last = trainingSteps - 1
        let i = t < Double(last - 1) ? Int(t) : last - 1
        let f = t - Double(i)
        return sigmas[i] + f * (sigmas[i + 1] - sigmas[i])
    }

    public func alpha(at t: Double) -> Double { 1 / (1 + kSigma(at: t) * kSigma(at: t)).squareRoot() }
    public func sigma(at t: Double) -> Double { let s = kSigma(at: t); return s / (1 + s * s).squareRoot() }
    public func lambda(at t: Double) -> Double {
        let s = kSigma(at: t)
        return s == 0 ? .infinity : -.log(s)
    }

    public func time(lambda: Double) -> Double {
        if lambda == .infinity { return -1 }
        return time(sigma: Double.exp(-lambda))
    }

    /// The time whose k-diffusion sigma `σ̃` equals `sigma`, by inverting the interpolation.
    public func time(sigma target: Double) -> Double {
        if target <= 0 { return -1 }
        if target <= sigmas[0] { return target / sigmas[0] - 1 }
        // Binary search for the segment [i, i+1] with sigmas[i] <= target < sigmas[i+1].
        var lo = 0, hi = trainingSteps - 1
        if target >= sigmas[hi] { lo = hi - 1 } else {
            while hi - lo > 1 {
                let mid = (lo + hi) / 2
                if sigmas[mid] <= target { lo = mid } else { hi = mid }
            }
        }
        return Double(lo) + (target - sigmas[lo]) / (sigmas[lo + 1] - sigmas[lo])
    }

    public func priorScale(at level: NoiseLevel) -> Double { 1 }
}

/// A problem with a noise schedule's definition, stated in one line.
public struct ScheduleError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
