import DiffusionCore

/// Group normalization (Wu & He 2018; `torch.nn.GroupNorm`), optionally followed by SiLU in the same
/// pass (diffusers' `norm1` + `nonlinearity`, `conv_norm_out` + `conv_act`):
/// ```
/// y[c, b, ·] = (x[c, b, ·] − μ[b, g]) / √(σ²[b, g] + ε) · γ[c] + β[c]      (c in group g)
/// ```
/// with `μ` and the biased variance `σ²` over the `C/G` channels of group `g` and all pixels of
/// sample `b`, accumulated in Double (two passes). One task per (sample, group).
package struct GroupNorm: Sendable {
    let groups: Int
    let channels: Int
    let epsilon: Double
    let weight: [Float]
    let bias: [Float]

    /// Reads `<prefix>.weight` and `<prefix>.bias`, both `[channels]`.
    init(_ weights: inout WeightReader, _ prefix: String, groups: Int, channels: Int, epsilon: Double) throws {
        self.groups = groups
        self.channels = channels
        self.epsilon = epsilon
        weight = try weights.tensor(prefix + ".weight", shape: [channels])
        bias = try weights.tensor(prefix + ".bias", shape: [channels])
    }

    /// `out = norm(x)`, or `silu(norm(x))` with `applySiLU`; `out` may be `x`.
    package func apply(_ x: FeatureMap, into out: FeatureMap, applySiLU: Bool) {
        precondition(x.channels == channels && out.count == x.count, "GroupNorm: shapes do not fit")
        let perGroup = channels / groups, plane = x.plane
        LayerProfile.measure(.groupNorm) { weight.withUnsafeBufferPointer { weight in
            bias.withUnsafeBufferPointer { bias in
                let gamma = SharedBuffer(weight), beta = SharedBuffer(bias), epsilon = epsilon
                WorkerTasks.run(x.batch * groups, parallel: x.count >= 1 << 15) { _, task in
                    let (b, g) = task.quotientAndRemainder(dividingBy: groups)
                    let channelRange = (g * perGroup)..<((g + 1) * perGroup)
                    var sum = 0.0
                    for c in channelRange {
                        let values = x.base + c * x.channelStride + b * plane
                        for i in 0..<plane { sum += Double(values[i]) }
                    }
                    let n = Double(perGroup * plane), mean = sum / n
                    var squares = 0.0
                    for c in channelRange {
                        let values = x.base + c * x.channelStride + b * plane
                        for i in 0..<plane {
                            let d = Double(values[i]) - mean
                            squares += d * d
                        }
                    }
                    let inverse = 1 / (squares / n + epsilon).squareRoot()
                    for c in channelRange {
                        // y = x·scale + shift, the form torch's kernel uses.
                        let scale = Float(inverse * Double(gamma.buffer[c]))
                        let shift = Float(Double(beta.buffer[c]) - mean * inverse * Double(gamma.buffer[c]))
                        let source = x.base + c * x.channelStride + b * plane
                        let target = out.base + c * out.channelStride + b * plane
                        if applySiLU {
                            for i in 0..<plane { target[i] = silu(source[i] * scale + shift) }
                        } else {
                            for i in 0..<plane { target[i] = source[i] * scale + shift }
                        }
                    }
                }
            }
        } }
    }
}
