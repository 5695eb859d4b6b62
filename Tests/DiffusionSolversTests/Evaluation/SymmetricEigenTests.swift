import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// Dense helpers for the eigen and Fréchet tests (row-major `D × D`).
enum DenseTestMatrix {
    /// A random symmetric matrix `(G + Gᵀ)/2` with standard-normal `G`.
    static func randomSymmetric(_ d: Int, seed: UInt64) -> [Double] {
        let g = TestModels.noise([d, d], seed: seed).scalars.map(Double.init)
        var a = g
        for i in 0..<d { for j in 0..<d { a[i * d + j] = 0.5 * (g[i * d + j] + g[j * d + i]) } }
        return a
    }

    /// A random positive semi-definite matrix `G Gᵀ / r` of rank `min(d, r)`.
    static func randomCovariance(_ d: Int, rank r: Int, seed: UInt64) -> [Double] {
        let g = TestModels.noise([d, r], seed: seed).scalars.map(Double.init)
        var c = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { for k in 0..<r { c[i * d + j] += g[i * r + k] * g[j * r + k] / Double(r) } } }
        return c
    }

    static func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }

    static func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// `V Λ Vᵀ` from a decomposition.
    static func reconstruct(_ e: SymmetricEigen) -> [Double] { e.applying { $0 } }

    /// `max |VᵀV − I|` (the eigenvectors are stored one after another).
    static func orthogonalityError(_ e: SymmetricEigen) -> Double {
        let d = e.dimension
        var worst = 0.0
        for p in 0..<d {
            for q in 0..<d {
                var s = 0.0
                for i in 0..<d { s += e.vectors[p * d + i] * e.vectors[q * d + i] }
                worst = max(worst, abs(s - (p == q ? 1 : 0)))
            }
        }
        return worst
    }
}

@Suite("Symmetric eigen-decomposition")
struct SymmetricEigenTests {
    @Test("random symmetric matrices: A = VΛVᵀ, VᵀV = I, ascending values", arguments: [1, 2, 3, 7, 20, 64])
    func randomMatrices(d: Int) {
        let a = DenseTestMatrix.randomSymmetric(d, seed: UInt64(100 + d))
        let e = SymmetricEigen(a, dimension: d)
        let scale = max(DenseTestMatrix.maxAbs(a), 1)
        #expect(DenseTestMatrix.maxAbsDifference(DenseTestMatrix.reconstruct(e), a) < 1e-12 * scale * Double(d))
        #expect(DenseTestMatrix.orthogonalityError(e) < 1e-13 * Double(d))
        #expect(zip(e.values, e.values.dropFirst()).allSatisfy { $0 <= $1 })
        // Each pair satisfies A v = λ v.
        for k in 0..<d {
            for i in 0..<d {
                var av = 0.0
                for j in 0..<d { av += a[i * d + j] * e.vectors[k * d + j] }
                #expect(abs(av - e.values[k] * e.vectors[k * d + i]) < 1e-12 * scale * Double(d))
            }
        }
        // The eigenvalues alone agree with the full decomposition.
        let values = SymmetricEigen.eigenvalues(of: a, dimension: d)
        #expect(DenseTestMatrix.maxAbsDifference(values, e.values) < 1e-12 * scale * Double(d))
    }

    @Test("128 × 128: reconstruction, orthogonality and time")
    func large() {
        let d = 128
        let a = DenseTestMatrix.randomSymmetric(d, seed: 5)
        let clock = ContinuousClock()
        var e: SymmetricEigen?
        let elapsed = clock.measure { e = SymmetricEigen(a, dimension: d) }
        let valuesOnly = clock.measure { _ = SymmetricEigen.eigenvalues(of: a, dimension: d) }
        print("SymmetricEigen 128 × 128: \(elapsed) with vectors, \(valuesOnly) values only")
        guard let e else { return }
        #expect(DenseTestMatrix.maxAbsDifference(DenseTestMatrix.reconstruct(e), a) < 1e-11)
        #expect(DenseTestMatrix.orthogonalityError(e) < 1e-12)
        // Trace and Frobenius norm are invariants: Σλ = tr A, Σλ² = ‖A‖²_F.
        let trace = (0..<d).reduce(0.0) { $0 + a[$1 * d + $1] }
        #expect(abs(e.values.reduce(0, +) - trace) < 1e-10)
        #expect(abs(e.values.reduce(0) { $0 + $1 * $1 } - a.reduce(0) { $0 + $1 * $1 }) < 1e-9)
    }

    @Test("known spectra: 2 × 2, diagonal, zero, all-ones, the second-difference matrix")
    func knownCases() {
        // [[2, 1], [1, 2]]: λ = 1 with (1, −1)/√2 and λ = 3 with (1, 1)/√2.
        let two = SymmetricEigen([2, 1, 1, 2], dimension: 2)
        #expect(abs(two.values[0] - 1) < 1e-15 && abs(two.values[1] - 3) < 1e-15)
        let r = 0.5.squareRoot()
        #expect(abs(abs(two.vectors[0]) - r) < 1e-15 && abs(two.vectors[0] + two.vectors[1]) < 1e-15)
        #expect(abs(abs(two.vectors[2]) - r) < 1e-15 && abs(two.vectors[2] - two.vectors[3]) < 1e-15)

        // A diagonal matrix: its entries, sorted, with unit vectors.
        let diag = SymmetricEigen([3, 0, 0, 0, -1, 0, 0, 0, 2], dimension: 3)
        #expect(diag.values == [-1, 2, 3])
        #expect(diag.vectors.map(abs) == [0, 1, 0, 0, 0, 1, 1, 0, 0])

        // Zero and 1 × 1 and empty matrices.
        let zero = SymmetricEigen([Double](repeating: 0, count: 16), dimension: 4)
        #expect(zero.values == [0, 0, 0, 0])
        #expect(DenseTestMatrix.orthogonalityError(zero) == 0)
        #expect(SymmetricEigen([-2.5], dimension: 1).values == [-2.5])
        #expect(SymmetricEigen([], dimension: 0).values.isEmpty)

        // The all-ones matrix of order n (a repeated eigenvalue): 0 (n − 1 times) and n.
        let n = 9
        let ones = SymmetricEigen([Double](repeating: 1, count: n * n), dimension: n)
        for k in 0..<(n - 1) { #expect(abs(ones.values[k]) < 1e-14) }
        #expect(abs(ones.values[n - 1] - Double(n)) < 1e-13)
        #expect(DenseTestMatrix.orthogonalityError(ones) < 1e-14)

        // tridiag(−1, 2, −1) of order m: λ_k = 2 − 2 cos(kπ/(m + 1)), k = 1…m.
        let m = 30
        var t = [Double](repeating: 0, count: m * m)
        for i in 0..<m { t[i * m + i] = 2; if i > 0 { t[i * m + i - 1] = -1; t[(i - 1) * m + i] = -1 } }
        let values = SymmetricEigen.eigenvalues(of: t, dimension: m)
        for k in 1...m { #expect(abs(values[k - 1] - (2 - 2 * cos(Double(k) * .pi / Double(m + 1)))) < 1e-14) }
    }

    @Test("a NaN entry gives NaN eigenvalues, not a trap")
    func nonFinite() {
        let e = SymmetricEigen([1, .nan, .nan, 1], dimension: 2)
        #expect(e.values.allSatisfy(\.isNaN) && e.vectors.allSatisfy(\.isNaN))
        let values = SymmetricEigen.eigenvalues(of: [.infinity, 0, 0, 1], dimension: 2)
        #expect(values.allSatisfy { $0.isNaN })
    }

    @Test("the PSD square root squares back to the matrix, including singular ones", arguments: [(1, 1), (5, 5), (40, 40), (128, 128), (64, 20)])
    func squareRoot(d: Int, rank: Int) {
        let c = DenseTestMatrix.randomCovariance(d, rank: rank, seed: UInt64(7 * d + rank))
        let s = SymmetricMatrix.squareRoot(c, dimension: d)
        let squared = SymmetricMatrix.multiply(s, s, dimension: d)
        #expect(DenseTestMatrix.maxAbsDifference(squared, c) < 1e-12 * DenseTestMatrix.maxAbs(c) * Double(d))
        #expect(s == SymmetricMatrix.symmetrized(s, dimension: d))
        // The root is positive semi-definite (up to round-off at the clamped zero eigenvalues).
        let values = SymmetricEigen.eigenvalues(of: s, dimension: d)
        #expect(values.first! > -1e-7)
    }

    @Test("known square roots: diagonal, and [[5, 4], [4, 5]] = [[2, 1], [1, 2]]²")
    func knownSquareRoots() {
        #expect(DenseTestMatrix.maxAbsDifference(SymmetricMatrix.squareRoot([4, 0, 0, 9], dimension: 2), [2, 0, 0, 3]) < 1e-15)
        #expect(DenseTestMatrix.maxAbsDifference(SymmetricMatrix.squareRoot([5, 4, 4, 5], dimension: 2), [2, 1, 1, 2]) < 1e-14)
        // A negative (round-off) eigenvalue is clamped: diag(4, −1e-18) → diag(2, 0).
        #expect(SymmetricMatrix.squareRoot([4, 0, 0, -1e-18], dimension: 2) == [2, 0, 0, 0])
    }
}
