/// SplitMix64 (Steele et al. 2014): a small, fast generator with a reproducible stream, for the
/// searches' random choices and reproducible test data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A uniform integer in `0..<n` (n ≥ 1), by multiply-shift (the same on every platform).
    public mutating func below(_ n: Int) -> Int { Int(next().multipliedFullWidth(by: UInt64(n)).high) }
    /// A uniform double in `[0, 1)`.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
}
