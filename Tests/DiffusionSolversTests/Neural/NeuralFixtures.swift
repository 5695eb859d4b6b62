import Foundation
import Testing
@testable import DiffusionSolvers
import DiffusionTestSupport

/// The reference tensors written by `tools/neural/fixtures_unet.py` (diffusers 0.42.1, torch CPU float32).
enum NeuralFixtures {
    static func url(_ name: String) -> URL { Fixtures.url("neural").appendingPathComponent(name) }

    static func file(_ name: String) throws -> SafetensorsFile { try SafetensorsFile(contentsOf: url(name)) }

    static func model(_ name: String) throws -> UNetDiffusionModel { try UNetDiffusionModel(directory: url(name)) }

    /// A float32 tensor as a batch-first `SampleTensor`.
    static func tensor(_ file: SafetensorsFile, _ name: String) throws -> SampleTensor {
        let (shape, values) = try file.float32Tensor(name)
        return SampleTensor(shape: shape, scalars: values)
    }

    static func labels(_ file: SafetensorsFile, _ name: String) throws -> [Int] {
        try file.int64Tensor(name).values.map { Int($0) }
    }
}

/// The error measures of the parity tests: `‖a − b‖₂/‖b‖₂` and `max|a − b| / rms(b)`.
struct ParityError: CustomStringConvertible {
    var relativeRMS: Double
    var maxAbsOverRMS: Double

    init(_ actual: [Float], _ expected: [Float]) {
        precondition(actual.count == expected.count, "ParityError: \(actual.count) vs \(expected.count) values")
        var squares = 0.0, reference = 0.0, largest = 0.0
        for (a, b) in zip(actual, expected) {
            let d = Double(a) - Double(b)
            squares += d * d
            reference += Double(b) * Double(b)
            largest = max(largest, abs(d))
        }
        relativeRMS = (squares / max(reference, .leastNormalMagnitude)).squareRoot()
        maxAbsOverRMS = largest / max((reference / Double(expected.count)).squareRoot(), .leastNormalMagnitude)
    }

    /// Both measures below `tolerance`.
    func within(_ tolerance: Double) -> Bool { relativeRMS <= tolerance && maxAbsOverRMS <= tolerance }

    var description: String { String(format: "relative RMS %.2e, max abs / RMS %.2e", relativeRMS, maxAbsOverRMS) }
}

extension NeuralWorkspace {
    /// A batch-first tensor `[B, C, H, W]` as a channel-major feature map in this workspace.
    func featureMap(_ tensor: SampleTensor) -> FeatureMap {
        let s = tensor.shape
        let map = featureMap(channels: s[1], batch: s[0], height: s[2], width: s[3])
        tensor.scalars.withUnsafeBufferPointer { map.load(batchMajor: $0.baseAddress!) }
        return map
    }
}

extension FeatureMap {
    /// The map's values batch-first, `[B, C, H, W]`.
    var batchMajor: [Float] {
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { store(batchMajor: $0.baseAddress!) }
        return values
    }
}

/// The tests of the neural runtime (`swift test --filter Neural`).
@Suite("Neural")
enum Neural {}
