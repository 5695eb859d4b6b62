import Testing
import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    /// The run-time choice of matrix micro-kernel: every kernel this CPU can run against the portable
    /// Swift one, on sizes that leave edge tiles, odd panel counts and partial depth blocks.
    @Suite("Matrix micro-kernels")
    struct MicroKernelTests {
        @Test("the portable kernel is always available and the chosen one is supported")
        func availability() {
            #expect(MicroKernel.portable.isSupported)
            #expect(MicroKernel.best.isSupported)
            #expect(MicroKernel.supported.first == .portable)
        }

        /// Both sum each element in increasing `k` and round once per sum (and, portable only, once per
        /// product), so each is within `(2k + ⌈k/256⌉ + 2)·u·Σ|terms|` of the exact value (`u = 2⁻²⁴`,
        /// Higham 2002, §3.1); their difference is below `4(k + 1)·u·Σ|terms|`. The fused kernels round
        /// the same sums in the same order, so they agree bit for bit.
        @Test("every supported kernel matches the portable one within float32 rounding; the fused ones agree exactly",
              arguments: [(1, 1, 1), (7, 13, 5), (13, 6, 300), (27, 50, 257), (37, 7, 513), (45, 38, 300), (300, 19, 40), (17, 50, 0)])
        func kernelsAgree(size: (Int, Int, Int)) {
            let (m, n, k) = size
            typealias Values = MatrixMultiplyTests
            let a = Values.values(m * k, seed: 11), b = Values.values(k * n, seed: 12), bias = Values.values(m, seed: 13)
            let start = Values.values(m * n, seed: 14)
            let fused = MicroKernel.supported.filter { $0 != .portable }
            for (withBias, accumulate) in [(false, false), (true, false), (true, true), (false, true)] {
                var portable = start
                MatrixMultiply.multiply(a, b, into: &portable, m: m, n: n, k: k, bias: withBias ? bias : nil, accumulate: accumulate,
                                        kernel: .portable)
                let (_, scale) = Values.reference(a, b, start, m: m, n: n, k: k, bias: withBias ? bias : nil, accumulate: accumulate)
                let bound = 4 * Double(k + 1) * 0x1p-24
                var results: [[Float]] = []
                for kernel in fused {
                    var c = start
                    MatrixMultiply.multiply(a, b, into: &c, m: m, n: n, k: k, bias: withBias ? bias : nil, accumulate: accumulate,
                                            kernel: kernel)
                    let worst = zip(c.indices, c).map { abs(Double($1) - Double(portable[$0])) / (scale[$0] + 1e-30) }.max() ?? 0
                    #expect(worst <= bound, "\(kernel.rawValue) \(m)×\(n)×\(k), bias \(withBias), accumulate \(accumulate): \(worst)")
                    results.append(c)
                }
                for (kernel, c) in zip(fused, results).dropFirst() {
                    #expect(c == results[0], "\(kernel.rawValue) and \(fused[0].rawValue) differ at \(m)×\(n)×\(k)")
                }
            }
        }
    }
}
