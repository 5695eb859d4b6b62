/// The CRC-32 checksum used by PNG chunks, zlib's gzip cousin and ZIP (reflected polynomial
/// `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`).
///
/// Table-driven, one byte at a time. The check value of the ASCII string `"123456789"` is
/// `0xCBF43926`. See the PNG specification, "CRC algorithm":
/// <https://www.w3.org/TR/png-3/#5CRC-algorithm>.
public enum CRC32 {
    /// The 256-entry lookup table: the CRC of each byte value on its own (without pre/post XOR).
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1)
        }
        return c
    }

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        update(0, with: bytes)
    }

    /// Extends a checksum `crc` (the result of an earlier call, or 0 to start) with more bytes.
    public static func update(_ crc: UInt32, with bytes: some Sequence<UInt8>) -> UInt32 {
        // Contiguous storage (arrays, slices, Data) takes the concrete, fast path.
        if let result = bytes.withContiguousStorageIfAvailable({ update(crc, buffer: $0) }) {
            return result
        }
        let copy = Array(bytes)
        return copy.withUnsafeBufferPointer { update(crc, buffer: $0) }
    }

    private static func update(_ crc: UInt32, buffer: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c = ~crc
        table.withUnsafeBufferPointer { table in
            for byte in buffer {
                c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8)
            }
        }
        return ~c
    }
}
