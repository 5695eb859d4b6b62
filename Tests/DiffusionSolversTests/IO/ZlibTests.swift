import Testing
import DiffusionSolvers

@Suite("DEFLATE and zlib")
struct ZlibTests {
    /// Inputs covering empty, tiny, incompressible, highly repetitive and mixed data, and sizes
    /// that cross the 65,535-byte block boundary.
    static func sampleInputs() -> [(name: String, bytes: [UInt8])] {
        var random = IOTestRandom(seed: 7)
        let text = Array(String(repeating: "diffusion solvers write files; ", count: 300).utf8)
        var mixed: [UInt8] = []
        for i in 0..<70_000 { mixed.append(i % 1000 < 500 ? UInt8(i % 7) : UInt8.random(in: 0...255, using: &random)) }
        return [
            ("empty", []),
            ("one byte", [42]),
            ("two bytes", [1, 2]),
            ("random 1000", random.bytes(1000)),
            ("random 70000", random.bytes(70_000)),
            ("zeros 100000", [UInt8](repeating: 0, count: 100_000)),
            ("text", text),
            ("mixed", mixed),
            ("period 3", (0..<5000).map { UInt8($0 % 3) }),
        ]
    }

    @Test("compress then decompress returns the input")
    func roundTrip() throws {
        for (name, input) in Self.sampleInputs() {
            let compressed = Zlib.compress(input)
            #expect(compressed.prefix(2) == [0x78, 0x01], "\(name)")
            let output = try Zlib.decompress(compressed)
            #expect(output == input, "\(name)")
            let (raw, consumed) = try Inflate.decompress(Deflate.compress(input))
            #expect(raw == input, "\(name)")
            #expect(consumed == Deflate.compress(input).count, "\(name)")
        }
    }

    @Test("repetitive data compresses well and random data grows only slightly")
    func compressionRatios() {
        let zeros = [UInt8](repeating: 0, count: 100_000)
        #expect(Deflate.compress(zeros).count < 1_000)
        let text = Array(String(repeating: "diffusion solvers write files; ", count: 300).utf8)
        #expect(Deflate.compress(text).count < text.count / 10)
        var random = IOTestRandom(seed: 3)
        let noise = random.bytes(70_000)
        #expect(Deflate.compress(noise).count <= noise.count + 16)
    }

    /// `zlib.compress(text, 9)` from CPython's zlib: a dynamic-Huffman (type 2) block.
    static let dynamicStream: [UInt8] = [
        0x78, 0xDA, 0xB5, 0xCB, 0xD9, 0x11, 0x40, 0x30, 0x14, 0x46, 0xE1, 0x56, 0x7E, 0x0D, 0x18, 0xFB,
        0xD2, 0x85, 0x07, 0x0D, 0x58, 0x42, 0x62, 0xBB, 0x84, 0x58, 0x52, 0xBD, 0x5B, 0x83, 0x19, 0xCF,
        0xE7, 0x3B, 0xA5, 0x14, 0xD8, 0x8C, 0x6A, 0x46, 0xD4, 0x9A, 0xAE, 0x05, 0x1D, 0xDD, 0x18, 0xCC,
        0xBC, 0xEE, 0xA0, 0x53, 0x68, 0x1C, 0x9C, 0xA7, 0xCA, 0x3E, 0x68, 0xA9, 0x77, 0x51, 0xFE, 0x86,
        0x8B, 0x8A, 0xDD, 0xFC, 0xA0, 0x66, 0x74, 0xA9, 0x43, 0xA2, 0x53, 0xA7, 0xE0, 0x64, 0xC5, 0x82,
        0x49, 0x6D, 0x86, 0x34, 0xBF, 0xFD, 0xEE, 0xC0, 0xF3, 0x83, 0x30, 0x8A, 0x93, 0x34, 0xCB, 0x3F,
        0x3D, 0x2F, 0xDE, 0x17, 0x52, 0x24,
    ]
    static let dynamicText = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 3)
        + String(repeating: "Pack my box with five dozen liquor jugs! 0123456789 ", count: 2)

    @Test("inflates a dynamic-Huffman stream produced by zlib")
    func dynamicHuffmanBlock() throws {
        #expect((Self.dynamicStream[2] >> 1) & 3 == 2)  // BTYPE of the first block
        let output = try Zlib.decompress(Self.dynamicStream)
        #expect(output == Array(Self.dynamicText.utf8))
    }

    @Test("every truncation of a zlib stream throws a one-line error")
    func truncationsThrow() {
        let streams = [Self.dynamicStream, Zlib.compress(Array("hello hello hello hello".utf8)), Zlib.compress([])]
        for stream in streams {
            for length in 0..<stream.count {
                expectIOFormatError("") { _ = try Zlib.decompress(Array(stream[..<length])) }
            }
        }
    }

    @Test("corrupted streams throw or decode, but never trap")
    func corruptionNeverTraps() {
        var random = IOTestRandom(seed: 11)
        let originals = [Self.dynamicStream, Zlib.compress(Array(Self.dynamicText.utf8))]
        for original in originals {
            for _ in 0..<400 {
                var corrupt = original
                let index = Int.random(in: 0..<corrupt.count, using: &random)
                corrupt[index] ^= UInt8.random(in: 1...255, using: &random)
                do {
                    let output = try Zlib.decompress(corrupt, maxOutputSize: 10_000)
                    #expect(output.count <= 10_000)
                } catch let error as FileFormatError {
                    #expect(!error.description.contains("\n"))
                } catch {
                    Issue.record("unexpected error type \(error)")
                }
            }
        }
    }

    @Test("specific malformed inputs give specific errors")
    func malformedInputs() {
        expectIOFormatError("zlib:", mentions: ["compression method"]) { _ = try Zlib.decompress([0x79, 0x01, 0, 0]) }
        expectIOFormatError("zlib:", mentions: ["check bits"]) { _ = try Zlib.decompress([0x78, 0x02, 0, 0]) }
        expectIOFormatError("zlib:", mentions: ["dictionar"]) { _ = try Zlib.decompress([0x78, 0x20, 0, 0]) }
        // Block type 3 is reserved.
        expectIOFormatError("deflate:", mentions: ["block type 3"]) { _ = try Inflate.decompress([0x07]) }
        // Stored block whose NLEN is not the complement of LEN.
        expectIOFormatError("deflate:", mentions: ["complement"]) { _ = try Inflate.decompress([0x01, 0x05, 0x00, 0x00, 0x00]) }
        // Fixed block whose first symbol is a match with distance 1 into empty output.
        expectIOFormatError("deflate:", mentions: ["distance"]) { _ = try Inflate.decompress([0x03, 0x02, 0x00]) }
        // Adler-32 mismatch.
        var stream = Zlib.compress(Array("abc".utf8))
        stream[stream.count - 1] ^= 1
        expectIOFormatError("zlib:", mentions: ["Adler-32"]) { _ = try Zlib.decompress(stream) }
        // Output limit.
        expectIOFormatError("deflate:", mentions: ["exceeds"]) {
            _ = try Zlib.decompress(Zlib.compress([UInt8](repeating: 1, count: 1000)), maxOutputSize: 999)
        }
    }
}
