import Testing
import DiffusionSolvers
import Foundation
import DiffusionTestSupport

/// Each parameterization's conversion against closed forms. For data `x₀ ~ N(μ, s²)` (per
/// coordinate) and `x = α·x₀ + σ·ε`, every prediction is known exactly at every `(α, σ)`:
/// ```
/// x̂₀ = E[x₀ | x] = μ + α·s²/(α²s² + σ²)·(x − α·μ)
/// ε̂  = (x − α·x̂₀)/σ
/// v   = α·ε̂ − σ·x̂₀        (Salimans & Ho 2022)
/// u   = ε̂ − x̂₀            (rectified flow)
/// ∇log p(x) = −ε̂/σ
/// ```
/// The test writes these in `Double`, apart from the package's conversion code, feeds a model
/// that outputs the exact `ε̂`, `x̂₀`, `v`, `u` or score through `Denoiser`, and checks both
/// predictions it returns, and that the definitions give the model output back from them (the
/// inverse). `x = α·x̂₀ + σ·ε̂` alone would pass a sign error in `v`; these checks would not.
/// Levels come from VP (α² + σ² = 1), rectified flow and VE schedules, so that `α² + σ² ≠ 1` is covered.
@Suite("Parameterization: closed forms")
struct ParameterizationTests {
    static let mean: [Double] = [0.7, -1.3, 0.2, 2.5, -0.4]
    static let std: [Double] = [0.5, 1.2, 0.05, 2.0, 1.0]

    /// The exact `(x̂₀, ε̂)` for one coordinate of the Gaussian.
    static func exact(x: Double, alpha a: Double, sigma s: Double, mean mu: Double, std sd: Double) -> (data: Double, noise: Double) {
        let data = mu + a * sd * sd / (a * a * sd * sd + s * s) * (x - a * mu)
        return (data, (x - a * data) / s)
    }

    /// The model output of each parameterization, from the exact predictions.
    static func output(_ p: Parameterization, data: Double, noise: Double, alpha a: Double, sigma s: Double) -> Double {
        switch p {
        case .noise: return noise
        case .data: return data
        case .velocity: return a * noise - s * data
        case .flowVelocity: return noise - data
        case .score: return -noise / s
        }
    }

    /// The Gaussian, answering in the parameterization it is told, computed in `Double`.
    struct ExactGaussian: DiffusionModel {
        var parameterization: Parameterization
        var sampleShape: [Int] { [ParameterizationTests.mean.count] }
        var name: String { "exact-gaussian" }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
            let d = sampleShape[0]
            for i in x.scalars.indices {
                let (data, noise) = ParameterizationTests.exact(x: Double(x.scalars[i]), alpha: level.alpha, sigma: level.sigma,
                                                               mean: ParameterizationTests.mean[i % d], std: ParameterizationTests.std[i % d])
                output.scalars[i] = Float(ParameterizationTests.output(parameterization, data: data, noise: noise,
                                                                       alpha: level.alpha, sigma: level.sigma))
            }
        }
    }

    /// Noise levels where `α² + σ² = 1` (VP) and where it is not (rectified flow, VE).
    static func levels() throws -> [(String, NoiseLevel)] {
        let vp = try DiscreteVPSchedule(), flow = RectifiedFlowSchedule(), ve = VESchedule()
        return [100.0, 500, 900].map { ("vp t=\($0)", vp.level(at: $0)) }
            + [0.1, 0.5, 0.9].map { ("flow t=\($0)", flow.level(at: $0)) }
            + [0.3, 1.0, 8.0].map { ("ve sigma=\($0)", ve.level(at: $0)) }
            + [("alpha 0.8 sigma 0.9", NoiseLevel(t: 0.5, alpha: 0.8, sigma: 0.9, lambda: log(0.8 / 0.9)))]
    }

    @Test("each parameterization's output becomes the exact x̂₀ and ε̂, both together and each alone, and back",
          arguments: Parameterization.allCases)
    func closedForms(_ parameterization: Parameterization) throws {
        let model = ExactGaussian(parameterization: parameterization)
        let d = Self.mean.count
        for (name, level) in try Self.levels() {
            let (a, s) = (level.alpha, level.sigma)
            // Samples of the marginal at this level, in float32.
            let eps = TestModels.noise([8, d], seed: 21), clean = TestModels.noise([8, d], seed: 22)
            var values = [Float](repeating: 0, count: 8 * d)
            for i in values.indices {
                let x0: Double = Self.mean[i % d] + Self.std[i % d] * Double(clean.scalars[i])
                values[i] = Float(a * x0 + s * Double(eps.scalars[i]))
            }
            let x = SampleTensor(shape: [8, d], scalars: values)
            let denoiser = Denoiser(model: model, schedule: VESchedule())
            var both = ModelPrediction(like: x), dataOnly = ModelPrediction(like: x), noiseOnly = ModelPrediction(like: x)
            try denoiser.predict(x, at: level, into: &both, needs: .both)
            try denoiser.predict(x, at: level, into: &dataOnly, needs: .data)
            try denoiser.predict(x, at: level, into: &noiseOnly, needs: .noise)
            var m = SampleTensor(zeros: x.shape)
            try model.predict(x, at: level, into: &m)
            let (c1, c2, c3, c4) = parameterization.coefficients(at: level)
            for i in x.scalars.indices {
                let xi = Double(x.scalars[i])
                let (data, noise) = Self.exact(x: xi, alpha: a, sigma: s, mean: Self.mean[i % d], std: Self.std[i % d])
                let output = Self.output(parameterization, data: data, noise: noise, alpha: a, sigma: s)
                let where_ = "\(parameterization) at \(name), value \(i)"
                // The coefficients in Double, on the exact output: agreement to rounding.
                let dataFromCoefficients: Double = c1 * xi + c2 * output
                let noiseFromCoefficients: Double = c3 * xi + c4 * output
                let dataBound: Double = 1e-9 * (1 + abs(xi) + abs(data)), noiseBound: Double = 1e-9 * (1 + abs(xi) + abs(noise))
                #expect(abs(dataFromCoefficients - data) <= dataBound, "x̂₀ coefficients, \(where_)")
                #expect(abs(noiseFromCoefficients - noise) <= noiseBound, "ε̂ coefficients, \(where_)")
                // Through the Denoiser, in float32: some 16 ulps of the terms summed.
                let terms: Double = abs(c1 * xi) + abs(c2 * output) + abs(c3 * xi) + abs(c4 * output)
                let tolerance: Double = 1e-6 * (1 + terms + abs(data) + abs(noise))
                #expect(abs(Double(both.data.scalars[i]) - data) <= tolerance, "x̂₀ \(both.data.scalars[i]) vs \(data), \(where_)")
                #expect(abs(Double(both.noise.scalars[i]) - noise) <= tolerance, "ε̂ \(both.noise.scalars[i]) vs \(noise), \(where_)")
                #expect(dataOnly.data.scalars[i] == both.data.scalars[i], "x̂₀ alone, \(where_)")
                #expect(noiseOnly.noise.scalars[i] == both.noise.scalars[i], "ε̂ alone, \(where_)")
                // The inverse: the definitions give the model output back from the converted pair.
                let back = Self.output(parameterization, data: Double(both.data.scalars[i]), noise: Double(both.noise.scalars[i]),
                                       alpha: a, sigma: s)
                let inverseBound: Double = tolerance * (2 + a + s + 1 / s)
                #expect(abs(back - Double(m.scalars[i])) <= inverseBound, "inverse \(back) vs \(m.scalars[i]), \(where_)")
            }
        }
    }

    @Test("a one-component mixture predicts the closed-form x̂₀ = E[x₀ | x]")
    func mixtureIsTheClosedForm() throws {
        let gaussian = TestModels.singleGaussian(mean: Self.mean, std: Self.std)
        let d = Self.mean.count
        let x = TestModels.noise([4, d], seed: 23)
        for (name, level) in try Self.levels() {
            var out = SampleTensor(zeros: x.shape)
            try gaussian.predict(x, at: level, into: &out)
            for i in x.scalars.indices {
                let (data, _) = Self.exact(x: Double(x.scalars[i]), alpha: level.alpha, sigma: level.sigma,
                                           mean: Self.mean[i % d], std: Self.std[i % d])
                let error: Double = abs(Double(out.scalars[i]) - data)
                #expect(error <= 2e-6 * (1 + abs(data)), "\(name), value \(i): \(out.scalars[i]) vs \(data)")
            }
        }
    }
}
