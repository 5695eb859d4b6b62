import RealModule

/// A schedule with its model's coefficients and another time: any model on any time.
///
/// The probability-flow ODE depends on `α` and `σ` only through `λ = log(α/σ)` once the state is
/// scaled (Kingma et al. 2021, "Variational Diffusion Models", Sec. 5.1; Lee et al. 2024,
/// "Rectified Diffusion": first-order-ness, not straightness, is what a sampler exploits). So a VP
/// ε- or v-model can be integrated in flow time, and a flow model in k-diffusion's sigma:
/// ```
/// flow frame:  τ = σ/(α + σ),  y = x/(α + σ)      VE frame:  τ = σ/α,  y = x/α
/// ```
/// Levels keep the base schedule's `t`, `α` and `σ` (the model is called as it was trained);
/// only ``frame`` changes: the time users state sigmas in (`--sigmas`, `--shift`, Karras spacing)
/// and in which Euler-type solvers step. The PF-ODE solution is the base schedule's.
///
/// Where the base reaches pure noise (`α = 0`, a flow schedule at `t = 1`), the VE frame's time
/// `σ/α` is infinite: the reframed range stops where `τ = (1 − t_min)/t_min`, mirroring the
/// flow schedule's own `t_min` at the clean end.
public struct ReframedSchedule: NoiseSchedule {
    public let base: any NoiseSchedule
    public let frame: ODEFrame
    public let timeRange: ClosedRange<Double>

    public init(_ base: any NoiseSchedule, frame: ODEFrame) {
        self.base = base
        self.frame = frame
        let range = base.timeRange
        if base.alpha(at: range.upperBound) > 0 || frame == .rectifiedFlow {
            timeRange = range
        } else {
            let lower = base.sigma(at: range.lowerBound) / (base.alpha(at: range.lowerBound) + base.sigma(at: range.lowerBound))
            let tauMax = (1 - lower) / lower
            timeRange = range.lowerBound...base.time(lambda: ODEFrame.varianceExploding.lambda(tau: tauMax))
        }
    }

    public var name: String { "\(base.name) in \(frame == .rectifiedFlow ? "flow" : "sigma") time" }
    public func alpha(at t: Double) -> Double { base.alpha(at: t) }
    public func sigma(at t: Double) -> Double { base.sigma(at: t) }
    public func lambda(at t: Double) -> Double { base.lambda(at: t) }
    public func time(lambda: Double) -> Double { base.time(lambda: lambda) }
    public func priorScale(at level: NoiseLevel) -> Double { base.priorScale(at: level) }
    public var trainingTimesteps: Int? { base.trainingTimesteps }
    public var cleanTime: Double { base.cleanTime }
}
