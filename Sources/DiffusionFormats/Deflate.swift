/// A DEFLATE compressor: LZ77 with hash chains and the fixed Huffman code (RFC 1951).
///
/// The input is cut into segments of at most 65,535 bytes. Each segment is matched against the
/// previous 32 KiB of input (lengths 3...258, distances 1...32,768) using hash chains on three-byte
/// prefixes, and then written as whichever block is smaller: a fixed-Huffman block (type 1) or a
/// stored block (type 0). Storing keeps incompressible data (such as noise images) from growing
/// by more than a few bytes per 64 KiB. The output is deterministic for a given input.
/// See <https://www.rfc-editor.org/rfc/rfc1951>.
public enum Deflate {
    /// Compresses `input` into a raw DEFLATE stream (no zlib or gzip wrapper).
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        var writer = DeflateBitWriter()
        writer.reserve(input.count / 2 + 64)
        if input.isEmpty {
            writer.write(1, count: 1)  // BFINAL
            writer.write(1, count: 2)  // BTYPE = 01, fixed Huffman
            writer.writeFixedLiteral(256)
            return writer.finish()
        }
        let finder = MatchFinder(input: input)
        var start = 0
        while start < input.count {
            let end = min(start + 65_535, input.count)
            let isFinal = end == input.count
            let tokens = finder.tokens(from: start, to: end)
            let fixedBits = 3 + tokens.reduce(0) { $0 + Token.fixedCost($1) } + 7
            let alignment = (8 - (writer.bitCount + 3) % 8) % 8
            let storedBits = 3 + alignment + 32 + 8 * (end - start)
            if fixedBits <= storedBits {
                writer.write(isFinal ? 1 : 0, count: 1)
                writer.write(1, count: 2)
                for token in tokens { writer.writeFixed(token) }
                writer.writeFixedLiteral(256)
            } else {
                writer.write(isFinal ? 1 : 0, count: 1)
                writer.write(0, count: 2)
                writer.alignToByte()
                let length = UInt32(end - start)
                writer.write(length, count: 16)
                writer.write(~length & 0xFFFF, count: 16)
                writer.appendAlignedBytes(input[start..<end])
            }
            start = end
        }
        return writer.finish()
    }
}

/// One LZ77 token: a literal byte, or a back-reference packed as `1 << 31 | length << 16 | distance`.
private enum Token {
    static func literal(_ byte: UInt8) -> UInt32 { UInt32(byte) }
    static func match(length: Int, distance: Int) -> UInt32 {
        (1 << 31) | (UInt32(length) << 16) | UInt32(distance)
    }
    static func isMatch(_ token: UInt32) -> Bool { token & (1 << 31) != 0 }
    static func length(_ token: UInt32) -> Int { Int((token >> 16) & 0x1FF) }
    static func distance(_ token: UInt32) -> Int { Int(token & 0xFFFF) }

    /// Bits needed to write `token` with the fixed Huffman code.
    static func fixedCost(_ token: UInt32) -> Int {
        guard isMatch(token) else { return Int(DeflateTables.fixedLiteralLengths[Int(token)]) }
        let lengthIndex = LengthCodes.lengthIndex[length(token)]
        let distanceIndex = LengthCodes.distanceIndex(distance(token))
        return Int(DeflateTables.fixedLiteralLengths[257 + lengthIndex])
            + DeflateTables.lengthExtraBits[lengthIndex] + 5 + DeflateTables.distanceExtraBits[distanceIndex]
    }
}

/// Lookup from match lengths and distances to their DEFLATE symbol indices.
private enum LengthCodes {
    /// For each length 0...258, the index into `DeflateTables.lengthBase` (0 for lengths < 3).
    static let lengthIndex: [Int] = {
        var table = [Int](repeating: 0, count: 259)
        var index = 0
        for length in 3...258 {
            while index + 1 < DeflateTables.lengthBase.count && DeflateTables.lengthBase[index + 1] <= length {
                index += 1
            }
            table[length] = index
        }
        return table
    }()

    /// The index into `DeflateTables.distanceBase` for a distance 1...32768.
    static func distanceIndex(_ distance: Int) -> Int {
        var index = DeflateTables.distanceBase.count - 1
        while index > 0 && DeflateTables.distanceBase[index] > distance { index -= 1 }
        return index
    }

    /// Reversed fixed literal/length codes, ready to emit LSB first.
    static let fixedLiteralCodes = DeflateTables.reversedCanonicalCodes(DeflateTables.fixedLiteralLengths)
    /// Reversed fixed distance codes.
    static let fixedDistanceCodes = DeflateTables.reversedCanonicalCodes(DeflateTables.fixedDistanceLengths)
}

/// Finds LZ77 matches with hash chains over three-byte prefixes in a 32 KiB sliding window.
///
/// A class so that its tables can live in manually allocated buffers, which keeps the inner
/// loops fast in unoptimized (debug) builds.
private final class MatchFinder {
    static let windowSize = 32_768
    static let hashBits = 15
    /// How many earlier positions to try per match; bounds the time on repetitive input.
    static let maxChain = 64
    /// Matches up to this length have every position indexed; longer ones only their ends.
    static let fullInsertLength = 32

    /// A copy of the input.
    private let input: UnsafeMutablePointer<UInt8>
    private let count: Int
    /// Most recent position for each hash value, or -1.
    private let head: UnsafeMutablePointer<Int32>
    /// For each position modulo the window, the previous position with the same hash, or -1.
    private let previous: UnsafeMutablePointer<Int32>
    /// Positions below this have been inserted into the chains.
    private var inserted = 0

    init(input bytes: [UInt8]) {
        count = bytes.count
        let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { copy.initialize(from: base, count: source.count) }
        }
        input = copy
        head = .allocate(capacity: 1 << Self.hashBits)
        head.initialize(repeating: -1, count: 1 << Self.hashBits)
        previous = .allocate(capacity: Self.windowSize)
        previous.initialize(repeating: -1, count: Self.windowSize)
    }

    deinit {
        input.deallocate()
        head.deallocate()
        previous.deallocate()
    }

    /// Hash of the three bytes at `position`; requires `position + 2 < count`.
    private func hash(at position: Int) -> Int {
        let a = Int(input[position]), b = Int(input[position + 1]), c = Int(input[position + 2])
        return ((a << 10) ^ (b << 5) ^ c ^ (a >> 5)) & ((1 << Self.hashBits) - 1)
    }

    /// Adds every position below `limit` that has three bytes after it to the hash chains.
    private func insert(upTo limit: Int) {
        let last = min(limit, count - 2)
        while inserted < last {
            let h = hash(at: inserted)
            previous[inserted & (Self.windowSize - 1)] = head[h]
            head[h] = Int32(truncatingIfNeeded: inserted)
            inserted += 1
        }
        inserted = max(inserted, limit)
    }

    /// Greedy LZ77 tokens for `input[start..<end]`; matches may refer back before `start`.
    func tokens(from start: Int, to end: Int) -> [UInt32] {
        var tokens: [UInt32] = []
        tokens.reserveCapacity((end - start) / 2)
        var position = start
        while position < end {
            insert(upTo: position)
            let maxLength = min(258, end - position)
            var bestLength = 0
            var bestDistance = 0
            if maxLength >= 3 {
                var candidate = Int(head[hash(at: position)])
                var chain = Self.maxChain
                while candidate >= 0 && position - candidate <= Self.windowSize && chain > 0 {
                    if bestLength == 0 || input[candidate + bestLength] == input[position + bestLength] {
                        var length = 0
                        while length < maxLength && input[candidate + length] == input[position + length] {
                            length += 1
                        }
                        if length > bestLength {
                            bestLength = length
                            bestDistance = position - candidate
                            if length == maxLength { break }
                        }
                    }
                    let next = Int(previous[candidate & (Self.windowSize - 1)])
                    if next >= candidate { break }
                    candidate = next
                    chain -= 1
                }
            }
            if bestLength >= 3 {
                tokens.append(Token.match(length: bestLength, distance: bestDistance))
                if bestLength > Self.fullInsertLength {
                    // Inside a long match (flat image areas) index only its first and last few
                    // positions: far less work for almost the same compression.
                    insert(upTo: position + Self.fullInsertLength / 2)
                    inserted = max(inserted, position + bestLength - Self.fullInsertLength / 2)
                }
                position += bestLength
            } else {
                tokens.append(Token.literal(input[position]))
                position += 1
            }
        }
        insert(upTo: end)
        return tokens
    }
}

/// Packs bits least-significant first, as DEFLATE requires.
private struct DeflateBitWriter {
    var bytes: [UInt8] = []
    var buffer: UInt64 = 0
    var bitCount = 0

    mutating func reserve(_ capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func write(_ bits: UInt32, count: Int) {
        buffer |= UInt64(bits) << UInt64(bitCount)
        bitCount += count
        while bitCount >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: buffer))
            buffer >>= 8
            bitCount -= 8
        }
    }

    mutating func alignToByte() {
        if bitCount > 0 {
            bytes.append(UInt8(truncatingIfNeeded: buffer))
            buffer = 0
            bitCount = 0
        }
    }

    mutating func appendAlignedBytes(_ data: ArraySlice<UInt8>) {
        bytes.append(contentsOf: data)
    }

    mutating func writeFixedLiteral(_ symbol: Int) {
        write(LengthCodes.fixedLiteralCodes[symbol], count: Int(DeflateTables.fixedLiteralLengths[symbol]))
    }

    mutating func writeFixed(_ token: UInt32) {
        guard Token.isMatch(token) else {
            writeFixedLiteral(Int(token))
            return
        }
        let length = Token.length(token)
        let distance = Token.distance(token)
        let lengthIndex = LengthCodes.lengthIndex[length]
        writeFixedLiteral(257 + lengthIndex)
        let lengthExtra = DeflateTables.lengthExtraBits[lengthIndex]
        if lengthExtra > 0 {
            write(UInt32(length - DeflateTables.lengthBase[lengthIndex]), count: lengthExtra)
        }
        let distanceIndex = LengthCodes.distanceIndex(distance)
        write(LengthCodes.fixedDistanceCodes[distanceIndex], count: 5)
        let distanceExtra = DeflateTables.distanceExtraBits[distanceIndex]
        if distanceExtra > 0 {
            write(UInt32(distance - DeflateTables.distanceBase[distanceIndex]), count: distanceExtra)
        }
    }

    mutating func finish() -> [UInt8] {
        alignToByte()
        return bytes
    }
}
