import Foundation
import Testing
@testable import DiffusionSolvers

/// UniPC's ρ (``UniPC/rhos(rks:count:hh:expMinusOneHH:variant:corrector:)``), read off the
/// Lagrange basis, against the linear system it solves: `Σ_k ρ_k·r_kⁱ = bᵢ`,
/// `bᵢ = hh·φ_{i+2}(hh)·(i+1)!/B(h)` with `φ` from its series here.
@Suite("UniPC coefficients")
struct UniPCCoefficientTests {
    /// `φ_k(z) = Σ_{j≥0} z^j/(j + k)!`, summed until the terms vanish.
    static func phi(_ k: Int, _ z: Double) -> Double {
        var term = 1.0
        for j in 1...k { term /= Double(j) }
        var sum = 0.0
        for j in 0..<60 {
            sum += term
            term *= z / Double(j + k + 1)
        }
        return sum
    }

    @Test("ρ solves R·ρ = b for the corrector (3 and 2 unknowns) and the third-order predictor",
          arguments: [(-0.35, UniPC.Variant.bh1), (-0.35, .bh2), (0.8, .bh1), (-1.7, .bh2)])
    func solvesTheSystem(hh: Double, variant: UniPC.Variant) {
        let bh = variant == .bh1 ? hh : Double.expMinusOne(hh)
        // Ratios of earlier outputs are negative (earlier λ), the step's end is 1.
        for (rks, count, corrector) in [(SIMD4<Double>(-0.9, -2.3, 1, 0), 3, true), (SIMD4(-1.4, 1, 0, 0), 2, true),
                                        (SIMD4(-0.7, -1.9, 1, 0), 3, false)] {
            let rho = UniPC.rhos(rks: rks, count: count, hh: hh, expMinusOneHH: Double.expMinusOne(hh), variant: variant,
                                 corrector: corrector)
            let n = corrector ? count : count - 1
            var factorial = 1.0
            for i in 0..<n {
                factorial *= Double(i + 1)
                let b = hh * Self.phi(i + 2, hh) * factorial / bh
                let lhs = (0..<n).reduce(0.0) { $0 + rho[$1] * pow(rks[$1], Double(i)) }
                #expect(abs(lhs - b) <= 1e-12 * max(1, abs(b)), "row \(i) of \(n): \(lhs) vs \(b)")
            }
            for k in n..<4 { #expect(rho[k] == 0) }
        }
    }
}
