import CDiffusionKernels
import DiffusionCore

/// Group normalization (Wu & He 2018; `torch.nn.GroupNorm`), optionally followed by SiLU in the same
/// pass (diffusers' `norm1` + `nonlinearity`, `conv_norm_out` + `conv_act`):
/// ```
/// y[c, b, ·] = (x[c, b, ·] − μ[b, g]) / √(σ²[b, g] + ε) · γ[c] + β[c]      (c in group g)
/// ```
/// with `μ` and the biased variance `σ²` over the `C/G` channels of group `g` and all pixels of
/// sample `b`. Two passes over the group: one for the statistics (`Σx` and `Σx²` together, in Double,
/// where `σ² = Σx²/n − μ²` loses nothing that float32 outputs keep), one for `x·scale + shift` and
/// the SiLU, eight lanes at a time. One task per (sample, group), each plane summed from its own
/// start, so a sample's result depends neither on the batch nor on the threads. On a CPU with AVX2
/// both passes run 8-wide in C with the same operations (`dk_lane_sums_avx2`, `dk_affine_avx2`; the
/// affine pass 16-wide with AVX-512, `dk_affine_avx512`): the same bits.
package struct GroupNorm: Sendable {
    let groups: Int
    let channels: Int
    let epsilon: Double
    let weight: [Float]
    let bias: [Float]

    /// Reads `<prefix>.weight` and `<prefix>.bias`, both `[channels]`.
    package init(_ weights: inout WeightReader, _ prefix: String, groups: Int, channels: Int, epsilon: Double) throws {
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
                    var sums = SIMD2<Double>()
                    for c in channelRange { sums += Self.sums(x.base + c * x.channelStride + b * plane, count: plane) }
                    let n = Double(perGroup * plane), mean = sums[0] / n
                    let inverse = 1 / (max(0, sums[1] / n - mean * mean) + epsilon).squareRoot()
                    for c in channelRange {
                        // y = x·scale + shift, the form torch's kernel uses.
                        let scale = Float(inverse * Double(gamma.buffer[c]))
                        let shift = Float(Double(beta.buffer[c]) - mean * inverse * Double(gamma.buffer[c]))
                        Self.affine(x.base + c * x.channelStride + b * plane, into: out.base + c * out.channelStride + b * plane,
                                    count: plane, scale: scale, shift: shift, applySiLU: applySiLU)
                    }
                }
            }
        } }
    }

    /// `(Σx, Σx²)` over `count` values, in Double: eight lanes, then the lanes added in order.
    @inline(__always)
    package static func sums(_ values: UnsafePointer<Float>, count: Int, vectorized: Bool = true) -> SIMD2<Double> {
        if vectorized && MicroKernel.avx2FMA.isSupported {
            var lanes = (SIMD8<Double>(), SIMD8<Double>())
            withUnsafeMutableBytes(of: &lanes) { dk_lane_sums_avx2(values, count, $0.baseAddress!.assumingMemoryBound(to: Double.self)) }
            return SIMD2(lanes.0.sum(), lanes.1.sum())
        }
        var sum = SIMD8<Double>(), squares = SIMD8<Double>()
        let raw = UnsafeRawPointer(values)
        var i = 0
        while i + 8 <= count {
            let v = SIMD8<Double>(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
            sum += v
            squares += v * v
            i += 8
        }
        var tail = SIMD8<Double>()
        for t in i..<count { tail[t - i] = Double(values[t]) }
        sum += tail
        squares += tail * tail
        return SIMD2(sum.sum(), squares.sum())
    }

    /// `out = x·scale + shift`, then SiLU if asked, eight lanes at a time (a partial last group of
    /// lanes computed the same way); `out` may be `x`. `vectorized` allows the C passes, `wide` the
    /// AVX-512 one among them (so that a test can compare each with the Swift loop).
    @inline(__always)
    package static func affine(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float,
                       applySiLU: Bool, vectorized: Bool = true, wide: Bool = true) {
        if vectorized && wide && MicroKernel.avx512.isSupported {
            dk_affine_avx512(x, out, count, scale, shift, applySiLU ? 1 : 0)
            return
        }
        if vectorized && MicroKernel.avx2FMA.isSupported {
            dk_affine_avx2(x, out, count, scale, shift, applySiLU ? 1 : 0)
            return
        }
        @inline(__always) func map(_ v: SIMD8<Float>) -> SIMD8<Float> {
            let y = v * scale + shift
            return applySiLU ? silu(y) : y
        }
        let source = UnsafeRawPointer(x), target = UnsafeMutableRawPointer(out)
        var i = 0
        while i + 8 <= count {
            target.storeBytes(of: map(source.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)), toByteOffset: 4 * i,
                              as: SIMD8<Float>.self)
            i += 8
        }
        guard i < count else { return }
        var tail = SIMD8<Float>()
        for t in i..<count { tail[t - i] = x[t] }
        tail = map(tail)
        for t in i..<count { out[t] = tail[t - i] }
    }
}
