/// What a network predicts, and the one place where any prediction becomes the pair
/// `(x̂₀, ε̂)` that solvers use.
///
/// With `x = α·x₀ + σ·ε`:
///
/// | case | model output | `x̂₀` | `ε̂` |
/// |---|---|---|---|
/// | `noise` | `ε` | `(x − σ·m)/α` | `m` |
/// | `data` | `x₀` | `m` | `(x − α·m)/σ` |
/// | `velocity` | `v = α·ε − σ·x₀` (Salimans & Ho 2022) | `(α·x − σ·m)/(α²+σ²)` | `(σ·x + α·m)/(α²+σ²)` |
/// | `flowVelocity` | `u = ε − x₀` (rectified flow) | `(x − σ·m)/(α+σ)` | `(x + α·m)/(α+σ)` |
/// | `score` | `∇log p(x) = −ε/σ` | `(x + σ²·m)/α` | `−σ·m` |
public enum Parameterization: String, Sendable, CaseIterable {
    case noise
    case data
    case velocity
    case flowVelocity = "flow-velocity"
    case score

    /// The names diffusers uses for `prediction_type`.
    public init?(diffusersName: String) {
        switch diffusersName {
        case "epsilon": self = .noise
        case "sample": self = .data
        case "v_prediction": self = .velocity
        case "flow_prediction": self = .flowVelocity
        default: return nil
        }
    }

    /// Converts a model output `m` at `x` into the data and noise predictions, in one pass.
    ///
    /// `data` and `noise` must have the shape of `x`; they are overwritten.
    public func convert(output m: SampleTensor, at x: SampleTensor, level: NoiseLevel,
                        data: inout SampleTensor, noise: inout SampleTensor) {
        let a = level.alpha, s = level.sigma
        // Each row: x̂₀ = c1·x + c2·m, ε̂ = c3·x + c4·m.
        let (c1, c2, c3, c4): (Double, Double, Double, Double)
        switch self {
        case .noise: (c1, c2, c3, c4) = (1 / a, -s / a, 0, 1)
        case .data: (c1, c2, c3, c4) = (0, 1, 1 / s, -a / s)
        case .velocity:
            let n = a * a + s * s
            (c1, c2, c3, c4) = (a / n, -s / n, s / n, a / n)
        case .flowVelocity:
            let n = a + s
            (c1, c2, c3, c4) = (1 / n, -s / n, 1 / n, a / n)
        case .score: (c1, c2, c3, c4) = (1 / a, s * s / a, 0, -s)
        }
        data.set((c1, x), (c2, m))
        noise.set((c3, x), (c4, m))
    }
}
