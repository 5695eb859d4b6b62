/// Constant tables of the DEFLATE format shared by the compressor (``Deflate``) and the
/// decompressor (``Inflate``).
///
/// Length symbols 257...285 and distance symbols 0...29 each stand for a base value plus a number
/// of extra bits read verbatim; the fixed Huffman code of block type 1 has fixed code lengths.
/// See RFC 1951, sections 3.2.5 and 3.2.6: <https://www.rfc-editor.org/rfc/rfc1951#section-3.2.5>.
enum DeflateTables {
    /// Match length for length symbols 257...285 (index = symbol - 257).
    static let lengthBase: [Int] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
        35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
    ]
    /// Extra bits following length symbols 257...285.
    static let lengthExtraBits: [Int] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ]
    /// Match distance for distance symbols 0...29.
    static let distanceBase: [Int] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
        257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ]
    /// Extra bits following distance symbols 0...29.
    static let distanceExtraBits: [Int] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
        7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
    ]
    /// The order in which a dynamic block lists the code lengths of the code-length alphabet.
    static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Code lengths of the fixed literal/length code (RFC 1951, 3.2.6): 8, 9, 7 and 8 bits for
    /// symbols 0...143, 144...255, 256...279 and 280...287.
    static let fixedLiteralLengths: [UInt8] =
        Array(repeating: 8, count: 144) + Array(repeating: 9, count: 112)
        + Array(repeating: 7, count: 24) + Array(repeating: 8, count: 8)

    /// Code lengths of the fixed distance code: 5 bits for all 32 symbols (30 and 31 never occur).
    static let fixedDistanceLengths: [UInt8] = Array(repeating: 5, count: 32)

    /// Canonical Huffman codes for the given code lengths (RFC 1951, 3.2.2), each bit-reversed so
    /// that it can be emitted or matched least-significant bit first, as DEFLATE packs bits.
    /// Symbols with length 0 get code 0. Lengths must be at most 15.
    static func reversedCanonicalCodes(_ lengths: [UInt8]) -> [UInt32] {
        var count = [Int](repeating: 0, count: 16)
        for length in lengths where length > 0 { count[Int(length)] += 1 }
        var next = [UInt32](repeating: 0, count: 16)
        var code: UInt32 = 0
        for bits in 1..<16 {
            code = (code + UInt32(count[bits - 1])) << 1
            next[bits] = code
        }
        next[0] = 0
        var codes = [UInt32](repeating: 0, count: lengths.count)
        for (symbol, length) in lengths.enumerated() where length > 0 {
            let bits = Int(length)
            codes[symbol] = reverse(next[bits], bits: bits)
            next[bits] &+= 1
        }
        return codes
    }

    /// The low `bits` bits of `value` in reverse order.
    static func reverse(_ value: UInt32, bits: Int) -> UInt32 {
        var result: UInt32 = 0
        var v = value
        for _ in 0..<bits {
            result = (result << 1) | (v & 1)
            v >>= 1
        }
        return result
    }
}
