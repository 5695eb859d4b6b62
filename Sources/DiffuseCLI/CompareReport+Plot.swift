import Foundation
import DiffusionSolvers

extension CompareReport {
    /// Writes error-vs-nfe.svg and .png (one line per solver and schedule, log-log).
    static func writePlots(results: [SamplerComparison.Result], model: GaussianMixture, schedule: any NoiseSchedule,
                           to directory: URL) throws {
        // Filled in when the line-plot renderer lands.
    }
}
