import Foundation
import DiffusionSolvers

/// Where `diffuse sample` writes its samples, checked before any work is done.
enum OutputKind {
    case npy
    case png

    init(path: String) throws {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "npy": self = .npy
        case "png": self = .png
        default: throw CLIError("output '\(path)' must end in .npy or .png")
        }
        try Self.checkDirectory(of: path)
    }

    /// Fails early when the file could not be written, instead of after sampling.
    static func checkDirectory(of path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("cannot write '\(path)': directory '\(directory)' does not exist")
        }
    }

    /// Fails early when this output cannot show the model's samples.
    func check(for model: any DiffusionModel) throws {
        let shape = model.sampleShape
        if self == .png && shape != [2] && shape.count != 2 && shape.count != 3 {
            throw CLIError("PNG output needs 2-D samples or an image-shaped model (shape like 1,8,8); this model's sample shape is \(shape): use .npy")
        }
    }

    /// Writes `samples` atomically (temporary file, then rename).
    func write(_ samples: SampleTensor, model: any DiffusionModel, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        switch self {
        case .npy:
            try NPYArray(shape: samples.shape, float32: samples.scalars).write(to: url)
        case .png:
            let shape = model.sampleShape
            let image: PNGImage
            if shape == [2] {
                let points = (0..<samples.batchSize).map { SIMD2(Double(samples.scalars[2 * $0]), Double(samples.scalars[2 * $0 + 1])) }
                var bounds = ScatterPlot.Bounds.fitting(points)
                let lo = min(bounds.xMin, bounds.yMin), hi = max(bounds.xMax, bounds.yMax)
                bounds = ScatterPlot.Bounds(xMin: lo, xMax: hi, yMin: lo, yMax: hi)
                // A mixture's density is known: shade it under the points.
                let density = (model as? GaussianMixture).map { mixture in { (x: Double, y: Double) in mixture.density(at: [x, y]) } }
                image = try ScatterPlot.render(points: points, density: density, bounds: bounds)
            } else if shape.count == 3 || shape.count == 2 {
                let (c, h, w) = shape.count == 3 ? (shape[0], shape[1], shape[2]) : (1, shape[0], shape[1])
                image = try ImageGrid.render(values: samples.scalars, count: samples.batchSize, channels: c, height: h, width: w,
                                             scale: max(1, 64 / max(h, w)))
            } else {
                try check(for: model)
                return
            }
            try image.write(to: url)
        }
    }
}
