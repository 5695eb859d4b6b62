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

    @Test("set with 1 to 5 terms ignores the old contents", arguments: 1...5)
    func set(terms n: Int) {
        var x = Self.operand(9)
        let t = Self.terms(n)
        switch n {
        case 1: x.set(t[0])
        case 2: x.set(t[0], t[1])
        case 3: x.set(t[0], t[1], t[2])
        case 4: x.set(t[0], t[1], t[2], t[3])
        default: x.set(t[0], t[1], t[2], t[3], t[4])
        }
        let expected = Self.reference(scale: 0, base: nil, terms: n)
        #expect(zip(x.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("update with 1 to 4 terms and with a term list scales the old contents", arguments: 0...5)
    func update(terms n: Int) {
        let base = Self.operand(9)
        var fixed = base, listed = base
        let t = Self.terms(n)
        switch n {
        case 1: fixed.update(scale: -0.5, t[0])
        case 2: fixed.update(scale: -0.5, t[0], t[1])
        case 3: fixed.update(scale: -0.5, t[0], t[1], t[2])
        case 4: fixed.update(scale: -0.5, t[0], t[1], t[2], t[3])
        default: fixed.update(scale: -0.5, terms: t)
        }
        listed.update(scale: -0.5, terms: t)
        let expected = Self.reference(scale: -0.5, base: base, terms: n)
        #expect(zip(fixed.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(zip(listed.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }
}
