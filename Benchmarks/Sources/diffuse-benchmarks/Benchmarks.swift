import DiffusionSolvers
import Foundation

/// Throughput of the solver arithmetic on a 4x64x64 batch-1 latent, as ratios against a plain copy
/// of the same bytes measured in the same run (absolute GB/s depend on the machine; the ratios
/// are what we track).
///
/// Usage: `swift run -c release diffuse-benchmarks` (kernels and per-step cost), or
/// `swift run -c release diffuse-benchmarks --suite` to regenerate `docs/BENCHMARKS.md`, or
/// `swift run -c release diffuse-benchmarks --neural [--unet PATH]` for the neural runtime.
@main
struct Benchmarks {
    /// Median seconds per call of `body`, over `rounds` rounds of `iterations` calls.
    static func measure(iterations: Int = 2000, rounds: Int = 15, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            for _ in 0..<iterations { try body() }
            let d = (ContinuousClock.now - start).components
            times.append((Double(d.seconds) + Double(d.attoseconds) * 1e-18) / Double(iterations))
        }
        return times.sorted()[rounds / 2]
    }

    /// A model whose evaluation costs nothing: it leaves the output as it is, so a step's time is
    /// the solver's arithmetic plus the denoiser's conversion and finiteness checks.
    struct FreeModel: DiffusionModel {
        var sampleShape: [Int] { [4, 64, 64] }
        var parameterization: Parameterization { .noise }
        var name: String { "free" }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {}
    }

    static func main() throws {
        if CommandLine.arguments.contains("--suite") {
            try BenchmarkSuite(root: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).run()
            return
        }
        if CommandLine.arguments.contains("--neural") {
            try NeuralBenchmarks.run(arguments: CommandLine.arguments)
            return
        }
        print(try kernelReport())
    }

    /// The kernel and per-step tables, as Markdown.
    static func kernelReport() throws -> String {
        var lines: [String] = []
        func print(_ s: String) { lines.append(s) }
        let shape = [1, 4, 64, 64]
        let bytes = Double(shape.reduce(1, *) * MemoryLayout<Float>.size)
        var x = SeededNoise(seed: 1).initialNoise(shape: shape)
        let y = SeededNoise(seed: 2).initialNoise(shape: shape)
        let z = SeededNoise(seed: 3).initialNoise(shape: shape)
        var out = SampleTensor(zeros: shape)

        print("latent \(shape), \(Int(bytes) / 1024) KiB per tensor\n")
        print("| kernel | GB/s | time (us) | rate / copy rate |")
        print("|---|---|---|---|")
        let copy = measure { out.assign(y) }
        let copyRate = 2 * bytes / copy / 1e9
        print(String(format: "| plain copy (read 1, write 1) | %.2f | %.2f | 1.00 |", copyRate, copy * 1e6))
        // x = a*x + b*y + c*z: reads x, y, z and writes x.
        let fused = measure { x.update(scale: 0.99, (0.01, y), (-0.02, z)) }
        let fusedRate = 4 * bytes / fused / 1e9
        print(String(format: "| x = a·x + b·y + c·z (read 3, write 1) | %.2f | %.2f | %.2f |", fusedRate, fused * 1e6, fusedRate / copyRate))
        let fused5 = measure { x.update(scale: 0.99, (0.01, y), (-0.02, z), (0.003, y), (0.004, z)) }
        let fused5Rate = 6 * bytes / fused5 / 1e9
        print(String(format: "| x = a·x + 4 terms (read 5, write 1) | %.2f | %.2f | %.2f |", fused5Rate, fused5 * 1e6, fused5Rate / copyRate))

        print("\nPer-step cost with a model that costs nothing (solver arithmetic + prediction conversion + finiteness checks), in plain copies of the 64 KiB state measured in the same run:\n")
        // What every evaluation pays before the solver's own arithmetic: converting the model output
        // to the prediction the solver reads, with the NaN/Inf check fused in (one pass, 1 output).
        var prediction = ModelPrediction(like: x)
        let level = NoiseLevel(t: 1, alpha: 0.8, sigma: 0.6, lambda: log(0.8 / 0.6))
        let conversion = measure { Parameterization.noise.convert(output: y, at: z, level: level, data: &prediction.data,
                                                                  noise: &prediction.noise, needs: .data) }
        print(String(format: "Converting one model output (read 2, write 1, NaN/Inf check fused): %.2f us = %.2f copies.\n", conversion * 1e6, conversion / copy))
        print("| solver | us / step | copies per step, total | evaluations per step | solver arithmetic alone, copies per step |")
        print("|---|---|---|---|---|")
        let schedule = VESchedule()
        func perStep<S: Solver>(_ solver: S) throws -> Double {
            var grid = try StepSchedule(spacing: .karras(rho: 7), steps: 1000, final: .minimum).grid(on: schedule)
            if solver is DPMSolverV3 { grid = try StepSchedule(spacing: .logSNR, steps: 100, final: .minimum).grid(on: schedule) }
            let x0 = SampleTensor.initialSample(noise: x, schedule: schedule, level: grid[0])
            func fresh() throws -> SamplingRun<S> {
                try SamplingRun(model: FreeModel(), schedule: schedule, solver: solver, grid: grid, initialSample: x0, noise: SeededNoise(seed: 4))
            }
            var run = try fresh()
            return try measure(iterations: 200, rounds: 15) {
                if run.isFinished { run = try fresh() }
                try run.advance()
            }
        }
        // dpm_fast and dpm_adaptive integrate in their first step: their per-step figure is not comparable.
        // DPM-Solver-v3 runs on its statistics' grid: degenerate statistics (l = 1, s = b = 0, the
        // arithmetic is the same) on 100 log-SNR steps, as per-element statistics for 1000 steps of
        // this state would take 400 MB.
        let v3Grid = try StepSchedule(spacing: .logSNR, steps: 100, final: .minimum).grid(on: schedule)
        let statistics = try ModelStatistics.degenerate(lambdaStart: v3Grid[0].lambda, lambdaEnd: v3Grid.levels.last!.lambda,
                                                        intervals: 100, dimension: x.sampleCount)
        for entry in SolverCatalog.entries where entry.name != "dpm_fast" && entry.name != "dpm_adaptive" {
            let solver = try SolverCatalog.solver(named: entry.name, options: .init(statistics: statistics))
            let t = try perStep(solver)
            let evaluations = Double(solver.evaluations(on: try StepSchedule(spacing: .karras(rho: 7), steps: 1000, final: .minimum).grid(on: schedule))) / 1000
            print(String(format: "| %@ | %.2f | %.2f | %.2f | %.2f |", entry.name, t * 1e6, t / copy, evaluations,
                         (t - evaluations * conversion) / copy))
        }
        return lines.joined(separator: "\n")
    }
}
