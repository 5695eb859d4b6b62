import Foundation
import DiffusionCore
import DiffusionFormats

extension UNet2D {
    /// The network of a diffusers `UNet2DModel` folder: `config.json` and `diffusion_pytorch_model.safetensors`
    /// (the folder's other files, such as a schedule, are its model's business).
    ///
    /// - Throws: `ModelError` in one line naming the file (and the field or tensor) that is missing,
    ///   truncated or does not fit.
    public init(folder directory: URL) throws {
        let folder = directory.lastPathComponent
        func read(_ file: String) throws -> Data {
            let url = directory.appendingPathComponent(file)
            do { return try Data(contentsOf: url) } catch { throw ModelError("\(folder)/\(file): cannot read '\(url.path)'") }
        }
        let configuration: UNet2DConfiguration
        do { configuration = try UNet2DConfiguration(json: try read("config.json")) } catch let error as ModelError {
            throw ModelError("\(folder)/\(error.description)")
        }
        let weightsName = "\(folder)/diffusion_pytorch_model.safetensors"
        let file: SafetensorsFile
        do { file = try SafetensorsFile(data: try read("diffusion_pytorch_model.safetensors")) } catch let error as FileFormatError {
            throw ModelError("\(weightsName): \(error.description)")
        }
        try self.init(configuration: configuration, weights: file, fileName: weightsName)
    }
}
