import Foundation

/// Small shared helpers for the file readers: reading a whole file, and checked shape arithmetic.
///
/// Both turn failures into one-line ``FileFormatError`` values naming the format, so every reader
/// reports problems the same way.
enum FileReading {
    /// The contents of the file at `url`, or a `"<format>: cannot read '<path>': <reason>"` error.
    static func contents(of url: URL, format: String) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw FileFormatError.invalid(format, "cannot read '\(url.path)': \((error as NSError).localizedDescription)")
        }
    }

    /// The number of elements of an array with `shape` (1 for the scalar shape `[]`), rejecting
    /// negative dimensions and products that overflow `Int`.
    ///
    /// - Parameters:
    ///   - format: The format name for error messages, such as `"npy"`.
    ///   - subject: What the shape belongs to, such as `"tensor 'means'"`, for error messages.
    static func elementCount(of shape: [Int], format: String, subject: String) throws -> Int {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else {
                throw FileFormatError.invalid(format, "\(subject) has negative dimension \(dimension) in shape \(shape)")
            }
        }
        // A zero dimension makes the array empty however large the others are.
        if shape.contains(0) { return 0 }
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw FileFormatError.invalid(format, "\(subject) shape \(shape) has too many elements (overflows Int)")
            }
            count = product
        }
        return count
    }

    /// `count * itemSize`, or an overflow error.
    static func byteCount(_ count: Int, itemSize: Int, format: String, subject: String) throws -> Int {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow else {
            throw FileFormatError.invalid(format, "\(subject) of \(count) elements is too large (byte count overflows Int)")
        }
        return bytes
    }
}
