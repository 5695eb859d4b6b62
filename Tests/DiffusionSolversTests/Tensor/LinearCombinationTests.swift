import Testing
import DiffusionSolvers

/// The fused kernels against the same combination written term by term in `Double`.
@Suite("Fused linear combinations")
struct LinearCombinationTests {
    static let shape = [3, 7]
    static func operand(_ k: Int) -> SampleTensor {
        SampleTensor(shape: shape, scalars: (0..<21).map { Float(($0 * (k + 3)) % 11) - 5.25 + Float(k) * 0.125 })
    }
    static let coefficients = [0.75, -1.5, 0.3125, 2.25, -0.0625]

    /// `scale·base + Σ cᵢ·yᵢ` over the first `n` operands, in Double.
    static func reference(scale: Double, base: SampleTensor?, terms n: Int) -> [Float] {
        (0..<21).map { i in
            var v = base.map { scale * Double($0.scalars[i]) } ?? 0
            for k in 0..<n { v += coefficients[k] * Double(operand(k).scalars[i]) }
            return Float(v)
        }
    }

    static func terms(_ n: Int) -> [SampleTensor.Term] { (0..<n).map { (coefficients[$0], operand($0)) } }

    /// `x.set(…)` through the fixed-arity overload for `t.count` (1…5) terms.
    static func set(_ x: inout SampleTensor, _ t: [SampleTensor.Term]) {
        switch t.count {
        case 1: x.set(t[0])
        case 2: x.set(t[0], t[1])
        case 3: x.set(t[0], t[1], t[2])
        case 4: x.set(t[0], t[1], t[2], t[3])
        default: x.set(t[0], t[1], t[2], t[3], t[4])
        }
    }

    /// `x.update(scale:…)` through the fixed-arity overload for `t.count` (1…4) terms, the term list otherwise.
    static func update(_ x: inout SampleTensor, scale: Double, _ t: [SampleTensor.Term]) {
        switch t.count {
        case 1: x.update(scale: scale, t[0])
        case 2: x.update(scale: scale, t[0], t[1])
        case 3: x.update(scale: scale, t[0], t[1], t[2])
        case 4: x.update(scale: scale, t[0], t[1], t[2], t[3])
        default: x.update(scale: scale, terms: t)
        }
    }

    @Test("set with 1 to 5 terms ignores the old contents", arguments: 1...5)
    func set(terms n: Int) {
        var x = Self.operand(9)
        Self.set(&x, Self.terms(n))
        let expected = Self.reference(scale: 0, base: nil, terms: n)
        #expect(zip(x.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("update with 1 to 4 terms and with a term list scales the old contents", arguments: 0...5)
    func update(terms n: Int) {
        let base = Self.operand(9)
        var fixed = base, listed = base
        let t = Self.terms(n)
        Self.update(&fixed, scale: -0.5, t)
        listed.update(scale: -0.5, terms: t)
        let expected = Self.reference(scale: -0.5, base: base, terms: n)
        #expect(zip(fixed.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(zip(listed.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("every kernel gives the one-Float loop's result exactly, in full blocks of lanes and in the tail")
    func exactness() {
        // 37 values: two full blocks of 16 lanes and a tail of 5.
        let operands = (0..<6).map { k in
            SampleTensor(shape: [1, 37], scalars: (0..<37).map { Float(($0 * (k + 5)) % 17) * 0.37 - 2.9 + Float(k) * 0.011 })
        }
        let t: [SampleTensor.Term] = (1..<6).map { (Self.coefficients[$0 - 1], operands[$0]) }
        /// `first(i) + Σ_{k ∈ terms} cₖ·yₖ[i]` in `Float`, left to right, as the kernels compute it.
        func expected(_ first: (Int) -> Float, terms: Range<Int>) -> [Float] {
            (0..<37).map { i in terms.reduce(first(i)) { $0 + Float(t[$1].coefficient) * t[$1].tensor.scalars[i] } }
        }
        for n in 1...5 {
            var x = operands[0]
            Self.set(&x, Array(t[..<n]))
            #expect(x.scalars == expected({ Float(t[0].coefficient) * t[0].tensor.scalars[$0] }, terms: 1..<n), "set with \(n) terms")
        }
        let scale = Float(-0.5)
        for n in 1...4 {
            var x = operands[0]
            Self.update(&x, scale: -0.5, Array(t[..<n]))
            #expect(x.scalars == expected({ scale * operands[0].scalars[$0] }, terms: 0..<n), "update with \(n) terms")
        }
    }
}
