/// A supply of standard-normal noise for stochastic solver steps.
///
/// Injected into the sampling run, so stochastic results can be reproduced from a seed or
/// compared draw for draw with another implementation (``RecordedNoise``).
///
/// Not `Sendable`: a source keeps its position in the stream, so it belongs to the one run that
/// draws from it, and moves to another task with that run (``AsyncSamplingRun``).
public protocol NoiseSource: AnyObject {
    /// Fills `noise` (shape `[B] + sampleShape`) with the next standard-normal draw, for `step`.
    func fill(_ noise: inout SampleTensor, step: Int) throws
    /// Fills `noise` with the draw for the increment from noise level `sigma` to `sigmaNext`
    /// (user-facing sigmas). Sources that depend on the interval, like a Brownian tree, use it;
    /// the others draw as ``fill(_:step:)``.
    func fill(_ noise: inout SampleTensor, step: Int, from sigma: Double, to sigmaNext: Double) throws
}

extension NoiseSource {
    public func fill(_ noise: inout SampleTensor, step: Int, from sigma: Double, to sigmaNext: Double) throws {
        try fill(&noise, step: step)
    }
}

/// Seeded noise where each sample's values are a function of the seed and the sample's index
/// alone: sample 7 of a batch of 64 gets the same noise as sample 7 run by itself, whatever the
/// thread count.
///
/// Draw 0 of each sample is its initial noise (``initialNoise(shape:)``); the `k`-th call to
/// ``fill(_:step:)`` (from 1) returns draw `k`, so a solver that draws twice in a step gets two
/// independent draws, and a run is reproducible for a seed whatever the batch split.
public final class SeededNoise: NoiseSource {
    public let seed: UInt64
    /// The index of the first sample of the batch this source feeds.
    public let firstSample: Int
    private let generator: Philox4x32
    private var draws: UInt32 = 0

    public init(seed: UInt64, firstSample: Int = 0) {
        self.seed = seed
        self.firstSample = firstSample
        self.generator = Philox4x32(seed: seed)
    }

    private func fill(_ tensor: inout SampleTensor, draw: UInt32) {
        let per = tensor.sampleCount
        let first = firstSample
        let generator = self.generator
        tensor.scalars.withUnsafeMutableBufferPointer { buffer in
            for b in 0..<(buffer.count / max(per, 1)) {
                let slice = UnsafeMutableBufferPointer(rebasing: buffer[(b * per)..<((b + 1) * per)])
                generator.fillNormal(slice, stream: UInt64(first + b), draw: draw)
            }
        }
    }

    /// Standard-normal initial noise of the given shape (`[B] + sampleShape`).
    public func initialNoise(shape: [Int]) -> SampleTensor {
        var tensor = SampleTensor(zeros: shape)
        fill(&tensor, draw: 0)
        return tensor
    }

    public func fill(_ noise: inout SampleTensor, step: Int) throws {
        draws &+= 1
        fill(&noise, draw: draws)
    }
}

/// Noise read from a recording, one draw per call in order: `draws[k]` has the batch's shape.
///
/// Used to reproduce another implementation's stochastic run exactly (`--step-noise`).
public final class RecordedNoise: NoiseSource {
    private let draws: [SampleTensor]
    private var next = 0

    public init(draws: [SampleTensor]) { self.draws = draws }

    /// How many draws have been used.
    public var used: Int { next }

    public func fill(_ noise: inout SampleTensor, step: Int) throws {
        guard next < draws.count else {
            throw SamplingError.invalidConfiguration("step noise has \(draws.count) draws, but the run needs more (at step \(step + 1))")
        }
        guard draws[next].shape == noise.shape else {
            throw SamplingError.invalidConfiguration("step noise draw \(next) has shape \(draws[next].shape), expected \(noise.shape)")
        }
        guard draws[next].isFinite else {
            throw SamplingError.invalidConfiguration("step noise draw \(next) contains NaN or Inf (at step \(step + 1))")
        }
        noise.assign(draws[next])
        next += 1
    }
}
