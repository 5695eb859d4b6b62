import Testing
import Foundation
import DiffusionSolvers

/// `diffuse sample` on the shipped distilled network `digits-lcm`: without `--solver` its
/// `LCMScheduler` config runs `lcm` on LCM's own time steps, one model evaluation per step.
@Suite("diffuse with the built-in LCM network")
struct DigitsLCMCommandTests {
    @Test("sample --model digits-lcm --steps 4 runs lcm on 999, 759, 499, 259 in 4 NFE and draws digits of the class asked for")
    func fourSteps() throws {
        let dir = try temporaryDirectory()
        let npy = dir.appendingPathComponent("sevens.npy"), report = dir.appendingPathComponent("run.json")
        let result = try Diffuse.run(["sample", "--model", "digits-lcm", "--steps", "4", "--class", "7", "--count", "4",
                                      "--output", npy.path, "--report", report.path])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        #expect(json["solver"] as? String == "lcm" && json["step_schedule"] as? String == "lcm", "\(json)")
        #expect(json["nfe"] as? Int == 4 && json["final"] as? String == "zero")
        #expect((json["timesteps"] as? [Double])?.prefix(4) == [999, 759, 499, 259])
        let array = try NPYArray(contentsOf: npy)
        #expect(array.shape == [4, 1, 8, 8])
        let classifier = try #require(try BuiltInModels.classifier(for: "digits-lcm"))
        let classes = try classifier.predictedClasses(of: SampleTensor(shape: array.shape, scalars: array.float32Values))
        #expect(classes.filter { $0 == 7 }.count >= 3, "classified as \(classes)")
    }
}
