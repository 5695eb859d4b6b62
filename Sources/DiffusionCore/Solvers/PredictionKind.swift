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

    /// What a multistep solver of `kind` evaluates at `s0` on a step to `t`: its own output, plus
    /// `x̂₀` on the step to `σ = 0` (which returns it), and both at pure noise (the DDIM step
    /// taken from there reads both).
    public init(_ kind: PredictionKind, from s0: NoiseLevel, to t: NoiseLevel) {
        if !s0.lambda.isFinite {
            self = .both
            return
        }
        self.init(kind)
        if t.isClean { insert(.data) }
    }
}
