/// Fused element-wise linear combinations, the only arithmetic a solver step needs.
///
/// Every update rule in this library has the form
/// ```
/// x ← c₀·x + c₁·y₁ + c₂·y₂ + … + cₙ·yₙ
/// ```
/// with scalar coefficients computed in `Double` from the noise schedule. Doing the whole
/// combination in one pass reads each operand once and writes `x` once, which is what makes a
/// solver step cost about as much as a copy of the state (see the benchmark in `Benchmarks/`).
/// The fixed-arity overloads and the counted ones (``update(scale:count:_:)``, ``set(count:_:)``,
/// for a number of terms known only at run time) allocate nothing when the destination is
/// uniquely referenced; the array-taking overload allocates only its argument list.
///
/// The kernels that read four or more tensors run on ``Lanes`` (sixteen values per iteration): on
/// the portable SSE2 build that makes the 5-tensor update about 12% faster than the one-`Float`
/// loop the compiler vectorizes itself, while for one to three tensors that loop is as fast or
/// faster (AVX builds run both forms at the same speed). Both forms give the same result.
extension SampleTensor {
    /// One scaled operand of a linear combination.
    public typealias Term = (coefficient: Double, tensor: SampleTensor)

    @inline(__always)
    private static func check(_ out: Int, _ term: Term) {
        precondition(term.tensor.count == out, "linear combination: operand shape \(term.tensor.shape) does not match")
    }

    /// `self = scale·self + c₁·y₁`.
    public mutating func update(scale: Double, _ t1: Term) {
        Self.check(count, t1)
        let s = Float(scale), c1 = Float(t1.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                for i in 0..<out.count { out[i] = s * out[i] + c1 * y1[i] }
            }
        }
    }

    /// `self = scale·self + c₁·y₁ + c₂·y₂`.
    public mutating func update(scale: Double, _ t1: Term, _ t2: Term) {
        Self.check(count, t1); Self.check(count, t2)
        let s = Float(scale), c1 = Float(t1.coefficient), c2 = Float(t2.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                t2.tensor.scalars.withUnsafeBufferPointer { y2 in
                    for i in 0..<out.count { out[i] = s * out[i] + c1 * y1[i] + c2 * y2[i] }
                }
            }
        }
    }

    /// `self = scale·self + c₁·y₁ + c₂·y₂ + c₃·y₃`.
    public mutating func update(scale: Double, _ t1: Term, _ t2: Term, _ t3: Term) {
        Self.check(count, t1); Self.check(count, t2); Self.check(count, t3)
        let s = Float(scale), c1 = Float(t1.coefficient), c2 = Float(t2.coefficient), c3 = Float(t3.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                t2.tensor.scalars.withUnsafeBufferPointer { y2 in
                    t3.tensor.scalars.withUnsafeBufferPointer { y3 in
                        out.assignLanes { i, n in
                            s * out.lanes(i, n) + c1 * y1.lanes(i, n) + c2 * y2.lanes(i, n) + c3 * y3.lanes(i, n)
                        }
                    }
                }
            }
        }
    }

    /// `self = scale·self + c₁·y₁ + … + c₄·y₄`.
    public mutating func update(scale: Double, _ t1: Term, _ t2: Term, _ t3: Term, _ t4: Term) {
        Self.check(count, t1); Self.check(count, t2); Self.check(count, t3); Self.check(count, t4)
        let s = Float(scale), c1 = Float(t1.coefficient), c2 = Float(t2.coefficient)
        let c3 = Float(t3.coefficient), c4 = Float(t4.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                t2.tensor.scalars.withUnsafeBufferPointer { y2 in
                    t3.tensor.scalars.withUnsafeBufferPointer { y3 in
                        t4.tensor.scalars.withUnsafeBufferPointer { y4 in
                            out.assignLanes { i, n in
                                s * out.lanes(i, n) + c1 * y1.lanes(i, n) + c2 * y2.lanes(i, n) + c3 * y3.lanes(i, n)
                                    + c4 * y4.lanes(i, n)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `self = c₁·y₁` (the old contents of `self` are not read, so they may be anything).
    public mutating func set(_ t1: Term) {
        Self.check(count, t1)
        let c1 = Float(t1.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                for i in 0..<out.count { out[i] = c1 * y1[i] }
            }
        }
    }

    /// `self = c₁·y₁ + c₂·y₂` (the old contents of `self` are not read, so they may be anything).
    public mutating func set(_ t1: Term, _ t2: Term) {
        Self.check(count, t1); Self.check(count, t2)
        let c1 = Float(t1.coefficient), c2 = Float(t2.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                t2.tensor.scalars.withUnsafeBufferPointer { y2 in
                    for i in 0..<out.count { out[i] = c1 * y1[i] + c2 * y2[i] }
                }
            }
        }
    }

    /// `self = c₁·y₁ + c₂·y₂ + c₃·y₃` (the old contents of `self` are not read).
    public mutating func set(_ t1: Term, _ t2: Term, _ t3: Term) {
        Self.check(count, t1); Self.check(count, t2); Self.check(count, t3)
        let c1 = Float(t1.coefficient), c2 = Float(t2.coefficient), c3 = Float(t3.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                t2.tensor.scalars.withUnsafeBufferPointer { y2 in
                    t3.tensor.scalars.withUnsafeBufferPointer { y3 in
                        for i in 0..<out.count { out[i] = c1 * y1[i] + c2 * y2[i] + c3 * y3[i] }
                    }
                }
            }
        }
    }

    /// `self = c₁·y₁ + … + c₄·y₄` (the old contents of `self` are not read).
    public mutating func set(_ t1: Term, _ t2: Term, _ t3: Term, _ t4: Term) {
        Self.check(count, t1); Self.check(count, t2); Self.check(count, t3); Self.check(count, t4)
        let c1 = Float(t1.coefficient), c2 = Float(t2.coefficient), c3 = Float(t3.coefficient), c4 = Float(t4.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                t2.tensor.scalars.withUnsafeBufferPointer { y2 in
                    t3.tensor.scalars.withUnsafeBufferPointer { y3 in
                        t4.tensor.scalars.withUnsafeBufferPointer { y4 in
                            out.assignLanes { i, n in
                                c1 * y1.lanes(i, n) + c2 * y2.lanes(i, n) + c3 * y3.lanes(i, n) + c4 * y4.lanes(i, n)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `self = c₁·y₁ + … + c₅·y₅` (the old contents of `self` are not read).
    public mutating func set(_ t1: Term, _ t2: Term, _ t3: Term, _ t4: Term, _ t5: Term) {
        Self.check(count, t1); Self.check(count, t2); Self.check(count, t3); Self.check(count, t4); Self.check(count, t5)
        let c1 = Float(t1.coefficient), c2 = Float(t2.coefficient), c3 = Float(t3.coefficient)
        let c4 = Float(t4.coefficient), c5 = Float(t5.coefficient)
        scalars.withUnsafeMutableBufferPointer { out in
            t1.tensor.scalars.withUnsafeBufferPointer { y1 in
                t2.tensor.scalars.withUnsafeBufferPointer { y2 in
                    t3.tensor.scalars.withUnsafeBufferPointer { y3 in
                        t4.tensor.scalars.withUnsafeBufferPointer { y4 in
                            t5.tensor.scalars.withUnsafeBufferPointer { y5 in
                                out.assignLanes { i, n in
                                    c1 * y1.lanes(i, n) + c2 * y2.lanes(i, n) + c3 * y3.lanes(i, n) + c4 * y4.lanes(i, n)
                                        + c5 * y5.lanes(i, n)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `self = scale·self + Σ_{i<count} term(i)` for any number of terms, without allocating.
    ///
    /// Applies the terms four at a time through the fixed-arity kernels (the first group with
    /// `scale`, the next ones with 1), so memory traffic stays close to one pass for up to four
    /// terms; `count = 0` scales. This is the one place that turns a term count into a kernel, so
    /// solvers write `Σⱼ cⱼ·mⱼ` once instead of a switch over the number of outputs they combine.
    public mutating func update(scale: Double, count: Int, _ term: (Int) -> Term) {
        if count <= 0 { self.scale(by: scale); return }
        var scale = scale
        var i = 0
        while i < count {
            switch count - i {
            case 1: update(scale: scale, term(i))
            case 2: update(scale: scale, term(i), term(i + 1))
            case 3: update(scale: scale, term(i), term(i + 1), term(i + 2))
            default: update(scale: scale, term(i), term(i + 1), term(i + 2), term(i + 3))
            }
            i += 4
            scale = 1
        }
    }

    /// `self = Σ_{i<count} term(i)` (`count ≥ 1`; the old contents of `self` are not read),
    /// without allocating: the first five terms in one pass, any further ones added four at a time.
    public mutating func set(count: Int, _ term: (Int) -> Term) {
        precondition(count >= 1, "linear combination: set needs at least one term")
        switch count {
        case 1: set(term(0))
        case 2: set(term(0), term(1))
        case 3: set(term(0), term(1), term(2))
        case 4: set(term(0), term(1), term(2), term(3))
        default: set(term(0), term(1), term(2), term(3), term(4))
        }
        if count > 5 { update(scale: 1, count: count - 5) { term($0 + 5) } }
    }

    /// `self = scale·self + Σ cᵢ·yᵢ` for any number of terms (as ``update(scale:count:_:)``;
    /// allocates only the `terms` array itself).
    public mutating func update(scale: Double, terms: [Term]) {
        update(scale: scale, count: terms.count) { terms[$0] }
    }
}
