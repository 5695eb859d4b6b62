import Foundation

/// A safetensors file: named tensors of raw little-endian data plus string metadata.
///
/// The format is an 8-byte little-endian unsigned header length `N`, then `N` bytes of UTF-8 JSON,
/// then the byte buffer holding all tensor data. The JSON object maps each tensor name to
/// `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}` with offsets relative to the
/// start of the byte buffer, and may have a `"__metadata__"` object of string values.
/// See <https://github.com/huggingface/safetensors#format>.
///
/// Reading validates the whole file and reports any problem as a one-line ``FileFormatError``
/// starting with `safetensors:`. Writing orders tensors by name, packs their data contiguously in
/// that order, and pads the header with spaces to a multiple of 8 bytes, so output is
/// deterministic.
public struct SafetensorsFile: Sendable, Equatable {
    /// Element types, spelled as in the header's `"dtype"` field.
    public enum DType: String, Sendable, CaseIterable {
        case bool = "BOOL"
        case u8 = "U8"
        case i8 = "I8"
        case f8e5m2 = "F8_E5M2"
        case f8e4m3 = "F8_E4M3"
        case u16 = "U16"
        case i16 = "I16"
        case f16 = "F16"
        case bf16 = "BF16"
        case u32 = "U32"
        case i32 = "I32"
        case f32 = "F32"
        case u64 = "U64"
        case i64 = "I64"
        case f64 = "F64"

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .bool, .u8, .i8, .f8e5m2, .f8e4m3: 1
            case .u16, .i16, .f16, .bf16: 2
            case .u32, .i32, .f32: 4
            case .u64, .i64, .f64: 8
            }
        }
    }

    /// One tensor: its element type, shape, and raw little-endian bytes in row-major order.
    public struct Tensor: Sendable, Equatable {
        /// The element type.
        public var dtype: DType
        /// Dimensions, outermost first; `[]` is a scalar.
        public var shape: [Int]
        /// `shape.product * dtype.byteSize` bytes of little-endian element data.
        public var bytes: [UInt8]

        /// Creates a tensor from raw bytes; see ``SafetensorsFile/validate()`` for the requirements.
        public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }
    }

    /// The key under which the header stores metadata instead of a tensor.
    public static let metadataKey = "__metadata__"
    /// The largest header this reader accepts (100 MB), against absurd lengths in corrupt files.
    public static let maxHeaderLength = 100_000_000

    /// Free-form string metadata (the header's `"__metadata__"` object).
    public var metadata: [String: String]
    /// The tensors by name.
    public var tensors: [String: Tensor]

    /// Creates a file from metadata and tensors.
    public init(metadata: [String: String] = [:], tensors: [String: Tensor] = [:]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    private static func error(_ problem: String) -> FileFormatError {
        FileFormatError.invalid("safetensors", problem)
    }

    // MARK: Reading

    /// Parses and validates a safetensors file held in memory.
    ///
    /// - Throws: ``FileFormatError`` when the file is truncated, the header length is absurd, the
    ///   header is not a UTF-8 JSON object of the expected shape, a dtype is unknown, a shape is
    ///   negative or overflows, or a tensor's data offsets do not match its shape or lie outside
    ///   the data buffer.
    public init(data: Data) throws {
        self = try data.withUnsafeBytes { raw in try SafetensorsFile.parse(raw) }
    }

    /// Reads and validates the safetensors file at `url`.
    public init(contentsOf url: URL) throws {
        try self.init(data: FileReading.contents(of: url, format: "safetensors"))
    }

    private static func parse(_ raw: UnsafeRawBufferPointer) throws -> SafetensorsFile {
        guard raw.count >= 8 else {
            throw error("file of \(raw.count) bytes is shorter than the 8-byte header length")
        }
        let declared = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(maxHeaderLength) else {
            throw error("header length \(declared) exceeds the limit of \(maxHeaderLength) bytes")
        }
        let headerLength = Int(declared)
        guard headerLength <= raw.count - 8 else {
            throw error("header length \(headerLength) exceeds the \(raw.count - 8) bytes after the length prefix (file size \(raw.count))")
        }
        let headerBytes = raw[8..<(8 + headerLength)]
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw error("header is not valid UTF-8")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            let detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String).map { " (\($0))" } ?? ""
            throw Self.error("header is not valid JSON\(detail)")
        }
        guard let object = json as? [String: Any] else {
            throw error("header is not a JSON object")
        }
        let bufferStart = 8 + headerLength
        let bufferSize = raw.count - bufferStart

        var file = SafetensorsFile()
        for (name, value) in object {
            if name == metadataKey {
                file.metadata = try parseMetadata(value)
                continue
            }
            let subject = "tensor \(FileFormatError.quoted(name))"
            guard let entry = value as? [String: Any] else {
                throw error("\(subject) is not a JSON object")
            }
            guard let dtypeValue = entry["dtype"] else { throw error("\(subject) has no \"dtype\"") }
            guard let dtypeName = dtypeValue as? String else { throw error("\(subject) \"dtype\" is not a string") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw error("\(subject) has unknown dtype \(FileFormatError.quoted(dtypeName))")
            }
            guard let shapeValue = entry["shape"] else { throw error("\(subject) has no \"shape\"") }
            let shape = try integerArray(shapeValue, field: "shape", subject: subject)
            guard let offsetsValue = entry["data_offsets"] else { throw error("\(subject) has no \"data_offsets\"") }
            let offsets = try integerArray(offsetsValue, field: "data_offsets", subject: subject)
            guard offsets.count == 2 else {
                throw error("\(subject) \"data_offsets\" has \(offsets.count) entries, expected [begin, end]")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end else {
                throw error("\(subject) has invalid data_offsets [\(begin), \(end)] (need 0 <= begin <= end)")
            }
            guard end <= bufferSize else {
                throw error("\(subject) data_offsets end \(end) is beyond the data buffer of \(bufferSize) bytes")
            }
            let count = try FileReading.elementCount(of: shape, format: "safetensors", subject: subject)
            let expected = try FileReading.byteCount(count, itemSize: dtype.byteSize, format: "safetensors", subject: subject)
            guard end - begin == expected else {
                throw error("\(subject) has \(end - begin) bytes of data but shape \(shape) of \(dtype.rawValue) needs \(expected)")
            }
            let bytes = Array(raw[(bufferStart + begin)..<(bufferStart + end)])
            file.tensors[name] = Tensor(dtype: dtype, shape: shape, bytes: bytes)
        }
        return file
    }

    private static func parseMetadata(_ value: Any) throws -> [String: String] {
        guard let object = value as? [String: Any] else {
            throw error("\"\(metadataKey)\" is not a JSON object")
        }
        var metadata: [String: String] = [:]
        for (key, entry) in object {
            guard let text = entry as? String else {
                throw error("metadata value for key \(FileFormatError.quoted(key)) is not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    /// Reads a JSON array of integers, rejecting booleans, fractions and values beyond `Int`.
    private static func integerArray(_ value: Any, field: String, subject: String) throws -> [Int] {
        guard let array = value as? [Any] else {
            throw error("\(subject) \"\(field)\" is not an array")
        }
        return try array.map { element in
            guard let number = element as? NSNumber, isIntegerNumber(number) else {
                throw error("\(subject) \"\(field)\" contains a non-integer value")
            }
            guard let integer = number as? Int else {
                throw error("\(subject) \"\(field)\" value \(number) is too large")
            }
            return integer
        }
    }

    /// Whether a number parsed from JSON was written as an integer (not a boolean or fraction).
    private static func isIntegerNumber(_ number: NSNumber) -> Bool {
        let type = String(cString: number.objCType)
        return ["s", "S", "i", "I", "l", "L", "q", "Q"].contains(type)
    }

    // MARK: Validation and writing

    /// Checks that every tensor's byte count matches its shape and dtype, that shapes are
    /// non-negative, and that no tensor is named `"__metadata__"`.
    ///
    /// - Throws: ``FileFormatError`` naming the first offending tensor (in name order).
    public func validate() throws {
        for name in tensors.keys.sorted() {
            guard let tensor = tensors[name] else { continue }
            let subject = "tensor \(FileFormatError.quoted(name))"
            guard name != Self.metadataKey else {
                throw Self.error("a tensor cannot be named \"\(Self.metadataKey)\"")
            }
            let count = try FileReading.elementCount(of: tensor.shape, format: "safetensors", subject: subject)
            let expected = try FileReading.byteCount(count, itemSize: tensor.dtype.byteSize, format: "safetensors", subject: subject)
            guard tensor.bytes.count == expected else {
                throw Self.error("\(subject) has \(tensor.bytes.count) bytes but shape \(tensor.shape) of \(tensor.dtype.rawValue) needs \(expected)")
            }
        }
    }

    /// The file's bytes: tensors sorted by name and packed contiguously in that order, the header
    /// padded with spaces to a multiple of 8 bytes.
    ///
    /// Never fails; tensors are written as they are, so call ``validate()`` first (``write(to:)``
    /// does) to make sure readers will accept the result.
    public func serialized() -> Data {
        var header = "{"
        var first = true
        if !metadata.isEmpty {
            header += "\"\(Self.metadataKey)\":{"
            header += metadata.keys.sorted().map { key in
                "\(Self.jsonString(key)):\(Self.jsonString(metadata[key] ?? ""))"
            }.joined(separator: ",")
            header += "}"
            first = false
        }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            guard let tensor = tensors[name] else { continue }
            if !first { header += "," }
            first = false
            let end = offset + tensor.bytes.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header += "\(Self.jsonString(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes += repeatElement(UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8)

        var data = Data()
        data.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for name in names {
            if let tensor = tensors[name] { data.append(contentsOf: tensor.bytes) }
        }
        return data
    }

    /// Validates the file and writes it atomically to `url` (see ``AtomicFile``).
    ///
    /// - Throws: ``FileFormatError`` from ``validate()``, or ``FileWriteError``.
    public func write(to url: URL) throws {
        try validate()
        try AtomicFile.write(serialized(), to: url)
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    // MARK: Typed access

    /// The shape and values of a `F32` tensor.
    ///
    /// - Throws: ``FileFormatError`` if the tensor is missing (`safetensors: missing tensor
    ///   'means'`), has another dtype, or has a byte count that does not match its shape.
    public func float32Tensor(_ name: String) throws -> (shape: [Int], values: [Float]) {
        try typedValues(name, dtype: .f32) { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt32.self))) }
    }

    /// The shape and values of a `F64` tensor; errors as for ``float32Tensor(_:)``.
    public func float64Tensor(_ name: String) throws -> (shape: [Int], values: [Double]) {
        try typedValues(name, dtype: .f64) { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt64.self))) }
    }

    /// The shape and values of an `I32` tensor; errors as for ``float32Tensor(_:)``.
    public func int32Tensor(_ name: String) throws -> (shape: [Int], values: [Int32]) {
        try typedValues(name, dtype: .i32) { Int32(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt32.self))) }
    }

    /// The shape and values of an `I64` tensor; errors as for ``float32Tensor(_:)``.
    public func int64Tensor(_ name: String) throws -> (shape: [Int], values: [Int64]) {
        try typedValues(name, dtype: .i64) { Int64(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt64.self))) }
    }

    private func typedValues<T>(
        _ name: String, dtype: DType, load: (UnsafeRawBufferPointer, Int) -> T
    ) throws -> (shape: [Int], values: [T]) {
        let subject = "tensor \(FileFormatError.quoted(name))"
        guard let tensor = tensors[name] else {
            throw Self.error("missing tensor \(FileFormatError.quoted(name))")
        }
        guard tensor.dtype == dtype else {
            throw Self.error("\(subject) has dtype \(tensor.dtype.rawValue), expected \(dtype.rawValue)")
        }
        let count = try FileReading.elementCount(of: tensor.shape, format: "safetensors", subject: subject)
        let expected = try FileReading.byteCount(count, itemSize: dtype.byteSize, format: "safetensors", subject: subject)
        guard tensor.bytes.count == expected else {
            throw Self.error("\(subject) has \(tensor.bytes.count) bytes but shape \(tensor.shape) of \(dtype.rawValue) needs \(expected)")
        }
        let size = dtype.byteSize
        let values = tensor.bytes.withUnsafeBytes { raw in
            (0..<count).map { load(raw, $0 * size) }
        }
        return (tensor.shape, values)
    }

    // MARK: Building

    /// A `F32` tensor holding `values` (row-major) with `shape`.
    public static func float32(_ values: [Float], shape: [Int]) -> Tensor {
        Tensor(dtype: .f32, shape: shape, bytes: littleEndianBytes(values.map(\.bitPattern)))
    }

    /// A `F64` tensor holding `values` (row-major) with `shape`.
    public static func float64(_ values: [Double], shape: [Int]) -> Tensor {
        Tensor(dtype: .f64, shape: shape, bytes: littleEndianBytes(values.map(\.bitPattern)))
    }

    /// An `I32` tensor holding `values` (row-major) with `shape`.
    public static func int32(_ values: [Int32], shape: [Int]) -> Tensor {
        Tensor(dtype: .i32, shape: shape, bytes: littleEndianBytes(values))
    }

    /// An `I64` tensor holding `values` (row-major) with `shape`.
    public static func int64(_ values: [Int64], shape: [Int]) -> Tensor {
        Tensor(dtype: .i64, shape: shape, bytes: littleEndianBytes(values))
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
        for value in values {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}
