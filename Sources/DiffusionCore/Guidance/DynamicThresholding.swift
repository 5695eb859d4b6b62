/// Dynamic thresholding of the clean estimate (Saharia et al. 2022, "Photorealistic Text-to-Image
/// Diffusion Models with Deep Language Understanding" (Imagen), Sec. 2.3), as diffusers applies it:
/// ```
/// s  = clamp(quantile(|x̂₀|, ratio), 1, maxValue)      per sample
/// x̂₀ ← clamp(x̂₀, −s, s) / s
/// ```
/// With `maxValue = 1` (diffusers' default) this is plain clipping to `[−1, 1]`. The quantile
/// interpolates linearly between order statistics, as `torch.quantile` does. It keeps guided
/// samples in the data range at large guidance scales (Lu et al. 2022b, DPM-Solver++, Sec. 5).
public struct DynamicThresholding: Sendable, Equatable {
    public var ratio: Double
    public var maxValue: Double

    public init(ratio: Double = 0.995, maxValue: Double = 1) throws {
        guard ratio > 0, ratio <= 1 else { throw SamplingError.invalidConfiguration("thresholding ratio must lie in (0, 1], got \(ratio)") }
        guard maxValue >= 1, maxValue.isFinite else {
            throw SamplingError.invalidConfiguration("thresholding max value must be at least 1, got \(maxValue)")
        }
        self.ratio = ratio
        self.maxValue = maxValue
    }

    /// Thresholds each sample of `data` in place; `scratch` holds one sample's sorted magnitudes.
    public func apply(to data: inout SampleTensor, scratch: inout [Float]) {
        let per = data.sampleCount
        if scratch.count != per { scratch = [Float](repeating: 0, count: per) }
        for b in 0..<data.batchSize {
            let base = b * per
            for i in 0..<per { scratch[i] = abs(data.scalars[base + i]) }
            scratch.sort()
            let position = ratio * Double(per - 1)
            let lower = Int(position), upper = Swift.min(lower + 1, per - 1)
            let fraction = Float(position - Double(lower))
            let q = Double(scratch[lower] + (scratch[upper] - scratch[lower]) * fraction)
            let s = Float(Swift.min(Swift.max(q, 1), maxValue))
            for i in 0..<per { data.scalars[base + i] = Swift.min(Swift.max(data.scalars[base + i], -s), s) / s }
        }
    }
}
