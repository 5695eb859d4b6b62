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
