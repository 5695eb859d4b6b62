import RealModule

/// How the steps of a sampling run are placed between the largest and smallest noise level.
///
/// A spacing with `N` steps gives `N + 1` noise levels. With ``FinalNoise/zero`` (the default)
/// the spacing places the `N` model-evaluation points and the clean level `σ = 0` is appended,
/// as k-diffusion and diffusers do. With ``FinalNoise/minimum`` the run stops at the smallest
/// sigma: timestep spacings append it after their `N` points (diffusers'
/// `final_sigmas_type="sigma_min"`), and continuous spacings place all `N + 1` points between
/// `σ_max` and `σ_min` (the official DPM-Solver's grids).
///
/// Rules, with `T` training timesteps (discrete schedules only, marked *D*):
///
/// | name | points | follows |
/// |---|---|---|
/// | `linspace` *D* | `round(linspace(0, T−1, N+1))` reversed, last dropped | diffusers DPMSolverMultistep, UniPC, DEIS |
/// | `leading` *D* | `arange(N+1)·(T ÷ (N+1))` reversed, last dropped, `+ steps_offset` | same |
/// | `trailing` *D* | `round(arange(T, 0, −T/N)) − 1` | same, and DDIM, Euler |
/// | `ddim-linspace` *D* | `round(linspace(0, T−1, N))` reversed (includes t = 0) | diffusers DDIMScheduler |
/// | `ddim-leading` *D* | `arange(N)·(T ÷ N)` reversed, `+ steps_offset` | diffusers DDIMScheduler, Euler, Heun |
/// | `lcm`, `lcm-M` *D* | of `M` (50) points `k·(T ÷ M) − 1`, `k = M…1`, those at indices `⌊i·M/N⌋` | diffusers LCMScheduler, TCDScheduler |
/// | `time-uniform` | uniform in the schedule's time `t` | DPM-Solver `time_uniform`; diffusers Euler/Heun `linspace` |
/// | `time-quadratic` | uniform in `√t` | DPM-Solver `time_quadratic` |
/// | `logsnr` | uniform in `λ` | DPM-Solver `logSNR`, diffusers `use_lu_lambdas` |
/// | `exponential` | uniform in `log σ` (σ the user-facing sigma) | k-diffusion `get_sigmas_exponential` |
/// | `karras` | `(σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ` | Karras et al. 2022, Eq. 5 |
/// | `ays`, `ays-sdxl`, `ays-svd` | published optimized sigmas, log-linearly interpolated to `N` | ``AlignYourSteps`` (ComfyUI's `AlignYourStepsScheduler`) |
/// | `searched-5`, `searched-20`, `usf-5`, `usf-10` | Karras' formula at searched fractions `rᵢ` | ``KarrasRamp`` (this project's recommended placements) |
/// | `simple`, `sgm_uniform`, `ddim_uniform`, `normal`, `beta`, `kl_optimal`, `linear_quadratic` | ComfyUI's schedulers on its sigma table (shifted by `--shift` on flow) | ``ComfySchedule`` (ComfyUI's `calculate_sigmas`) |
///
/// In the VE frame (VP and EDM schedules) `exponential` and `logsnr` give the same points.
/// Karras and exponential span the schedule's own smallest and largest sigma unless told
/// otherwise, as diffusers' `use_karras_sigmas` does.
public enum StepSpacing: Sendable, Equatable {
    case linspace
    case leading
    case trailing
    case ddimLinspace
    case ddimLeading
    case timeUniform
    case timeQuadratic
    case logSNR
    case exponential
    case karras(rho: Double)
    case alignYourSteps(AlignYourSteps)
    /// Karras' formula at moved ramp points (``KarrasRamp``).
    case karrasRamp(KarrasRamp)
    /// ComfyUI's named schedulers, under ComfyUI's names (``ComfySchedule``).
    case comfy(ComfySchedule)
    /// LCM's and TCD's rule: `N` of the `originalSteps` points a consistency model was distilled on.
    case lcm(originalSteps: Int)

    /// The command-line names, in the order they are listed to users.
    public static let names = ["linspace", "leading", "trailing", "ddim-linspace", "ddim-leading", "lcm",
                               "karras", "exponential", "time-uniform", "logsnr", "time-quadratic", "ays", "ays-sdxl", "ays-svd"] + KarrasRamp.searched.map(\.name)
        + ComfySchedule.Kind.allCases.map(\.rawValue)

    /// Parses a command-line name (`karras` uses ρ = 7).
    public init?(name: String) {
        switch name {
        case "linspace": self = .linspace
        case "leading": self = .leading
        case "trailing": self = .trailing
        case "ddim-linspace": self = .ddimLinspace
        case "ddim-leading": self = .ddimLeading
        case "time-uniform": self = .timeUniform
        case "time-quadratic": self = .timeQuadratic
        case "logsnr": self = .logSNR
        case "exponential": self = .exponential
        case "karras": self = .karras(rho: 7)
        case "ays": self = .alignYourSteps(.sd1)
        case "ays-sdxl": self = .alignYourSteps(.sdxl)
        case "ays-svd": self = .alignYourSteps(.svd)
        case "lcm": self = .lcm(originalSteps: 50)
        case let lcm where lcm.hasPrefix("lcm-"):
            guard let m = Int(lcm.dropFirst(4)), m >= 1 else { return nil }
            self = .lcm(originalSteps: m)
        default:
            if let kind = ComfySchedule.Kind(rawValue: name) { self = .comfy(ComfySchedule(kind)); return }
            guard let ramp = KarrasRamp.searched.first(where: { $0.name == name }) else { return nil }
            self = .karrasRamp(ramp)
        }
    }

    public var name: String {
        switch self {
        case .linspace: "linspace"
        case .leading: "leading"
        case .trailing: "trailing"
        case .ddimLinspace: "ddim-linspace"
        case .ddimLeading: "ddim-leading"
        case .timeUniform: "time-uniform"
        case .timeQuadratic: "time-quadratic"
        case .logSNR: "logsnr"
        case .exponential: "exponential"
        case .karras: "karras"
        case .alignYourSteps(.sd1): "ays"
        case .alignYourSteps(let table): "ays-" + table.rawValue
        case .karrasRamp(let ramp): ramp.name
        case .comfy(let schedule): schedule.name
        case .lcm(let m): m == 50 ? "lcm" : "lcm-\(m)"
        }
    }

    /// Whether the spacing is one of diffusers' integer-timestep rules.
    public var isTimestepRule: Bool {
        switch self {
        case .linspace, .leading, .trailing, .ddimLinspace, .ddimLeading, .lcm: true
        default: false
        }
    }
}

/// Where a sampling run ends.
public enum FinalNoise: String, Sendable, CaseIterable {
    /// Denoise to `σ = 0` (`λ = +∞`): the last step returns the model's clean estimate.
    case zero
    /// Stop at the schedule's (or the given) smallest sigma.
    case minimum = "min"
}

/// A complete description of a sampling grid: spacing, step count, range and endpoint.
public struct StepSchedule: Sendable, Equatable {
    public var spacing: StepSpacing
    public var steps: Int
    /// The smallest user-facing sigma (`σ/α`, or `t` for flow); `nil` for the schedule's own.
    public var sigmaMin: Double?
    /// The largest user-facing sigma; `nil` for the schedule's own.
    public var sigmaMax: Double?
    public var final: FinalNoise
    /// diffusers' `steps_offset`, added by the `leading` rules.
    public var stepsOffset: Int

    public init(spacing: StepSpacing, steps: Int, sigmaMin: Double? = nil, sigmaMax: Double? = nil,
                final: FinalNoise = .zero, stepsOffset: Int = 0) {
        self.spacing = spacing; self.steps = steps; self.sigmaMin = sigmaMin; self.sigmaMax = sigmaMax
        self.final = final; self.stepsOffset = stepsOffset
    }

    /// The integer training timesteps of a diffusers timestep rule, largest first (`N` values).
    public static func diffusersTimesteps(_ spacing: StepSpacing, steps n: Int, trainingSteps t: Int,
                                          stepsOffset: Int = 0) -> [Double] {
        func roundEven(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }
        func linspace(_ a: Double, _ b: Double, _ count: Int) -> [Double] {
            // numpy.linspace: start + i·step, with the last value set exactly to `b`.
            guard count > 1 else { return [a] }
            let step = (b - a) / Double(count - 1)
            return (0..<count).map { $0 == count - 1 ? b : a + Double($0) * step }
        }
        let T = Double(t)
        switch spacing {
        case .linspace:
            return Array(linspace(0, T - 1, n + 1).map(roundEven).reversed().dropLast())
        case .leading:
            let ratio = t / (n + 1)
            return (0...n).reversed().dropLast().map { Double($0 * ratio + stepsOffset) }
        case .trailing:
            let ratio = T / Double(n)
            return (0..<n).map { roundEven(T - Double($0) * ratio) - 1 }
        case .ddimLinspace:
            return linspace(0, T - 1, n).map(roundEven).reversed()
        case .ddimLeading:
            let ratio = t / n
            return (0..<n).reversed().map { Double($0 * ratio + stepsOffset) }
        case .lcm(let m):
            guard n >= 1, m >= 1 else { return [] }
            // numpy: floor(linspace(0, M, N, endpoint=False)) = floor(i·(M/N)).
            let k = t / m, step = Double(m) / Double(n)
            return (0..<n).map { i in Double((m - Int((Double(i) * step).rounded(.down))) * k - 1) }
        default:
            return []
        }
    }

    /// Builds the grid on `schedule`.
    ///
    /// - Throws: ``ScheduleError`` for fewer than one step, an empty or inverted sigma range, a
    ///   timestep rule on a continuous-time schedule, or timesteps outside the schedule.
    public func grid(on schedule: any NoiseSchedule) throws -> TimeGrid {
        guard steps >= 1 else { throw ScheduleError("steps must be at least 1, got \(steps)") }
        guard steps <= 100_000 else { throw ScheduleError("steps must be at most 100000, got \(steps)") }
        let frame = schedule.frame
        let range = schedule.timeRange
        let ownMax = schedule.displaySigma(schedule.level(at: range.upperBound))
        let ownMin = schedule.displaySigma(schedule.level(at: range.lowerBound))
        let hiSigma = sigmaMax ?? ownMax, loSigma = sigmaMin ?? ownMin
        for (name, value) in [("sigma-min", sigmaMin), ("sigma-max", sigmaMax)] {
            if let value, !(value.isFinite && value > 0) { throw ScheduleError("\(name) must be a positive number, got \(value)") }
        }
        if frame == .rectifiedFlow, hiSigma > 1 { throw ScheduleError("sigma-max must be at most 1 for a flow schedule, got \(hiSigma)") }
        guard loSigma < hiSigma else { throw ScheduleError("sigma-min (\(loSigma)) must be smaller than sigma-max (\(hiSigma))") }

        var levels: [NoiseLevel]
        if case .comfy(let comfy) = spacing {
            if sigmaMin != nil || sigmaMax != nil || final != .zero {
                throw ScheduleError("--sigma-min, --sigma-max and --final-sigma min do not apply to ComfyUI's '\(comfy.name)', which places its own ends")
            }
            levels = try comfy.sigmas(steps: steps, on: schedule).map { schedule.level(sigma: $0) }
        } else if case .alignYourSteps(let table) = spacing {
            if sigmaMin != nil || sigmaMax != nil {
                throw ScheduleError("--sigma-min and --sigma-max do not apply to '\(spacing.name)', whose levels are published")
            }
            let sigmas = table.sigmas(count: steps + 1)
            // The tables end at their model's own extremes; allow their rounding (1e-6), nothing more.
            guard sigmas[0] <= ownMax * (1 + 1e-6), sigmas[sigmas.count - 1] >= ownMin * (1 - 1e-6) else {
                throw ScheduleError("spacing '\(spacing.name)' spans sigma \(sigmas[sigmas.count - 1])...\(sigmas[0]), outside this schedule's \(ownMin)...\(ownMax)")
            }
            let points = final == .zero ? Array(sigmas.dropLast()) : sigmas
            levels = points.map { schedule.level(sigma: Swift.min(Swift.max($0, ownMin), ownMax)) }
            if final == .zero { levels.append(schedule.cleanLevel) }
        } else if spacing.isTimestepRule {
            guard let trainingSteps = schedule.trainingTimesteps else {
                throw ScheduleError("spacing '\(spacing.name)' needs a discrete-time schedule (--scheduler-config); use time-uniform, logsnr or karras instead")
            }
            if sigmaMin != nil || sigmaMax != nil {
                throw ScheduleError("--sigma-min and --sigma-max apply to karras, the searched ramps, exponential, time-uniform, logsnr and time-quadratic spacing, not '\(spacing.name)'")
            }
            if case .lcm(let m) = spacing, !(m <= trainingSteps && steps <= m) {
                throw ScheduleError("spacing '\(spacing.name)' takes at most \(m) steps of its \(m) original ones, which must not exceed the \(trainingSteps) training steps; got \(steps)")
            }
            let ts = Self.diffusersTimesteps(spacing, steps: steps, trainingSteps: trainingSteps, stepsOffset: stepsOffset)
            for t in ts where !(t >= 0 && t <= Double(trainingSteps - 1)) {
                throw ScheduleError("spacing '\(spacing.name)' with \(steps) steps and steps_offset \(stepsOffset) gives timestep \(Int(t)), outside 0...\(trainingSteps - 1)")
            }
            levels = ts.map { schedule.level(at: $0) }
            // With `min`, a rule whose last timestep is already the smallest (t = 0) ends there;
            // diffusers takes an extra zero-length step instead, which leaves the sample unchanged.
            if final == .zero {
                levels.append(schedule.cleanLevel)
            } else if let smallest = ts.last, smallest > range.lowerBound {
                levels.append(schedule.level(at: range.lowerBound))
            }
        } else {
            let count = final == .zero ? steps : steps + 1
            if spacing == .logSNR && !schedule.level(at: range.upperBound).lambda.isFinite && sigmaMax == nil {
                throw ScheduleError("logsnr spacing needs a finite log-SNR at the start; with a flow schedule give --sigma-max below 1")
            }
            let top = sigmaMax.map { schedule.level(sigma: $0) } ?? schedule.level(at: range.upperBound)
            let bottom = sigmaMin.map { schedule.level(sigma: $0) } ?? schedule.level(at: range.lowerBound)
            levels = Self.continuousPoints(spacing, count: count, top: top, bottom: bottom, hi: hiSigma, lo: loSigma,
                                           endsAtBottom: final == .minimum, schedule: schedule)
            if final == .zero { levels.append(schedule.cleanLevel) }
        }
        return try TimeGrid(levels: levels)
    }

    /// `count` points from `top` to `bottom` inclusive (just `top` when `count == 1`). A
    /// ``KarrasRamp`` may end above `bottom` (the last point is where its fractions put it) unless
    /// `endsAtBottom`, when the run stops at the smallest sigma.
    private static func continuousPoints(_ spacing: StepSpacing, count: Int, top: NoiseLevel, bottom: NoiseLevel,
                                         hi: Double, lo: Double, endsAtBottom: Bool, schedule: any NoiseSchedule) -> [NoiseLevel] {
        func ramp(_ i: Int) -> Double { count == 1 ? 0 : Double(i) / Double(count - 1) }
        if case .karrasRamp(let ramp) = spacing {
            return ramp.fractions(count: count).enumerated().map { i, r in
                if i == 0 { return top }
                if r == 1 || (endsAtBottom && i == count - 1) { return bottom }
                return schedule.level(sigma: KarrasRamp.sigma(at: r, hi: hi, lo: lo, rho: ramp.rho))
            }
        }
        return (0..<count).map { i -> NoiseLevel in
            if i == 0 { return top }
            if i == count - 1 { return bottom }
            let r = ramp(i)
            switch spacing {
            case .timeUniform:
                return schedule.level(at: top.t + r * (bottom.t - top.t))
            case .timeQuadratic:
                let s = top.t.squareRoot() + r * (bottom.t.squareRoot() - top.t.squareRoot())
                return schedule.level(at: s * s)
            case .logSNR:
                return schedule.level(at: schedule.time(lambda: top.lambda + r * (bottom.lambda - top.lambda)))
            case .exponential:
                return schedule.level(sigma: .exp(.log(hi) + r * (.log(lo) - .log(hi))))
            case .karras(let rho):
                let a = Double.pow(hi, 1 / rho), b = Double.pow(lo, 1 / rho)
                return schedule.level(sigma: .pow(a + r * (b - a), rho))
            default:
                return top
            }
        }
    }

    /// A grid from explicit user-facing sigmas, largest first; a final `0` means the clean level.
    public static func grid(sigmas: [Double], on schedule: any NoiseSchedule) throws -> TimeGrid {
        for s in sigmas where !(s.isFinite && s >= 0) { throw ScheduleError("sigmas must be finite and non-negative, got \(s)") }
        if schedule.frame == .rectifiedFlow, let s = sigmas.first(where: { $0 > 1 }) {
            throw ScheduleError("flow sigmas must lie in [0, 1], got \(s)")
        }
        return try TimeGrid(levels: sigmas.map { schedule.level(sigma: $0) })
    }

    /// A grid from explicit model timesteps, largest first, followed by the final level.
    public static func grid(timesteps: [Double], final: FinalNoise, on schedule: any NoiseSchedule) throws -> TimeGrid {
        guard !timesteps.isEmpty else { throw ScheduleError("--timesteps needs at least one value") }
        let range = schedule.timeRange
        for t in timesteps where !(t.isFinite && range.contains(t)) {
            throw ScheduleError("timestep \(t) lies outside the schedule's range \(range.lowerBound)...\(range.upperBound)")
        }
        var levels = timesteps.map { schedule.level(at: $0) }
        levels.append(final == .zero ? schedule.cleanLevel : schedule.level(at: range.lowerBound))
        return try TimeGrid(levels: levels)
    }
}
