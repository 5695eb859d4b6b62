import Foundation

/// The time embedding of diffusers' `UNet2DModel` (`time_embedding_type="positional"`): the sinusoidal
/// features of the timestep (`Timesteps`, ``sinusoidal(_:dimension:flipSinToCos:frequencyShift:into:)``)
/// through `TimestepEmbedding`: `linear_2(silu(linear_1(·)))`.
package struct TimestepEmbedding: Sendable {
    /// The sinusoidal dimension (`block_out_channels[0]`).
    let dimension: Int
    let flipSinToCos: Bool
    let frequencyShift: Double
    let first: Linear
    let second: Linear

    /// Reads `<prefix>.linear_1` and `<prefix>.linear_2`.
    init(_ weights: inout WeightReader, _ prefix: String, dimension: Int, embeddingDimension: Int,
         flipSinToCos: Bool, frequencyShift: Double) throws {
        self.dimension = dimension
        self.flipSinToCos = flipSinToCos
        self.frequencyShift = frequencyShift
        first = try Linear(&weights, prefix + ".linear_1", inFeatures: dimension, outFeatures: embeddingDimension)
        second = try Linear(&weights, prefix + ".linear_2", inFeatures: embeddingDimension, outFeatures: embeddingDimension)
    }

    var embeddingDimension: Int { second.outFeatures }

    /// The embedding of each timestep as the columns of `out` (`[embeddingDimension × B]`).
    package func apply(_ timesteps: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>, workspace: NeuralWorkspace) {
        let batch = timesteps.count, mark = workspace.mark
        defer { workspace.release(to: mark) }
        let features = workspace.allocate(batch * dimension)
        Self.sinusoidal(timesteps, dimension: dimension, flipSinToCos: flipSinToCos, frequencyShift: frequencyShift, into: features)
        let hidden = workspace.allocate(embeddingDimension * batch)
        // The features are [B × D]; their transpose is the [D × B] input.
        first.apply(StridedMatrix(features, rows: batch, columns: dimension, rowStride: dimension).transposed,
                    into: hidden, outRowStride: batch, workspace: workspace)
        LayerProfile.measure(.silu) { for i in 0..<(embeddingDimension * batch) { hidden[i] = silu(hidden[i]) } }
        second.apply(StridedMatrix(hidden, rows: embeddingDimension, columns: batch, rowStride: batch),
                     into: out, outRowStride: batch, workspace: workspace)
    }

    /// diffusers' `get_timestep_embedding(t, D, flip_sin_to_cos, downscale_freq_shift=shift)` in
    /// float32 as torch computes it, one row of `D` values per timestep into `out` (`[B × D]`):
    /// ```
    /// fᵢ = exp(−ln(10000)·i / (D/2 − shift)),   i < D/2       (each step rounded to float32)
    /// row = [sin(t·f), cos(t·f)]   or  [cos(t·f), sin(t·f)] when flipped,   then a 0 if D is odd
    /// ```
    package static func sinusoidal(_ timesteps: UnsafeBufferPointer<Float>, dimension: Int, flipSinToCos: Bool,
                           frequencyShift: Double, into out: UnsafeMutablePointer<Float>) {
        let half = dimension / 2
        let logPeriod = Float(-log(10000.0)), divisor = Float(Double(half) - frequencyShift)
        for (b, t) in timesteps.enumerated() {
            let row = out + b * dimension
            for i in 0..<half {
                let angle = t * exp(logPeriod * Float(i) / divisor)
                row[flipSinToCos ? half + i : i] = sin(angle)
                row[flipSinToCos ? i : half + i] = cos(angle)
            }
            if dimension % 2 == 1 { row[dimension - 1] = 0 }
        }
    }
}
