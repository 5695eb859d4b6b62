import DiffusionCore

/// The random numbers of one sample of a discrete run: a Philox-4x32-10 stream keyed by the seed
/// and counted per sample (`Philox4x32`, the package's counter-based generator), so sample `b`
/// draws the same numbers whatever the batch size, the thread count or the order of the samples.
public struct DiscreteRandom: Sendable {
    private let generator: Philox4x32
    private let sample: UInt64
    private var block: UInt64 = 0
    private var words: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var used = 4

    public init(seed: UInt64, sample: Int) {
        // A key of its own, apart from the continuous samplers' streams of the same seed.
        self.generator = Philox4x32(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
        self.sample = UInt64(sample)
    }

    /// The next 32 random bits.
    public mutating func word() -> UInt32 {
        if used == 4 {
            words = generator.block((UInt32(truncatingIfNeeded: block), UInt32(truncatingIfNeeded: block >> 32),
                                     UInt32(truncatingIfNeeded: sample), UInt32(truncatingIfNeeded: sample >> 32)))
            block &+= 1
            used = 0
        }
        defer { used += 1 }
        switch used {
        case 0: return words.0
        case 1: return words.1
        case 2: return words.2
        default: return words.3
        }
    }

    /// A uniform in the open interval (0, 1) with 53 random bits.
    public mutating func uniform() -> Double {
        let bits = UInt64(word()) << 21 | UInt64(word() >> 11)
        return (Double(bits) + 0.5) * 0x1p-53
    }

    /// A uniform integer in `0..<n` (`n ≥ 1`).
    public mutating func index(below n: Int) -> Int {
        min(Int(uniform() * Double(n)), n - 1)
    }
}
