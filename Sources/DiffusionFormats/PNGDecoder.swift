import Foundation

/// Reads 8-bit grayscale and RGB PNG files without interlacing, the kind ``PNGImage`` writes.
///
/// Walks the chunks (verifying every CRC-32), reads IHDR, concatenates the IDAT chunks,
/// inflates them with ``Zlib`` (stored, fixed and dynamic Huffman blocks) and undoes the five
/// row filters. Anything else (other bit depths, palette or alpha color types, interlacing,
/// unknown critical chunks) is rejected. Every problem throws a one-line ``FileFormatError``
/// starting with `png:`; corrupt input never traps. See <https://www.w3.org/TR/png-3/>.
public enum PNGDecoder {
    /// Decodes a PNG file.
    ///
    /// - Parameters:
    ///   - data: The whole file.
    ///   - maxDecodedBytes: Refuse images whose filtered image data would exceed this size.
    public static func decode(_ data: Data, maxDecodedBytes: Int = 1 << 30) throws -> PNGImage {
        try decode([UInt8](data), maxDecodedBytes: maxDecodedBytes)
    }

    /// Reads and decodes the PNG file at `url`.
    public static func decode(contentsOf url: URL, maxDecodedBytes: Int = 1 << 30) throws -> PNGImage {
        try decode(Data(contentsOf: url), maxDecodedBytes: maxDecodedBytes)
    }

    private static func error(_ problem: String) -> FileFormatError {
        FileFormatError.invalid("png", problem)
    }

    private static func readBigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    private static func decode(_ bytes: [UInt8], maxDecodedBytes: Int) throws -> PNGImage {
        guard bytes.count >= 8, Array(bytes[0..<8]) == PNGImage.signature else {
            throw error("missing PNG signature (not a PNG file, or truncated)")
        }
        var offset = 8
        var header: (width: Int, height: Int, format: PNGImage.Format)?
        var compressed: [UInt8] = []
        var sawIDAT = false
        var sawEnd = false
        while !sawEnd {
            guard bytes.count - offset >= 12 else {
                throw error(offset == bytes.count ? "missing IEND chunk" : "truncated chunk header at byte \(offset)")
            }
            let length = Int(readBigEndian(bytes, at: offset))
            let typeBytes = Array(bytes[(offset + 4)..<(offset + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard typeBytes.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) }) else {
                throw error("invalid chunk type at byte \(offset)")
            }
            guard length <= Int(Int32.max) else { throw error("chunk \(type) length \(length) exceeds 2^31 - 1") }
            guard length <= bytes.count - offset - 12 else {
                throw error("chunk \(type) of \(length) bytes at byte \(offset) extends past the end of the file (\(bytes.count) bytes)")
            }
            let dataStart = offset + 8
            let chunk = bytes[dataStart..<(dataStart + length)]
            let stored = readBigEndian(bytes, at: dataStart + length)
            let actual = CRC32.update(CRC32.checksum(typeBytes), with: chunk)
            guard stored == actual else {
                throw error("CRC mismatch in chunk \(type) (stored \(Zlib.hex(stored)), computed \(Zlib.hex(actual)))")
            }
            if header == nil && type != "IHDR" { throw error("first chunk is \(type), expected IHDR") }
            switch type {
            case "IHDR":
                guard header == nil else { throw error("more than one IHDR chunk") }
                header = try parseHeader(Array(chunk))
            case "IDAT":
                compressed.append(contentsOf: chunk)
                sawIDAT = true
            case "IEND":
                sawEnd = true
            case "PLTE":
                // A suggested palette is allowed (and ignored) for RGB; gray images must not have one.
                if header?.format == .gray8 { throw error("PLTE chunk in a grayscale image") }
            default:
                // Bit 5 of the first byte clear (uppercase) marks a chunk needed to display the image.
                if typeBytes[0] & 0x20 == 0 { throw error("unsupported critical chunk \(type)") }
            }
            offset = dataStart + length + 4
        }
        guard let header else { throw error("missing IHDR chunk") }
        guard sawIDAT else { throw error("missing IDAT chunk") }

        let channels = header.format.channels
        let rowBytes = header.width * channels  // width < 2^31, so no overflow
        let (expected, overflow) = (rowBytes + 1).multipliedReportingOverflow(by: header.height)
        guard !overflow, expected <= maxDecodedBytes else {
            throw error("image \(header.width)x\(header.height) is too large (limit \(maxDecodedBytes) bytes of image data)")
        }
        let filtered: [UInt8]
        do {
            filtered = try Zlib.decompress(compressed, maxOutputSize: expected)
        } catch let inner as FileFormatError {
            throw error("image data: \(inner.message)")
        }
        guard filtered.count == expected else {
            throw error("image data has \(filtered.count) bytes, expected \(expected) for \(header.width)x\(header.height)")
        }
        let pixels = try unfilter(filtered, rowBytes: rowBytes, rows: header.height, bytesPerPixel: channels)
        return PNGImage(width: header.width, height: header.height, format: header.format, pixels: pixels)
    }

    private static func parseHeader(_ chunk: [UInt8]) throws -> (width: Int, height: Int, format: PNGImage.Format) {
        guard chunk.count == 13 else { throw error("IHDR has \(chunk.count) bytes, expected 13") }
        let width = Int(readBigEndian(chunk, at: 0))
        let height = Int(readBigEndian(chunk, at: 4))
        guard (1...PNGImage.maxDimension).contains(width), (1...PNGImage.maxDimension).contains(height) else {
            throw error("invalid image size \(width)x\(height)")
        }
        let bitDepth = chunk[8], colorType = chunk[9]
        guard bitDepth == 8 else { throw error("unsupported bit depth \(bitDepth) (only 8-bit is supported)") }
        let format: PNGImage.Format
        switch colorType {
        case 0: format = .gray8
        case 2: format = .rgb8
        case 3: throw error("unsupported color type 3 (palette); only gray (0) and RGB (2) are supported")
        case 4: throw error("unsupported color type 4 (gray with alpha); only gray (0) and RGB (2) are supported")
        case 6: throw error("unsupported color type 6 (RGBA); only gray (0) and RGB (2) are supported")
        default: throw error("invalid color type \(colorType)")
        }
        guard chunk[10] == 0 else { throw error("unknown compression method \(chunk[10])") }
        guard chunk[11] == 0 else { throw error("unknown filter method \(chunk[11])") }
        guard chunk[12] == 0 else {
            throw chunk[12] == 1 ? error("interlaced images are not supported") : error("unknown interlace method \(chunk[12])")
        }
        return (width, height, format)
    }

    /// Reverses the per-row filters; `filtered` holds `rows * (1 + rowBytes)` bytes.
    private static func unfilter(_ filtered: [UInt8], rowBytes: Int, rows: Int, bytesPerPixel bpp: Int) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: rowBytes * rows)
        for y in 0..<rows {
            let source = y * (rowBytes + 1)
            let type = filtered[source]
            let row = y * rowBytes
            for i in 0..<rowBytes {
                let x = filtered[source + 1 + i]
                let a = i >= bpp ? pixels[row + i - bpp] : 0
                let b = y > 0 ? pixels[row - rowBytes + i] : 0
                let value: UInt8
                switch type {
                case 0: value = x
                case 1: value = x &+ a
                case 2: value = x &+ b
                case 3: value = x &+ UInt8((Int(a) + Int(b)) / 2)
                case 4:
                    let c = (i >= bpp && y > 0) ? pixels[row - rowBytes + i - bpp] : 0
                    value = x &+ PNGImage.paeth(a, b, c)
                default:
                    throw error("invalid filter type \(type) on row \(y)")
                }
                pixels[row + i] = value
            }
        }
        return pixels
    }
}
