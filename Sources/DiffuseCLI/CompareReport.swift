import Foundation
import DiffusionSolvers

/// The printed table, `results.json`, and the error-versus-NFE plots of `diffuse compare`.
enum CompareReport {
    static func table(_ results: [SamplerComparison.Result]) -> String {
        // Columns a model has no figure for (mode agreement on a network, say) are left out.
        let columns: [(String, (SamplerComparison.Result) -> String?)] = [
            ("solver", { $0.solver }), ("schedule", { $0.schedule }), ("NFE", { "\($0.nfe)" }), ("steps", { "\($0.steps)" }),
            ("RMSE", { format($0.rmse) }), ("median err", { format($0.medianError) }),
            ("same mode", { $0.modeAgreement.map { String(format: "%.1f%%", 100 * $0) } }),
            ("FD to data", { $0.frechetToData.map(format) }), ("SW to data", { $0.slicedWassersteinToData.map(format) }),
            ("feature FD", { $0.featureFrechetToData.map(format) }), ("seconds", { String(format: "%.3f", $0.seconds) }),
        ].filter { column in results.contains { column.1($0) != nil } }
        let header = columns.map(\.0)
        var rows = [header]
        for r in results { rows.append(columns.map { $0.1(r) ?? "-" }) }
        let widths = header.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in c < 2 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                                                   : String(repeating: " ", count: widths[c] - cell.count) + cell }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func format(_ x: Double) -> String { String(format: "%.3e", x) }

    static func write(results: [SamplerComparison.Result], references: [SamplerComparison.Reference], model: any DiffusionModel,
                      schedule: any NoiseSchedule, samples: Int, seconds: Double, skipped: [String], to directory: URL) throws {
        struct GroundTruthSummary: Encodable {
            var evaluations: Int; var errorEstimate: Double; var cached: Bool; var seconds: Double
            var frechetToData: Double?; var slicedWassersteinToData: Double?; var featureFrechetToData: Double?
        }
        struct Document: Encodable {
            var model: String; var sampleShape: [Int]; var noiseSchedule: String; var samples: Int
            var groundTruth: [GroundTruthSummary]; var results: [SamplerComparison.Result]; var skipped: [String]; var seconds: Double
        }
        let document = Document(model: model.name, sampleShape: model.sampleShape, noiseSchedule: schedule.name, samples: samples,
                                groundTruth: references.map { GroundTruthSummary(evaluations: $0.evaluations, errorEstimate: $0.errorEstimate,
                                                                                  cached: $0.cached, seconds: $0.seconds,
                                                                                  frechetToData: $0.frechetToData,
                                                                                  slicedWassersteinToData: $0.slicedWassersteinToData,
                                                                                  featureFrechetToData: $0.featureFrechetToData) },
                                results: results, skipped: skipped, seconds: seconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try AtomicFile.write(try encoder.encode(document), to: directory.appendingPathComponent("results.json"))

        try writePlots(results: results, model: model, schedule: schedule, to: directory)
    }
}
