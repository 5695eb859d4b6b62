import Testing
import DiffusionSolvers

@Suite("CRC-32 and Adler-32")
struct ChecksumTests {
    @Test("CRC-32 check value of \"123456789\" is 0xCBF43926")
    func crc32CheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test("CRC-32 of the PNG IEND chunk type is the well-known AE426082")
    func crc32OfIEND() {
        #expect(CRC32.checksum(Array("IEND".utf8)) == 0xAE42_6082)
    }

    @Test("Adler-32 of \"Wikipedia\" is 0x11E60398")
    func adler32CheckValue() {
        #expect(Adler32.checksum(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Adler32.checksum([UInt8]()) == 1)
    }

    @Test("Incremental updates equal one-shot checksums, including long runs of 0xFF")
    func incrementalUpdates() {
        var random = IOTestRandom(seed: 1)
        let data = random.bytes(20_000) + [UInt8](repeating: 0xFF, count: 30_000)
        let split = 12_345
        #expect(CRC32.update(CRC32.checksum(data[..<split]), with: data[split...]) == CRC32.checksum(data))
        #expect(Adler32.update(Adler32.checksum(data[..<split]), with: data[split...]) == Adler32.checksum(data))
        // Reference value computed independently by summing modulo 65521 one byte at a time.
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        #expect(Adler32.checksum(data) == (b << 16 | a))
    }
}
