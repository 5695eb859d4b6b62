import Foundation
import Testing
@testable import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// The layers that skip the straightforward path: convolutions whose input the fused kernels read
    /// in place, the vectorized exponential, and group norm with SiLU in one pass.
    @Suite("Fused layers")
    struct FusedLayerTests {
        /// A 3×3 convolution deep enough for two depth blocks (40·9 = 360 > 256) with 37 output channels
        /// (five row panels: every kernel's panel groups and a single one), read in place by the fused
        /// kernels: the same bits as the same kernel on the explicit im2col matrix, packed, and within
        /// float32 rounding of the portable kernel. Width 16 at stride 1 gives 32-column panels of two
        /// output rows, which the AVX-512 row-major kernel reads in place as two runs of 16.
        @Test("convolution read in place: the bits of the packed im2col product, every kernel", arguments: [1, 2], [5, 16])
        func inPlaceConvolution(stride: Int, width: Int) throws {
            let (batch, inChannels, outChannels, height, kernel) = (2, 40, 37, 6, 3)
            let weight = MatrixMultiplyTests.values(outChannels * inChannels * 9, seed: 31)
            let bias = MatrixMultiplyTests.values(outChannels, seed: 32)
            let file = SafetensorsFile(tensors: [
                "conv.weight": SafetensorsFile.float32(weight, shape: [outChannels, inChannels, kernel, kernel]),
                "conv.bias": SafetensorsFile.float32(bias, shape: [outChannels]),
            ])
            var weights = WeightReader(file: file, fileName: "test")
            let conv = try Convolution2D(&weights, "conv", inChannels: inChannels, outChannels: outChannels, kernelSize: kernel,
                                         stride: stride, padding: 1)
            let input = TestModels.noise([batch, inChannels, height, width], seed: 33)
            let size = conv.outputSize(height: height, width: width), n = batch * size.height * size.width, depth = inChannels * 9
            // The im2col matrix, row (c, u, v), column (b, i, j), written out from its definition.
            var columns = [Float](repeating: 0, count: depth * n)
            for c in 0..<inChannels { for u in 0..<3 { for v in 0..<3 { for b in 0..<batch {
                for i in 0..<size.height { for j in 0..<size.width {
                    let y = i * stride + u - 1, x = j * stride + v - 1
                    guard (0..<height).contains(y), (0..<width).contains(x) else { continue }
                    columns[((c * 3 + u) * 3 + v) * n + (b * size.height + i) * size.width + j] =
                        input.scalars[((b * inChannels + c) * height + y) * width + x]
                } }
            } } } }
            let (_, scale) = MatrixMultiplyTests.reference(weight, columns, [], m: outChannels, n: n, k: depth, bias: bias, accumulate: false)
            let workspace = NeuralWorkspace()
            var results: [MicroKernel: [Float]] = [:]
            for micro in MicroKernel.supported {
                workspace.beginPass()
                let x = workspace.featureMap(input)
                let out = workspace.featureMap(channels: outChannels, batch: batch, height: size.height, width: size.width)
                conv.apply(x, into: out, workspace: workspace, kernel: micro)
                // [B, C, H', W'] as the [C × B·H'W'] product.
                let outputPlane = size.height * size.width, batchMajor = out.batchMajor
                results[micro] = (0..<(outChannels * n)).map { index in
                    let (o, column) = index.quotientAndRemainder(dividingBy: n), (b, p) = column.quotientAndRemainder(dividingBy: outputPlane)
                    return batchMajor[(b * outChannels + o) * outputPlane + p]
                }
                var packed = [Float](repeating: 0, count: outChannels * n)
                MatrixMultiply.multiply(weight, columns, into: &packed, m: outChannels, n: n, k: depth, bias: bias, kernel: micro)
                #expect(results[micro] == packed, "\(micro.rawValue), stride \(stride), width \(width)")
            }
            let portable = results[.portable]!, bound = 4 * Double(depth + 1) * 0x1p-24
            for micro in MicroKernel.supported where micro != .portable {
                let fused = results[micro]!
                let worst = fused.indices.map { abs(Double(fused[$0]) - Double(portable[$0])) / (scale[$0] + 1e-30) }.max()!
                #expect(worst <= bound, "\(micro.rawValue): \(worst)")
            }
        }

        /// Against Double `exp` at every 1/64 from −100 to 100 and at the ends of the clamped range:
        /// within 3 float32 ulps where the result is normal, `+∞` above 88.38 and `0` below −87.34.
        @Test("vectorized exp: within 3 ulps of exp in Double, +∞ and 0 past the clamped range")
        func exponential() {
            let points = (-6400...6400).map { Float($0) / 64 } + [-87.33, 88.37, 88.4, -87.4]
            for start in stride(from: 0, to: points.count, by: 8) {
                var x = SIMD8<Float>(repeating: 0)
                for t in 0..<8 where start + t < points.count { x[t] = points[start + t] }
                let y = vectorExp(x)
                for t in 0..<8 where start + t < points.count {
                    let exact = Foundation.exp(Double(x[t]))
                    if x[t] > 88.37626 {
                        #expect(y[t] == .infinity, "exp(\(x[t]))")
                    } else if x[t] < -87.33654 {
                        #expect(y[t] == 0, "exp(\(x[t]))")
                    } else {
                        #expect(abs(Double(y[t]) - exact) <= 3 * Double(Float(exact).ulp), "exp(\(x[t])) = \(y[t]), exact \(exact)")
                    }
                }
            }
            let negative: SIMD8<Float> = silu(SIMD8<Float>(repeating: -200)), positive: SIMD8<Float> = silu(SIMD8<Float>(repeating: 200))
            #expect(negative[0] == 0 && positive[0] == 200)
        }

        /// The attention softmax over columns: the AVX2 version (when the CPU has it) gives the Swift
        /// loops' bits, and both match a Double softmax within float32 rounding of the exponential.
        @Test("attention softmax: the AVX2 pass has the Swift bits; columns within 1e-5 of a Double softmax",
              arguments: [(37, 29), (64, 48), (5, 8), (300, 3)])
        func softmaxColumns(size: (Int, Int)) {
            let (rows, columns) = size, scale: Float = 0.37
            let scores = MatrixMultiplyTests.values(rows * columns, seed: 41).map { 20 * $0 }
            var results: [[Float]] = []
            for vectorized in [false, true] {
                var values = scores
                var largest = [Float](repeating: 0, count: columns), sums = [Double](repeating: 0, count: columns)
                values.withUnsafeMutableBufferPointer { v in
                    Attention.softmaxColumns(v.baseAddress!, rows: rows, columns: columns, scale: scale, largest: &largest, sums: &sums,
                                             vectorized: vectorized)
                }
                results.append(values)
            }
            #expect(results[0] == results[1])
            for i in 0..<columns {
                let column = (0..<rows).map { Double(scores[$0 * columns + i]) * Double(scale) }, top = column.max()!
                let total = column.reduce(0) { $0 + Foundation.exp($1 - top) }
                let worst = (0..<rows).map { abs(Double(results[1][$0 * columns + i]) - Foundation.exp(column[$0] - top) / total) }.max()!
                #expect(worst < 1e-5, "column \(i): \(worst)")
            }
        }

        /// The group norm's two passes in AVX2 and the affine pass in AVX-512 (when the CPU has them)
        /// against the Swift loops, with a partial last group of lanes: the same statistics and
        /// outputs, bit for bit.
        @Test("group norm passes: the AVX2 statistics and AVX2 and AVX-512 affine+SiLU have the Swift bits",
              arguments: [1, 8, 29, 64, 1027])
        func groupNormPasses(count: Int) {
            let x = MatrixMultiplyTests.values(count, seed: 43).map { 12 * $0 }
            x.withUnsafeBufferPointer { x in
                #expect(GroupNorm.sums(x.baseAddress!, count: count, vectorized: true) == GroupNorm.sums(x.baseAddress!, count: count, vectorized: false))
                for silu in [false, true] {
                    var plain = [Float](repeating: 0, count: count), vector = plain, wide = plain
                    GroupNorm.affine(x.baseAddress!, into: &plain, count: count, scale: 1.7, shift: -0.3, applySiLU: silu, vectorized: false)
                    GroupNorm.affine(x.baseAddress!, into: &vector, count: count, scale: 1.7, shift: -0.3, applySiLU: silu, wide: false)
                    GroupNorm.affine(x.baseAddress!, into: &wide, count: count, scale: 1.7, shift: -0.3, applySiLU: silu)
                    #expect(plain == vector, "SiLU \(silu)")
                    #expect(plain == wide, "SiLU \(silu), AVX-512")
                }
            }
        }

        /// Statistics from `Σx` and `Σx²` in one pass, the affine map and SiLU eight lanes at a time:
        /// against a two-pass Double recomputation, on planes of 15 and 4 values (partial lane groups)
        /// and on inputs centred at 40 (mean² 400 times the variance: a float32 one-pass variance would lose
        /// about three of its seven digits).
        @Test("group norm with and without SiLU against a two-pass Double recomputation",
              arguments: [(5, 3, Float(0)), (2, 2, 0), (5, 3, 40)])
        func groupNorm(height: Int, width: Int, offset: Float) throws {
            let (batch, channels, groups) = (3, 12, 4), epsilon = 1e-5
            let gamma = MatrixMultiplyTests.values(channels, seed: 41).map { 1 + $0 }, beta = MatrixMultiplyTests.values(channels, seed: 42)
            let file = SafetensorsFile(tensors: [
                "norm.weight": SafetensorsFile.float32(gamma, shape: [channels]),
                "norm.bias": SafetensorsFile.float32(beta, shape: [channels]),
            ])
            var weights = WeightReader(file: file, fileName: "test")
            let norm = try GroupNorm(&weights, "norm", groups: groups, channels: channels, epsilon: epsilon)
            let input = TestModels.noise([batch, channels, height, width], seed: 43)
            let shifted = SampleTensor(shape: input.shape, scalars: input.scalars.map { $0 * 2 + offset })
            let plane = height * width, perGroup = channels / groups
            var expected = [Double](repeating: 0, count: shifted.scalars.count)
            for b in 0..<batch { for g in 0..<groups {
                let values = (g * perGroup..<(g + 1) * perGroup).flatMap { c in
                    (0..<plane).map { Double(shifted.scalars[(b * channels + c) * plane + $0]) }
                }
                let mean = values.reduce(0, +) / Double(values.count)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
                for c in g * perGroup..<(g + 1) * perGroup { for p in 0..<plane {
                    let index = (b * channels + c) * plane + p
                    expected[index] = (Double(shifted.scalars[index]) - mean) / (variance + epsilon).squareRoot() * Double(gamma[c]) + Double(beta[c])
                } }
            } }
            let workspace = NeuralWorkspace()
            for applySiLU in [false, true] {
                workspace.beginPass()
                let x = workspace.featureMap(shifted)
                norm.apply(x, into: x, applySiLU: applySiLU)
                let reference = applySiLU ? expected.map { $0 / (1 + Foundation.exp(-$0)) } : expected
                let worst = zip(x.batchMajor, reference).map { abs(Double($0) - $1) }.max()!
                #expect(worst < 1e-5, "SiLU \(applySiLU), \(height)×\(width), offset \(offset): \(worst)")
            }
        }
    }
}
