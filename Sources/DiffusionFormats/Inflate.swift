/// A DEFLATE decompressor (RFC 1951) for stored, fixed-Huffman and dynamic-Huffman blocks.
///
/// Every length, distance and code read from the stream is validated: truncated input,
/// over-subscribed or unusable Huffman codes, invalid symbols, distances reaching before the
/// start of the output, and output beyond `maxOutputSize` all throw a one-line
/// ``FileFormatError`` starting with `deflate:`. Nothing in the input can make it trap.
/// See <https://www.rfc-editor.org/rfc/rfc1951>.
public enum Inflate {
    /// Decompresses the raw DEFLATE stream at the start of `input`.
    ///
    /// - Parameters:
    ///   - input: The compressed bytes; bytes after the final block are ignored.
    ///   - maxOutputSize: Decompressing more than this many bytes throws (guards against
    ///     decompression bombs).
    /// - Returns: The decompressed bytes and the number of input bytes consumed (up to and
    ///   including the byte holding the last bit of the final block).
    public static func decompress(
        _ input: [UInt8], maxOutputSize: Int = Int.max
    ) throws -> (output: [UInt8], consumed: Int) {
        var reader = InflateBitReader(bytes: input)
        var output: [UInt8] = []
        output.reserveCapacity(max(0, min(maxOutputSize, input.count < (1 << 24) ? input.count * 4 : 1 << 26, 1 << 26)))
        var isFinal = false
        while !isFinal {
            isFinal = try reader.bits(1) == 1
            let type = try reader.bits(2)
            switch type {
            case 0:
                try copyStored(&reader, into: &output, limit: maxOutputSize)
            case 1:
                try inflateBlock(&reader, literals: FixedCodes.literal, distances: FixedCodes.distance,
                                 into: &output, limit: maxOutputSize)
            case 2:
                let (literals, distances) = try readDynamicCodes(&reader)
                try inflateBlock(&reader, literals: literals, distances: distances, into: &output, limit: maxOutputSize)
            default:
                throw error("invalid block type 3")
            }
        }
        return (output, reader.bytePosition)
    }

    static func error(_ problem: String) -> FileFormatError {
        FileFormatError.invalid("deflate", problem)
    }

    /// Copies a stored block (type 0): byte-aligned LEN, its complement NLEN, then LEN bytes.
    private static func copyStored(_ reader: inout InflateBitReader, into output: inout [UInt8], limit: Int) throws {
        reader.alignToByte()
        let length = try reader.bits(16)
        let complement = try reader.bits(16)
        guard length == ~complement & 0xFFFF else {
            throw error("stored block length \(length) does not match its complement \(complement)")
        }
        let count = Int(length)
        guard count <= limit - output.count else { throw error("output exceeds \(limit) bytes") }
        try reader.copyAlignedBytes(count, into: &output)
    }

    /// Decodes literal/length and distance symbols until the end-of-block symbol 256.
    private static func inflateBlock(
        _ reader: inout InflateBitReader, literals: HuffmanTable, distances: HuffmanTable,
        into output: inout [UInt8], limit: Int
    ) throws {
        while true {
            let symbol = try literals.decode(&reader)
            if symbol < 256 {
                guard output.count < limit else { throw error("output exceeds \(limit) bytes") }
                output.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let lengthIndex = symbol - 257
                guard lengthIndex < DeflateTables.lengthBase.count else {
                    throw error("invalid length symbol \(symbol)")
                }
                let length = DeflateTables.lengthBase[lengthIndex]
                    + Int(try reader.bits(DeflateTables.lengthExtraBits[lengthIndex]))
                let distanceSymbol = try distances.decode(&reader)
                guard distanceSymbol < DeflateTables.distanceBase.count else {
                    throw error("invalid distance symbol \(distanceSymbol)")
                }
                let distance = DeflateTables.distanceBase[distanceSymbol]
                    + Int(try reader.bits(DeflateTables.distanceExtraBits[distanceSymbol]))
                guard distance <= output.count else {
                    throw error("distance \(distance) reaches before the start of the output (\(output.count) bytes)")
                }
                guard length <= limit - output.count else { throw error("output exceeds \(limit) bytes") }
                let from = output.count - distance
                for offset in 0..<length {
                    output.append(output[from + offset])
                }
            }
        }
    }

    /// Reads the code-length code and then the literal/length and distance code lengths of a
    /// dynamic block (RFC 1951, 3.2.7).
    private static func readDynamicCodes(_ reader: inout InflateBitReader) throws -> (HuffmanTable, HuffmanTable) {
        let literalCount = Int(try reader.bits(5)) + 257
        let distanceCount = Int(try reader.bits(5)) + 1
        let codeLengthCount = Int(try reader.bits(4)) + 4
        guard literalCount <= 286 else { throw error("dynamic block declares \(literalCount) literal/length codes (at most 286)") }
        guard distanceCount <= 30 else { throw error("dynamic block declares \(distanceCount) distance codes (at most 30)") }
        var codeLengthLengths = [UInt8](repeating: 0, count: 19)
        for index in 0..<codeLengthCount {
            codeLengthLengths[DeflateTables.codeLengthOrder[index]] = UInt8(try reader.bits(3))
        }
        let codeLengthTable = try HuffmanTable(lengths: codeLengthLengths, name: "code length")
        var lengths: [UInt8] = []
        let total = literalCount + distanceCount
        lengths.reserveCapacity(total)
        while lengths.count < total {
            let symbol = try codeLengthTable.decode(&reader)
            switch symbol {
            case 0...15:
                lengths.append(UInt8(symbol))
            case 16:
                guard let last = lengths.last else { throw error("repeat code 16 with no previous code length") }
                let repeatCount = 3 + Int(try reader.bits(2))
                guard lengths.count + repeatCount <= total else { throw error("code length repeat overruns the code lengths") }
                lengths.append(contentsOf: repeatElement(last, count: repeatCount))
            case 17, 18:
                let repeatCount = symbol == 17 ? 3 + Int(try reader.bits(3)) : 11 + Int(try reader.bits(7))
                guard lengths.count + repeatCount <= total else { throw error("code length repeat overruns the code lengths") }
                lengths.append(contentsOf: repeatElement(0, count: repeatCount))
            default:
                throw error("invalid code length symbol \(symbol)")
            }
        }
        let literalLengths = Array(lengths[0..<literalCount])
        guard literalLengths[256] != 0 else { throw error("dynamic block has no end-of-block code") }
        let literals = try HuffmanTable(lengths: literalLengths, name: "literal/length")
        let distances = try HuffmanTable(lengths: Array(lengths[literalCount...]), name: "distance")
        return (literals, distances)
    }
}

/// The fixed Huffman codes of block type 1, built once.
private enum FixedCodes {
    // The fixed lengths form complete, valid codes, so building them cannot fail.
    static let literal = (try? HuffmanTable(lengths: DeflateTables.fixedLiteralLengths, name: "fixed")) ?? HuffmanTable.empty
    static let distance = (try? HuffmanTable(lengths: DeflateTables.fixedDistanceLengths, name: "fixed")) ?? HuffmanTable.empty
}

/// A canonical Huffman code as a single lookup table indexed by the next `maxLength` input bits.
///
/// Each entry holds `symbol << 4 | codeLength`; entry 0 marks bit patterns that no code uses
/// (possible in incomplete codes), which decode as an error.
struct HuffmanTable: Sendable {
    let entries: [UInt32]
    let maxLength: Int

    static let empty = HuffmanTable(entries: [0, 0], maxLength: 1)

    private init(entries: [UInt32], maxLength: Int) {
        self.entries = entries
        self.maxLength = maxLength
    }

    /// Builds the decoding table, rejecting over-subscribed codes and lengths above 15.
    /// An all-zero set of lengths gives a table on which every decode fails.
    init(lengths: [UInt8], name: String) throws {
        var count = [Int](repeating: 0, count: 16)
        var maxLength = 0
        for length in lengths {
            guard length <= 15 else { throw Inflate.error("\(name) code length \(length) exceeds 15") }
            if length > 0 {
                count[Int(length)] += 1
                maxLength = max(maxLength, Int(length))
            }
        }
        // Kraft inequality: the code must not use more than all of the available bit patterns.
        var available = 1
        for bits in 1..<16 {
            available = available * 2 - count[bits]
            guard available >= 0 else { throw Inflate.error("over-subscribed \(name) Huffman code") }
        }
        guard maxLength > 0 else {
            self = .empty
            return
        }
        let codes = DeflateTables.reversedCanonicalCodes(lengths)
        var entries = [UInt32](repeating: 0, count: 1 << maxLength)
        for (symbol, length) in lengths.enumerated() where length > 0 {
            let entry = UInt32(symbol) << 4 | UInt32(length)
            var index = Int(codes[symbol])
            while index < entries.count {
                entries[index] = entry
                index += 1 << Int(length)
            }
        }
        self.entries = entries
        self.maxLength = maxLength
    }

    /// Decodes one symbol, consuming exactly its code's bits.
    func decode(_ reader: inout InflateBitReader) throws -> Int {
        let (bits, available) = reader.peek(maxLength)
        let entry = entries[Int(bits)]
        let length = Int(entry & 0xF)
        guard length > 0 else {
            throw available < maxLength ? Inflate.error("unexpected end of data") : Inflate.error("invalid Huffman code")
        }
        guard length <= available else { throw Inflate.error("unexpected end of data") }
        reader.skip(length)
        return Int(entry >> 4)
    }
}

/// Reads bits least-significant first from a byte array, through a 64-bit buffer.
struct InflateBitReader {
    let bytes: [UInt8]
    /// The next byte to load into the buffer.
    private var position = 0
    private var buffer: UInt64 = 0
    private var bufferCount = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The index of the first byte not (even partly) consumed.
    var bytePosition: Int { position - bufferCount / 8 }

    private mutating func refill() {
        while bufferCount <= 56 && position < bytes.count {
            buffer |= UInt64(bytes[position]) << UInt64(bufferCount)
            position += 1
            bufferCount += 8
        }
    }

    /// Reads `count` (0...32) bits as an unsigned number.
    mutating func bits(_ count: Int) throws -> UInt32 {
        if count == 0 { return 0 }
        if bufferCount < count {
            refill()
            guard bufferCount >= count else { throw Inflate.error("unexpected end of data") }
        }
        let value = UInt32(truncatingIfNeeded: buffer & ((1 << UInt64(count)) - 1))
        buffer >>= UInt64(count)
        bufferCount -= count
        return value
    }

    /// The next `count` bits without consuming them, zero-padded past the end of the input,
    /// and how many of them are real.
    mutating func peek(_ count: Int) -> (bits: UInt32, available: Int) {
        if bufferCount < count { refill() }
        return (UInt32(truncatingIfNeeded: buffer & ((1 << UInt64(count)) - 1)), min(count, bufferCount))
    }

    /// Drops `count` bits that `peek` showed to be available.
    mutating func skip(_ count: Int) {
        buffer >>= UInt64(count)
        bufferCount -= count
    }

    /// Discards the bits up to the next byte boundary.
    mutating func alignToByte() {
        let drop = bufferCount % 8
        buffer >>= UInt64(drop)
        bufferCount -= drop
    }

    /// Appends `count` whole bytes to `output`; the reader must be byte-aligned.
    mutating func copyAlignedBytes(_ count: Int, into output: inout [UInt8]) throws {
        let start = bytePosition
        guard count <= bytes.count - start else { throw Inflate.error("unexpected end of data in stored block") }
        output.append(contentsOf: bytes[start..<(start + count)])
        position = start + count
        buffer = 0
        bufferCount = 0
    }
}
