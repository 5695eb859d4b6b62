import Foundation
import Testing
import DiffusionSolvers

@Suite("NumPy .npy reader and writer")
struct NPYTests {
    /// A `.npy` file with the given header text (padded to 64 bytes here) and data bytes.
    static func file(header: String, data: [UInt8] = [], major: UInt8 = 1) -> Data {
        let prefix = major == 1 ? 10 : 12
        var text = Array(header.utf8)
        let total = prefix + text.count + 1
        text += [UInt8](repeating: 0x20, count: (64 - total % 64) % 64) + [0x0A]
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        let length = text.count
        bytes += major == 1 ? [UInt8(length & 0xFF), UInt8(length >> 8)]
            : [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), UInt8(length >> 24)]
        return Data(bytes + text + data)
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v -> [UInt8] in
            let b = v.bitPattern
            return [UInt8(b & 0xFF), UInt8((b >> 8) & 0xFF), UInt8((b >> 16) & 0xFF), UInt8(b >> 24)]
        }
    }

    @Test("float32 and float64 round trips for shapes (), (0,), (5,), (3, 4), (2, 3, 4) and empty 2-D shapes")
    func roundTrips() throws {
        for shape in [[], [0], [5], [3, 4], [2, 3, 4], [0, 5], [4, 0, 2]] {
            let count = shape.reduce(1, *)
            let floats = (0..<count).map { Float($0) * 0.25 - 1.5 }
            let doubles = (0..<count).map { Double($0) / 3 - 7 }
            for array in [NPYArray(shape: shape, float32: floats), NPYArray(shape: shape, float64: doubles)] {
                try array.validate()
                let data = array.serialized()
                let headerLength = Int(data[8]) | Int(data[9]) << 8
                #expect(data[6] == 1 && data[7] == 0)
                #expect((10 + headerLength) % 64 == 0)
                #expect(data[10 + headerLength - 1] == 0x0A)
                #expect(try NPYArray(data: data) == array, "shape \(shape)")
            }
        }
    }

    @Test("a tiny '<f4' file has exactly the expected bytes")
    func knownBytes() throws {
        var expected: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00]  // "\x93NUMPY" 1.0, 118
        expected += Array(("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
            + String(repeating: " ", count: 60) + "\n").utf8)
        expected += [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]  // 1.0, -2.0
        #expect(expected.count == 136)
        let array = NPYArray(shape: [2], float32: [1, -2])
        #expect([UInt8](array.serialized()) == expected)
        #expect(try NPYArray(data: Data(expected)) == array)
    }

    @Test("headers written by hand or by other versions parse tolerantly")
    func tolerantHeaders() throws {
        let two = Self.floatBytes([3, 4])
        let variants = [
            #"{"descr": "<f4", "fortran_order": False, "shape": (2,)}"#,
            "{ 'shape' : ( 2 , ) ,'fortran_order':False,'descr':'|f4' }",
            "{'descr': '=f4', 'fortran_order': False, 'shape': (2L,), }",
            "{'descr': 'f4', 'fortran_order': False, 'shape': [2]}",
            "{'descr':'<f4','fortran_order':False,'shape':(1, 2),'extra': {'nested': [None, True, -3]}}",
        ]
        for header in variants {
            let array = try NPYArray(data: Self.file(header: header, data: two))
            #expect(array.float32Values == [3, 4], "\(header)")
        }
        let v2 = try NPYArray(data: Self.file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: two, major: 2))
        #expect(v2 == NPYArray(shape: [2], float32: [3, 4]))
        let v3 = try NPYArray(data: Self.file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'note': 'é'}", data: two, major: 3))
        #expect(v3.shape == [2])
    }

    @Test("a header too long for version 1.0 is written as version 2.0")
    func version2ForLongHeaders() throws {
        let shape = [Int](repeating: 1, count: 25_000)
        let array = NPYArray(shape: shape, float64: [42])
        let data = array.serialized()
        #expect(data[6] == 2)
        let headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        #expect((12 + headerLength) % 64 == 0)
        #expect(try NPYArray(data: data) == array)
    }

    @Test("values convert between float32 and float64")
    func conversions() {
        let array = NPYArray(shape: [2], float64: [0.5, 1e40])
        #expect(array.float32Values == [0.5, Float.infinity])
        #expect(NPYArray(shape: [1], float32: [0.1]).float64Values == [Double(Float(0.1))])
    }

    @Test("every malformed file gives a one-line error naming the problem")
    func malformedFiles() {
        let four = Self.floatBytes([1, 2, 3, 4])
        func header(descr: String = "'<f4'", fortran: String = "False", shape: String = "(4,)") -> String {
            "{'descr': \(descr), 'fortran_order': \(fortran), 'shape': \(shape), }"
        }
        expectIOFormatError("npy:", mentions: ["magic"]) { _ = try NPYArray(data: Data("PK\u{3}\u{4} not numpy".utf8)) }
        expectIOFormatError("npy:", mentions: ["truncated preamble"]) { _ = try NPYArray(data: Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])) }
        expectIOFormatError("npy:", mentions: ["version 4.0"]) {
            var d = [UInt8](Self.file(header: header(), data: four)); d[6] = 4
            _ = try NPYArray(data: Data(d))
        }
        expectIOFormatError("npy:", mentions: ["header length 5000", "exceeds"]) {
            var d = [UInt8](Self.file(header: header(), data: four)); d[8] = 0x88; d[9] = 0x13
            _ = try NPYArray(data: Data(d))
        }
        expectIOFormatError("npy:", mentions: ["cannot parse header"]) { _ = try NPYArray(data: Self.file(header: "{'descr': '<f4', 'shape': (4,", data: four)) }
        expectIOFormatError("npy:", mentions: ["cannot parse header"]) { _ = try NPYArray(data: Self.file(header: "descr=f4", data: four)) }
        expectIOFormatError("npy:", mentions: ["cannot parse header"]) { _ = try NPYArray(data: Self.file(header: header() + " junk", data: four)) }
        expectIOFormatError("npy:", mentions: ["cannot parse header"]) { _ = try NPYArray(data: Self.file(header: header(shape: "(4, ?)"), data: four)) }
        expectIOFormatError("npy:", mentions: ["cannot parse header"]) {
            _ = try NPYArray(data: Self.file(header: String(repeating: "(", count: 1000), data: four))
        }
        expectIOFormatError("npy:", mentions: ["no 'descr'"]) { _ = try NPYArray(data: Self.file(header: "{'fortran_order': False, 'shape': (4,)}", data: four)) }
        expectIOFormatError("npy:", mentions: ["no 'fortran_order'"]) { _ = try NPYArray(data: Self.file(header: "{'descr': '<f4', 'shape': (4,)}", data: four)) }
        expectIOFormatError("npy:", mentions: ["no 'shape'"]) { _ = try NPYArray(data: Self.file(header: "{'descr': '<f4', 'fortran_order': False}", data: four)) }
        do {
            _ = try NPYArray(data: Self.file(header: header(descr: "'<i8'"), data: four + four))
            Issue.record("'<i8' accepted")
        } catch let error as FileFormatError {
            #expect(error.description == "npy: unsupported dtype '<i8' (expected float32 '<f4', float64 '<f8' or int32 '<i4')")
        } catch {
            Issue.record("unexpected \(error)")
        }
        expectIOFormatError("npy:", mentions: ["big-endian", "'>f4'"]) { _ = try NPYArray(data: Self.file(header: header(descr: "'>f4'"), data: four)) }
        expectIOFormatError("npy:", mentions: ["structured"]) { _ = try NPYArray(data: Self.file(header: header(descr: "[('x', '<f4')]"), data: four)) }
        do {
            _ = try NPYArray(data: Self.file(header: header(fortran: "True", shape: "(2, 2)"), data: four))
            Issue.record("Fortran order accepted")
        } catch let error as FileFormatError {
            #expect(error.description == "npy: Fortran-order arrays are not supported")
        } catch {
            Issue.record("unexpected \(error)")
        }
        expectIOFormatError("npy:", mentions: ["negative dimension -4"]) { _ = try NPYArray(data: Self.file(header: header(shape: "(-4,)"), data: four)) }
        expectIOFormatError("npy:", mentions: ["overflows"]) {
            _ = try NPYArray(data: Self.file(header: header(shape: "(4294967296, 4294967296)"), data: four))
        }
        expectIOFormatError("npy:", mentions: ["too large"]) {
            _ = try NPYArray(data: Self.file(header: header(shape: "(99999999999999999999999,)"), data: four))
        }
        expectIOFormatError("npy:", mentions: ["too large"]) {
            _ = try NPYArray(data: Self.file(header: header(shape: "(4611686018427387904,)"), data: four))
        }
        expectIOFormatError("npy:", mentions: ["12 bytes", "needs 16"]) {
            _ = try NPYArray(data: Self.file(header: header(), data: Array(four.prefix(12))))
        }
        expectIOFormatError("npy:", mentions: ["20 bytes", "needs 16"]) {
            _ = try NPYArray(data: Self.file(header: header(), data: four + [1, 2, 3, 4]))
        }
        expectIOFormatError("npy:", mentions: ["'shape' is not a tuple"]) { _ = try NPYArray(data: Self.file(header: header(shape: "4"), data: four)) }
        expectIOFormatError("npy:", mentions: ["non-integer"]) { _ = try NPYArray(data: Self.file(header: header(shape: "('4',)"), data: four)) }
        expectIOFormatError("npy:", mentions: ["'fortran_order' is not True or False"]) {
            _ = try NPYArray(data: Self.file(header: header(fortran: "0"), data: four))
        }
    }

    @Test("every prefix of a valid file throws; none traps")
    func truncationsThrow() {
        for array in [NPYArray(shape: [3], float32: [1, 2, 3]), NPYArray(shape: [], float64: [5])] {
            let data = array.serialized()
            for length in 0..<data.count {
                expectIOFormatError("npy:") { _ = try NPYArray(data: data.prefix(length)) }
            }
        }
    }

    @Test("changing any byte gives a valid array or a one-line error, never a trap")
    func corruptionNeverTraps() {
        let data = [UInt8](NPYArray(shape: [2, 2], float32: [1, 2, 3, 4]).serialized())
        for index in 0..<data.count {
            for replacement: UInt8 in [0x00, 0x0A, 0x27, 0x28, 0x2D, 0x39, 0xFF] {
                var corrupt = data
                corrupt[index] = replacement
                do {
                    _ = try NPYArray(data: Data(corrupt))
                } catch let error as FileFormatError {
                    #expect(!error.description.contains("\n"))
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
        }
    }

    @Test("validate rejects arrays whose value count does not match the shape")
    func validation() {
        expectIOFormatError("npy:", mentions: ["needs 6 values", "has 5"]) { try NPYArray(shape: [2, 3], float32: [1, 2, 3, 4, 5]).validate() }
        expectIOFormatError("npy:", mentions: ["negative"]) { try NPYArray(shape: [-1], float64: []).validate() }
    }

    @Test("write(to:) and init(contentsOf:) round trip through a file; unreadable paths throw")
    func files() throws {
        let directory = try makeIOTestDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("x.npy")
        let array = NPYArray(shape: [2, 2], float64: [1, 2, 3, 4])
        try array.write(to: url)
        #expect(try NPYArray(contentsOf: url) == array)
        expectIOFormatError("npy:", mentions: ["cannot read", "missing.npy"]) {
            _ = try NPYArray(contentsOf: directory.appendingPathComponent("missing.npy"))
        }
        #expect(throws: FileFormatError.self) { try NPYArray(shape: [3], float32: [1]).write(to: url) }
        #expect(try NPYArray(contentsOf: url) == array)
    }
}
