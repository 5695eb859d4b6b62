/// A batch of samples: contiguous `Float` storage with the batch dimension first.
///
/// `shape` is `[batch] + sampleShape`, for example `[16, 2]` for sixteen 2-D points or
/// `[4, 1, 8, 8]` for four 8x8 grayscale images. Element `i` of sample `b` lives at
/// `b * sampleCount + i`, so each sample is one contiguous slice.
///
/// Solvers update tensors in place through ``update(scale:_:)`` and its overloads,
/// which fuse any number of scaled terms into one pass over memory and allocate nothing
/// when the destination is uniquely referenced.
public struct SampleTensor: Sendable, Equatable {
    /// `[batch] + sampleShape`.
    public private(set) var shape: [Int]
    /// The values, batch-major, in row-major (C) order.
    public var scalars: [Float]

    /// Creates a tensor from its shape and values.
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`, and `shape` has a batch dimension.
    public init(shape: [Int], scalars: [Float]) {
        precondition(!shape.isEmpty, "SampleTensor needs a batch dimension")
        precondition(shape.reduce(1, *) == scalars.count, "SampleTensor: \(scalars.count) values do not fill shape \(shape)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// The number of samples (the first dimension).
    @inlinable public var batchSize: Int { shape[0] }
    /// The shape of one sample.
    public var sampleShape: [Int] { Array(shape.dropFirst()) }
    /// The number of values in one sample.
    @inlinable public var sampleCount: Int { batchSize == 0 ? 0 : scalars.count / batchSize }
    /// The total number of values.
    @inlinable public var count: Int { scalars.count }

    /// The values of sample `index`.
    public func sample(_ index: Int) -> ArraySlice<Float> {
        scalars[(index * sampleCount)..<((index + 1) * sampleCount)]
    }

    /// Whether every value is finite (no NaN, no infinity): whether the OR of the values'
    /// `nonFiniteBits` (the bits of `x − x`) is zero.
    public var isFinite: Bool {
        scalars.withUnsafeBufferPointer { values in
            var bits = SIMD16<UInt32>()
            forEachLanes(count: values.count) { i, n in bits |= values.lanes(i, n).nonFiniteBits }
            return bits == .zero
        }
    }

    /// Copies `other`'s values into `self` (shapes must match); allocation-free when `self` is unique.
    @inlinable
    public mutating func assign(_ other: SampleTensor) {
        precondition(other.count == count, "SampleTensor.assign: shape \(other.shape) does not match \(shape)")
        scalars.withUnsafeMutableBufferPointer { out in
            other.scalars.withUnsafeBufferPointer { source in
                out.baseAddress!.update(from: source.baseAddress!, count: source.count)
            }
        }
    }

    /// Multiplies every value by `factor` in place.
    @inlinable
    public mutating func scale(by factor: Double) {
        let a = Float(factor)
        scalars.withUnsafeMutableBufferPointer { out in
            for i in out.indices { out[i] *= a }
        }
    }
}
