import Testing
import Foundation
import DiffusionSolvers

@Suite("NumPy .npy int32")
struct NPYInt32Tests {
    /// Token ids round-trip as '<i4', with NumPy's header and little-endian bytes.
    @Test func roundTrip() throws {
        let array = NPYArray(shape: [2, 3], int32: [0, 1, -2, 2_147_483_647, -2_147_483_648, 7])
        let data = array.serialized()
        #expect(String(decoding: data[10..<70], as: UTF8.self).hasPrefix("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }"))
        // The header pads the data start to 128 (a multiple of 64); then 6 four-byte values.
        #expect(data.count == 128 + 24)
        #expect(Array(data[128..<136]) == [0, 0, 0, 0, 1, 0, 0, 0])
        let read = try NPYArray(data: data)
        #expect(read == array && read.int32Values == [0, 1, -2, 2_147_483_647, -2_147_483_648, 7])
        #expect(read.float64Values[3] == 2_147_483_647)
        #expect(NPYArray(shape: [1], float32: [1]).int32Values == nil)
    }

    @Test func bigEndianIsRefused() throws {
        var data = NPYArray(shape: [1], int32: [5]).serialized()
        let range = try #require(data.range(of: Data("<i4".utf8)))
        data.replaceSubrange(range, with: Data(">i4".utf8))
        #expect(throws: FileFormatError.self) { _ = try NPYArray(data: data) }
    }
}
