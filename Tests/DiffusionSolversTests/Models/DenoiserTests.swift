import Testing
import DiffusionSolvers
import Foundation

/// `Denoiser.predict`: the conversion of each parameterization, the in-place path for a prediction
/// that is the model's own output, and the finiteness check on both.
@Suite("Denoiser")
struct DenoiserTests {
    /// 37 values: two full blocks of the kernels' 16 lanes and a short tail.
    static let shape = [1, 37]
    static let level = NoiseLevel(t: 0.5, alpha: 0.8, sigma: 0.6, lambda: log(0.8 / 0.6))
    static let x = SampleTensor(shape: shape, scalars: (0..<37).map { Float($0 % 9) * 0.25 - 1 })

    /// A model that writes fixed values, whatever its output buffer held.
    struct FixedModel: DiffusionModel {
        var parameterization: Parameterization
        var values: [Float]
        var sampleShape: [Int] { [37] }
        var name: String { "fixed" }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {
            for i in values.indices { output.scalars[i] = values[i] }
        }
    }

    /// The model output, with `value` at `index` when one is given.
    static func output(poisonedAt index: Int? = nil, with value: Float = .nan) -> [Float] {
        var m = (0..<37).map { Float(($0 * 7) % 13) * 0.125 - 0.75 }
        if let index { m[index] = value }
        return m
    }

    @Test("every parameterization gives x = α·x̂₀ + σ·ε̂; one prediction alone, converted or the output itself, is the same",
          arguments: Parameterization.allCases)
    func conversion(_ parameterization: Parameterization) throws {
        let m = Self.output()
        let denoiser = Denoiser(model: FixedModel(parameterization: parameterization, values: m), schedule: VESchedule())
        func predict(_ needs: PredictionNeeds) throws -> ModelPrediction {
            var prediction = ModelPrediction(like: Self.x)
            try denoiser.predict(Self.x, at: Self.level, into: &prediction, needs: needs)
            return prediction
        }
        let both = try predict(.both)
        let (a, s) = (Float(Self.level.alpha), Float(Self.level.sigma))
        for i in 0..<37 {
            let x = a * both.data.scalars[i] + s * both.noise.scalars[i]
            #expect(abs(x - Self.x.scalars[i]) <= 1e-5, "\(parameterization), value \(i)")
        }
        let data = try predict(.data).data, noise = try predict(.noise).noise
        #expect(data == both.data && noise == both.noise, "\(parameterization)")
        switch parameterization.outputPrediction {
        case .data: #expect(data.scalars == m)
        case .noise: #expect(noise.scalars == m)
        default: break
        }
    }

    @Test("a NaN or infinity in a full block or the tail is reported, read as it is or converted",
          arguments: [3, 20, 36])
    func nonFinite(index: Int) throws {
        for value in [Float.nan, .infinity, -.infinity] {
            let model = FixedModel(parameterization: .noise, values: Self.output(poisonedAt: index, with: value))
            let denoiser = Denoiser(model: model, schedule: VESchedule())
            for needs in [PredictionNeeds.noise, .data, .both] {
                var prediction = ModelPrediction(like: Self.x)
                #expect(throws: SamplingError.self, "\(value) at \(index), needs \(needs.rawValue)") {
                    try denoiser.predict(Self.x, at: Self.level, into: &prediction, needs: needs)
                }
            }
        }
        var tensor = Self.x
        #expect(tensor.isFinite)
        tensor.scalars[index] = .nan
        #expect(!tensor.isFinite)
    }
}
