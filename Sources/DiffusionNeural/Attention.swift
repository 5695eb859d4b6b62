import CDiffusionKernels
import Foundation
import DiffusionCore

/// Spatial self-attention as diffusers' `Attention` in `AttnDownBlock2D`, `AttnUpBlock2D` and
/// `UNetMidBlock2D` (group norm, biased projections, residual connection, `rescale_output_factor` 1):
/// ```
/// n = GroupNorm(x)                              (tokens: the H·W pixels of a sample, C features)
/// q, k, v = W_q·n + b_q, W_k·n + b_k, W_v·n + b_v
/// oₕ = vₕ · softmax(qₕᵀkₕ / √d)ᵀ                 (per head h: d = attention_head_dim features)
/// y = x + W_o·o + b_o                           (to_out.0)
/// ```
/// The three projections are one product with the stacked weights `[W_q; W_k; W_v]`. Each
/// (sample, head) pair is one task, taken a block of queries at a time (``queryBlock(tokens:)``,
/// so that the block's scores stay in L2 through the three passes over them): the scores
/// transposed, `sᵀ = kᵀq` (keys × the block's queries), the softmax over each column (max
/// subtracted, sum in Double), and `v·pᵀ` written straight into the block's columns of `o`; every
/// product reads its operands by rows. Columns are computed independently, so the blocking does not
/// change any bit.
package struct Attention: Sendable {
    let channels: Int
    let heads: Int
    let norm: GroupNorm
    /// `[W_q; W_k; W_v]`, `3C × C`.
    let projection: PackedMatrix
    let projectionBias: [Float]
    let output: PackedMatrix
    let outputBias: [Float]

    /// Reads `<prefix>.group_norm`, `.to_q`, `.to_k`, `.to_v` and `.to_out.0`.
    init(_ weights: inout WeightReader, _ prefix: String, channels: Int, headDimension: Int, groups: Int, epsilon: Double) throws {
        self.channels = channels
        heads = channels / headDimension
        norm = try GroupNorm(&weights, prefix + ".group_norm", groups: groups, channels: channels, epsilon: epsilon)
        var stacked: [Float] = [], stackedBias: [Float] = []
        for name in ["to_q", "to_k", "to_v"] {
            stacked += try weights.tensor("\(prefix).\(name).weight", shape: [channels, channels])
            stackedBias += try weights.tensor("\(prefix).\(name).bias", shape: [channels])
        }
        projection = PackedMatrix(stacked, rows: 3 * channels, columns: channels)
        projectionBias = stackedBias
        output = PackedMatrix(try weights.tensor(prefix + ".to_out.0.weight", shape: [channels, channels]), rows: channels, columns: channels)
        outputBias = try weights.tensor(prefix + ".to_out.0.bias", shape: [channels])
    }

    var headDimension: Int { channels / heads }

    /// `out = x + attention(x)`; `out` must not be `x`.
    package func apply(_ x: FeatureMap, into out: FeatureMap, workspace: NeuralWorkspace) {
        LayerProfile.measure(.attention) { attend(x, into: out, workspace: workspace) }
    }

    private func attend(_ x: FeatureMap, into out: FeatureMap, workspace: NeuralWorkspace) {
        precondition(x.channels == channels && out.count == x.count, "Attention: shapes do not fit")
        let mark = workspace.mark
        defer { workspace.release(to: mark) }
        let n = x.channelStride, tokens = x.plane, d = headDimension
        let normalized = workspace.featureMap(channels: channels, batch: x.batch, height: x.height, width: x.width)
        norm.apply(x, into: normalized, applySiLU: false)
        let qkv = workspace.allocate(3 * channels * n)
        LayerProfile.measure(.linear) { projectionBias.withUnsafeBufferPointer { bias in
            MatrixMultiply.multiply(projection.panels, normalized.matrix,
                                    into: MatrixDestination(qkv, rowStride: n, bias: bias.baseAddress), scratch: workspace.panels)
        } }
        let attended = workspace.featureMap(channels: channels, batch: x.batch, height: x.height, width: x.width)
        // Per worker: packed kₕᵀ and vₕ, a block of transposed scores, and the softmax's per-query maxima and sums.
        let keysCount = AlignedFloats.roundedUp(PackedPanels.count(rows: tokens, depth: d))
        let packedCount = keysCount + AlignedFloats.roundedUp(PackedPanels.count(rows: d, depth: tokens))
        let block = Self.queryBlock(tokens: tokens)
        let scoresCount = AlignedFloats.roundedUp(tokens * block)
        let scratch = workspace.workerBuffers(packedCount + scoresCount + 3 * tokens)
        let panels = workspace.panels, scale = Float(1 / Double(d).squareRoot()), channels = channels
        let projected = SharedPointer(qkv)
        WorkerTasks.run(x.batch * heads, parallel: 2 * x.batch * tokens * tokens * channels >= 1 << 17) { worker, task in
            let (b, h) = task.quotientAndRemainder(dividingBy: self.heads)
            let buffer = scratch.buffer(worker), scores = buffer + packedCount, largest = scores + scoresCount
            let sums = UnsafeMutableRawPointer(largest + tokens).bindMemory(to: Double.self, capacity: tokens)
            // Rows h·d ..< (h+1)·d of q, k, v, columns of sample b: d × tokens blocks with row stride n.
            let q = projected.base + h * d * n + b * tokens
            let k = q + channels * n, v = k + channels * n
            // sᵀ = kₕᵀ·qₕ (keys × queries), so that the product with vₕ below reads it by rows.
            let keys = PackedPanels.pack(StridedMatrix(k, rows: d, columns: tokens, rowStride: n).transposed, into: buffer)
            let values = PackedPanels.pack(StridedMatrix(v, rows: d, columns: tokens, rowStride: n), into: buffer + keysCount)
            for first in stride(from: 0, to: tokens, by: block) {
                let width = min(block, tokens - first)
                MatrixMultiply.multiplySerially(keys, StridedMatrix(q + first, rows: d, columns: width, rowStride: n),
                                                into: MatrixDestination(scores, rowStride: width), panels: panels.buffer(worker))
                Self.softmaxColumns(scores, rows: tokens, columns: width, scale: scale, largest: largest, sums: sums)
                MatrixMultiply.multiplySerially(values, StridedMatrix(scores, rows: tokens, columns: width, rowStride: width),
                                                into: MatrixDestination(attended.base + h * d * n + b * tokens + first, rowStride: n),
                                                panels: panels.buffer(worker))
            }
        }
        out.assign(x)
        LayerProfile.measure(.linear) { outputBias.withUnsafeBufferPointer { bias in
            MatrixMultiply.multiply(output.panels, attended.matrix, into: out.destination(bias: bias.baseAddress, accumulate: true),
                                    scratch: workspace.panels)
        } }
    }

    /// Queries per block of a head's attention: a multiple of 24 (the AVX2 kernel's panel width) with
    /// the block's `tokens × block` scores within 192 KiB, so that they stay in L2 between the product
    /// that writes them, the three softmax passes and the product that reads them; at least 24.
    static func queryBlock(tokens: Int) -> Int {
        min(tokens, max(24, 48 * 1024 / max(tokens, 1) / 24 * 24))
    }

    /// `pᵀ = softmax(scale·sᵀ)` in place, the softmax over each column of the `rows × columns` matrix
    /// (over keys, for each query), with the maximum subtracted and the sum in Double, in row passes
    /// eight queries at a time (``vectorExp(_:)``; a partial group of lanes computed the same way).
    ///
    /// On a CPU with AVX2 the same operations run 8-wide in C (`dk_softmax_columns_avx2`, the same
    /// bits); `vectorized: false` keeps the Swift loops, for comparing the two.
    package static func softmaxColumns(_ scores: UnsafeMutablePointer<Float>, rows: Int, columns count: Int, scale: Float,
                                       largest: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Double>,
                                       vectorized: Bool = true) {
        if vectorized && MicroKernel.avx2FMA.isSupported {
            dk_softmax_columns_avx2(scores, rows, count, scale, largest, sums)
            return
        }
        for i in 0..<count {
            largest[i] = -.infinity
            sums[i] = 0
        }
        for j in 0..<rows {
            let row = scores + j * count
            for i in 0..<count { largest[i] = max(largest[i], row[i]) }
        }
        for j in 0..<rows {
            let row = scores + j * count
            var i = 0
            while i + 8 <= count {
                let values = UnsafeRawPointer(row + i).loadUnaligned(as: SIMD8<Float>.self)
                let e = vectorExp((values - UnsafeRawPointer(largest + i).loadUnaligned(as: SIMD8<Float>.self)) * scale)
                UnsafeMutableRawPointer(row + i).storeBytes(of: e, as: SIMD8<Float>.self)
                let total = UnsafeRawPointer(sums + i).loadUnaligned(as: SIMD8<Double>.self) + SIMD8<Double>(e)
                UnsafeMutableRawPointer(sums + i).storeBytes(of: total, as: SIMD8<Double>.self)
                i += 8
            }
            if i < count {
                var values = SIMD8<Float>(), maxima = SIMD8<Float>()
                for t in 0..<(count - i) { (values[t], maxima[t]) = (row[i + t], largest[i + t]) }
                let e = vectorExp((values - maxima) * scale)
                for t in 0..<(count - i) {
                    row[i + t] = e[t]
                    sums[i + t] += Double(e[t])
                }
            }
        }
        for i in 0..<count { largest[i] = Float(1 / sums[i]) }
        for j in 0..<rows {
            let row = scores + j * count
            for i in 0..<count { row[i] *= largest[i] }
        }
    }
}
