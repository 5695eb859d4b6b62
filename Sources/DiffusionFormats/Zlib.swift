/// The zlib container (RFC 1950) around a DEFLATE stream, as used by PNG image data.
///
/// A zlib stream is a two-byte header (CMF, FLG: compression method 8 with a window of at most
/// 32 KiB, and a check value making the pair a multiple of 31), the DEFLATE data, and the
/// Adler-32 checksum of the uncompressed bytes, big-endian. Preset dictionaries are not
/// supported. See <https://www.rfc-editor.org/rfc/rfc1950>.
public enum Zlib {
    /// Compresses `input` into a zlib stream with header `0x78 0x01` (32 KiB window, fastest
    /// compression level flag) using ``Deflate``.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        var output: [UInt8] = [0x78, 0x01]
        output.append(contentsOf: Deflate.compress(input))
        let adler = Adler32.checksum(input)
        output.append(contentsOf: [UInt8(adler >> 24), UInt8((adler >> 16) & 0xFF), UInt8((adler >> 8) & 0xFF), UInt8(adler & 0xFF)])
        return output
    }

    /// Decompresses a zlib stream, verifying its header and Adler-32 checksum.
    ///
    /// Bytes after the checksum are ignored.
    /// - Throws: ``FileFormatError`` (`zlib:` or `deflate:`) on any malformed input, or when the
    ///   output would exceed `maxOutputSize` bytes.
    public static func decompress(_ input: [UInt8], maxOutputSize: Int = Int.max) throws -> [UInt8] {
        guard input.count >= 2 else { throw FileFormatError.invalid("zlib", "stream of \(input.count) bytes is shorter than its 2-byte header") }
        let cmf = input[0], flg = input[1]
        guard cmf & 0x0F == 8 else { throw FileFormatError.invalid("zlib", "unsupported compression method \(cmf & 0x0F) (expected 8, deflate)") }
        guard cmf >> 4 <= 7 else { throw FileFormatError.invalid("zlib", "invalid window size field \(cmf >> 4)") }
        guard (UInt16(cmf) << 8 | UInt16(flg)) % 31 == 0 else { throw FileFormatError.invalid("zlib", "header check bits are wrong") }
        guard flg & 0x20 == 0 else { throw FileFormatError.invalid("zlib", "preset dictionaries are not supported") }
        let (output, consumed) = try Inflate.decompress(Array(input[2...]), maxOutputSize: maxOutputSize)
        let trailer = 2 + consumed
        guard input.count - trailer >= 4 else { throw FileFormatError.invalid("zlib", "stream ends before its Adler-32 checksum") }
        let stored = UInt32(input[trailer]) << 24 | UInt32(input[trailer + 1]) << 16 | UInt32(input[trailer + 2]) << 8 | UInt32(input[trailer + 3])
        let actual = Adler32.checksum(output)
        guard stored == actual else {
            throw FileFormatError.invalid("zlib", "Adler-32 checksum mismatch (stored \(hex(stored)), computed \(hex(actual)))")
        }
        return output
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
