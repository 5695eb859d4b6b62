import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Feature classifier")
struct FeatureClassifierTests {
    // A 3 → 2 → 2 → 2 network small enough to evaluate by hand.
    static let w1: [Float] = [1, 0, -1, 0.5, 0.5, 0], b1: [Float] = [0, -1]
    static let w2: [Float] = [1, 0, 0, 2], b2: [Float] = [0.5, 0]
    static let w3: [Float] = [1, -1, 2, 0], b3: [Float] = [0, 0.1]

    static func tinyFile(dropping: String? = nil, replacing: [String: SafetensorsFile.Tensor] = [:],
                         metadata: [String: String] = ["input_shape": "[1, 3]"]) -> SafetensorsFile {
        var tensors: [String: SafetensorsFile.Tensor] = [
            "fc1.weight": SafetensorsFile.float32(w1, shape: [2, 3]), "fc1.bias": SafetensorsFile.float32(b1, shape: [2]),
            "fc2.weight": SafetensorsFile.float32(w2, shape: [2, 2]), "fc2.bias": SafetensorsFile.float32(b2, shape: [2]),
            "fc3.weight": SafetensorsFile.float32(w3, shape: [2, 2]), "fc3.bias": SafetensorsFile.float32(b3, shape: [2]),
        ]
        if let dropping { tensors[dropping] = nil }
        tensors.merge(replacing) { $1 }
        return SafetensorsFile(metadata: metadata, tensors: tensors)
    }

    static func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    @Test("features and logits of a tiny network, by hand")
    func handComputed() throws {
        let classifier = try FeatureClassifier(file: Self.tinyFile(), name: "tiny.safetensors")
        #expect(classifier.inputShape == [1, 3])
        #expect((classifier.inputCount, classifier.hiddenCount, classifier.featureCount, classifier.classCount) == (3, 2, 2, 2))
        #expect(classifier.dataStatistics == nil)
        let x = SampleTensor(shape: [2, 1, 3], scalars: [1, 2, 3, -0.5, 0, 2])
        let features = try classifier.features(of: x), logits = try classifier.logits(of: x)
        for n in 0..<2 {
            let (x0, x1, x2) = (Double(x.scalars[3 * n]), Double(x.scalars[3 * n + 1]), Double(x.scalars[3 * n + 2]))
            let h = [Self.silu(x0 - x2), Self.silu(0.5 * x0 + 0.5 * x1 - 1)]
            let f = [Self.silu(h[0] + 0.5), Self.silu(2 * h[1])]
            let l = [f[0] - f[1], 2 * f[0] + Double(Float(0.1))]
            for j in 0..<2 {
                #expect(abs(features[n][j] - f[j]) < 1e-15)
                #expect(abs(logits[n][j] - l[j]) < 1e-15)
            }
        }
        // Flat samples of the right size are accepted too.
        #expect(try classifier.features(of: SampleTensor(shape: [2, 3], scalars: x.scalars)) == features)
        #expect(try classifier.predictedClasses(of: x) == logits.map { $0[0] > $0[1] ? 0 : 1 })
    }

    @Test("the Fréchet distance against stored data statistics")
    func dataStatistics() throws {
        let x = SampleTensor(shape: [4, 3], scalars: [1, 2, 3, -0.5, 0, 2, 0.3, 0.3, -1, 2, -2, 0.5])
        let plain = try FeatureClassifier(file: Self.tinyFile(), name: "tiny.safetensors")
        let stats = try plain.featureStatistics(of: x)
        #expect(stats == GaussianStatistics(samples: try plain.features(of: x)))
        let file = Self.tinyFile(replacing: ["data_feature_mean": SafetensorsFile.float64(stats.mean, shape: [2]),
                                             "data_feature_cov": SafetensorsFile.float64(stats.covariance, shape: [2, 2])])
        let classifier = try FeatureClassifier(file: file, name: "tiny.safetensors")
        #expect(classifier.dataStatistics == stats)
        #expect(try classifier.frechetDistance(of: x) < 1e-12)
        let y = SampleTensor(shape: [3, 3], scalars: [0, 0, 0, 1, 1, 1, -1, 0, 1])
        #expect(try classifier.frechetDistance(of: y) == FrechetDistance.between(try plain.featureStatistics(of: y), stats))
        #expect(try plain.frechetDistance(of: y, to: x) == classifier.frechetDistance(of: y))
    }

    /// The error message, which must be one line.
    static func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    @Test("bad files and inputs fail with one line naming the file and the tensor")
    func errors() throws {
        let name = "tiny.safetensors"
        let cases: [(SafetensorsFile, [String])] = [
            (Self.tinyFile(dropping: "fc2.bias"), ["missing tensor 'fc2.bias'"]),
            (Self.tinyFile(replacing: ["fc2.weight": SafetensorsFile.float32([1, 2, 3], shape: [1, 3])]),
             ["'fc2.weight'", "[1, 3]", "[H2, 2]"]),
            (Self.tinyFile(replacing: ["fc3.bias": SafetensorsFile.float32([1, 2, 3], shape: [3])]), ["'fc3.bias'", "[3]", "[2]"]),
            (Self.tinyFile(replacing: ["fc1.weight": SafetensorsFile.float64([1, 0, -1, 0.5, 0.5, 0], shape: [2, 3])]),
             ["'fc1.weight'", "F64", "F32"]),
            (Self.tinyFile(replacing: ["data_feature_mean": SafetensorsFile.float64([0, 0], shape: [2])]), ["missing tensor 'data_feature_cov'"]),
            (Self.tinyFile(replacing: ["data_feature_mean": SafetensorsFile.float64([0, 0, 0], shape: [3]),
                                       "data_feature_cov": SafetensorsFile.float64([1, 0, 0, 1], shape: [2, 2])]),
             ["'data_feature_mean'", "[3]"]),
            (Self.tinyFile(replacing: ["data_feature_mean": SafetensorsFile.float64([0, 0], shape: [2]),
                                       "data_feature_cov": SafetensorsFile.float32([1, 0, 0, 1], shape: [2, 2])]),
             ["'data_feature_cov'", "F32", "F64"]),
            (Self.tinyFile(metadata: ["input_shape": "8,8"]), ["input_shape", "[8, 8]", "3"]),
            (Self.tinyFile(metadata: ["input_shape": "three"]), ["input_shape", "'three'"]),
        ]
        for (file, parts) in cases {
            let text = Self.message { _ = try FeatureClassifier(file: file, name: name) }
            #expect(text.hasPrefix("\(name): ") && !text.contains("\n"), "\(text)")
            for part in parts { #expect(text.contains(part), "\(text) lacks \(part)") }
        }
        let classifier = try FeatureClassifier(file: Self.tinyFile(), name: name)
        let wrongSize = Self.message { _ = try classifier.features(of: SampleTensor(zeros: [2, 4])) }
        #expect(wrongSize.hasPrefix(name) && wrongSize.contains("4 values") && wrongSize.contains("3"), "\(wrongSize)")
        let noStatistics = Self.message { _ = try classifier.frechetDistance(of: SampleTensor(zeros: [2, 3])) }
        #expect(noStatistics.contains("data_feature_mean"), "\(noStatistics)")
        let oneSample = Self.message { _ = try classifier.featureStatistics(of: SampleTensor(zeros: [1, 3])) }
        #expect(oneSample.contains("at least two samples"), "\(oneSample)")
        // Read from disk, errors name the file.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("classifier-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("broken.safetensors")
        try Self.tinyFile(dropping: "fc1.weight").write(to: url)
        #expect(Self.message { _ = try FeatureClassifier(contentsOf: url) } == "broken.safetensors: missing tensor 'fc1.weight'")
    }
}

/// The shipped digits classifier against `tools/neural/train_classifier.py`'s own evaluation
/// (float64 from the float32 weights, like ours).
@Suite("Feature classifier parity")
struct FeatureClassifierParityTests {
    static let fixture = Fixtures.url("neural/classifier-features.safetensors")

    /// The shipped classifier named by the fixture's `classifier` metadata (a path from the package
    /// root when the fixture was written; the shipped models have moved since, so its file name).
    static func classifier(for file: SafetensorsFile) throws -> FeatureClassifier {
        let root = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let name = URL(fileURLWithPath: file.metadata["classifier"] ?? "missing metadata").lastPathComponent
        return try FeatureClassifier(contentsOf: root.appendingPathComponent("Sources/DiffusionNeural/Resources/Models").appendingPathComponent(name))
    }

    @Test("features and logits of the digits classifier match the reference to 1e-5 relative")
    func features() throws {
        let file = try SafetensorsFile(contentsOf: Self.fixture)
        let classifier = try Self.classifier(for: file)
        #expect(classifier.inputShape == [1, 8, 8])
        #expect((classifier.inputCount, classifier.hiddenCount, classifier.featureCount, classifier.classCount) == (64, 256, 128, 10))
        #expect(classifier.dataStatistics?.dimension == 128)
        let (inputShape, input) = try file.float32Tensor("input")
        let x = SampleTensor(shape: [inputShape[0], 1, 8, 8], scalars: input)
        let features = try classifier.features(of: x).flatMap { $0 }, logits = try classifier.logits(of: x).flatMap { $0 }
        let featureError = Compare.relativeRMS(features, try file.float64Tensor("features").values)
        let logitError = Compare.relativeRMS(logits, try file.float64Tensor("logits").values)
        print("digits classifier vs reference: features \(featureError), logits \(logitError) relative RMS")
        #expect(featureError < 1e-5 && logitError < 1e-5)
        // Rows 0–9 are one digit of each class, which the classifier recognizes.
        let labels = try file.int64Tensor("labels").values
        #expect(try Array(classifier.predictedClasses(of: x).prefix(10)) == labels.prefix(10).map(Int.init))
    }
}
