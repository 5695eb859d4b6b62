// libFuzzer harnesses for the file parsers of DiffusionFormats. Built by fuzz/run.sh, which compiles
// this file together with Sources/DiffusionFormats/*.swift, one binary per target (FUZZ_NPY, ...):
// SwiftPM cannot pass -sanitize=fuzzer without unsafe flags, so the fuzzers live outside the package.
//
// The contract checked: any bytes either parse or throw; none trap, overflow or read out of bounds
// (AddressSanitizer); what parses serializes and parses back to the same value.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(UnsafeBufferPointer(start: bytes, count: size))
#if FUZZ_NPY
    if let array = try? NPYArray(data: data) {
        guard let again = try? NPYArray(data: array.serialized()), again == array || array.hasNaN else { fatalError("npy round trip") }
    }
#elseif FUZZ_SAFETENSORS
    if let file = try? SafetensorsFile(data: data) {
        guard let again = try? SafetensorsFile(data: file.serialized()), again == file else { fatalError("safetensors round trip") }
    }
#elseif FUZZ_PNG
    if let image = try? PNGDecoder.decode(data, maxDecodedBytes: 1 << 22) {
        guard let again = try? PNGDecoder.decode(image.encoded()), again == image else { fatalError("png round trip") }
    }
#elseif FUZZ_ZLIB
    if let raw = try? Zlib.decompress(Array(data), maxOutputSize: 1 << 22) {
        guard let again = try? Zlib.decompress(Zlib.compress(raw)), again == raw else { fatalError("zlib round trip") }
    }
#endif
    return 0
}

#if FUZZ_NPY
extension NPYArray {
    /// NaN ≠ NaN: an array holding one cannot compare equal to its copy.
    var hasNaN: Bool {
        switch storage {
        case .float32(let v): v.contains { $0.isNaN }
        case .float64(let v): v.contains { $0.isNaN }
        default: false
        }
    }
}
#endif
