import RealModule

/// The sampling grid of a rectified-flow model (`α = 1 − σ`, `σ = σ`) as diffusers' flow schedulers
/// place it: each scheduler class has its own first sigma, spacing, shift (``FlowShift``) and end.
///
/// With `T` training timesteps, `N` steps and the shift `f`:
///
/// | ``Rule`` | evaluation sigmas | end | diffusers |
/// |---|---|---|---|
/// | `flowMatch` | `linspace(T·f(1), T·f(1/T), N) / T`, then `f` again (a dynamic shift: `linspace(T, 1, N) / T`, then `f`), then `shift_terminal`, then Karras, exponential or beta spacing between the first and last | 0 | `FlowMatchEulerDiscreteScheduler`, `FlowMatchHeunDiscreteScheduler` |
/// | `multistep` | `f(1 − linspace(1, 1/T, N + 1))` reversed, last (`0`) dropped: starts at `f(1 − 1/T)` | 0 (DPM-Solver) or the last sigma repeated (DEIS, SA-Solver) | `DPMSolverMultistepScheduler`, `DEISMultistepScheduler`, `SASolverScheduler` with `use_flow_sigmas` |
/// | `uniPC` | `f(linspace(1, 1/T, N + 1))` without its last, then `shift_terminal`; a first sigma within 1e-6 of 1 is lowered by 1e-6 (diffusers keeps `log α` finite) | 0, or the last sigma repeated (`final_sigmas_type="sigma_min"`) | `UniPCMultistepScheduler` with `use_flow_sigmas` |
///
/// FlowMatchEuler applies a constant shift twice to its last sigma (once when the scheduler is built,
/// once in `set_timesteps`); that is diffusers' grid and is kept. `shift_terminal` stretches
/// `1 − σ` so that the last sigma becomes the terminal value (LTX-Video's `stretch_shift_to_terminal`).
/// A repeated last sigma is a zero-length step; our grids never repeat a level, so such a run ends at
/// the last sigma one step earlier (it does not denoise to 0, as diffusers' does not).
public struct FlowSigmas: Sendable, Equatable {
    /// Which scheduler's placement rule (see the table above).
    public enum Rule: String, Sendable, CaseIterable {
        case flowMatch, multistep, uniPC

        /// The rule as reports name it (`flow-match`, ...).
        public var label: String {
            switch self {
            case .flowMatch: "match"
            case .multistep: "multistep"
            case .uniPC: "unipc"
            }
        }
    }

    /// How FlowMatchEuler re-spaces its shifted sigmas between the first and last (diffusers'
    /// `use_karras_sigmas`, `use_exponential_sigmas`, `use_beta_sigmas`).
    public enum Spacing: String, Sendable, CaseIterable {
        /// The shifted linear sigmas as they are.
        case linear
        /// Karras et al. 2022, Eq. 5, ρ = 7.
        case karras
        /// Uniform in `log σ`.
        case exponential
        /// `σ_min + (σ_max − σ_min)·F⁻¹(1 − i/(N−1))`, `F` the Beta(0.6, 0.6) distribution (Lee et al. 2024, "Beta Sampling is All You Need").
        case beta
    }

    /// Where the run ends after the evaluation sigmas.
    public enum Ending: Sendable, Equatable {
        /// At `σ = 0`.
        case zero
        /// At the last evaluation sigma (diffusers repeats it: a zero-length step).
        case lastSigma
    }

    public var rule: Rule
    public var shift: FlowShift
    /// The last evaluation sigma after stretching (`shift_terminal`), in `(0, 1)`.
    public var shiftTerminal: Double?
    public var spacing: Spacing
    public var trainingSteps: Int
    public var ending: Ending

    public init(rule: Rule = .flowMatch, shift: FlowShift = .identity, shiftTerminal: Double? = nil, spacing: Spacing = .linear,
                trainingSteps: Int = 1000, ending: Ending = .zero) {
        self.rule = rule; self.shift = shift; self.shiftTerminal = shiftTerminal; self.spacing = spacing
        self.trainingSteps = trainingSteps; self.ending = ending
    }

    /// Checks the combination against what diffusers' classes do.
    public func validated() throws -> FlowSigmas {
        _ = try shift.validated()
        guard trainingSteps >= 2 else { throw ScheduleError("flow sigmas need at least 2 training timesteps, got \(trainingSteps)") }
        if let terminal = shiftTerminal, !(terminal > 0 && terminal < 1) {
            throw ScheduleError("shift terminal must lie strictly between 0 and 1, got \(terminal)")
        }
        if rule != .flowMatch && spacing != .linear {
            throw ScheduleError("\(spacing.rawValue) sigmas apply to FlowMatchEuler's flow sigmas, not the \(rule.rawValue) rule")
        }
        if rule == .multistep && shiftTerminal != nil {
            throw ScheduleError("shift terminal applies to FlowMatchEuler and UniPC flow sigmas, not the multistep rule")
        }
        if rule == .flowMatch && ending != .zero { throw ScheduleError("FlowMatch sigmas end at 0") }
        return self
    }

    /// diffusers' `scheduler.sigmas` after `set_timesteps(steps)`: the `steps` evaluation sigmas and
    /// the final value (`0`, or the last repeated). FlowMatchHeun interleaves the same sigmas.
    public func sigmas(steps n: Int) throws -> [Double] {
        _ = try validated()
        guard n >= 1, n <= 100_000 else { throw ScheduleError("steps must be between 1 and 100000, got \(n)") }
        let t = Double(trainingSteps)
        var s: [Double]
        switch rule {
        case .flowMatch:
            let (hi, lo) = shift.isDynamic ? (1.0, 1 / t) : (shift(1), shift(1 / t))
            s = Self.linspace(hi * t, lo * t, n).map { shift($0 / t) }
            if let terminal = shiftTerminal { s = try Self.stretch(s, toTerminal: terminal) }
            if let first = s.first, let last = s.last {
                switch spacing {
                case .linear: break
                case .karras:
                    let a = Double.pow(first, 1 / 7.0), b = Double.pow(last, 1 / 7.0)
                    s = Self.linspace(0, 1, n).map { Double.pow(a + $0 * (b - a), 7) }
                case .exponential:
                    s = Self.linspace(.log(first), .log(last), n).map { Double.exp($0) }
                case .beta:
                    s = Self.linspace(0, 1, n).map { last + BetaDistribution.quantile(1 - $0, a: 0.6, b: 0.6) * (first - last) }
                }
            }
        case .multistep:
            s = Array(Self.linspace(1, 1 / t, n + 1).map { shift(1 - $0) }.reversed().dropLast())
        case .uniPC:
            s = Self.linspace(1, 1 / t, n + 1).dropLast().map { shift($0) }
            if let terminal = shiftTerminal { s = try Self.stretch(s, toTerminal: terminal) }
            if abs(s[0] - 1) < 1e-6 { s[0] -= 1e-6 }
        }
        for value in s where !(value.isFinite && value > 0 && value <= 1) {
            throw ScheduleError("flow sigmas with \(n) steps give \(value), outside (0, 1]")
        }
        return s + [ending == .zero ? 0 : s[s.count - 1]]
    }

    /// diffusers' `scheduler.timesteps`, `T·σ` of the evaluation sigmas (truncated to integers by
    /// the multistep schedulers). They say what a diffusers pipeline feeds its network; a sampling
    /// run here uses the sigmas.
    public func timesteps(steps n: Int) throws -> [Double] {
        let t = Double(trainingSteps)
        return try sigmas(steps: n).dropLast().map { rule == .flowMatch ? $0 * t : ($0 * t).rounded(.towardZero) }
    }

    /// The grid on a rectified-flow schedule: the evaluation sigmas, then `σ = 0` (or nothing more
    /// when the rule ends at its last sigma).
    public func grid(steps n: Int, on schedule: any NoiseSchedule) throws -> TimeGrid {
        guard schedule.frame == .rectifiedFlow else {
            throw ScheduleError("flow sigmas need a rectified-flow schedule, not '\(schedule.name)'")
        }
        var s = try sigmas(steps: n)
        if ending == .lastSigma { s.removeLast() }
        // A model in flow time that cannot reach pure noise (a VP model, ``ReframedSchedule``):
        // the sigmas scaled by its largest flow time, which keeps their spacing.
        let top = schedule.displaySigma(schedule.level(at: schedule.timeRange.upperBound))
        if top < 1 { s = s.map { $0 * top } }
        return try TimeGrid(levels: s.map { schedule.level(sigma: $0) })
    }

    /// numpy's `linspace`: `a + i·(b − a)/(n − 1)`, the last exactly `b`.
    static func linspace(_ a: Double, _ b: Double, _ n: Int) -> [Double] {
        guard n > 1 else { return [a] }
        let step = (b - a) / Double(n - 1)
        return (0..<n).map { $0 == n - 1 ? b : a + Double($0) * step }
    }

    /// `1 − (1 − σ)/c` with `c = (1 − σ_last)/(1 − terminal)`: the last sigma becomes `terminal`.
    static func stretch(_ s: [Double], toTerminal terminal: Double) throws -> [Double] {
        guard let last = s.last, last < 1 else {
            throw ScheduleError("shift terminal needs a last sigma below 1; take more steps")
        }
        let scale = (1 - last) / (1 - terminal)
        return s.map { 1 - (1 - $0) / scale }
    }
}

/// The Beta distribution's quantile, for ``FlowSigmas/Spacing/beta`` (scipy's `beta.ppf`).
enum BetaDistribution {
    /// The regularized incomplete beta function `I_x(a, b)`, by its continued fraction (modified
    /// Lentz; Press et al., Numerical Recipes, Sec. 6.4), on the side where it converges fast.
    static func cdf(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let front = Double.exp(Double.logGamma(a + b) - Double.logGamma(a) - Double.logGamma(b) + a * .log(x) + b * .log(onePlus: -x))
        if x < (a + 1) / (a + b + 2) { return front * continuedFraction(x, a: a, b: b) / a }
        return 1 - front * continuedFraction(1 - x, a: b, b: a) / b
    }

    private static func continuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...500 {
            let m = Double(m)
            for aa in [m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))] {
                d = 1 + aa * d
                if abs(d) < tiny { d = tiny }
                c = 1 + aa / c
                if abs(c) < tiny { c = tiny }
                d = 1 / d
                h *= d * c
            }
            if abs(d * c - 1) < 1e-16 { break }
        }
        return h
    }

    /// The `p`-quantile, by bisection of the monotone CDF down to adjacent doubles.
    static func quantile(_ p: Double, a: Double, b: Double) -> Double {
        if p <= 0 { return 0 }
        if p >= 1 { return 1 }
        var lo = 0.0, hi = 1.0
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if mid <= lo || mid >= hi { break }
            if cdf(mid, a: a, b: b) < p { lo = mid } else { hi = mid }
        }
        return 0.5 * (lo + hi)
    }
}
