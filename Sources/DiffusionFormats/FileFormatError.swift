/// An error describing why bytes could not be read or written as a particular file format.
///
/// Every reader in `IO/` reports malformed input with this one error type instead of trapping.
/// The ``description`` is always a single line that names the format and the problem, for example
/// `safetensors: header length 9999 exceeds the 112 bytes after the length prefix (file size 120)`,
/// so it can be printed as-is by a command-line tool or attached to a test failure.
///
/// Formats covered: safetensors (<https://github.com/huggingface/safetensors#format>),
/// NumPy `.npy` (<https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>),
/// PNG (<https://www.w3.org/TR/png-3/>), zlib (RFC 1950) and DEFLATE (RFC 1951).
public struct FileFormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The full message, conventionally `"<format>: <problem>"`.
    public var message: String

    /// Creates an error with a complete message.
    public init(message: String) {
        self.message = message
    }

    /// Builds an error whose message is `"<format>: <problem>"`.
    ///
    /// - Parameters:
    ///   - format: The short format name, such as `"safetensors"`, `"npy"` or `"png"`.
    ///   - problem: What is wrong, in one line.
    public static func invalid(_ format: String, _ problem: String) -> FileFormatError {
        FileFormatError(message: "\(format): \(problem)")
    }

    /// The message on one line: control characters (such as newlines coming from names read out of
    /// a file) are shown as escapes.
    public var description: String {
        FileFormatError.singleLine(message)
    }

    /// Replaces control characters with visible escapes so that text taken from a file can never
    /// split an error message over several lines.
    package static func singleLine(_ text: String) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value)
                    || scalar.properties.generalCategory == .lineSeparator
                    || scalar.properties.generalCategory == .paragraphSeparator
                {
                    result += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// Quotes a name taken from a file for use inside a message: `'name'`, shortened if very long.
    static func quoted(_ name: String, limit: Int = 80) -> String {
        let oneLine = singleLine(name)
        if oneLine.count <= limit { return "'\(oneLine)'" }
        return "'\(oneLine.prefix(limit))...'"
    }
}
