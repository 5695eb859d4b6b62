import Testing
import Foundation
import DiffusionSolvers

/// `diffuse` on the shipped rectified-flow network `digits-flow`: it samples recognisable digits
/// (PNG and the digit classifier) and `compare` runs on its flow schedule. Small counts, as a debug
/// build runs the network about 200× slower than release.
@Suite("diffuse with the built-in flow network")
struct DigitsFlowCommandTests {
    @Test("sample --model digits-flow --class 7 --guidance 3 draws sevens (by the digit classifier) and writes a PNG")
    func guidedSevens() throws {
        let dir = try temporaryDirectory()
        let npy = dir.appendingPathComponent("sevens.npy"), png = dir.appendingPathComponent("sevens.png")
        let report = dir.appendingPathComponent("run.json")
        let result = try Diffuse.run(["sample", "--model", "digits-flow", "--class", "7", "--guidance", "3", "--solver", "heun",
                                      "--nfe", "9", "--count", "3", "--output", npy.path, "--report", report.path])
        #expect(result.status == 0, "\(result.stderr)")
        let array = try NPYArray(contentsOf: npy)
        #expect(array.shape == [3, 1, 8, 8])
        let classifier = try #require(try BuiltInModels.classifier(for: "digits-flow"))
        let classes = try classifier.predictedClasses(of: SampleTensor(shape: array.shape, scalars: array.float32Values))
        #expect(classes == [7, 7, 7], "classified as \(classes)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        #expect(json["model"] as? String == "digits-flow")
        #expect(json["noise_schedule"] as? String == "flow", "\(json)")
        let image = try Diffuse.run(["sample", "--model", "digits-flow", "--solver", "euler", "--steps", "3", "--count", "2",
                                     "--output", png.path])
        #expect(image.status == 0, "\(image.stderr)")
        let bytes = try Data(contentsOf: png)
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    @Test("compare on digits-flow runs the flow placements against its ground truth")
    func compare() throws {
        let dir = try temporaryDirectory()
        let result = try Diffuse.run(["compare", "--model", "digits-flow", "--solvers", "euler,dpmpp_2m", "--schedules", "simple,time-uniform",
                                      "--nfe", "3", "--count", "2", "--tolerance", "1e-3", "--no-cache", "--output-dir", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("results.json"))) as? [String: Any])
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.count == 4)
        for r in results { #expect((r["rmse"] as? Double).map { $0.isFinite && $0 > 0 } == true, "\(r)") }
    }
}
