import RealModule

/// Philox-4x32-10, a counter-based random number generator (Salmon et al. 2011, "Parallel
/// Random Numbers: As Easy as 1, 2, 3").
///
/// Output is a pure function of a 64-bit key and a 128-bit counter, so any draw can be made
/// independently of every other: noise for sample `b` at draw `k` does not depend on the batch
/// size, the thread count, or the order in which samples are processed.
public struct Philox4x32: Sendable, Equatable {
    public var key: (UInt32, UInt32)

    public init(seed: UInt64) { key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)) }

    public static func == (a: Self, b: Self) -> Bool { a.key == b.key }

    /// The four 32-bit outputs for `counter`.
    @inlinable
    public func block(_ counter: (UInt32, UInt32, UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var c = counter
        var k0 = key.0, k1 = key.1
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c.0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k0, UInt32(truncatingIfNeeded: p1),
                 UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k1, UInt32(truncatingIfNeeded: p0))
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return c
    }

    /// Fills `out` with standard-normal values for stream `(stream, draw)`: element `i` depends
    /// only on the key, `stream`, `draw` and `i` (Box–Muller on pairs of 24-bit uniforms).
    public func fillNormal(_ out: UnsafeMutableBufferPointer<Float>, stream: UInt64, draw: UInt32) {
        let s0 = UInt32(truncatingIfNeeded: stream), s1 = UInt32(truncatingIfNeeded: stream >> 32)
        var i = 0
        var blockIndex: UInt32 = 0
        while i < out.count {
            let r = block((blockIndex, draw, s0, s1))
            let z = Self.boxMuller(r)
            for lane in 0..<4 where i + lane < out.count {
                out[i + lane] = lane == 0 ? z.0 : lane == 1 ? z.1 : lane == 2 ? z.2 : z.3
            }
            i += 4
            blockIndex &+= 1
        }
    }

    @inline(__always)
    static func uniform(_ u: UInt32) -> Double { (Double(u >> 8) + 0.5) * 0x1p-24 }

    @inline(__always)
    static func boxMuller(_ r: (UInt32, UInt32, UInt32, UInt32)) -> (Float, Float, Float, Float) {
        let r1 = (-2 * Double.log(uniform(r.0))).squareRoot(), t1 = 2 * Double.pi * uniform(r.1)
        let r2 = (-2 * Double.log(uniform(r.2))).squareRoot(), t2 = 2 * Double.pi * uniform(r.3)
        return (Float(r1 * .cos(t1)), Float(r1 * .sin(t1)), Float(r2 * .cos(t2)), Float(r2 * .sin(t2)))
    }
}
