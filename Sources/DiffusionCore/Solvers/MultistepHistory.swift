/// The last few model predictions of a multistep solver, newest first, in reused buffers.
///
/// `prediction(0)` is the newest. ``advance(to:)`` recycles the oldest buffer as the slot for the
/// next evaluation, so a run allocates its history once, in the solver's `makeState`.
public struct MultistepHistory {
    private var buffers: [ModelPrediction]
    private var levels: [NoiseLevel]
    private var newest = 0
    /// How many predictions have been stored (at most the capacity).
    public private(set) var count = 0

    /// A history of `capacity` predictions shaped like `x`.
    public init(capacity: Int, like x: SampleTensor) {
        buffers = (0..<max(capacity, 1)).map { _ in ModelPrediction(like: x) }
        levels = Array(repeating: NoiseLevel(t: 0, alpha: 1, sigma: 0, lambda: .infinity), count: max(capacity, 1))
    }

    public var capacity: Int { buffers.count }

    /// Makes row `i` of every stored prediction a copy of row `indices[i]` (``ParticleState``).
    public mutating func gather(_ indices: [Int]) { for i in buffers.indices { buffers[i].gather(indices) } }

    /// Makes the oldest slot the newest, for the evaluation at `level`; write it through ``newestSlot``.
    public mutating func advance(to level: NoiseLevel) {
        newest = (newest + capacity - 1) % capacity
        levels[newest] = level
        count = Swift.min(count + 1, capacity)
    }

    /// The slot of the newest prediction, to be written by the model evaluation.
    public var newestSlot: ModelPrediction {
        get { buffers[newest] }
        _modify { yield &buffers[newest] }
    }

    /// The `k`-th newest prediction (`k = 0` is the newest).
    public func prediction(_ k: Int) -> ModelPrediction { buffers[(newest + k) % capacity] }
    /// How many of the newest predictions (at most `limit`) were made at a finite `λ`: a point at
    /// pure noise (`α = 0`, `λ = −∞`, the start of a flow schedule) cannot enter a divided
    /// difference in `λ`, so multistep solvers lower their order until it has left the window.
    public func usable(limit: Int) -> Int {
        var n = 0
        while n < Swift.min(limit, count) && levels[(newest + n) % capacity].lambda.isFinite { n += 1 }
        return n
    }

    /// The level of the `k`-th newest prediction.
    public func level(_ k: Int) -> NoiseLevel { levels[(newest + k) % capacity] }
}

extension MultistepHistory {
    /// The `k`-th newest output of `kind` (`k = 0` is the newest).
    @inline(__always)
    public func output(_ k: Int, _ kind: PredictionKind) -> SampleTensor { prediction(k).output(kind) }

    /// The two steps of a multistep exponential integrator that no older output enters, taken
    /// with the newest one: to `σ = 0` it returns `x̂₀` (the first-order limit, where the `λ`-based
    /// updates divide by `σ_t = 0`), and from pure noise (`α = 0`, `λ = −∞`, the start of a flow
    /// schedule) it takes the DDIM step `α_t·x̂₀ + σ_t·ε̂`. Returns whether it took one of them.
    public func stepWithoutHistory(_ x: inout SampleTensor, from s0: NoiseLevel, to t: NoiseLevel) -> Bool {
        if t.isClean {
            x.assign(prediction(0).data)
            return true
        }
        if !s0.lambda.isFinite {
            FrameStep.fromPureNoise(&x, to: t, prediction: prediction(0))
            return true
        }
        return false
    }

    /// `x ← scale·x + Σⱼ c[j]·mⱼ` over the first `count` outputs `mⱼ` of `kind`, newest first, in
    /// one fused pass (``SampleTensor/update(scale:count:_:)``), without allocating.
    public func combine(into x: inout SampleTensor, scale: Double, _ c: SIMD4<Double>, count: Int, _ kind: PredictionKind) {
        x.update(scale: scale, count: count) { (c[$0], output($0, kind)) }
    }
}
