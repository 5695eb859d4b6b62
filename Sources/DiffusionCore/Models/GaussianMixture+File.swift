import Foundation
import DiffusionFormats

extension GaussianMixture {
    /// Loads a mixture from a safetensors file (see ``GaussianMixture`` for the tensors it holds).
    ///
    /// - Throws: `FileFormatError` for a corrupt file, ``ModelError`` for a missing tensor, a wrong
    ///   shape or invalid values — each a one-line message naming the file.
    public init(contentsOf url: URL) throws {
        let file = try SafetensorsFile(contentsOf: url)
        let name = url.deletingPathExtension().lastPathComponent
        let (wShape, w) = try file.float32Tensor("weights")
        let (mShape, m) = try file.float32Tensor("means")
        let (sShape, s) = try file.float32Tensor("stds")
        guard wShape.count == 1 else { throw ModelError("\(url.lastPathComponent): 'weights' must have shape [K], got \(wShape)") }
        let k = wShape[0]
        guard mShape.count == 2, mShape[0] == k else {
            throw ModelError("\(url.lastPathComponent): 'means' must have shape [K, D] with K = \(k), got \(mShape)")
        }
        guard sShape == mShape else {
            throw ModelError("\(url.lastPathComponent): 'stds' must have the shape of 'means' \(mShape), got \(sShape)")
        }
        var labels: [Int]?
        if file.tensors["labels"] != nil {
            let (lShape, l) = try file.int32Tensor("labels")
            guard lShape == [k] else { throw ModelError("\(url.lastPathComponent): 'labels' must have shape [\(k)], got \(lShape)") }
            labels = l.map(Int.init)
        }
        var shape: [Int]?
        if let text = file.metadata["shape"] {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            let sizes = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, sizes.count == parts.count, sizes.allSatisfy({ $0 > 0 }) else {
                throw ModelError("\(url.lastPathComponent): metadata 'shape' must be positive integers separated by commas, got '\(text)'")
            }
            shape = sizes
        }
        do {
            try self.init(weights: w.map(Double.init), means: m.map(Double.init), stds: s.map(Double.init),
                          sampleShape: shape, labels: labels, name: name)
        } catch let error as ModelError {
            throw ModelError("\(url.lastPathComponent): \(error.description)")
        }
    }

    /// The mixture as a safetensors file.
    public func safetensors() -> SafetensorsFile {
        let k = componentCount, d = dimension
        var tensors: [String: SafetensorsFile.Tensor] = [
            "weights": SafetensorsFile.float32(weights.map(Float.init), shape: [k]),
            "means": SafetensorsFile.float32(means.map(Float.init), shape: [k, d]),
            "stds": SafetensorsFile.float32(stds.map(Float.init), shape: [k, d]),
        ]
        if let labels { tensors["labels"] = SafetensorsFile.int32(labels.map { Int32($0) }, shape: [k]) }
        return SafetensorsFile(metadata: ["shape": sampleShape.map(String.init).joined(separator: ",")], tensors: tensors)
    }
}
