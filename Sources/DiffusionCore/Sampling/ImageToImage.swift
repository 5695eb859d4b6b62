import DiffusionFormats

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

/// An img2img or inpainting run: the image it starts from, how far up the grid that image is
/// noised (`strength`), and which pixels are kept, as diffusers' `StableDiffusionImg2ImgPipeline`
/// and its legacy inpaint pipeline do it: run the last ``TimeGrid/startingAt(strength:)`` steps from
/// ``SampleTensor/addNoise(original:noise:level:)`` of the image, and after every step put back the
/// kept pixels noised to the new level (``SampleTensor/blendKnown(_:mask:noise:level:)``, with the
/// initial noise), so after the last step (at `σ = 0`) they are the image's exactly.
public struct ImageToImage: Sendable {
    /// One sample (`[1] + sampleShape`) in the model's data range; every sample of a batch starts from it.
    public let image: SampleTensor
    /// In `(0, 1]`: the fraction of the grid that runs (1 runs all of it, from an image noised to `σ_max`).
    public let strength: Double
    /// One sample's size: 1 where the image is kept, 0 where it is regenerated (fractions blend);
    /// `nil` regenerates everything (img2img).
    public let keep: SampleTensor?

    /// - Parameters:
    ///   - image: One sample in the model's data range (``image``).
    ///   - strength: Without one, diffusers' defaults: 0.8 for img2img, 1 for inpainting.
    ///   - keep: Where the image is kept (``keep``); `nil` for img2img.
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` for a strength outside `(0, 1]` or a
    ///   `keep` mask of another size than the image.
    public init(image: SampleTensor, strength: Double? = nil, keep: SampleTensor? = nil) throws {
        let strength = strength ?? (keep == nil ? 0.8 : 1)
        guard strength > 0, strength <= 1 else {
            throw SamplingError.invalidConfiguration("strength must lie in (0, 1], got \(strength)")
        }
        if let keep, keep.count != image.sampleCount {
            throw SamplingError.invalidConfiguration("the mask has \(keep.count) values, the image \(image.sampleCount)")
        }
        self.image = SampleTensor(shape: [1] + image.sampleShape, scalars: image.scalars)
        self.strength = strength
        self.keep = keep
    }

    /// The grid that runs: the last `⌊steps·strength⌋` steps of `full` (diffusers' `get_timesteps`).
    public func grid(from full: TimeGrid) throws -> TimeGrid {
        try full.startingAt(strength: strength)
    }

    /// The image, repeated over the batch of `noise` (standard normal, `[B] + sampleShape`).
    public func known(like noise: SampleTensor) -> SampleTensor {
        SampleTensor(shape: noise.shape, scalars: Array([[Float]](repeating: image.scalars, count: noise.batchSize).joined()))
    }

    /// A run of `solver` on ``grid(from:)`` of `full`, from the image noised with `noise`
    /// (standard normal, `[B] + sampleShape`) to its first level, re-blending the kept pixels after
    /// every step (``SamplingRun/afterStep``).
    ///
    /// - Throws: ``SamplingError`` when `noise` does not fit the image, or what ``SamplingRun`` throws.
    public func makeRun<S: Solver>(model: any DiffusionModel, schedule: any NoiseSchedule, solver: S, grid full: TimeGrid,
                                   noise: SampleTensor, stepNoise: (any NoiseSource)? = nil,
                                   thresholding: DynamicThresholding? = nil) throws -> SamplingRun<S> {
        guard noise.sampleCount == image.sampleCount, noise.batchSize > 0 else {
            throw SamplingError.shapeMismatch(expected: image.sampleShape, got: noise.sampleShape)
        }
        let grid = try grid(from: full)
        let known = known(like: noise)
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid,
                                  initialSample: .addNoise(original: known, noise: noise, level: grid[0]),
                                  noise: stepNoise, thresholding: thresholding)
        if let keep {
            run.afterStep = { x, level in x.blendKnown(known, mask: keep, noise: noise, level: level) }
        }
        return run
    }
}

extension SampleTensor {
    /// One image for a model of `sampleShape` `[C, H, W]` (C 1 or 3) from an 8-bit PNG of that
    /// size and channel count, its bytes mapped to the networks' data range `[-1, 1]` (`b/127.5 − 1`).
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` in one line naming the size expected.
    public init(image: PNGImage, sampleShape: [Int]) throws {
        let (c, h, w) = try Self.imageShape(sampleShape)
        guard image.width == w, image.height == h, image.format.channels == c else {
            throw SamplingError.invalidConfiguration(
                "the image is \(image.width)x\(image.height) \(Self.describe(image.format.channels)); the model takes \(w)x\(h) \(Self.describe(c))")
        }
        var scalars = [Float](repeating: 0, count: c * h * w)
        for y in 0..<h {
            for x in 0..<w {
                for k in 0..<c {
                    scalars[k * h * w + y * w + x] = Float(image.pixels[(y * w + x) * c + k]) / 127.5 - 1
                }
            }
        }
        self.init(shape: [1] + sampleShape, scalars: scalars)
    }

    /// The kept pixels of an inpainting mask PNG of the model's width and height (gray or RGB), as
    /// diffusers reads one: white regenerates, black keeps, binarized at mid-gray; the result has one
    /// sample's size, 1 where kept (each pixel for every channel), for ``ImageToImage/keep``.
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` in one line naming the size expected.
    public static func keepMask(_ mask: PNGImage, sampleShape: [Int]) throws -> SampleTensor {
        let (c, h, w) = try imageShape(sampleShape)
        guard mask.width == w, mask.height == h else {
            throw SamplingError.invalidConfiguration("the mask is \(mask.width)x\(mask.height); the model takes \(w)x\(h)")
        }
        let n = mask.format.channels
        var plane = [Float](repeating: 0, count: h * w)
        for i in plane.indices {
            let sum = (0..<n).reduce(0) { $0 + Int(mask.pixels[i * n + $1]) }
            plane[i] = sum < 128 * n ? 1 : 0
        }
        return SampleTensor(shape: [1] + sampleShape, scalars: Array([[Float]](repeating: plane, count: c).joined()))
    }

    private static func imageShape(_ shape: [Int]) throws -> (Int, Int, Int) {
        guard shape.count == 3, shape[0] == 1 || shape[0] == 3 else {
            throw SamplingError.invalidConfiguration("img2img needs an image model (sample shape [1 or 3, H, W]); this model's sample shape is \(shape)")
        }
        return (shape[0], shape[1], shape[2])
    }

    private static func describe(_ channels: Int) -> String { channels == 1 ? "grayscale" : channels == 3 ? "RGB" : "\(channels)-channel" }
}
