import RealModule

/// The variance-exploding schedule in EDM form: `α = 1`, `σ(t) = t`, `λ = −log σ`
/// (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models").
///
/// The default range `σ ∈ [0.002, 80]` is EDM's. Initial noise is scaled by `σ_max`.
public struct VESchedule: NoiseSchedule, Equatable {
    public let sigmaMin: Double
    public let sigmaMax: Double

    public init(sigmaMin: Double = 0.002, sigmaMax: Double = 80) {
        self.sigmaMin = sigmaMin
        self.sigmaMax = sigmaMax
    }

    public var name: String { "edm" }
    public var timeRange: ClosedRange<Double> { sigmaMin...sigmaMax }
    public var frame: ODEFrame { .varianceExploding }
    public func alpha(at t: Double) -> Double { 1 }
    public func sigma(at t: Double) -> Double { Swift.max(t, 0) }
    public func lambda(at t: Double) -> Double { t <= 0 ? .infinity : -.log(t) }
    public func time(lambda: Double) -> Double { .exp(-lambda) }
    public func time(sigma: Double) -> Double { sigma }
    public func priorScale(at level: NoiseLevel) -> Double { level.sigma }
}

/// Rectified flow / flow matching: `α = 1 − t`, `σ = t`, `t ∈ [0, 1]`
/// (Liu et al. 2023, "Flow Straight and Fast"; Lipman et al. 2023, "Flow Matching").
///
/// `λ = log((1 − t)/t)` runs from `−∞` at pure noise (`t = 1`) to `+∞` at the data.
public struct RectifiedFlowSchedule: NoiseSchedule, Equatable {
    public let tMin: Double

    public init(tMin: Double = 1e-3) { self.tMin = tMin }

    public var name: String { "flow" }
    public var timeRange: ClosedRange<Double> { tMin...1 }
    public var frame: ODEFrame { .rectifiedFlow }
    public func alpha(at t: Double) -> Double { 1 - t }
    public func sigma(at t: Double) -> Double { t }
    public func lambda(at t: Double) -> Double {
        if t <= 0 { return .infinity }
        if t >= 1 { return -.infinity }
        return Double.log(onePlus: -t) - .log(t)
    }
    public func time(lambda: Double) -> Double {
        // t = 1 / (1 + e^λ), written to avoid overflow for large |λ|.
        if lambda >= 0 { let e = Double.exp(-lambda); return e / (1 + e) }
        return 1 / (1 + .exp(lambda))
    }
    public func time(sigma: Double) -> Double { sigma }
    public func priorScale(at level: NoiseLevel) -> Double { level.alpha + level.sigma }
}
