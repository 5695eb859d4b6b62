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

    /// The prediction that is the model output itself (`ε̂ = m` for `noise`, `x̂₀ = m` for `data`),
    /// which takes no conversion; empty for the other parameterizations.
    public var outputPrediction: PredictionNeeds {
        switch self {
        case .noise: return .noise
        case .data: return .data
        case .velocity, .flowVelocity, .score: return []
        }
    }

    /// The coefficients `(c₁, c₂, c₃, c₄)` with `x̂₀ = c₁·x + c₂·m` and `ε̂ = c₃·x + c₄·m`.
    public func coefficients(at level: NoiseLevel) -> (Double, Double, Double, Double) {
        let a = level.alpha, s = level.sigma
        switch self {
        case .noise: return (1 / a, -s / a, 0, 1)
        case .data: return (0, 1, 1 / s, -a / s)
        case .velocity:
            let n = a * a + s * s
            return (a / n, -s / n, s / n, a / n)
        case .flowVelocity:
            let n = a + s
            return (1 / n, -s / n, 1 / n, a / n)
        case .score: return (1 / a, s * s / a, 0, -s)
        }
    }

    /// Converts a model output `m` at `x` into the data and/or noise predictions in one pass over
    /// memory, and reports whether every value written is finite.
    ///
    /// `data` and `noise` must have the shape of `x`; those named in `needs` are overwritten, the
    /// others are left as they are.
    @discardableResult
    public func convert(output m: SampleTensor, at x: SampleTensor, level: NoiseLevel,
                        data: inout SampleTensor, noise: inout SampleTensor, needs: PredictionNeeds = .both) -> Bool {
        let (c1, c2, c3, c4) = coefficients(at: level)
        let dataOK = !needs.contains(.data) || (c1.isFinite && c2.isFinite)
        let noiseOK = !needs.contains(.noise) || (c3.isFinite && c4.isFinite)
        guard dataOK, noiseOK else { return false }
        precondition(m.count == x.count && data.count == x.count && noise.count == x.count, "convert: shapes differ")
        let p = (Float(c1), Float(c2)), q = (Float(c3), Float(c4))
        var finite = true
        m.scalars.withUnsafeBufferPointer { mb in
            x.scalars.withUnsafeBufferPointer { xb in
                if needs == .both {
                    data.scalars.withUnsafeMutableBufferPointer { db in
                        noise.scalars.withUnsafeMutableBufferPointer { nb in
                            finite = Self.affinePair(x: xb, m: mb, p, into: db, q, into: nb)
                        }
                    }
                } else if needs == .data {
                    data.scalars.withUnsafeMutableBufferPointer { db in finite = Self.affinePair(x: xb, m: mb, p, into: db, nil, into: nil) }
                } else if needs == .noise {
                    noise.scalars.withUnsafeMutableBufferPointer { nb in finite = Self.affinePair(x: xb, m: mb, q, into: nb, nil, into: nil) }
                }
            }
        }
        return finite
    }

    /// `d = p₁·x + p₂·m` (and `e = q₁·x + q₂·m` when `q` is given); returns whether every value
    /// written is finite, from the `nonFiniteBits` of the values, OR-ed in the same pass.
    @inline(__always)
    private static func affinePair(x: UnsafeBufferPointer<Float>, m: UnsafeBufferPointer<Float>,
                                   _ p: (Float, Float), into d: UnsafeMutableBufferPointer<Float>,
                                   _ q: (Float, Float)?, into e: UnsafeMutableBufferPointer<Float>?) -> Bool {
        var flags = SIMD16<UInt32>()
        if let q, let e {
            forEachLanes(count: x.count) { i, n in
                let xv = x.lanes(i, n), mv = m.lanes(i, n)
                let dv = p.0 * xv + p.1 * mv, ev = q.0 * xv + q.1 * mv
                d.store(dv, i, n)
                e.store(ev, i, n)
                flags |= dv.nonFiniteBits | ev.nonFiniteBits
            }
        } else {
            forEachLanes(count: x.count) { i, n in
                let dv = p.0 * x.lanes(i, n) + p.1 * m.lanes(i, n)
                d.store(dv, i, n)
                flags |= dv.nonFiniteBits
            }
        }
        return flags == .zero
    }
}

/// Which of the two predictions a solver step reads.
public struct PredictionNeeds: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The clean estimate `x̂₀`.
    public static let data = PredictionNeeds(rawValue: 1)
    /// The noise estimate `ε̂`.
    public static let noise = PredictionNeeds(rawValue: 2)
    public static let both: PredictionNeeds = [.data, .noise]
}
