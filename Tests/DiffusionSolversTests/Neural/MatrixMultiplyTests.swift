import Testing
import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    @Suite("Matrix multiplication")
    struct MatrixMultiplyTests {
        /// Deterministic values in [-1, 1).
        static func values(_ count: Int, seed: UInt64) -> [Float] {
            TestModels.noise([1, max(count, 1)], seed: seed).scalars.prefix(count).map { max(-1, min(1, $0 / 3)) }
        }

        /// `A·B (+ bias) (+ C)` in Double, and `Σₖ |aᵢₖ·bₖⱼ|` per element (the scale of its rounding error).
        static func reference(_ a: [Float], _ b: [Float], _ c: [Float], m: Int, n: Int, k: Int, bias: [Float]?, accumulate: Bool)
            -> (values: [Double], scale: [Double]) {
            var values = [Double](repeating: 0, count: m * n), scale = values
            for i in 0..<m {
                for j in 0..<n {
                    var sum = Double(bias?[i] ?? 0) + (accumulate ? Double(c[i * n + j]) : 0), magnitude = abs(sum)
                    for p in 0..<k {
                        let product = Double(a[i * k + p]) * Double(b[p * n + j])
                        sum += product
                        magnitude += abs(product)
                    }
                    values[i * n + j] = sum
                    scale[i * n + j] = magnitude
                }
            }
            return (values, scale)
        }

        @Test("matches a Double reference on odd sizes, with bias and accumulation",
              arguments: [(1, 1, 1), (7, 13, 5), (65, 130, 33), (9, 6, 300), (130, 7, 513), (17, 50, 0)])
        func reference(size: (Int, Int, Int)) {
            let (m, n, k) = size
            let a = Self.values(m * k, seed: 1), b = Self.values(k * n, seed: 2), bias = Self.values(m, seed: 3)
            let start = Self.values(m * n, seed: 4)
            for (withBias, accumulate) in [(false, false), (true, false), (true, true), (false, true)] {
                var c = start
                MatrixMultiply.multiply(a, b, into: &c, m: m, n: n, k: k, bias: withBias ? bias : nil, accumulate: accumulate)
                let (expected, scale) = Self.reference(a, b, start, m: m, n: n, k: k, bias: withBias ? bias : nil, accumulate: accumulate)
                // Float summation: error below a few ulps per term of the largest partial sum.
                let worst = zip(c.indices, c).map { abs(Double($1) - expected[$0]) / (scale[$0] + 1e-30) }.max() ?? 0
                #expect(worst < 1e-6, "\(m)×\(n)×\(k), bias \(withBias), accumulate \(accumulate): \(worst)")
            }
        }

        @Test("a column does not depend on the other columns")
        func columnIndependence() {
            let (m, n, k) = (20, 40, 300)
            let a = Self.values(m * k, seed: 8), b = Self.values(k * n, seed: 9)
            var full = [Float](repeating: 0, count: m * n)
            MatrixMultiply.multiply(a, b, into: &full, m: m, n: n, k: k)
            // Columns 11..<14 alone land in other tile positions.
            let slice = (0..<k).flatMap { p in b[(p * n + 11)..<(p * n + 14)] }
            var part = [Float](repeating: 0, count: m * 3)
            MatrixMultiply.multiply(a, slice, into: &part, m: m, n: 3, k: k)
            for i in 0..<m {
                #expect(Array(part[(i * 3)..<(i * 3 + 3)]) == Array(full[(i * n + 11)..<(i * n + 14)]))
            }
        }
    }
}
