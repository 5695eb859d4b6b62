import Foundation
import DiffusionSolvers

/// The `--report` JSON: what was sampled, how, and what it cost.
struct RunReport {
    var model: any DiffusionModel
    var schedule: any NoiseSchedule
    var solverName: String
    var spacing: String
    var grid: TimeGrid
    var evaluations: Int
    var seconds: Double
    var samples: SampleTensor
    var seed: UInt64?
    var output: String
    /// Classifier-free guidance, when sampled with `--class`.
    var guidance: (classLabel: Int, scale: Double, rescale: Double)?

    func write(to path: String) throws {
        var object: [String: Any] = [
            "model": model.name,
            "sample_shape": model.sampleShape,
            "count": samples.batchSize,
            "noise_schedule": schedule.name,
            "solver": solverName,
            "step_schedule": spacing,
            "steps": grid.steps,
            "nfe": evaluations,
            "timesteps": grid.levels.map(\.t),
            "sigmas": grid.levels.map { schedule.displaySigma($0) },
            "alphas": grid.levels.map(\.alpha),
            "final": grid.endsClean ? "zero" : "min",
            "wall_seconds": seconds,
            "output": output,
        ]
        if let seed { object["seed"] = seed }
        if let guidance {
            object["class"] = guidance.classLabel
            object["guidance"] = guidance.scale
            object["guidance_rescale"] = guidance.rescale
        }
        if let network = model as? any SkipScalableModel, network.skipScales.contains(where: { $0 != 1 }) {
            object["skip_scales"] = network.skipScales
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: URL(fileURLWithPath: path))
    }
}
