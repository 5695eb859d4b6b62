/// What a multistep exponential integrator extrapolates: the data prediction `x̂₀` (DPM-Solver++,
/// UniPC-data, SA-Solver's data form) or the noise prediction `ε̂` (DPM-Solver, UniPC-noise).
///
/// Lu et al. 2022b, "DPM-Solver++", Sec. 3: the data form keeps the update bounded under large
/// guidance scales. The raw values are diffusers' spelling and the names stored in JSON files.
public enum PredictionKind: String, Sendable, Codable { case data, noise }

extension ModelPrediction {
    /// The output a solver of `kind` extrapolates: ``data`` or ``noise``.
    @inline(__always)
    public func output(_ kind: PredictionKind) -> SampleTensor { kind == .data ? data : noise }
}

extension PredictionNeeds {
    /// The prediction a solver of `kind` reads.
    public init(_ kind: PredictionKind) { self = kind == .data ? .data : .noise }
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
