/// Sixteen consecutive values of a tensor: the unit some element-wise kernels work in.
///
/// A kernel written on `Float` gets one 4-wide SSE vector per loop iteration on the portable x86-64
/// baseline; written on `SIMD16<Float>` it gets four (two AVX vectors on AVX builds), which pays
/// off where a kernel reads many tensors (see `LinearCombination.swift`) or checks finiteness. Lane
/// `k` of a result is computed exactly as the one-`Float` loop computes element `offset + k`, so
/// results do not depend on the form.
typealias Lanes = SIMD16<Float>

/// Calls `body(offset, width)` on the blocks of `0..<count`: full blocks of 16 values (`width` 16),
/// then the remaining `count % 16` values as one short block.
///
/// `body` reads and writes through `lanes(_:_:)` and `store(_:_:_:)` with the same `offset` and
/// `width`; inlined, the full blocks compile to straight vector loads and stores.
@inline(__always)
func forEachLanes(count: Int, _ body: (_ offset: Int, _ width: Int) -> Void) {
    let full = count - count % Lanes.scalarCount
    var offset = 0
    while offset < full {
        body(offset, Lanes.scalarCount)
        offset += Lanes.scalarCount
    }
    if offset < count { body(offset, count - offset) }
}

extension UnsafeBufferPointer<Float> {
    /// The `width` values from `offset` (`width` ≤ 16); lanes past `width` are zero.
    @inline(__always)
    func lanes(_ offset: Int, _ width: Int) -> Lanes {
        if width == Lanes.scalarCount { return UnsafeRawPointer(baseAddress! + offset).loadUnaligned(as: Lanes.self) }
        var v = Lanes()
        for k in 0..<width { v[k] = self[offset + k] }
        return v
    }
}

extension UnsafeMutableBufferPointer<Float> {
    /// The `width` values from `offset` (`width` ≤ 16); lanes past `width` are zero.
    @inline(__always)
    func lanes(_ offset: Int, _ width: Int) -> Lanes { UnsafeBufferPointer(self).lanes(offset, width) }

    /// Writes the first `width` lanes of `v` from `offset`.
    @inline(__always)
    func store(_ v: Lanes, _ offset: Int, _ width: Int) {
        if width == Lanes.scalarCount {
            UnsafeMutableRawPointer(baseAddress! + offset).storeBytes(of: v, as: Lanes.self)
            return
        }
        for k in 0..<width { self[offset + k] = v[k] }
    }

    /// Sets every value to `value(offset, width)` (see `forEachLanes(count:_:)`); `value` may read
    /// this buffer's own lanes at `offset`, which are written only after it returns.
    @inline(__always)
    func assignLanes(_ value: (_ offset: Int, _ width: Int) -> Lanes) {
        forEachLanes(count: count) { offset, width in store(value(offset, width), offset, width) }
    }
}

extension SIMD16<Float> {
    /// The bits of `self − self` per lane: zero exactly when the value is finite (`x − x = +0`, while
    /// NaN and ±∞ give NaN). OR-ed over many values they are zero exactly when every value is
    /// finite: one subtraction and one OR per vector, where a comparison per value would not
    /// vectorize into a reduction.
    @inline(__always)
    var nonFiniteBits: SIMD16<UInt32> { unsafeBitCast(self - self, to: SIMD16<UInt32>.self) }
}
