import RealModule

/// A monotone map of rectified-flow noise levels `σ ∈ [0, 1]` onto themselves that moves the steps
/// of a sampling run toward noise, as the flow-matching models are sampled (the schedule stays
/// `α = 1 − σ`, `σ = σ`; only where the steps fall changes).
///
/// ```
/// constant s:       σ' = s·σ / (1 + (s − 1)·σ)       SD3 (Esser et al. 2024, Eq. 23); diffusers `shift`, `flow_shift`
/// exponential μ:    σ' = e^μ / (e^μ + (1/σ − 1))      Flux's resolution-dependent shift; `time_shift_type="exponential"`
/// linear μ:         σ' = μ / (μ + (1/σ − 1))          diffusers `time_shift_type="linear"`
/// ```
/// The exponential form equals the constant shift `s = e^μ` and the linear form the constant shift
/// `s = μ`; they are kept apart because diffusers' FlowMatchEuler places its end points differently
/// with a dynamic shift (``FlowSigmas``) and computes each in its own form.
public enum FlowShift: Sendable, Equatable {
    case constant(Double)
    case exponential(mu: Double)
    case linear(mu: Double)

    /// No shift.
    public static let identity = FlowShift.constant(1)

    /// The shifted level; `0` and `1` are fixed points.
    public func callAsFunction(_ sigma: Double) -> Double {
        switch self {
        case .constant(let s): return s * sigma / (1 + (s - 1) * sigma)
        case .exponential(let mu): return Double.exp(mu) / (Double.exp(mu) + (1 / sigma - 1))
        case .linear(let mu): return mu / (mu + (1 / sigma - 1))
        }
    }

    /// Whether the shift depends on the image size (diffusers' `use_dynamic_shifting`).
    public var isDynamic: Bool {
        if case .constant = self { return false }
        return true
    }

    /// Checks that the shift maps `(0, 1)` into itself monotonically (`s > 0`, `μ` finite, `μ > 0` for linear).
    public func validated() throws -> FlowShift {
        switch self {
        case .constant(let s) where !(s.isFinite && s > 0):
            throw ScheduleError("flow shift must be a positive number, got \(s)")
        case .exponential(let mu) where !(mu.isFinite && abs(mu) < 700):
            throw ScheduleError("flow shift mu must be a finite number, got \(mu)")
        case .linear(let mu) where !(mu.isFinite && mu > 0):
            throw ScheduleError("linear flow shift mu must be positive, got \(mu)")
        default:
            return self
        }
    }
}

/// Resolution-dependent shifting as Flux computes it (diffusers' `use_dynamic_shifting` and the
/// pipelines' `calculate_shift`): `μ` is linear in the number of image tokens,
/// ```
/// μ = base_shift + (L − base_image_seq_len) · (max_shift − base_shift) / (max_image_seq_len − base_image_seq_len)
/// ```
/// because larger images keep more signal at a given σ and need more steps near noise (Esser et al.
/// 2024, Sec. 5.3.2). The defaults are the Flux pipeline's (`config.get(..., default)`).
public struct DynamicShifting: Sendable, Equatable {
    /// diffusers' `time_shift_type`: how `μ` enters the shift (``FlowShift``).
    public enum Kind: String, Sendable, CaseIterable {
        case exponential, linear
    }
    public var baseShift: Double
    public var maxShift: Double
    public var baseImageSequenceLength: Double
    public var maxImageSequenceLength: Double
    public var kind: Kind

    public init(baseShift: Double = 0.5, maxShift: Double = 1.15, baseImageSequenceLength: Double = 256,
                maxImageSequenceLength: Double = 4096, kind: Kind = .exponential) {
        self.baseShift = baseShift; self.maxShift = maxShift; self.baseImageSequenceLength = baseImageSequenceLength
        self.maxImageSequenceLength = maxImageSequenceLength; self.kind = kind
    }

    /// `μ` for an image of `length` tokens (Flux's `calculate_shift`, written as it is).
    public func mu(imageSequenceLength length: Int) -> Double {
        let m = (maxShift - baseShift) / (maxImageSequenceLength - baseImageSequenceLength)
        let b = baseShift - m * baseImageSequenceLength
        return Double(length) * m + b
    }

    /// The shift for an image of `length` tokens.
    public func shift(imageSequenceLength length: Int) throws -> FlowShift {
        guard length >= 1 else { throw ScheduleError("image sequence length must be at least 1, got \(length)") }
        guard maxImageSequenceLength != baseImageSequenceLength else {
            throw ScheduleError("dynamic shifting needs max_image_seq_len different from base_image_seq_len")
        }
        let mu = mu(imageSequenceLength: length)
        return try (kind == .exponential ? FlowShift.exponential(mu: mu) : .linear(mu: mu)).validated()
    }
}
