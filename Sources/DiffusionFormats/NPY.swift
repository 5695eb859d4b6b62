import Foundation

/// A NumPy `.npy` array of `float32`, `float64` or `int32` values in C (row-major) order.
///
/// A `.npy` file is the magic string `\x93NUMPY`, a major and minor version byte, the header
/// length (2 bytes little-endian in version 1.0; 4 bytes in 2.0 and 3.0), an ASCII (UTF-8 in 3.0)
/// Python dict literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`
/// padded with spaces and ending in `\n` so that the data starts at a multiple of 64 bytes, and
/// then the raw little-endian values. See
/// <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.
///
/// Reading accepts versions 1.0, 2.0 and 3.0, dtypes `<f4`, `<f8` and `<i4` (also spelled with `|`, `=`
/// or no byte-order character), any shape including the scalar `()` and zero-size dimensions.
/// Big-endian data, Fortran order and other dtypes are rejected. Writing uses version 1.0, or 2.0
/// when the header does not fit in 65,535 bytes. Every problem is a one-line ``FileFormatError``
/// starting with `npy:`.
public struct NPYArray: Sendable, Equatable {
    /// The values, in the element type they were read or created with.
    public enum Storage: Sendable, Equatable {
        /// `'<f4'` values.
        case float32([Float])
        /// `'<f8'` values.
        case float64([Double])
        /// `'<i4'` values (token ids).
        case int32([Int32])

        /// How many values are stored.
        public var count: Int {
            switch self {
            case .float32(let values): values.count
            case .float64(let values): values.count
            case .int32(let values): values.count
            }
        }

        /// The `descr` string NumPy uses for this element type.
        var descr: String {
            switch self {
            case .float32: "<f4"
            case .float64: "<f8"
            case .int32: "<i4"
            }
        }

        /// Bytes per element.
        var itemSize: Int {
            switch self {
            case .float32, .int32: 4
            case .float64: 8
            }
        }
    }

    /// Dimensions, outermost first; `[]` is a scalar (one value).
    public var shape: [Int]
    /// The values in C order.
    public var storage: Storage

    /// A `float32` array; `float32.count` should equal the product of `shape` (see ``validate()``).
    public init(shape: [Int], float32: [Float]) {
        self.shape = shape
        self.storage = .float32(float32)
    }

    /// A `float64` array; `float64.count` should equal the product of `shape` (see ``validate()``).
    public init(shape: [Int], float64: [Double]) {
        self.shape = shape
        self.storage = .float64(float64)
    }

    /// An `int32` array; `int32.count` should equal the product of `shape` (see ``validate()``).
    public init(shape: [Int], int32: [Int32]) {
        self.shape = shape
        self.storage = .int32(int32)
    }

    /// The values if they are stored as `int32`, else `nil`.
    public var int32Values: [Int32]? {
        if case .int32(let values) = storage { return values }
        return nil
    }

    /// The values as `Float`, rounding if they are stored as `float64` or `int32`.
    public var float32Values: [Float] {
        switch storage {
        case .float32(let values): values
        case .float64(let values): values.map { Float($0) }
        case .int32(let values): values.map { Float($0) }
        }
    }

    /// The values as `Double`, widening exactly if they are stored as `float32`.
    public var float64Values: [Double] {
        switch storage {
        case .float32(let values): values.map { Double($0) }
        case .float64(let values): values
        case .int32(let values): values.map { Double($0) }
        }
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    private static func error(_ problem: String) -> FileFormatError {
        FileFormatError.invalid("npy", problem)
    }

    // MARK: Reading

    /// Parses a `.npy` file held in memory.
    ///
    /// - Throws: ``FileFormatError`` for a bad magic string, a truncated preamble, a header length
    ///   beyond the file, an unparseable header or missing key, an unsupported dtype, Fortran
    ///   order, a negative or overflowing shape, or a data length that does not match the shape.
    public init(data: Data) throws {
        self = try data.withUnsafeBytes { raw in try NPYArray.parse(raw) }
    }

    /// Reads the `.npy` file at `url`.
    public init(contentsOf url: URL) throws {
        try self.init(data: FileReading.contents(of: url, format: "npy"))
    }

    private static func parse(_ raw: UnsafeRawBufferPointer) throws -> NPYArray {
        let magicLength = min(raw.count, magic.count)
        guard raw.prefix(magicLength).elementsEqual(magic.prefix(magicLength)) else {
            throw error("bad magic string (not a .npy file)")
        }
        guard raw.count >= 10 else {
            throw error("truncated preamble: file has only \(raw.count) bytes")
        }
        let major = raw[6], minor = raw[7]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(UInt16(raw[8]) | UInt16(raw[9]) << 8)
        case 2, 3:
            guard raw.count >= 12 else {
                throw error("truncated preamble: file has only \(raw.count) bytes")
            }
            headerStart = 12
            headerLength = Int(UInt32(raw[8]) | UInt32(raw[9]) << 8 | UInt32(raw[10]) << 16 | UInt32(raw[11]) << 24)
        default:
            throw error("unsupported format version \(major).\(minor)")
        }
        guard minor == 0 else { throw error("unsupported format version \(major).\(minor)") }
        guard headerLength <= raw.count - headerStart else {
            throw error("header length \(headerLength) exceeds the \(raw.count - headerStart) bytes after the preamble (file size \(raw.count))")
        }
        let headerBytes = raw[headerStart..<(headerStart + headerLength)]
        let headerText: String
        if major == 3 {
            guard let text = String(validating: headerBytes, as: UTF8.self) else {
                throw error("header is not valid UTF-8")
            }
            headerText = text
        } else {
            // Versions 1.0 and 2.0 use latin-1: each byte is one code point.
            headerText = String(String.UnicodeScalarView(headerBytes.map { Unicode.Scalar($0) }))
        }
        let entries: [(key: String, value: NPYHeaderParser.Value)]
        do {
            entries = try NPYHeaderParser.parseDict(headerText)
        } catch {
            throw Self.error("cannot parse header: \(error.reason)")
        }
        func value(_ key: String) throws -> NPYHeaderParser.Value {
            guard let entry = entries.last(where: { $0.key == key }) else {
                throw error("header has no '\(key)' key")
            }
            return entry.value
        }

        guard case let .string(descr) = try value("descr") else {
            throw error("unsupported dtype: 'descr' is not a string (structured arrays are not supported)")
        }
        guard case let .bool(fortranOrder) = try value("fortran_order") else {
            throw error("'fortran_order' is not True or False")
        }
        guard case let .sequence(dimensions) = try value("shape") else {
            throw error("'shape' is not a tuple")
        }
        let (itemSize, isInteger) = try itemSize(forDescr: descr)
        guard !fortranOrder else { throw error("Fortran-order arrays are not supported") }
        var shape: [Int] = []
        for dimension in dimensions {
            guard case let .integer(size) = dimension else { throw error("'shape' contains a non-integer") }
            guard let size else { throw error("'shape' has a dimension too large for Int") }
            shape.append(size)
        }
        let count = try FileReading.elementCount(of: shape, format: "npy", subject: "array")
        let expected = try FileReading.byteCount(count, itemSize: itemSize, format: "npy", subject: "array")
        let dataStart = headerStart + headerLength
        let available = raw.count - dataStart
        guard available == expected else {
            throw error("data has \(available) bytes but shape \(shape) of '\(descr)' needs \(expected)")
        }
        if isInteger {
            let values = (0..<count).map { i in
                Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self)))
            }
            return NPYArray(shape: shape, int32: values)
        } else if itemSize == 4 {
            let values = (0..<count).map { i in
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self)))
            }
            return NPYArray(shape: shape, float32: values)
        } else {
            let values = (0..<count).map { i in
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 8 * i, as: UInt64.self)))
            }
            return NPYArray(shape: shape, float64: values)
        }
    }

    /// The item size of the little-endian float and int32 dtypes and whether it is the integer one,
    /// or an error naming the dtype.
    private static func itemSize(forDescr descr: String) throws -> (Int, Bool) {
        var type = Substring(descr)
        if let order = type.first, "<>|=".contains(order) {
            type = type.dropFirst()
            if order == ">" && (type == "f4" || type == "f8" || type == "i4") {
                throw error("big-endian dtype \(FileFormatError.quoted(descr)) is not supported (expected little-endian '<f4', '<f8' or '<i4')")
            }
        }
        switch type {
        case "f4": return (4, false)
        case "f8": return (8, false)
        case "i4": return (4, true)
        default:
            throw error("unsupported dtype \(FileFormatError.quoted(descr)) (expected float32 '<f4', float64 '<f8' or int32 '<i4')")
        }
    }

    // MARK: Writing

    /// Checks that the shape is non-negative, does not overflow, and matches the number of values.
    ///
    /// - Throws: ``FileFormatError`` with an `npy:` message.
    public func validate() throws {
        let count = try FileReading.elementCount(of: shape, format: "npy", subject: "array")
        guard count == storage.count else {
            throw Self.error("shape \(shape) needs \(count) values but the array has \(storage.count)")
        }
    }

    /// The header dict literal, as NumPy writes it (before padding).
    var headerDict: String {
        let dimensions = shape.map(String.init)
        let shapeText = dimensions.count == 1 ? "(\(dimensions[0]),)" : "(\(dimensions.joined(separator: ", ")))"
        return "{'descr': '\(storage.descr)', 'fortran_order': False, 'shape': \(shapeText), }"
    }

    /// The `.npy` file: version 1.0 (2.0 if the header exceeds 65,535 bytes), data aligned to 64.
    ///
    /// Never fails; the header records `shape` and the data holds the stored values as they are,
    /// so call ``validate()`` first (``write(to:)`` does) to make sure readers accept the result.
    public func serialized() -> Data {
        let dict = Array(headerDict.utf8)
        var prefixLength = 10
        var padded = dict.count + 1 + (64 - (prefixLength + dict.count + 1) % 64) % 64
        var version: UInt8 = 1
        if padded > Int(UInt16.max) {
            version = 2
            prefixLength = 12
            padded = dict.count + 1 + (64 - (prefixLength + dict.count + 1) % 64) % 64
        }
        var bytes = Self.magic + [version, 0]
        if version == 1 {
            bytes += [UInt8(padded & 0xFF), UInt8(padded >> 8)]
        } else {
            bytes += [UInt8(padded & 0xFF), UInt8((padded >> 8) & 0xFF), UInt8((padded >> 16) & 0xFF), UInt8((padded >> 24) & 0xFF)]
        }
        bytes += dict
        bytes += repeatElement(UInt8(ascii: " "), count: padded - dict.count - 1)
        bytes.append(UInt8(ascii: "\n"))

        var data = Data(bytes)
        switch storage {
        case .float32(let values):
            data.reserveCapacity(bytes.count + 4 * values.count)
            for value in values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            }
        case .float64(let values):
            data.reserveCapacity(bytes.count + 8 * values.count)
            for value in values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            }
        case .int32(let values):
            data.reserveCapacity(bytes.count + 4 * values.count)
            for value in values {
                withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// Validates the array and writes it atomically to `url` (see ``AtomicFile``).
    ///
    /// - Throws: ``FileFormatError`` from ``validate()``, or ``FileWriteError``.
    public func write(to url: URL) throws {
        try validate()
        try AtomicFile.write(serialized(), to: url)
    }
}
