import RealModule
import DiffusionCore

extension ClassifierReward: DifferentiableReward {
    /// `log p(c | x₀)` and its gradient by backpropagation through the classifier's three layers:
    /// with `z₁ = W₁x + b₁`, `h = SiLU(z₁)`, `z₂ = W₂h + b₂`, `f = SiLU(z₂)`, `l = W₃f + b₃`,
    /// ```
    /// ∂r/∂l = e_c − softmax(l),   ∂r/∂x = W₁ᵀ[SiLU′(z₁) ⊙ W₂ᵀ[SiLU′(z₂) ⊙ W₃ᵀ ∂r/∂l]]
    /// ```
    /// with `SiLU′(z) = s(z)(1 + z(1 − s(z)))`, `s` the logistic sigmoid.
    public func rewardsAndGradients(of data: [Double], batch: Int, label: Int?) throws -> (rewards: [Double], gradients: [Double]) {
        let d = classifier.inputCount
        guard data.count == batch * d else {
            throw ModelError("\(classifier.name): \(data.count) values for \(batch) samples; the classifier takes \(d) per sample")
        }
        let (fc1, fc2, fc3) = (classifier.fc1, classifier.fc2, classifier.fc3)
        var rewards = [Double](repeating: 0, count: batch), gradients = [Double](repeating: 0, count: batch * d)
        for b in 0..<batch {
            let x = Array(data[(b * d)..<((b + 1) * d)])
            let z1 = Self.affine(fc1, x), h = z1.map(Self.silu)
            let z2 = Self.affine(fc2, h), f = z2.map(Self.silu)
            let l = Self.affine(fc3, f)
            let top = l.max() ?? 0
            let logSum = top + Double.log(l.reduce(0) { $0 + Double.exp($1 - top) })
            rewards[b] = l[target] - logSum
            var gl = l.map { -Double.exp($0 - logSum) }
            gl[target] += 1
            let gz2 = zip(Self.transposed(fc3, gl), z2).map { $0 * Self.siluSlope($1) }
            let gz1 = zip(Self.transposed(fc2, gz2), z1).map { $0 * Self.siluSlope($1) }
            let gx = Self.transposed(fc1, gz1)
            for j in 0..<d { gradients[b * d + j] = gx[j] }
        }
        return (rewards, gradients)
    }

    static func silu(_ z: Double) -> Double { z / (1 + Double.exp(-z)) }
    static func siluSlope(_ z: Double) -> Double {
        let s = 1 / (1 + Double.exp(-z))
        return s * (1 + z * (1 - s))
    }
    static func affine(_ layer: FeatureClassifier.Dense, _ x: [Double]) -> [Double] {
        (0..<layer.outputs).map { o in (0..<layer.inputs).reduce(layer.bias[o]) { $0 + layer.weight[o * layer.inputs + $1] * x[$1] } }
    }
    /// `Wᵀg`.
    static func transposed(_ layer: FeatureClassifier.Dense, _ g: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: layer.inputs)
        for o in 0..<layer.outputs where g[o] != 0 {
            for i in 0..<layer.inputs { out[i] += layer.weight[o * layer.inputs + i] * g[o] }
        }
        return out
    }
}
