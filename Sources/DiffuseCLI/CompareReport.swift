import Foundation
import DiffusionSolvers

/// The printed table, `results.json`, and the error-versus-NFE plots of `diffuse compare`.
enum CompareReport {
    static func table(_ results: [SamplerComparison.Result]) -> String {
        let header = ["solver", "schedule", "NFE", "steps", "RMSE", "median err", "same mode", "FD to data", "SW to data", "seconds"]
        var rows = [header]
        for r in results {
            rows.append([r.solver, r.schedule, "\(r.nfe)", "\(r.steps)", format(r.rmse), format(r.medianError),
                         r.modeAgreement.map { String(format: "%.1f%%", 100 * $0) } ?? "-",
                         r.frechetToData.map(format) ?? "-", r.slicedWassersteinToData.map(format) ?? "-",
                         String(format: "%.3f", r.seconds)])
        }
        let widths = header.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in c < 2 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                                                   : String(repeating: " ", count: widths[c] - cell.count) + cell }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func format(_ x: Double) -> String { String(format: "%.3e", x) }

    static func write(results: [SamplerComparison.Result], references: [SamplerComparison.Reference], model: GaussianMixture,
                      schedule: any NoiseSchedule, samples: Int, seconds: Double, skipped: [String], to directory: URL) throws {
        struct GroundTruthSummary: Encodable {
            var evaluations: Int; var errorEstimate: Double; var cached: Bool; var seconds: Double
            var frechetToData: Double?; var slicedWassersteinToData: Double?
        }
        struct Document: Encodable {
            var model: String; var sampleShape: [Int]; var noiseSchedule: String; var samples: Int
            var groundTruth: [GroundTruthSummary]; var results: [SamplerComparison.Result]; var skipped: [String]; var seconds: Double
        }
        let document = Document(model: model.name, sampleShape: model.sampleShape, noiseSchedule: schedule.name, samples: samples,
                                groundTruth: references.map { GroundTruthSummary(evaluations: $0.evaluations, errorEstimate: $0.errorEstimate,
                                                                                  cached: $0.cached, seconds: $0.seconds,
                                                                                  frechetToData: $0.frechetToData,
                                                                                  slicedWassersteinToData: $0.slicedWassersteinToData) },
                                results: results, skipped: skipped, seconds: seconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try AtomicFile.write(try encoder.encode(document), to: directory.appendingPathComponent("results.json"))

        try writePlots(results: results, model: model, schedule: schedule, to: directory)
    }
}
