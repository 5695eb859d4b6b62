/// The Lagrange basis through a few nodes `v₀ … v_{n−1}`, the one piece of interpolation the
/// multistep solvers share:
/// ```
/// ℓⱼ(v) = Π_{m≠j} (v − v_m)/(v_j − v_m),      Σⱼ ℓⱼ(v)·f(vⱼ) interpolates f
/// ```
/// DC-Solver evaluates it at one point (the compensated output), SA-Solver integrates it against
/// `e^{−av}` and LMS integrates it over the step (Adams–Bashforth weights), both from the
/// monomial coefficients of ℓⱼ.
enum Lagrange {
    /// `ℓⱼ(v)` for `j < count` (lanes beyond are 0), in product form: each factor is a ratio of
    /// two differences, so a point at a node gives exactly that node's unit weight.
    static func weights(at v: Double, nodes: SIMD4<Double>, count: Int) -> SIMD4<Double> {
        let n = Swift.min(Swift.max(count, 1), 4)
        var w = SIMD4<Double>.zero
        for a in 0..<n {
            var l = 1.0
            for b in 0..<n where b != a { l *= (v - nodes[b]) / (nodes[a] - nodes[b]) }
            w[a] = l
        }
        return w
    }

    /// The monomial coefficients, lowest degree first, of the numerator `Π_{m≠j} (v − v_m)` of
    /// `ℓⱼ`, written to `p` (every entry; those above degree `count − 1` are 0), and its
    /// denominator `Π_{m≠j} (v_j − v_m)`. `p` needs room for `count` coefficients.
    static func basis(_ j: Int, count n: Int, node: (Int) -> Double, into p: UnsafeMutableBufferPointer<Double>) -> Double {
        for k in p.indices { p[k] = 0 }
        p[0] = 1
        var denominator = 1.0
        let vj = node(j)
        for m in 0..<n where m != j {
            let vm = node(m)
            // p(v) ← (v − v_m)·p(v)
            var k = n - 1
            while k >= 1 {
                p[k] = p[k - 1] - vm * p[k]
                k -= 1
            }
            p[0] = 0 - vm * p[0]
            denominator *= vj - vm
        }
        return denominator
    }

    /// `ℓⱼ` for the first `count` (at most 4) nodes, as four monomial coefficients and the denominator.
    static func basis(_ j: Int, nodes: SIMD4<Double>, count: Int) -> (numerator: SIMD4<Double>, denominator: Double) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 4) { p in
            let denominator = basis(j, count: count, node: { nodes[$0] }, into: p)
            return (SIMD4(p[0], p[1], p[2], p[3]), denominator)
        }
    }
}
