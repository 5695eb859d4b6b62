/// The Adler-32 checksum that ends every zlib stream (RFC 1950, section 8.2).
///
/// Two running sums modulo 65521: `a` of the bytes (starting at 1) and `b` of the successive
/// values of `a`; the result is `b << 16 | a`. The check value of the ASCII string `"Wikipedia"`
/// is `0x11E60398`. See <https://www.rfc-editor.org/rfc/rfc1950#section-8.2>.
public enum Adler32 {
    /// The largest prime below 2^16.
    static let modulus: UInt32 = 65521

    /// The Adler-32 of `bytes`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        update(1, with: bytes)
    }

    /// Extends a checksum (the result of an earlier call, or 1 to start) with more bytes.
    public static func update(_ adler: UInt32, with bytes: some Sequence<UInt8>) -> UInt32 {
        // Contiguous storage (arrays, slices, Data) takes the concrete, fast path.
        if let result = bytes.withContiguousStorageIfAvailable({ update(adler, buffer: $0) }) {
            return result
        }
        let copy = Array(bytes)
        return copy.withUnsafeBufferPointer { update(adler, buffer: $0) }
    }

    private static func update(_ adler: UInt32, buffer bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var a = adler & 0xFFFF
        var b = adler >> 16
        // 5552 is the largest n with 255 n (n + 1) / 2 + (n + 1) (65521 - 1) < 2^32, so b cannot
        // overflow within n bytes and the modulo runs once per 5552 bytes instead of every byte.
        var pending = 0
        for byte in bytes {
            a &+= UInt32(byte)
            b &+= a
            pending += 1
            if pending == 5552 {
                a %= modulus
                b %= modulus
                pending = 0
            }
        }
        a %= modulus
        b %= modulus
        return (b << 16) | a
    }
}
