import RealModule

/// Noise from one Brownian path `W(σ)` per sample, queried at any noise levels: the draw for an
/// increment from `σ` to `σ′` is `(W(σ′) − W(σ))/√|σ′ − σ|`, standard normal, and draws for
/// different step counts come from the same path (Li et al. 2020, "Scalable Gradients for
/// Stochastic Differential Equations", virtual Brownian tree; k-diffusion's
/// `BrownianTreeNoiseSampler`).
///
/// The path on `[σ_min, σ_max]` is built by bisection: `W(σ_min) = 0`, `W(σ_max) ~ N(0, σ_max − σ_min)`,
/// and a midpoint given its ends is `N((W(a) + W(b))/2, (b − a)/4)`, each node's draw a pure
/// function of the seed, the sample index and the node's position in the tree (Philox). Queries
/// descend to an interval shorter than `tolerance·(σ_max − σ_min)` and interpolate the Brownian
/// bridge's mean inside it, so equal queries give equal values and increments over disjoint
/// intervals are independent to that resolution.
public final class BrownianTreeNoise: NoiseSource {
    public let seed: UInt64
    public let firstSample: Int
    public let sigmaMin: Double
    public let sigmaMax: Double
    public let depth: Int
    private let generator: Philox4x32

    public init(seed: UInt64, sigmaMin: Double, sigmaMax: Double, firstSample: Int = 0, depth: Int = 24) {
        self.seed = seed
        self.firstSample = firstSample
        self.sigmaMin = Swift.min(sigmaMin, sigmaMax)
        self.sigmaMax = Swift.max(sigmaMin, sigmaMax)
        self.depth = depth
        self.generator = Philox4x32(seed: seed ^ 0xB7E1_5162_8AED_2A6B)
    }

    /// One standard normal for node `node` of sample `b`, element `j`.
    private func normal(sample b: Int, element j: Int, node: UInt64) -> Double {
        let r = generator.block((UInt32(truncatingIfNeeded: j), UInt32(truncatingIfNeeded: node),
                                 UInt32(truncatingIfNeeded: node >> 32), UInt32(truncatingIfNeeded: b)))
        let u1 = Philox4x32.uniform(r.0), u2 = Philox4x32.uniform(r.1)
        return (-2 * Double.log(u1)).squareRoot() * Double.cos(2 * .pi * u2)
    }

    /// `W(σ)` for sample `b`, element `j`.
    func value(_ sigma: Double, sample b: Int, element j: Int) -> Double {
        let s = Swift.min(Swift.max(sigma, sigmaMin), sigmaMax)
        var a = sigmaMin, c = sigmaMax
        var wa = 0.0, wc = (sigmaMax - sigmaMin).squareRoot() * normal(sample: b, element: j, node: 1)
        var node: UInt64 = 1
        for _ in 0..<depth {
            if s == a { return wa }
            if s == c { return wc }
            let m = 0.5 * (a + c)
            let wm = 0.5 * (wa + wc) + 0.5 * (c - a).squareRoot() * normal(sample: b, element: j, node: 2 * node)
            if s < m { c = m; wc = wm; node = 2 * node } else { a = m; wa = wm; node = 2 * node + 1 }
        }
        // Inside the finest interval: the bridge's mean.
        return wa + (wc - wa) * (s - a) / (c - a)
    }

    public func fill(_ noise: inout SampleTensor, step: Int) throws {
        throw SamplingError.invalidConfiguration("a Brownian-tree noise source needs the noise levels of each increment")
    }

    public func fill(_ noise: inout SampleTensor, step: Int, from sigma: Double, to sigmaNext: Double) throws {
        let per = noise.sampleCount
        let scale = 1 / abs(sigmaNext - sigma).squareRoot()
        guard scale.isFinite else { throw SamplingError.invalidConfiguration("a Brownian increment needs two different noise levels") }
        for b in 0..<noise.batchSize {
            for j in 0..<per {
                let w = value(sigmaNext, sample: firstSample + b, element: j) - value(sigma, sample: firstSample + b, element: j)
                noise.scalars[b * per + j] = Float(w * scale)
            }
        }
    }
}
