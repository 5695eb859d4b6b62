/// A small, tolerant parser for the Python literal that forms a `.npy` header.
///
/// The header is the `repr` of a dict such as `{'descr': '<f4', 'fortran_order': False,
/// 'shape': (3, 4), }`. This parser accepts the literal subset NumPy writes, written by hand or by
/// older versions: strings in single or double quotes (with backslash escapes), `True`, `False`,
/// `None`, integers (optionally with Python 2's `L` suffix), tuples and lists (with optional
/// trailing commas), nested dicts, and any whitespace between tokens. Nesting is limited to 32
/// levels. See <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.
struct NPYHeaderParser {
    /// A parsed Python literal.
    indirect enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case none
        /// An integer; `nil` when it does not fit in `Int`.
        case integer(Int?)
        case sequence([Value])
        case dict([(key: String, value: Value)])

        static func == (lhs: Value, rhs: Value) -> Bool {
            switch (lhs, rhs) {
            case let (.string(a), .string(b)): a == b
            case let (.bool(a), .bool(b)): a == b
            case (.none, .none): true
            case let (.integer(a), .integer(b)): a == b
            case let (.sequence(a), .sequence(b)): a == b
            case let (.dict(a), .dict(b)): a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value)
            default: false
            }
        }
    }

    /// A parse failure with a short reason; the caller adds the `npy:` prefix.
    struct Failure: Error {
        var reason: String
    }

    private let scalars: [Unicode.Scalar]
    private var index = 0
    private static let maxDepth = 32

    /// Parses `text`, which must hold one dict literal and nothing but whitespace around it.
    static func parseDict(_ text: String) throws(Failure) -> [(key: String, value: Value)] {
        var parser = NPYHeaderParser(scalars: Array(text.unicodeScalars))
        parser.skipWhitespace()
        guard parser.peek() == "{" else { throw Failure(reason: "header does not start with '{'") }
        guard case let .dict(entries) = try parser.parseValue(depth: 0) else {
            throw Failure(reason: "header is not a dict")
        }
        parser.skipWhitespace()
        guard parser.index == parser.scalars.count else {
            throw Failure(reason: "unexpected text after the header dict at character \(parser.index)")
        }
        return entries
    }

    private init(scalars: [Unicode.Scalar]) {
        self.scalars = scalars
    }

    private func peek() -> Unicode.Scalar? {
        index < scalars.count ? scalars[index] : nil
    }

    private mutating func skipWhitespace() {
        while let c = peek(), c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\0" {
            index += 1
        }
    }

    private mutating func expect(_ c: Unicode.Scalar) throws(Failure) {
        skipWhitespace()
        guard peek() == c else {
            let found = peek().map { "'\($0.escaped(asASCII: true))'" } ?? "end of header"
            throw Failure(reason: "expected '\(c)' but found \(found) at character \(index)")
        }
        index += 1
    }

    private mutating func parseValue(depth: Int) throws(Failure) -> Value {
        guard depth < Self.maxDepth else { throw Failure(reason: "header nests too deeply") }
        skipWhitespace()
        guard let c = peek() else { throw Failure(reason: "unexpected end of header") }
        switch c {
        case "'", "\"":
            return .string(try parseString())
        case "{":
            index += 1
            var entries: [(key: String, value: Value)] = []
            while true {
                skipWhitespace()
                if peek() == "}" { index += 1; return .dict(entries) }
                skipWhitespace()
                guard let q = peek(), q == "'" || q == "\"" else {
                    throw Failure(reason: "expected a quoted key at character \(index)")
                }
                let key = try parseString()
                try expect(":")
                let value = try parseValue(depth: depth + 1)
                entries.append((key, value))
                skipWhitespace()
                if peek() == "," { index += 1; continue }
                try expect("}")
                return .dict(entries)
            }
        case "(", "[":
            let close: Unicode.Scalar = c == "(" ? ")" : "]"
            index += 1
            var items: [Value] = []
            while true {
                skipWhitespace()
                if peek() == close { index += 1; return .sequence(items) }
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if peek() == "," { index += 1; continue }
                try expect(close)
                return .sequence(items)
            }
        case "-", "+", "0"..."9":
            return .integer(try parseInteger())
        default:
            var word = ""
            while let w = peek(), w.properties.isAlphabetic || w == "_" || ("0"..."9").contains(w) {
                word.unicodeScalars.append(w)
                index += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            case "": throw Failure(reason: "unexpected character '\(c.escaped(asASCII: true))' at character \(index)")
            default: throw Failure(reason: "unexpected word '\(word.prefix(40))' at character \(index - word.unicodeScalars.count)")
            }
        }
    }

    /// An integer literal; `nil` if it overflows `Int`.
    private mutating func parseInteger() throws(Failure) -> Int? {
        var negative = false
        if peek() == "-" || peek() == "+" {
            negative = peek() == "-"
            index += 1
        }
        var value: Int? = 0
        var digits = 0
        while let d = peek(), ("0"..."9").contains(d) {
            let digit = Int(d.value - 48)
            if let current = value {
                let (times10, o1) = current.multipliedReportingOverflow(by: 10)
                let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
                value = (o1 || o2) ? nil : next
            }
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw Failure(reason: "expected digits at character \(index)") }
        if peek() == "L" || peek() == "l" { index += 1 }
        return value
    }

    /// A quoted string; handles the backslash escapes `\\`, `\'`, `\"`, `\n`, `\t` and `\r`.
    private mutating func parseString() throws(Failure) -> String {
        guard let quote = peek() else { throw Failure(reason: "unexpected end of header") }
        index += 1
        var result = ""
        while true {
            guard let c = peek() else { throw Failure(reason: "unterminated string") }
            index += 1
            if c == quote { return result }
            if c == "\\" {
                guard let escaped = peek() else { throw Failure(reason: "unterminated string") }
                index += 1
                switch escaped {
                case "n": result += "\n"
                case "t": result += "\t"
                case "r": result += "\r"
                default: result.unicodeScalars.append(escaped)
                }
            } else {
                result.unicodeScalars.append(c)
            }
        }
    }
}
