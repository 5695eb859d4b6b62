import Foundation
import Testing
import DiffusionSolvers

@Suite("PNG encoder and decoder")
struct PNGTests {
    static let sizes: [(width: Int, height: Int)] = [(1, 1), (300, 7), (7, 300), (2, 3), (17, 16), (64, 33)]

    /// Random, flat and smooth-gradient content, so that every filter type gets chosen somewhere.
    static func contents(width: Int, height: Int, channels: Int, seed: UInt64) -> [(String, [UInt8])] {
        var random = IOTestRandom(seed: seed)
        let count = width * height * channels
        let gradient = (0..<count).map { i -> UInt8 in
            let pixel = i / channels, x = pixel % width, y = pixel / width
            return UInt8(truncatingIfNeeded: x * 3 + y * 5 + (i % channels) * 40)
        }
        return [
            ("random", random.bytes(count)),
            ("flat", [UInt8](repeating: 200, count: count)),
            ("gradient", gradient),
        ]
    }

    @Test("encode then decode returns the pixels, gray and RGB, for several sizes")
    func roundTrip() throws {
        for format in [PNGImage.Format.gray8, .rgb8] {
            for (width, height) in Self.sizes {
                for (name, pixels) in Self.contents(width: width, height: height, channels: format.channels, seed: UInt64(width * 1000 + height)) {
                    let image = PNGImage(width: width, height: height, format: format, pixels: pixels)
                    try image.validate()
                    let decoded = try PNGDecoder.decode(image.encoded())
                    #expect(decoded == image, "\(format) \(width)x\(height) \(name)")
                }
            }
        }
    }

    @Test("the file starts with the signature and a correct IHDR, and ends with IEND")
    func knownBytes() {
        let image = PNGImage(width: 3, height: 2, format: .rgb8, pixels: [UInt8](repeating: 9, count: 18))
        let bytes = [UInt8](image.encoded())
        #expect(Array(bytes[0..<8]) == [137, 80, 78, 71, 13, 10, 26, 10])
        // IHDR: length 13, type, width 3, height 2, depth 8, color type 2, compression, filter, interlace.
        #expect(Array(bytes[8..<29]) == [0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0])
        let crc = CRC32.checksum(bytes[12..<29])
        #expect(Array(bytes[29..<33]) == [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)])
        #expect(Array(bytes.suffix(12)) == [0, 0, 0, 0, 73, 69, 78, 68, 0xAE, 0x42, 0x60, 0x82])
        #expect(Array(bytes[37..<41]) == Array("IDAT".utf8))
    }

    /// A 6x5 gray PNG made by CPython's zlib with rows filtered None, Sub, Up, Average, Paeth.
    static let grayAllFilters: [UInt8] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
        0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x05, 0x08, 0x00, 0x00, 0x00, 0x00, 0x43, 0x33, 0xC2,
        0x3A, 0x00, 0x00, 0x00, 0x29, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x60, 0x50, 0xF5, 0xCA,
        0x9F, 0xB2, 0x93, 0x31, 0xDA, 0x08, 0x04, 0x98, 0xA2, 0x33, 0x4A, 0x9B, 0xFA, 0xE7, 0x30, 0x6F,
        0xBB, 0x95, 0x98, 0x9E, 0xF7, 0x85, 0x25, 0x3A, 0x32, 0xF2, 0x5C, 0x7F, 0x24, 0x00, 0xC5, 0x88,
        0x0C, 0xED, 0xC7, 0x02, 0xA1, 0xE9, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42,
        0x60, 0x82,
    ]

    /// A 4x5 RGB PNG made by CPython's zlib with rows filtered Paeth, Average, Up, Sub, None.
    static let rgbAllFilters: [UInt8] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x08, 0x02, 0x00, 0x00, 0x00, 0xED, 0xCF, 0xDA,
        0x8C, 0x00, 0x00, 0x00, 0x3A, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x61, 0x70, 0xEF, 0xB3,
        0xB1, 0xB1, 0xF1, 0xF2, 0xF2, 0x8A, 0x88, 0x88, 0x60, 0x96, 0x75, 0x4C, 0xD1, 0xD5, 0xD5, 0x35,
        0x31, 0xD9, 0x62, 0xBD, 0xDB, 0x9A, 0x49, 0x16, 0x09, 0x30, 0x86, 0xCF, 0x7B, 0x0A, 0x57, 0xC6,
        0x50, 0xB2, 0x9B, 0x69, 0xC3, 0x77, 0xBB, 0x5F, 0x8E, 0x1D, 0x41, 0x33, 0x1F, 0x00, 0x00, 0x18,
        0x79, 0x13, 0x84, 0x24, 0x0F, 0x8E, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
        0x42, 0x60, 0x82,
    ]

    @Test("decodes files from another encoder using all five filter types")
    func decodesForeignFiles() throws {
        let gray = try PNGDecoder.decode(Data(Self.grayAllFilters))
        #expect(gray.width == 6 && gray.height == 5 && gray.format == .gray8)
        var expectedGray: [UInt8] = []
        for y in 0..<5 { for x in 0..<6 { expectedGray.append(UInt8((x * 37 + y * 91 + x * y * 13) % 256)) } }
        #expect(gray.pixels == expectedGray)

        let rgb = try PNGDecoder.decode(Data(Self.rgbAllFilters))
        #expect(rgb.width == 4 && rgb.height == 5 && rgb.format == .rgb8)
        var expectedRGB: [UInt8] = []
        for y in 0..<5 { for x in 0..<4 { for c in 0..<3 { expectedRGB.append(UInt8((x * 53 + y * 29 + c * 71 + x * x * 7) % 256)) } } }
        #expect(rgb.pixels == expectedRGB)
        #expect(rgb.pixel(x: 3, y: 4) == Array(expectedRGB[57..<60]))
        #expect(rgb.pixel(x: 4, y: 0) == nil)
    }

    @Test("every prefix of a valid file throws a one-line error")
    func truncationsThrow() {
        let files = [
            [UInt8](PNGImage(width: 5, height: 4, format: .rgb8, pixels: (0..<60).map { UInt8($0 * 3) }).encoded()),
            Self.grayAllFilters,
        ]
        for file in files {
            for length in 0..<file.count {
                expectIOFormatError("png:") { _ = try PNGDecoder.decode(Data(file[..<length])) }
            }
        }
    }

    @Test("flipping any bit is detected or harmless, and never traps")
    func bitFlipsNeverTrap() {
        let file = Self.rgbAllFilters
        for index in 0..<file.count {
            for bit in [0, 3, 7] {
                var corrupt = file
                corrupt[index] ^= 1 << bit
                do {
                    _ = try PNGDecoder.decode(Data(corrupt))
                    // Only bytes outside every checksum (none in this file) could be changed harmlessly.
                    Issue.record("flip at byte \(index) bit \(bit) was not detected")
                } catch let error as FileFormatError {
                    #expect(!error.description.contains("\n"))
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
    }

    /// Builds a PNG from raw chunks, computing lengths and CRCs.
    static func assemble(_ chunks: [(String, [UInt8])]) -> Data {
        var bytes: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        for (type, data) in chunks {
            let length = UInt32(data.count)
            bytes += [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
            let typeBytes = Array(type.utf8)
            bytes += typeBytes + data
            let crc = CRC32.update(CRC32.checksum(typeBytes), with: data)
            bytes += [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
        }
        return Data(bytes)
    }

    static func header(width: UInt32 = 2, height: UInt32 = 2, depth: UInt8 = 8, colorType: UInt8 = 0, interlace: UInt8 = 0) -> [UInt8] {
        [UInt8(width >> 24), UInt8((width >> 16) & 0xFF), UInt8((width >> 8) & 0xFF), UInt8(width & 0xFF),
         UInt8(height >> 24), UInt8((height >> 16) & 0xFF), UInt8((height >> 8) & 0xFF), UInt8(height & 0xFF),
         depth, colorType, 0, 0, interlace]
    }

    @Test("unsupported or inconsistent files give specific errors")
    func specificErrors() {
        let data2x2 = Zlib.compress([0, 1, 2, 0, 3, 4])
        #expect(throws: Never.self) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header()), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["signature"]) { _ = try PNGDecoder.decode(Data("GIF89a....".utf8)) }
        expectIOFormatError("png:", mentions: ["bit depth 16"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header(depth: 16)), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["color type 6"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header(colorType: 6)), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["color type 3"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header(colorType: 3)), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["interlaced"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header(interlace: 1)), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["image size 0x2"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header(width: 0)), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["too large"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF)), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["IHDR"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IDAT", data2x2), ("IHDR", Self.header()), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["missing IDAT"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header()), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["critical chunk ABCD"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header()), ("ABCD", [1]), ("IDAT", data2x2), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["filter type 7"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header()), ("IDAT", Zlib.compress([7, 1, 2, 0, 3, 4])), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["5 bytes", "expected 6"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header()), ("IDAT", Zlib.compress([0, 1, 2, 0, 3])), ("IEND", [])]))
        }
        expectIOFormatError("png:", mentions: ["image data", "exceeds"]) {
            _ = try PNGDecoder.decode(Self.assemble([("IHDR", Self.header()), ("IDAT", Zlib.compress([0, 1, 2, 0, 3, 4, 5])), ("IEND", [])]))
        }
        var badCRC = [UInt8](Self.assemble([("IHDR", Self.header()), ("IDAT", data2x2), ("IEND", [])]))
        badCRC[32] ^= 0xFF
        expectIOFormatError("png:", mentions: ["CRC mismatch", "IHDR"]) { _ = try PNGDecoder.decode(Data(badCRC)) }
    }

    @Test("ancillary chunks and split IDAT chunks are accepted")
    func ancillaryAndSplitChunks() throws {
        let stream = Zlib.compress([0, 1, 2, 1, 3, 4])
        let file = Self.assemble([
            ("IHDR", Self.header()), ("tEXt", Array("Comment\0hi".utf8)),
            ("IDAT", Array(stream[..<3])), ("IDAT", Array(stream[3...])), ("IEND", []),
        ])
        let image = try PNGDecoder.decode(file)
        #expect(image.pixels == [1, 2, 3, 3 &+ 4])
    }

    @Test("validate rejects inconsistent images, encoded() still never traps")
    func validation() throws {
        expectIOFormatError("png:", mentions: ["5 pixel bytes", "expected 6"]) {
            try PNGImage(width: 2, height: 1, format: .rgb8, pixels: [1, 2, 3, 4, 5]).validate()
        }
        expectIOFormatError("png:", mentions: ["0x3"]) { try PNGImage(width: 0, height: 3, format: .gray8, pixels: []).validate() }
        expectIOFormatError("png:", mentions: ["too large"]) {
            try PNGImage(width: Int(Int32.max), height: Int(Int32.max), format: .rgb8, pixels: []).validate()
        }
        // Invalid images produce a file decoders reject.
        for image in [
            PNGImage(width: 2, height: 2, format: .gray8, pixels: [5, 6, 7]),
            PNGImage(width: 100_000, height: 100_000, format: .rgb8, pixels: []),
            PNGImage(width: -4, height: 2, format: .gray8, pixels: []),
            PNGImage(width: Int.max, height: Int.max, format: .rgb8, pixels: [1]),
        ] {
            expectIOFormatError("png:") { _ = try PNGDecoder.decode(image.encoded()) }
        }
    }

    @Test("write(to:) creates a file that decodes to the same image")
    func writeToFile() throws {
        let directory = try makeIOTestDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("image.png")
        let image = PNGImage(width: 3, height: 1, format: .rgb8, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255])
        try image.write(to: url)
        #expect(try PNGDecoder.decode(contentsOf: url) == image)
        #expect(throws: FileFormatError.self) {
            try PNGImage(width: 3, height: 1, format: .rgb8, pixels: []).write(to: url)
        }
        #expect(try PNGDecoder.decode(contentsOf: url) == image)
    }
}
