import Foundation
import DiffusionSolvers

/// Initial noise for a model: from an `.npy` file of standard-normal draws, or seeded.
enum NoiseInput {
    static func tensor(path: String?, count: Int?, defaultCount: Int, seed: UInt64, model: any DiffusionModel) throws -> SampleTensor {
        let shape = model.sampleShape
        let dimension = shape.reduce(1, *)
        if let path {
            if count != nil { throw CLIError("give either --count or --initial-noise, not both") }
            let array = try NPYArray(contentsOf: URL(fileURLWithPath: path))
            let fitsFlat = array.shape.count == 2 && array.shape[1] == dimension
            let fitsShaped = array.shape.count == shape.count + 1 && Array(array.shape.dropFirst()) == shape
            guard fitsFlat || fitsShaped, array.shape[0] >= 1 else {
                throw CLIError("initial noise '\(path)' has shape \(array.shape); the model needs [B, \(dimension)] or [B, \(shape.map(String.init).joined(separator: ", "))]")
            }
            let values = array.float32Values
            guard values.allSatisfy(\.isFinite) else { throw CLIError("initial noise '\(path)' contains NaN or Inf") }
            return SampleTensor(shape: [array.shape[0]] + shape, scalars: values)
        }
        let batch = count ?? defaultCount
        guard batch >= 1, batch <= 1_000_000 else { throw CLIError("--count must be between 1 and 1000000, got \(batch)") }
        return SeededNoise(seed: seed).initialNoise(shape: [batch] + shape)
    }
}
