import DiffusionSolvers
import Foundation

/// Throughput of the solver arithmetic on a 4x64x64 batch-1 latent, as ratios against a plain copy
/// of the same bytes measured in the same run (absolute GB/s depend on the machine; the ratios
/// are what we track).
///
/// Usage: `swift run -c release diffuse-benchmarks [--solvers uni_pc,lms]` (kernels and per-step
/// cost, for every solver or the ones named), or
/// `swift run -c release diffuse-benchmarks --suite` to regenerate `docs/BENCHMARKS.md`, or
/// `swift run -c release diffuse-benchmarks --neural [--unet PATH]` for the neural runtime, or
/// `swift run -c release diffuse-benchmarks --flow` for the flow section (``FlowBenchmark``), or
/// `swift run -c release diffuse-benchmarks --search-default --nfe N` to search the step placement
/// of the default configuration (``DefaultSearch``).
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
    /// the solver's arithmetic plus the denoiser's conversion and finiteness check.
    struct FreeModel: DiffusionModel {
        var parameterization: Parameterization
        var sampleShape: [Int] { [4, 64, 64] }
        var name: String { "free" }
        func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {}
    }

    /// Runs the mode the arguments name; an error ends the run with one line and exit status 1.
    static func main() {
        do {
            try run()
        } catch {
            FileHandle.standardError.write(Data("diffuse-benchmarks: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run() throws {
        if CommandLine.arguments.contains("--suite") {
            try BenchmarkSuite(root: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).run()
            return
        }
        if CommandLine.arguments.contains("--search-default") {
            try DefaultSearch(root: URL(fileURLWithPath: FileManager.default.currentDirectoryPath), arguments: CommandLine.arguments).run()
            return
        }
        if CommandLine.arguments.contains("--zoo") {
            try ZooBenchmark(root: URL(fileURLWithPath: FileManager.default.currentDirectoryPath), arguments: CommandLine.arguments).run()
            return
        }
        if CommandLine.arguments.contains("--flow") {
            try FlowBenchmark(root: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).run()
            return
        }
        if CommandLine.arguments.contains("--neural") {
            try NeuralBenchmarks.run(arguments: CommandLine.arguments)
            return
        }
        print(try kernelReport(only: try solverNames(CommandLine.arguments).map(Set.init)))
    }

    /// The solvers `--solvers a,b` names, each checked against the catalog; nil without the flag.
    static func solverNames(_ arguments: [String]) throws -> [String]? {
        guard let i = arguments.firstIndex(of: "--solvers"), i + 1 < arguments.count else { return nil }
        let names = arguments[i + 1].split(separator: ",").map(String.init)
        for name in names where SolverCatalog.entry(named: name) == nil {
            throw SamplingError.invalidConfiguration("--solvers: unknown solver '\(name)'")
        }
        return names
    }

    /// The kernel and per-step tables, as Markdown.
    ///
    /// - Parameter only: The solvers of the per-step table (all but the integrating ones when nil),
    ///   for profiling one of them: `diffuse-benchmarks --solvers uni_pc`.
    static func kernelReport(only: Set<String>? = nil) throws -> String {
        var lines: [String] = []
        func print(_ s: String) { lines.append(s) }
        let shape = [1, 4, 64, 64]
        let bytes = Double(shape.reduce(1, *) * MemoryLayout<Float>.size)
        var x = SeededNoise(seed: 1).initialNoise(shape: shape)
        let terms = (2...5).map { SeededNoise(seed: UInt64($0)).initialNoise(shape: shape) }
        let (y, z, w, v) = (terms[0], terms[1], terms[2], terms[3])
        var out = SampleTensor(zeros: shape)

        print("latent \(shape), \(Int(bytes) / 1024) KiB per tensor; every operand of a kernel is a tensor of its own, as in a solver step\n")
        print("| kernel | GB/s | time (us) | rate / copy rate | copies (time / copy time) |")
        print("|---|---|---|---|---|")
        let copy = measure { out.assign(y) }
        func row(_ label: String, tensors: Double, _ time: Double) {
            let rate = tensors * bytes / time / 1e9
            print(String(format: "| %@ | %.2f | %.2f | %.2f | %.2f |", label, rate, time * 1e6, rate / (2 * bytes / copy / 1e9), time / copy))
        }
        row("plain copy (read 1, write 1)", tensors: 2, copy)
        // x = a·x + b·y + c·z: reads x, y, z and writes x.
        row("x = a·x + b·y + c·z (read 3, write 1)", tensors: 4, measure { x.update(scale: 0.99, (0.01, y), (-0.02, z)) })
        row("x = a·x + 4 terms (read 5, write 1)", tensors: 6,
            measure { x.update(scale: 0.99, (0.01, y), (-0.02, z), (0.003, w), (0.004, v)) })
        // The same traffic with a quarter of the multiplies: what the 5-tensor update costs when
        // only its memory traffic counts (it stays finite: x converges to y + z − w).
        row("x = (x + y + z − w)·½ + 0·v, adds only (read 5, write 1)", tensors: 6, measure { x.addsOnly(y, z, w, v) })

        print("\nPer-step cost with a model that costs nothing (solver arithmetic + model call: the output's conversion and finiteness check), in plain copies of the 64 KiB state measured in the same run.\n")
        // One model call as a solver pays it: `Denoiser.predict` with a free model, either reading
        // the prediction the model outputs (ε̂ of an ε-model) or converting it (x̂₀ of an ε-model).
        let schedule = VESchedule()
        let level = NoiseLevel(t: 1, alpha: 0.8, sigma: 0.6, lambda: log(0.8 / 0.6))
        func modelCall(needs: PredictionNeeds) throws -> Double {
            let denoiser = Denoiser(model: FreeModel(parameterization: .noise), schedule: schedule)
            var prediction = ModelPrediction(like: x)
            return try measure { try denoiser.predict(y, at: level, into: &prediction, needs: needs) }
        }
        let direct = try modelCall(needs: .noise), converted = try modelCall(needs: .data)
        print(String(format: "One model call reading the model's own output (ε̂ of an ε-model): %.2f us = %.2f copies; converting it (x̂₀ of an ε-model, read 2, write 1): %.2f us = %.2f copies.\n",
                     direct * 1e6, direct / copy, converted * 1e6, converted / copy))
        print("Each solver runs once with a free ε-model and once with a free x̂₀-model; the table shows the faster run, the one whose model outputs the prediction the solver reads, and the solver's arithmetic is its step time less one such model call per evaluation. Every round of 200 steps is timed next to 200 copies and 200 model calls of its own, and the figures are medians over 21 rounds of the per-round ratios.\n")
        print("| solver | model output read | us / step | copies per step, total | evaluations per step | solver arithmetic alone, copies per step | per evaluation |")
        print("|---|---|---|---|---|---|---|")
        let directCall = Denoiser(model: FreeModel(parameterization: .noise), schedule: schedule)
        var directOutput = ModelPrediction(like: x)
        /// A solver's step on `grid`, each round timed next to a copy and a model call of its own,
        /// so that the ratios do not drift with the machine's memory bandwidth, which moves by a
        /// tenth between runs on a shared host: medians over the rounds of the step time, the step
        /// in copies, and the step less `evaluations` model calls in copies.
        func perStep<S: Solver>(_ solver: S, model: FreeModel, grid: TimeGrid, evaluations: Double) throws
            -> (time: Double, copies: Double, arithmetic: Double) {
            let x0 = SampleTensor.initialSample(noise: x, schedule: schedule, level: grid[0])
            func fresh() throws -> SamplingRun<S> {
                try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x0, noise: SeededNoise(seed: 4))
            }
            // A round never runs past the grid's end; a new run (allocation) starts outside the timing.
            let iterations = Swift.min(200, grid.steps)
            var run = try fresh()
            var times: [Double] = [], copies: [Double] = [], arithmetic: [Double] = []
            for _ in 0..<21 {
                if run.stepsTaken + iterations > grid.steps { run = try fresh() }
                let copy = measure(iterations: iterations, rounds: 1) { out.assign(y) }
                let call = try measure(iterations: iterations, rounds: 1) {
                    try directCall.predict(y, at: level, into: &directOutput, needs: .noise)
                }
                let step = try measure(iterations: iterations, rounds: 1) { try run.advance() }
                times.append(step); copies.append(step / copy); arithmetic.append((step - evaluations * call) / copy)
            }
            func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
            return (median(times), median(copies), median(arithmetic))
        }
        // dpm_fast and dpm_adaptive integrate in their first step: their per-step figure is not comparable.
        // DPM-Solver-v3 runs on its statistics' grid: degenerate statistics (l = 1, s = b = 0, the
        // arithmetic is the same) on 100 log-SNR steps, as per-element statistics for 1000 steps of
        // this state would take 400 MB.
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 1000, final: .minimum).grid(on: schedule)
        let v3Grid = try StepSchedule(spacing: .logSNR, steps: 100, final: .minimum).grid(on: schedule)
        let statistics = try ModelStatistics.degenerate(lambdaStart: v3Grid[0].lambda, lambdaEnd: v3Grid.levels.last!.lambda,
                                                        intervals: 100, dimension: x.sampleCount)
        for entry in SolverCatalog.entries where entry.name != "dpm_fast" && entry.name != "dpm_adaptive" && only?.contains(entry.name) ?? true {
            let solver = try SolverCatalog.solver(named: entry.name, options: .init(statistics: statistics))
            let solverGrid = solver is DPMSolverV3 ? v3Grid : grid
            let evaluations = Double(solver.evaluations(on: solverGrid)) / Double(solverGrid.steps)
            func timed<S: Solver>(_ solver: S) throws -> ((time: Double, copies: Double, arithmetic: Double), String) {
                let noise = try perStep(solver, model: FreeModel(parameterization: .noise), grid: solverGrid, evaluations: evaluations)
                let data = try perStep(solver, model: FreeModel(parameterization: .data), grid: solverGrid, evaluations: evaluations)
                return noise.time <= data.time ? (noise, "ε̂") : (data, "x̂₀")
            }
            // A solver that cannot run on this EDM grid (the time-shift samplers need discrete training steps) has no row.
            guard let (m, read) = try? timed(solver) else { continue }
            print(String(format: "| %@ | %@ | %.2f | %.2f | %.2f | %.2f | %.2f |", entry.name, read, m.time * 1e6, m.copies, evaluations,
                         m.arithmetic, m.arithmetic / evaluations))
        }
        return lines.joined(separator: "\n")
    }
}

extension SampleTensor {
    /// `x = (x + a + b − c)·½ + 0·d` on ``SIMD16`` lanes: the 5-tensor update's memory traffic
    /// (read 5, write 1) without its coefficients, for the kernel table.
    mutating func addsOnly(_ a: SampleTensor, _ b: SampleTensor, _ c: SampleTensor, _ d: SampleTensor) {
        typealias V = SIMD16<Float>
        let n = count - count % V.scalarCount
        scalars.withUnsafeMutableBufferPointer { o in
            a.scalars.withUnsafeBufferPointer { a in b.scalars.withUnsafeBufferPointer { b in
                c.scalars.withUnsafeBufferPointer { c in d.scalars.withUnsafeBufferPointer { d in
                    func load(_ p: UnsafeBufferPointer<Float>, _ i: Int) -> V { UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: V.self) }
                    let out = UnsafeBufferPointer(o)
                    for i in stride(from: 0, to: n, by: V.scalarCount) {
                        let v = (load(out, i) + load(a, i) + (load(b, i) - load(c, i))) * 0.5 + load(d, i) * 0
                        UnsafeMutableRawPointer(o.baseAddress! + i).storeBytes(of: v, as: V.self)
                    }
                    for i in n..<o.count { o[i] = (o[i] + a[i] + (b[i] - c[i])) * 0.5 + d[i] * 0 }
                } }
            } }
        }
    }
}
