/// img2img and inpainting: start from a noised image part-way down a grid, and keep known pixels.
/// The peers' names: ml-stable-diffusion's `addNoise(originalSample:noise:strength:)` and
/// `calculateTimesteps(strength:)`, diffusers' `get_timesteps(num_inference_steps, strength)`.
extension SampleTensor {
    /// `x = α·original + σ·noise` at `level` (the forward process; `noise` standard normal): the
    /// sample an img2img run starts from at the first level of ``TimeGrid/startingAt(strength:)``.
    public static func addNoise(original: SampleTensor, noise: SampleTensor, level: NoiseLevel) -> SampleTensor {
        precondition(original.shape == noise.shape, "addNoise: original \(original.shape) and noise \(noise.shape) differ")
        var x = SampleTensor(zeros: original.shape)
        x.set((level.alpha, original), (level.sigma, noise))
        return x
    }

    /// Replaces the known pixels (`mask = 1`) by `known` noised to `level` (`α·known + σ·noise`) and
    /// keeps the rest (`mask = 0`): `x ← m·(α·known + σ·noise) + (1 − m)·x`, the re-blend of
    /// inpainting after each step (with `level` the sample's level, ``SolverScheduler/currentLevel``).
    ///
    /// `known` and `noise` have this tensor's shape; `mask` has it too, or one sample's size, which
    /// then applies to every sample of the batch.
    public mutating func blendKnown(_ known: SampleTensor, mask: SampleTensor, noise: SampleTensor, level: NoiseLevel) {
        precondition(known.count == count && noise.count == count, "blendKnown: known \(known.shape) or noise \(noise.shape) does not fit \(shape)")
        precondition(mask.count == count || mask.count == sampleCount, "blendKnown: mask \(mask.shape) fits neither \(shape) nor one sample")
        let a = Float(level.alpha), s = Float(level.sigma), per = mask.count
        scalars.withUnsafeMutableBufferPointer { x in
            known.scalars.withUnsafeBufferPointer { k in
                noise.scalars.withUnsafeBufferPointer { n in
                    mask.scalars.withUnsafeBufferPointer { m in
                        for i in x.indices {
                            let w = m[i % per]
                            if w == 1 {
                                x[i] = a * k[i] + s * n[i]
                            } else if w != 0 {
                                x[i] = w * (a * k[i] + s * n[i]) + (1 - w) * x[i]
                            }
                        }
                    }
                }
            }
        }
    }
}

extension TimeGrid {
    /// The last steps of this grid for an img2img `strength` in `(0, 1]`, as diffusers chooses
    /// them: `⌊steps·strength⌋` steps (at least one), so strength 1 is the whole grid and smaller
    /// strengths start lower, from an image noised to the returned grid's first level.
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` when `strength` is not in `(0, 1]`.
    public func startingAt(strength: Double) throws -> TimeGrid {
        guard strength > 0, strength <= 1 else {
            throw SamplingError.invalidConfiguration("strength must lie in (0, 1], got \(strength)")
        }
        let kept = max(1, min(steps, Int(Double(steps) * strength)))
        return try TimeGrid(levels: Array(levels[(steps - kept)...]))
    }
}
