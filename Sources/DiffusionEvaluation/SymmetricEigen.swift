/// The eigen-decomposition `A = V Λ Vᵀ` of a real symmetric matrix, in `Double`.
///
/// Householder reduction to tridiagonal form followed by the implicit QL algorithm with
/// Wilkinson-type shifts: EISPACK's `tred2` and `tql2` (Smith et al., *Matrix Eigensystem
/// Routines — EISPACK Guide*, Springer 1976), in the form of the public-domain JAMA library
/// (<https://math.nist.gov/javanumerics/jama/>). Both phases are backward stable: the computed
/// eigenvalues are exact for a matrix within a few ulps of `‖A‖` of the input.
///
/// Only the upper triangle of the input is read (`matrix[i * D + j]` for `j ≥ i`), so a matrix
/// that is symmetric only up to round-off must be symmetrized first when that matters
/// (``SymmetricMatrix/squareRoot(_:dimension:)`` does).
///
/// Internally the transformation matrix is held column by column, so every inner loop of both
/// phases runs over contiguous memory.
///
/// Complexity: about `9 D³` floating-point operations with eigenvectors, `4/3 D³` for the
/// eigenvalues alone (``eigenvalues(of:dimension:)``).
public struct SymmetricEigen: Sendable, Equatable {
    /// `D`, the order of the matrix.
    public let dimension: Int
    /// The eigenvalues `λ₀ ≤ λ₁ ≤ … ≤ λ_{D−1}`, in ascending order.
    public let values: [Double]
    /// The orthonormal eigenvectors, one after another: eigenvector `k` (for `values[k]`) is
    /// `vectors[k * D ..< (k + 1) * D]`. Read as a row-major `D × D` matrix this is `Vᵀ`.
    public let vectors: [Double]

    /// Decomposes the symmetric `D × D` matrix `matrix` (row-major; only its upper triangle is read).
    ///
    /// A matrix with a NaN or infinite entry in its upper triangle gives NaN eigenvalues and
    /// eigenvectors instead of trapping.
    ///
    /// - Precondition: `matrix.count == dimension * dimension`.
    public init(_ matrix: [Double], dimension d: Int) {
        precondition(d >= 0 && matrix.count == d * d, "SymmetricEigen: \(matrix.count) values do not form a \(d) × \(d) matrix")
        dimension = d
        guard Self.upperTriangleIsFinite(matrix, d) else {
            values = [Double](repeating: .nan, count: d)
            vectors = [Double](repeating: .nan, count: d * d)
            return
        }
        (values, vectors) = Self.decompose(matrix, d, withVectors: true)
    }

    /// The eigenvalues of the symmetric `D × D` matrix `matrix` in ascending order, without the
    /// eigenvectors (a fraction of the work of ``init(_:dimension:)``).
    public static func eigenvalues(of matrix: [Double], dimension d: Int) -> [Double] {
        precondition(d >= 0 && matrix.count == d * d, "SymmetricEigen: \(matrix.count) values do not form a \(d) × \(d) matrix")
        guard upperTriangleIsFinite(matrix, d) else { return [Double](repeating: .nan, count: d) }
        return decompose(matrix, d, withVectors: false).values
    }

    /// Householder tridiagonalization then implicit QL on a finite matrix: the eigenvalues and, with
    /// `withVectors`, the eigenvectors (column `j` of the working copy, `w[j·D ..< (j+1)·D]`).
    private static func decompose(_ matrix: [Double], _ d: Int, withVectors: Bool) -> (values: [Double], vectors: [Double]) {
        var w = matrix
        var diagonal = [Double](repeating: 0, count: d)
        var off = [Double](repeating: 0, count: d)
        w.withUnsafeMutableBufferPointer { wb in
            diagonal.withUnsafeMutableBufferPointer { db in
                off.withUnsafeMutableBufferPointer { eb in
                    guard let v = wb.baseAddress, let dd = db.baseAddress, let e = eb.baseAddress else { return }
                    tridiagonalize(v, dd, e, d, accumulate: withVectors)
                    diagonalize(dd, e, d, vectors: withVectors ? v : nil)
                }
            }
        }
        return (diagonal, withVectors ? w : [])
    }

    /// `V f(Λ) Vᵀ` as a row-major `D × D` matrix: the matrix function `f(A)`, symmetric by construction.
    public func applying(_ f: (Double) -> Double) -> [Double] {
        let d = dimension
        var result = [Double](repeating: 0, count: d * d)
        result.withUnsafeMutableBufferPointer { rb in
            vectors.withUnsafeBufferPointer { vb in
                guard let r = rb.baseAddress, let v = vb.baseAddress else { return }
                for k in 0..<d {
                    let fk = f(values[k])
                    if fk == 0 { continue }
                    let vk = v + k * d
                    for i in 0..<d {
                        let a = fk * vk[i]
                        let row = r + i * d
                        for j in i..<d { row[j] += a * vk[j] }
                    }
                }
                for i in 0..<d { for j in 0..<i { r[i * d + j] = r[j * d + i] } }
            }
        }
        return result
    }

    private static func upperTriangleIsFinite(_ m: [Double], _ d: Int) -> Bool {
        for i in 0..<d { for j in i..<d where !m[i * d + j].isFinite { return false } }
        return true
    }

    /// Householder reduction to a symmetric tridiagonal matrix (EISPACK `tred2`).
    ///
    /// `v` holds the matrix on entry, read column-major: entry `(row r, column c)` is
    /// `v[c * n + r]`, and only entries with `r ≥ c` are used (the row-major input's upper
    /// triangle; for a symmetric matrix the two readings agree). On exit `d` is the diagonal,
    /// `e[1..<n]` the subdiagonal (`e[0] = 0`), and — with `accumulate` — `v` the orthogonal `Q`
    /// (column-major) with `A = Q T Qᵀ`.
    private static func tridiagonalize(_ v: UnsafeMutablePointer<Double>, _ d: UnsafeMutablePointer<Double>,
                                       _ e: UnsafeMutablePointer<Double>, _ n: Int, accumulate: Bool) {
        guard n > 0 else { return }
        @inline(__always) func at(_ r: Int, _ c: Int) -> UnsafeMutablePointer<Double> { v + (c * n + r) }
        for j in 0..<n { d[j] = at(n - 1, j).pointee }
        var i = n - 1
        while i > 0 {
            // Scale the row to avoid under- and overflow in the Householder vector.
            var scale = 0.0, h = 0.0
            for k in 0..<i { scale += abs(d[k]) }
            if scale == 0 {
                e[i] = d[i - 1]
                for j in 0..<i {
                    d[j] = at(i - 1, j).pointee
                    at(i, j).pointee = 0
                    at(j, i).pointee = 0
                }
            } else {
                for k in 0..<i { d[k] /= scale; h += d[k] * d[k] }
                var f = d[i - 1]
                var g = h.squareRoot()
                if f > 0 { g = -g }
                e[i] = scale * g
                h -= f * g
                d[i - 1] = f - g
                for j in 0..<i { e[j] = 0 }
                // e = A u / h on the leading i × i block (its stored triangle, column by column).
                for j in 0..<i {
                    f = d[j]
                    at(j, i).pointee = f
                    let column = v + j * n
                    g = e[j] + column[j] * f
                    var k = j + 1
                    while k < i {
                        g += column[k] * d[k]
                        e[k] += column[k] * f
                        k += 1
                    }
                    e[j] = g
                }
                f = 0
                for j in 0..<i { e[j] /= h; f += e[j] * d[j] }
                let hh = f / (h + h)
                for j in 0..<i { e[j] -= hh * d[j] }
                // Rank-2 update A ← A − u qᵀ − q uᵀ.
                for j in 0..<i {
                    f = d[j]
                    g = e[j]
                    let column = v + j * n
                    for k in j..<i { column[k] -= f * e[k] + g * d[k] }
                    d[j] = at(i - 1, j).pointee
                    at(i, j).pointee = 0
                }
            }
            d[i] = h
            i -= 1
        }
        guard accumulate else {
            // The diagonal of T is the working matrix's diagonal (what the accumulation below saves).
            for j in 0..<n { d[j] = at(j, j).pointee }
            e[0] = 0
            return
        }
        // Accumulate the Householder reflections into Q.
        for i in 0..<(n - 1) {
            at(n - 1, i).pointee = at(i, i).pointee
            at(i, i).pointee = 1
            let h = d[i + 1]
            let next = v + (i + 1) * n
            if h != 0 {
                for k in 0...i { d[k] = next[k] / h }
                for j in 0...i {
                    let column = v + j * n
                    var g = 0.0
                    for k in 0...i { g += next[k] * column[k] }
                    for k in 0...i { column[k] -= g * d[k] }
                }
            }
            for k in 0...i { next[k] = 0 }
        }
        for j in 0..<n {
            d[j] = at(n - 1, j).pointee
            at(n - 1, j).pointee = 0
        }
        at(n - 1, n - 1).pointee = 1
        e[0] = 0
    }

    /// The implicit QL algorithm on a symmetric tridiagonal matrix (EISPACK `tql2`): on exit `d`
    /// holds the eigenvalues in ascending order and, when `vectors` is given (the `Q` of
    /// ``tridiagonalize(_:_:_:_:accumulate:)``, column-major), its columns are the eigenvectors.
    private static func diagonalize(_ d: UnsafeMutablePointer<Double>, _ e: UnsafeMutablePointer<Double>, _ n: Int,
                                    vectors v: UnsafeMutablePointer<Double>?) {
        guard n > 1 else { return }
        for i in 1..<n { e[i - 1] = e[i] }
        e[n - 1] = 0
        var f = 0.0, tst1 = 0.0
        let eps = Double.ulpOfOne
        // Converges in one to two iterations per eigenvalue in practice; the cap only guards
        // against an endless loop on pathological input.
        let maximumIterations = 60
        for l in 0..<n {
            // Find a negligible subdiagonal element; e[n − 1] = 0 ends the search.
            tst1 = max(tst1, abs(d[l]) + abs(e[l]))
            var m = l
            while m < n - 1, abs(e[m]) > eps * tst1 { m += 1 }
            if m > l {
                var iteration = 0
                repeat {
                    iteration += 1
                    // The implicit shift from the leading 2 × 2 block.
                    var g = d[l]
                    var p = (d[l + 1] - g) / (2 * e[l])
                    var r = hypot(p, 1)
                    if p < 0 { r = -r }
                    d[l] = e[l] / (p + r)
                    d[l + 1] = e[l] * (p + r)
                    let dl1 = d[l + 1]
                    var h = g - d[l]
                    var i = l + 2
                    while i < n { d[i] -= h; i += 1 }
                    f += h
                    // The QL sweep of Givens rotations from m − 1 up to l.
                    p = d[m]
                    var c = 1.0, c2 = 1.0, c3 = 1.0
                    let el1 = e[l + 1]
                    var s = 0.0, s2 = 0.0
                    i = m - 1
                    while i >= l {
                        c3 = c2
                        c2 = c
                        s2 = s
                        g = c * e[i]
                        h = c * p
                        r = hypot(p, e[i])
                        e[i + 1] = s * r
                        s = e[i] / r
                        c = p / r
                        p = c * d[i] - s * g
                        d[i + 1] = h + s * (c * g + s * d[i])
                        if let v {
                            let a = v + i * n, b = v + (i + 1) * n
                            for k in 0..<n {
                                let t = b[k]
                                b[k] = s * a[k] + c * t
                                a[k] = c * a[k] - s * t
                            }
                        }
                        i -= 1
                    }
                    p = -s * s2 * c3 * el1 * e[l] / dl1
                    e[l] = s * p
                    d[l] = c * p
                } while abs(e[l]) > eps * tst1 && iteration < maximumIterations
            }
            d[l] += f
            e[l] = 0
        }
        // Selection sort into ascending order, moving the eigenvectors along.
        for i in 0..<(n - 1) {
            var k = i
            var p = d[i]
            for j in (i + 1)..<n where d[j] < p { k = j; p = d[j] }
            if k != i {
                d[k] = d[i]
                d[i] = p
                if let v { for r in 0..<n { swap(&v[i * n + r], &v[k * n + r]) } }
            }
        }
    }

    /// `√(a² + b²)` without destructive overflow or underflow.
    @inline(__always)
    private static func hypot(_ a: Double, _ b: Double) -> Double {
        let x = abs(a), y = abs(b)
        let big = max(x, y), small = min(x, y)
        if big == 0 { return 0 }
        let q = small / big
        return big * (1 + q * q).squareRoot()
    }
}

/// Dense symmetric-matrix routines on row-major `D × D` arrays of `Double`.
public enum SymmetricMatrix {
    /// The symmetric positive semi-definite square root `V √max(Λ, 0) Vᵀ` of the symmetric matrix
    /// `matrix`: negative eigenvalues, which for a covariance can only be round-off, count as 0.
    ///
    /// The input is symmetrized first, `(M + Mᵀ)/2`, since products such as `S C S` are
    /// symmetric only up to round-off.
    public static func squareRoot(_ matrix: [Double], dimension d: Int) -> [Double] {
        SymmetricEigen(symmetrized(matrix, dimension: d), dimension: d).applying { max($0, 0).squareRoot() }
    }

    /// `(M + Mᵀ) / 2`.
    public static func symmetrized(_ m: [Double], dimension d: Int) -> [Double] {
        precondition(m.count == d * d, "SymmetricMatrix: \(m.count) values do not form a \(d) × \(d) matrix")
        var s = m
        for i in 0..<d { for j in 0..<i { let a = 0.5 * (m[i * d + j] + m[j * d + i]); s[i * d + j] = a; s[j * d + i] = a } }
        return s
    }

    /// The product `A B` of two row-major `D × D` matrices (any, not only symmetric ones).
    public static func multiply(_ a: [Double], _ b: [Double], dimension d: Int) -> [Double] {
        precondition(a.count == d * d && b.count == d * d, "SymmetricMatrix.multiply: operands are not \(d) × \(d)")
        var c = [Double](repeating: 0, count: d * d)
        c.withUnsafeMutableBufferPointer { cb in
            a.withUnsafeBufferPointer { ab in
                b.withUnsafeBufferPointer { bb in
                    guard let cp = cb.baseAddress, let ap = ab.baseAddress, let bp = bb.baseAddress else { return }
                    for i in 0..<d {
                        let row = cp + i * d
                        for k in 0..<d {
                            let aik = ap[i * d + k]
                            if aik == 0 { continue }
                            let bk = bp + k * d
                            for j in 0..<d { row[j] += aik * bk[j] }
                        }
                    }
                }
            }
        }
        return c
    }
}
