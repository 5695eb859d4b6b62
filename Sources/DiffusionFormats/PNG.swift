import Foundation

/// An 8-bit grayscale or RGB image that can be encoded as a PNG file.
///
/// Pixels are stored row-major from the top-left corner, with 1 byte per pixel (``Format/gray8``)
/// or 3 bytes per pixel in R, G, B order (``Format/rgb8``). Encoding writes the chunks IHDR, IDAT
/// and IEND (each with its CRC-32), without interlacing. Each row is filtered with whichever of
/// the five PNG filters gives the smallest sum of absolute values (the specification's suggested
/// heuristic), and the filtered rows are compressed with ``Zlib``.
/// See <https://www.w3.org/TR/png-3/>. ``PNGDecoder`` reads such files back.
public struct PNGImage: Sendable, Equatable {
    /// The pixel layout; both use a bit depth of 8.
    public enum Format: Sendable, Equatable {
        /// One byte per pixel, PNG color type 0.
        case gray8
        /// Three bytes per pixel (red, green, blue), PNG color type 2.
        case rgb8

        /// Bytes per pixel: 1 or 3.
        public var channels: Int {
            switch self {
            case .gray8: 1
            case .rgb8: 3
            }
        }

        /// The PNG color type byte written in IHDR.
        var colorType: UInt8 {
            switch self {
            case .gray8: 0
            case .rgb8: 2
            }
        }
    }

    /// Width in pixels (1...2^31 - 1 for a valid image).
    public var width: Int
    /// Height in pixels (1...2^31 - 1 for a valid image).
    public var height: Int
    /// Gray or RGB.
    public var format: Format
    /// `width * height * format.channels` bytes, row-major from the top-left.
    public var pixels: [UInt8]

    /// Creates an image from its pixel bytes; see ``validate()`` for the requirements.
    public init(width: Int, height: Int, format: Format, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.format = format
        self.pixels = pixels
    }

    /// The PNG signature that starts every file.
    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
    /// Largest width or height PNG allows.
    package static let maxDimension = Int(Int32.max)

    /// The bytes of the pixel at column `x`, row `y` (1 or 3 of them), or `nil` outside the image.
    public func pixel(x: Int, y: Int) -> [UInt8]? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let channels = format.channels
        let (row, overflow1) = y.multipliedReportingOverflow(by: width)
        let (start, overflow2) = (row + x).multipliedReportingOverflow(by: channels)
        guard !overflow1, !overflow2, start <= pixels.count - channels else { return nil }
        return Array(pixels[start..<(start + channels)])
    }

    /// Checks that the dimensions are within PNG's limits and that `pixels` has exactly
    /// `width * height * channels` bytes.
    ///
    /// - Throws: ``FileFormatError`` with a `png:` message.
    public func validate() throws {
        guard (1...Self.maxDimension).contains(width), (1...Self.maxDimension).contains(height) else {
            throw FileFormatError.invalid("png", "image size \(width)x\(height) is outside 1...\(Self.maxDimension) in each dimension")
        }
        let (perRow, overflow1) = width.multipliedReportingOverflow(by: format.channels)
        let (total, overflow2) = perRow.multipliedReportingOverflow(by: height)
        guard !overflow1, !overflow2 else {
            throw FileFormatError.invalid("png", "image size \(width)x\(height) is too large")
        }
        guard pixels.count == total else {
            throw FileFormatError.invalid("png", "\(pixels.count) pixel bytes for a \(width)x\(height) image with \(format.channels) channel(s) (expected \(total))")
        }
    }

    /// The PNG file for this image.
    ///
    /// Never fails. An image that does not pass ``validate()`` (dimensions outside PNG's limits,
    /// or a pixel count that does not match them) is written with empty image data, which
    /// decoders reject. Use ``write(to:)`` or call ``validate()`` first to get an error instead.
    public func encoded() -> Data {
        let channels = format.channels
        let w = min(max(width, 0), Self.maxDimension)
        let h = min(max(height, 0), Self.maxDimension)
        var header: [UInt8] = []
        appendBigEndian(UInt32(w), to: &header)
        appendBigEndian(UInt32(h), to: &header)
        header += [8, format.colorType, 0, 0, 0]  // bit depth, color type, compression, filter, interlace

        var filtered: [UInt8] = []
        let rowBytes = w * channels
        let (total, overflow) = h.multipliedReportingOverflow(by: rowBytes + 1)
        if w > 0, h > 0, !overflow, w == width, h == height, pixels.count == h * rowBytes {
            filtered = PNGImage.filterRows(pixels, rowBytes: rowBytes, rows: h, bytesPerPixel: channels, capacity: total)
        }

        var file: [UInt8] = Self.signature
        appendChunk("IHDR", header, to: &file)
        let compressed = Zlib.compress(filtered)
        let maxChunk = 1 << 20
        var start = 0
        repeat {
            let end = min(start + maxChunk, compressed.count)
            appendChunk("IDAT", compressed[start..<end], to: &file)
            start = end
        } while start < compressed.count
        appendChunk("IEND", [], to: &file)
        return Data(file)
    }

    /// Validates the image and writes it as a PNG file atomically (see ``AtomicFile``).
    ///
    /// - Throws: ``FileFormatError`` for an invalid image, ``FileWriteError`` if the file cannot
    ///   be written.
    public func write(to url: URL) throws {
        try validate()
        try AtomicFile.write(encoded(), to: url)
    }

    /// Filters each row with the filter type (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) that
    /// minimizes the sum of the filtered bytes taken as signed values.
    /// Bytes missing from `pixels` are treated as zeros.
    static func filterRows(_ pixels: [UInt8], rowBytes: Int, rows: Int, bytesPerPixel bpp: Int, capacity: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: capacity)
        // Rows: previous, current, and one scratch row per filter type.
        var scratch = [UInt8](repeating: 0, count: 7 * rowBytes)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { output in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    guard let base = scratch.baseAddress, let out = output.baseAddress else { return }
                    // The row above the first is all zeros.
                    var previous = base
                    var current = base + rowBytes
                    let candidates = base + 2 * rowBytes
                    for y in 0..<rows {
                        let rowStart = y * rowBytes
                        let available = max(0, min(rowBytes, source.count - rowStart))
                        for i in 0..<rowBytes {
                            current[i] = i < available ? source[rowStart + i] : 0
                        }
                        var bestType = 0
                        var bestScore = Int.max
                        for type in 0..<5 {
                            let score = filterRow(type: type, current: current, previous: previous, count: rowBytes,
                                                  bpp: bpp, into: candidates + type * rowBytes)
                            if score < bestScore {
                                bestScore = score
                                bestType = type
                            }
                        }
                        let outputStart = y * (rowBytes + 1)
                        out[outputStart] = UInt8(bestType)
                        (out + outputStart + 1).update(from: candidates + bestType * rowBytes, count: rowBytes)
                        swap(&previous, &current)
                    }
                }
            }
        }
        return output
    }

    /// Writes the row `current` filtered with `type` into `target` (both `count` bytes), given the
    /// unfiltered row above (`previous`), and returns the sum of |filtered byte as Int8|, the
    /// filter-selection heuristic. Written as one loop per filter type to stay fast in debug builds.
    private static func filterRow(
        type: Int, current: UnsafeMutablePointer<UInt8>, previous: UnsafeMutablePointer<UInt8>,
        count: Int, bpp: Int, into target: UnsafeMutablePointer<UInt8>
    ) -> Int {
        let head = min(bpp, count)
        switch type {
        case 0:
            for i in 0..<count { target[i] = current[i] }
        case 1:
            for i in 0..<head { target[i] = current[i] }
            for i in head..<count { target[i] = current[i] &- current[i - bpp] }
        case 2:
            for i in 0..<count { target[i] = current[i] &- previous[i] }
        case 3:
            for i in 0..<head { target[i] = current[i] &- previous[i] / 2 }
            for i in head..<count {
                target[i] = current[i] &- UInt8(truncatingIfNeeded: (UInt16(current[i - bpp]) &+ UInt16(previous[i])) >> 1)
            }
        default:
            for i in 0..<head { target[i] = current[i] &- previous[i] }
            for i in head..<count { target[i] = current[i] &- paeth(current[i - bpp], previous[i], previous[i - bpp]) }
        }
        var score = 0
        for i in 0..<count {
            let value = Int(target[i])
            score &+= value < 128 ? value : 256 - value
        }
        return score
    }

    /// The Paeth predictor: whichever of left, above and upper-left is closest to
    /// `left + above - upperLeft`, preferring left, then above.
    static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        if pb <= pc { return b }
        return c
    }
}

/// Appends `value` as four big-endian bytes.
private func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

/// Appends one chunk: length, four-letter type, data and the CRC-32 of type and data.
private func appendChunk(_ type: String, _ data: some Collection<UInt8>, to file: inout [UInt8]) {
    let typeBytes = Array(type.utf8)
    appendBigEndian(UInt32(data.count), to: &file)
    file += typeBytes
    file += data
    appendBigEndian(CRC32.update(CRC32.checksum(typeBytes), with: data), to: &file)
}
