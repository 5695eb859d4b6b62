import DiffusionCore
import DiffusionFormats

/// Takes a network's float32 tensors out of a safetensors file by name, checking each one's dtype
/// and shape, and names the tensors no layer asked for.
///
/// Every problem is a one-line ``ModelError`` naming the file and the tensor, for example
/// `diffusion_pytorch_model.safetensors: tensor 'conv_in.weight' has shape [8, 1, 3, 3], expected [8, 3, 3, 3]`.
package struct WeightReader {
    let file: SafetensorsFile
    /// The file name used in messages.
    let fileName: String
    private var taken: Set<String> = []

    package init(file: SafetensorsFile, fileName: String) {
        self.file = file
        self.fileName = fileName
    }

    /// The values of tensor `name`, which must be `F32` with `shape`.
    mutating func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        guard let tensor = file.tensors[name] else {
            throw ModelError("\(fileName): missing tensor '\(name)'")
        }
        guard tensor.dtype == .f32 else {
            throw ModelError("\(fileName): tensor '\(name)' has dtype \(tensor.dtype.rawValue), expected F32")
        }
        guard tensor.shape == shape else {
            throw ModelError("\(fileName): tensor '\(name)' has shape \(tensor.shape), expected \(shape)")
        }
        taken.insert(name)
        return try file.float32Tensor(name).values
    }

    /// Fails on the first tensor (in name order) that no layer took: weights for another architecture.
    func checkAllTaken() throws {
        if let extra = file.tensors.keys.sorted().first(where: { !taken.contains($0) }) {
            throw ModelError("\(fileName): unexpected tensor '\(extra)' (not part of the configured architecture)")
        }
    }
}
