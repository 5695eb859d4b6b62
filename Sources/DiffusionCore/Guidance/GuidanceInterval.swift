/// Guidance limited to an interval of noise levels (Kynkäänniemi et al. 2024, "Applying Guidance in
/// a Limited Interval Improves Sample and Distribution Quality in Diffusion Models"): classifier-free
/// guidance only where the user's sigma lies in `[low, high]`, the conditional model elsewhere.
/// Guidance at high noise mostly collapses diversity and at low noise does little, so limiting it
/// to the middle keeps its benefit at less cost to the distribution.
public struct GuidanceInterval: Sendable, Equatable {
    public let low: Double
    public let high: Double
    /// The frame whose sigma the bounds are in (the schedule's ``NoiseSchedule/displaySigma(_:)``).
    public let frame: ODEFrame

    /// - Throws: ``ModelError`` unless `0 ≤ low ≤ high` and both are numbers (`high` may be infinite).
    public init(low: Double, high: Double, frame: ODEFrame) throws {
        guard !low.isNaN, !high.isNaN, low >= 0, low <= high else {
            throw ModelError("guidance interval needs 0 <= LOW <= HIGH, got \(low),\(high)")
        }
        self.low = low
        self.high = high
        self.frame = frame
    }

    public func contains(_ level: NoiseLevel) -> Bool { (low...high).contains(frame.tau(level)) }
}

/// A rule that combines conditional and unconditional noise predictions into a guided one, in
/// place of CFG's `ε_u + w·(ε_c − ε_u)`. A rule may keep state across the evaluations of one run
/// (APG's momentum), so it is a reference type used by one run at a time.
public protocol GuidanceCombination: AnyObject, Sendable {
    func combine(conditional: SampleTensor, unconditional: SampleTensor, scale: Double, into output: inout SampleTensor)
}
