import Foundation

/// A model that can name its exact parameters with a 64-bit fingerprint, so results computed from
/// it (ground-truth solutions) can be cached on disk.
public protocol Fingerprinted {
    /// The fingerprint, or `nil` when this instance cannot name its parameters (it is then never
    /// cached: a made-up value could collide with another model's).
    var fingerprint: UInt64? { get }
}

/// FNV-1a, 64-bit: a fast, stable, non-cryptographic hash for cache keys.
public struct FNV1a: Sendable {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    public init() {}
    public mutating func add(bytes: UnsafeRawBufferPointer) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    }
    public mutating func add<T>(_ values: [T]) { values.withUnsafeBytes { add(bytes: $0) } }
    public mutating func add(_ string: String) { add(Array(string.utf8)) }
    public mutating func add(_ value: Double) { add([value]) }
    /// Mixes `data` eight bytes at a time (the tail byte-wise): FNV-1a's step on 64-bit words, for
    /// fingerprints of large files such as network weights.
    public mutating func add(words data: Data) {
        data.withUnsafeBytes { raw in
            let words = raw.count / 8
            for w in 0..<words { value = (value ^ raw.loadUnaligned(fromByteOffset: 8 * w, as: UInt64.self)) &* 0x0000_0100_0000_01B3 }
            add(bytes: UnsafeRawBufferPointer(rebasing: raw[(8 * words)...]))
        }
    }
}

extension GaussianMixture: Fingerprinted {
    public var fingerprint: UInt64? {
        var h = FNV1a()
        h.add(weights); h.add(means); h.add(stds); h.add(sampleShape); h.add(labels ?? [])
        return h.value
    }
}

extension ClassifierFreeGuidance: Fingerprinted {
    public var fingerprint: UInt64? {
        guard let baseFingerprint = (base as? any Fingerprinted)?.fingerprint else { return nil }
        var h = FNV1a()
        h.add([baseFingerprint])
        h.add(base.name); h.add([classLabel]); h.add(scale); h.add(rescale)
        return h.value
    }
}
