import Foundation
import Testing
import DiffusionSolvers

@Suite("safetensors reader and writer")
struct SafetensorsTests {
    /// A file made of an 8-byte length, the given JSON header text and the data buffer.
    static func file(json: String, buffer: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
        let header = Array(json.utf8)
        let length = declaredLength ?? UInt64(header.count)
        let prefix = (0..<8).map { UInt8((length >> (8 * UInt64($0))) & 0xFF) }
        return Data(prefix + header + buffer)
    }

    static func sample() -> SafetensorsFile {
        SafetensorsFile(
            metadata: ["format": "pt", "created_by": "DiffusionSolvers tests", "quote\"and\\slash": "line\nbreak é"],
            tensors: [
                "means": SafetensorsFile.float32([1, -2, 3.5, 0, .infinity, -0.0], shape: [2, 3]),
                "weights": SafetensorsFile.float64([0.1, 0.2, 0.3], shape: [3]),
                "labels": SafetensorsFile.int32([7, -8, Int32.max, Int32.min], shape: [2, 2]),
                "steps": SafetensorsFile.int64([Int64.min, 0, 1], shape: [3]),
                "scalar": SafetensorsFile.float32([42], shape: []),
                "empty": SafetensorsFile.float32([], shape: [0, 4]),
                "half": SafetensorsFile.Tensor(dtype: .f16, shape: [2], bytes: [0x00, 0x3C, 0x00, 0xC0]),
                "brain": SafetensorsFile.Tensor(dtype: .bf16, shape: [1], bytes: [0x80, 0x3F]),
                "bytes": SafetensorsFile.Tensor(dtype: .u8, shape: [3], bytes: [0, 128, 255]),
                "mask": SafetensorsFile.Tensor(dtype: .bool, shape: [2], bytes: [1, 0]),
            ]
        )
    }

    @Test("round trip with several dtypes and metadata")
    func roundTrip() throws {
        let original = Self.sample()
        try original.validate()
        let data = original.serialized()
        let parsed = try SafetensorsFile(data: data)
        #expect(parsed == original)
        #expect(parsed.serialized() == data)
        #expect(try parsed.float32Tensor("means").values.map(\.bitPattern) == [1, -2, 3.5, 0, .infinity, -0.0].map { Float($0).bitPattern })
        #expect(try parsed.float32Tensor("means").shape == [2, 3])
        #expect(try parsed.float64Tensor("weights").values == [0.1, 0.2, 0.3])
        #expect(try parsed.int32Tensor("labels").values == [7, -8, Int32.max, Int32.min])
        #expect(try parsed.int64Tensor("steps").values == [Int64.min, 0, 1])
        #expect(try parsed.float32Tensor("scalar") == ([], [42]))
        #expect(try parsed.float32Tensor("empty").values.isEmpty)
    }

    @Test("the header is sorted, padded with spaces to a multiple of 8, and data is little-endian")
    func layout() throws {
        let file = SafetensorsFile(metadata: [:], tensors: [
            "b": SafetensorsFile.int32([1], shape: [1]),
            "a": SafetensorsFile.float32([1], shape: [1]),
        ])
        let bytes = [UInt8](file.serialized())
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(length % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        let expected = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(header.trimmingCharacters(in: .whitespaces) == expected)
        #expect(header.count - expected.count < 8 && header.hasSuffix(" "))
        #expect(Array(bytes[(8 + length)...]) == [0x00, 0x00, 0x80, 0x3F, 0x01, 0x00, 0x00, 0x00])
    }

    @Test("reads a file built by hand from a JSON string")
    func handBuiltFile() throws {
        let json = #"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": {"format": "np"}, "#
            + #""b": {"dtype": "I32", "shape": [], "data_offsets": [8, 12]}}"#
        let buffer: [UInt8] = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40, 0x07, 0x00, 0x00, 0x00]
        let file = try SafetensorsFile(data: Self.file(json: json, buffer: buffer))
        #expect(file.metadata == ["format": "np"])
        #expect(try file.float32Tensor("w") == ([2], [1, 2]))
        #expect(try file.int32Tensor("b") == ([], [7]))
        #expect(file.tensors.count == 2)
    }

    @Test("typed accessors report missing tensors and wrong dtypes by name")
    func accessorErrors() throws {
        let file = Self.sample()
        do {
            _ = try file.float32Tensor("nope")
            Issue.record("missing tensor not reported")
        } catch let error as FileFormatError {
            #expect(error.description == "safetensors: missing tensor 'nope'")
        }
        expectIOFormatError("safetensors:", mentions: ["'weights'", "F64", "F32"]) { _ = try file.float32Tensor("weights") }
        expectIOFormatError("safetensors:", mentions: ["'means'", "F32", "I32"]) { _ = try file.int32Tensor("means") }
        var broken = file
        broken.tensors["means"]?.shape = [7]
        expectIOFormatError("safetensors:", mentions: ["'means'", "24 bytes", "needs 28"]) { _ = try broken.float32Tensor("means") }
    }

    @Test("every malformed file gives a one-line error naming the problem")
    func malformedFiles() {
        let good = #"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#
        let eight = [UInt8](repeating: 0, count: 8)
        func entry(_ fields: String) -> String { #"{"t": {"# + fields + "}}" }
        func expectBad(_ mentions: [String], json: String, buffer: [UInt8] = eight, sourceLocation: SourceLocation = #_sourceLocation) {
            expectIOFormatError("safetensors:", mentions: mentions, sourceLocation: sourceLocation) {
                _ = try SafetensorsFile(data: Self.file(json: json, buffer: buffer))
            }
        }
        #expect(throws: Never.self) { _ = try SafetensorsFile(data: Self.file(json: good, buffer: eight)) }
        for count in 0..<8 {
            expectIOFormatError("safetensors:", mentions: ["shorter than the 8-byte header length"]) {
                _ = try SafetensorsFile(data: Data(repeating: 1, count: count))
            }
        }
        expectIOFormatError("safetensors:", mentions: ["header length 9223372036854775808", "limit"]) {
            _ = try SafetensorsFile(data: Self.file(json: good, buffer: eight, declaredLength: 1 << 63))
        }
        expectIOFormatError("safetensors:", mentions: ["header length 9999", "file size"]) {
            _ = try SafetensorsFile(data: Self.file(json: good, buffer: eight, declaredLength: 9999))
        }
        expectIOFormatError("safetensors:", mentions: ["UTF-8"]) {
            _ = try SafetensorsFile(data: Data([2, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE]))
        }
        expectBad(["not valid JSON"], json: "{")
        expectBad(["not valid JSON"], json: #"{"t" 1}"#)
        expectBad(["not a JSON object"], json: "[1, 2]")
        expectBad(["'t'", "not a JSON object"], json: #"{"t": 5}"#)
        expectBad(["'t'", "no \"dtype\""], json: entry(#""shape": [2], "data_offsets": [0, 8]"#))
        expectBad(["'t'", "no \"shape\""], json: entry(#""dtype": "F32", "data_offsets": [0, 8]"#))
        expectBad(["'t'", "no \"data_offsets\""], json: entry(#""dtype": "F32", "shape": [2]"#))
        expectBad(["\"dtype\" is not a string"], json: entry(#""dtype": 4, "shape": [2], "data_offsets": [0, 8]"#))
        expectBad(["unknown dtype 'F128'"], json: entry(#""dtype": "F128", "shape": [2], "data_offsets": [0, 8]"#))
        expectBad(["\"shape\" is not an array"], json: entry(#""dtype": "F32", "shape": 2, "data_offsets": [0, 8]"#))
        expectBad(["\"shape\" contains a non-integer"], json: entry(#""dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]"#))
        expectBad(["\"shape\" contains a non-integer"], json: entry(#""dtype": "F32", "shape": [true], "data_offsets": [0, 8]"#))
        expectBad(["\"shape\" contains a non-integer"], json: entry(#""dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]"#))
        expectBad(["negative dimension -2"], json: entry(#""dtype": "F32", "shape": [-2], "data_offsets": [0, 8]"#))
        expectBad(["too many elements"], json: entry(#""dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]"#))
        expectBad(["too large"], json: entry(#""dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 8]"#))
        expectBad(["too large"], json: entry(#""dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8]"#))
        expectBad(["\"data_offsets\" has 1 entries"], json: entry(#""dtype": "F32", "shape": [2], "data_offsets": [8]"#))
        expectBad(["\"data_offsets\" has 3 entries"], json: entry(#""dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]"#))
        expectBad(["invalid data_offsets [8, 0]"], json: entry(#""dtype": "F32", "shape": [2], "data_offsets": [8, 0]"#))
        expectBad(["invalid data_offsets [-8, 0]"], json: entry(#""dtype": "F32", "shape": [2], "data_offsets": [-8, 0]"#))
        expectBad(["end 16", "beyond the data buffer of 8 bytes"], json: entry(#""dtype": "F32", "shape": [2], "data_offsets": [8, 16]"#))
        expectBad(["has 4 bytes", "needs 8"], json: entry(#""dtype": "F32", "shape": [2], "data_offsets": [0, 4]"#))
        expectBad(["has 8 bytes", "needs 12"], json: entry(#""dtype": "F32", "shape": [3], "data_offsets": [0, 8]"#))
        expectBad(["\"__metadata__\" is not a JSON object"], json: #"{"__metadata__": ["a"]}"#)
        expectBad(["metadata value", "'n'", "not a string"], json: #"{"__metadata__": {"n": 1}}"#)
        // A tensor name with a line break still gives a one-line message.
        expectBad(["unknown dtype"], json: #"{"bad\nname": {"dtype": "X", "shape": [], "data_offsets": [0, 0]}}"#)
    }

    @Test("every prefix of a valid file throws; none traps")
    func truncationsThrow() {
        let data = SafetensorsFile(metadata: ["k": "v"], tensors: [
            "a": SafetensorsFile.float32([1, 2], shape: [2]),
            "b": SafetensorsFile.int32([3], shape: [1]),
        ]).serialized()
        for length in 0..<data.count {
            expectIOFormatError("safetensors:") { _ = try SafetensorsFile(data: data.prefix(length)) }
        }
    }

    @Test("changing any byte gives a valid file or a one-line error, never a trap")
    func corruptionNeverTraps() {
        let data = [UInt8](SafetensorsFile(metadata: ["k": "v"], tensors: [
            "a": SafetensorsFile.float32([1, 2], shape: [2]),
            "b": SafetensorsFile.int32([3], shape: [1]),
        ]).serialized())
        for index in 0..<data.count {
            for replacement: UInt8 in [0x00, 0x22, 0x2C, 0x2D, 0x39, 0x5B, 0x7D, 0xFF] {
                var corrupt = data
                corrupt[index] = replacement
                do {
                    _ = try SafetensorsFile(data: Data(corrupt))
                } catch let error as FileFormatError {
                    #expect(!error.description.contains("\n"))
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
        }
    }

    @Test("validate rejects inconsistent tensors and the reserved name")
    func validation() {
        expectIOFormatError("safetensors:", mentions: ["'x'", "8 bytes", "needs 12"]) {
            try SafetensorsFile(tensors: ["x": SafetensorsFile.float32([1, 2], shape: [3])]).validate()
        }
        expectIOFormatError("safetensors:", mentions: ["__metadata__"]) {
            try SafetensorsFile(tensors: ["__metadata__": SafetensorsFile.float32([1], shape: [1])]).validate()
        }
        expectIOFormatError("safetensors:", mentions: ["negative"]) {
            try SafetensorsFile(tensors: ["x": SafetensorsFile.float32([], shape: [-1])]).validate()
        }
    }

    @Test("write(to:) and init(contentsOf:) round trip through a file")
    func files() throws {
        let directory = try makeIOTestDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("model.safetensors")
        try Self.sample().write(to: url)
        #expect(try SafetensorsFile(contentsOf: url) == Self.sample())
        #expect(throws: FileFormatError.self) {
            try SafetensorsFile(tensors: ["x": SafetensorsFile.float32([1], shape: [2])]).write(to: url)
        }
        #expect(try SafetensorsFile(contentsOf: url) == Self.sample())
        expectIOFormatError("safetensors:", mentions: ["cannot read"]) {
            _ = try SafetensorsFile(contentsOf: directory.appendingPathComponent("none.safetensors"))
        }
    }
}
