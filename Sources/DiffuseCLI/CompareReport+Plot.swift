import Foundation
import DiffusionSolvers

extension CompareReport {
    /// Writes error-vs-nfe.svg and .png (one line per solver and schedule, log-log).
    static func writePlots(results: [SamplerComparison.Result], model: any DiffusionModel, schedule: any NoiseSchedule,
                           to directory: URL) throws {
        var series: [String: [SIMD2<Double>]] = [:]
        var order: [String] = []
        for r in results {
            let label = "\(r.solver) \(r.schedule)"
            if series[label] == nil { order.append(label) }
            series[label, default: []].append(SIMD2(Double(r.nfe), r.rmse))
        }
        let plot = LinePlot(title: "\(model.name) on \(schedule.name): error against NFE", xLabel: "NFE (model evaluations)",
                            yLabel: "RMSE to the ground-truth ODE solution",
                            series: order.map { LinePlot.Series(label: $0, points: series[$0, default: []].sorted { $0.x < $1.x }) })
        try AtomicFile.write(Data(plot.svg().utf8), to: directory.appendingPathComponent("error-vs-nfe.svg"))
        try plot.png().write(to: directory.appendingPathComponent("error-vs-nfe.png"))
    }
}
