import DiffusionSolvers
import Foundation

/// Throughput of the neural runtime: the matrix multiplication at 256, 512 and 1024 square against
/// the machine's peak measured in the same run, and the forward time of a UNet model folder.
///
/// Usage: `swift run -c release diffuse-benchmarks --neural [--unet PATH ...] [--json | --profile]`
/// (`--profile`: only the time per kind of layer of each `--unet`, see ``profile(_:)``). `--unet` names a
/// `UNet2DModel` folder (config.json and weights; a scheduler config is not needed) and may be repeated,
/// for example the latent-size model `tools/neural/make_latent_unet.py` writes to `.build-bench/latent-unet`;
/// `--json` prints one JSON object (`BenchmarkReport`) instead of the Markdown tables, for
/// `tools/neural/bench_forward.py`. For tuning: `--sizes 512,1024` (empty: no GEMM rows), `--batches 16`
/// and `--threads 1` narrow the runs; `--gemm N` times one product in thread CPU time.
///
/// The peak is what independent chains of multiply-adds reach in the registers of the micro-kernel in
/// use (``MicroKernel/best``): fused multiply-adds on twelve AVX2 or AVX-512 registers when the CPU has
/// them, else `a = a·m + d` on six `SIMD8<Float>` accumulators (the separate multiply and add of the
/// portable kernel, baseline x86-64 having no fused multiply-add), on one thread and on every core at
/// once. The GEMM rows are given for every kernel the CPU runs, each against its own unit's peak.
enum NeuralBenchmarks {
    /// What `--json` prints. Times are medians in milliseconds, rates in GFLOP/s.
    struct BenchmarkReport: Encodable {
        var threads: Int
        /// The micro-kernel of `gemm` and of the forward passes, whose unit `peak…` measures.
        var kernel = MicroKernel.best.rawValue
        var peakOneThread = 0.0, peakAllThreads = 0.0
        var baselinePeakOneThread = 0.0, baselinePeakAllThreads = 0.0
        var gemm: [GEMM] = []
        /// The same products with the portable kernel.
        var gemmPortable: [GEMM] = []
        var unets: [UNet] = []
        struct GEMM: Encodable { var n: Int; var oneThread: Double; var allThreads: Double }
        struct UNet: Encodable {
            var path: String, name: String, sampleShape: [Int], gflopPerSample: Double, forward: [Forward]
            /// ‖ours − PyTorch‖ / ‖PyTorch‖ on the folder's `forward_reference.safetensors`, when it has one.
            var relativeRMS: Double?
        }
        struct Forward: Encodable { var batch: Int; var threads: Int; var milliseconds: Double }
    }

    static func run(arguments: [String]) throws {
        if arguments.contains("--profile") {
            for (flag, path) in zip(arguments, arguments.dropFirst()) where flag == "--unet" { try profile(URL(fileURLWithPath: path)) }
            return
        }
        if let index = arguments.firstIndex(of: "--gemm"), index + 1 < arguments.count, let n = Int(arguments[index + 1]) {
            gemm(n: n)
            return
        }
        let json = arguments.contains("--json")
        func say(_ line: String) { if !json { print(line) } }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let baseOne = peak(threads: 1), baseAll = peak(threads: cores)
        let peakOne = peak(threads: 1, kernel: .best) ?? baseOne, peakAll = peak(threads: cores, kernel: .best) ?? baseAll
        var report = BenchmarkReport(threads: cores, peakOneThread: peakOne, peakAllThreads: peakAll,
                                     baselinePeakOneThread: baseOne, baselinePeakAllThreads: baseAll)
        say(String(format: "Peak (SIMD multiply-add chains): %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads\n", baseOne, baseAll, cores))
        // The peak of each kernel's unit: the baseline's for the portable kernel.
        var peaks: [MicroKernel: (one: Double, all: Double)] = [.portable: (baseOne, baseAll), .best: (peakOne, peakAll)]
        for kernel in MicroKernel.supported where kernel != .portable {
            if kernel != .best { peaks[kernel] = (peak(threads: 1, kernel: kernel)!, peak(threads: cores, kernel: kernel)!) }
            say(String(format: "Peak (%@ fused multiply-add chains): %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads\n",
                       kernel.rawValue, peaks[kernel]!.one, peaks[kernel]!.all, cores))
        }
        say("| GEMM n×n×n | kernel | 1 thread GFLOP/s | / peak | \(cores) threads GFLOP/s | / peak |")
        say("|---|---|---|---|---|---|")
        // `--sizes` (comma-separated, empty for none), `--batches` and `--threads` narrow the runs for tuning.
        func list(_ flag: String, _ fallback: [Int]) -> [Int] {
            guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return fallback }
            return arguments[index + 1].split(separator: ",").compactMap { Int($0) }
        }
        let sizes = list("--sizes", [256, 512, 1024]), batches = list("--batches", [1, 16]), threadCounts = list("--threads", [1, cores])
        for n in sizes { for kernel in MicroKernel.supported {
            let a = SeededNoise(seed: 1).initialNoise(shape: [1, n * n]).scalars
            let b = SeededNoise(seed: 2).initialNoise(shape: [1, n * n]).scalars
            var c = [Float](repeating: 0, count: n * n)
            let flops = 2 * pow(Double(n), 3)
            let saved = Parallelism.maximumThreads
            Parallelism.maximumThreads = 1
            let serial = Benchmarks.measure(iterations: 1, rounds: n == 1024 ? 3 : 7) {
                MatrixMultiply.multiply(a, b, into: &c, m: n, n: n, k: n, kernel: kernel)
            }
            Parallelism.maximumThreads = 0
            let parallel = Benchmarks.measure(iterations: 1, rounds: n == 1024 ? 3 : 7) {
                MatrixMultiply.multiply(a, b, into: &c, m: n, n: n, k: n, kernel: kernel)
            }
            Parallelism.maximumThreads = saved
            let (one, all) = (flops / serial / 1e9, flops / parallel / 1e9)
            let (unitOne, unitAll) = peaks[kernel]!
            if kernel == .best { report.gemm.append(.init(n: n, oneThread: one, allThreads: all)) }
            if kernel == .portable { report.gemmPortable.append(.init(n: n, oneThread: one, allThreads: all)) }
            say(String(format: "| %d | %@ | %.1f | %.2f | %.1f | %.2f |", n, kernel.rawValue, one, one / unitOne, all, all / unitAll))
        } }
        for (flag, path) in zip(arguments, arguments.dropFirst()) where flag == "--unet" {
            report.unets.append(try unet(URL(fileURLWithPath: path), peaks: (peakOne, peakAll), cores: cores, batches: batches,
                                         threadCounts: threadCounts, say: say))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
    }

    /// `--gemm N`: the dispatched kernel's n×n×n product on one thread against its unit's peak, for
    /// tuning the kernels on a shared machine: both timed in thread CPU time (time preempted by other
    /// processes left out), the shortest of 9 rounds, `A` packed on every call as in the tables.
    static func gemm(n: Int) {
        let a = SeededNoise(seed: 1).initialNoise(shape: [1, n * n]).scalars
        let b = SeededNoise(seed: 2).initialNoise(shape: [1, n * n]).scalars
        var c = [Float](repeating: 0, count: n * n)
        let saved = Parallelism.maximumThreads
        Parallelism.maximumThreads = 1
        defer { Parallelism.maximumThreads = saved }
        func cpuSeconds(_ body: () -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<9 {
                var start = timespec(), end = timespec()
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
                body()
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
                best = min(best, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9)
            }
            return best
        }
        let seconds = cpuSeconds { MatrixMultiply.multiply(a, b, into: &c, m: n, n: n, k: n) }
        let rounds = 2_000_000, unit: Double
        if let flops = MicroKernel.best.chainFlopsPerRound {
            unit = Double(rounds) * flops / cpuSeconds { MicroKernel.best.peakChains(rounds) } / 1e9
        } else {
            unit = Double(rounds) * 96 / cpuSeconds { chains(rounds) } / 1e9
        }
        let rate = 2 * pow(Double(n), 3) / seconds / 1e9
        print(String(format: "%@ n = %d: %.1f GFLOP/s, %.1f%% of %.1f (thread CPU time)", MicroKernel.best.rawValue, n, rate, 100 * rate / unit, unit))
    }

    /// Forward time of the model folder at batch 1 and 16, on one thread and on every core (median of
    /// a few passes after a warm-up, one workspace reused; 3 passes when the warm-up took over a
    /// second), with the throughput its convolutions and attention products imply.
    static func unet(_ folder: URL, peaks: (one: Double, all: Double), cores: Int, batches: [Int] = [1, 16], threadCounts: [Int]? = nil,
                     say: (String) -> Void) throws -> BenchmarkReport.UNet {
        let network = try UNet2D(folder: folder), c = network.configuration
        let name = folder.lastPathComponent, sampleShape = [c.inChannels] + c.sampleSize
        let flops = forwardOperations(c)
        var result = BenchmarkReport.UNet(path: folder.path, name: name, sampleShape: sampleShape, gflopPerSample: flops / 1e9, forward: [],
                                          relativeRMS: try referenceDifference(network, folder: folder))
        say(String(format: "\nUNet '%@' %@: %.2f GFLOP per sample (convolutions, projections, attention products)\n",
                   name, "\(sampleShape)", flops / 1e9))
        if let difference = result.relativeRMS {
            say(String(format: "Relative RMS difference from PyTorch's output (%@): %.2e\n", referenceFile, difference))
        }
        say("| batch | threads | forward (ms) | per sample (ms) | GFLOP/s | / peak |")
        say("|---|---|---|---|---|---|")
        let saved = Parallelism.maximumThreads
        defer { Parallelism.maximumThreads = saved }
        for batch in batches {
            let pass = forwardPass(network, batch: batch)
            for threads in threadCounts ?? [1, cores] {
                Parallelism.maximumThreads = threads == 1 ? 1 : 0
                let warmUp = try Benchmarks.measure(iterations: 1, rounds: 1, pass)
                let seconds = try Benchmarks.measure(iterations: 1, rounds: warmUp > 1 ? 3 : batch == 1 ? 9 : 5, pass)
                let rate = flops * Double(batch) / seconds / 1e9
                result.forward.append(.init(batch: batch, threads: threads, milliseconds: seconds * 1e3))
                say(String(format: "| %d | %d | %.1f | %.2f | %.1f | %.2f |", batch, threads, seconds * 1e3, seconds * 1e3 / Double(batch), rate, rate / (threads == 1 ? peaks.one : peaks.all)))
            }
        }
        return result
    }

    /// A forward pass of `network` at `batch` on seeded noise, timestep 500 and the null class label of
    /// a class-conditional network, reusing one workspace.
    static func forwardPass(_ network: UNet2D, batch: Int) -> () throws -> Void {
        let c = network.configuration
        let input = SeededNoise(seed: 3).initialNoise(shape: [batch, c.inChannels] + c.sampleSize)
        let labels = c.classEmbeddingCount.map { Array(repeating: $0 - 1, count: batch) }
        let timesteps = [Float](repeating: 500, count: batch)
        let workspace = NeuralWorkspace()
        var output = SampleTensor(zeros: [batch, c.outChannels] + c.sampleSize)
        return { try network.forward(input, timesteps: timesteps, classLabels: labels, workspace: workspace, into: &output) }
    }

    /// The time of one forward pass by kind of layer (`LayerProfile`, thread CPU time), at batch 1 and
    /// 16 on one thread: of several passes after a warm-up, the one with the shortest total, as a
    /// Markdown table.
    static func profile(_ folder: URL) throws {
        let network = try UNet2D(folder: folder), c = network.configuration
        let saved = Parallelism.maximumThreads
        Parallelism.maximumThreads = 1
        defer {
            Parallelism.maximumThreads = saved
            LayerProfile.reset(enabled: false)
        }
        print("\nProfile of '\(folder.lastPathComponent)' \([c.inChannels] + c.sampleSize), 1 thread, kernel \(MicroKernel.best.rawValue), thread CPU time\n")
        print("| layer kind | batch 1 (ms) | share | batch 16 (ms) | share |")
        print("|---|---|---|---|---|")
        var columns: [(total: Double, kinds: [LayerProfile.Kind: Double])] = []
        for batch in [1, 16] {
            let pass = forwardPass(network, batch: batch)
            try pass()
            var best: (total: Double, kinds: [LayerProfile.Kind: Double])?
            for _ in 0..<(batch == 1 ? 15 : 7) {
                LayerProfile.reset(enabled: true)
                try pass()
                let kinds = LayerProfile.seconds, total = kinds.values.reduce(0, +)
                if best == nil || total < best!.total { best = (total, kinds) }
            }
            columns.append(best!)
        }
        for kind in LayerProfile.Kind.allCases {
            let cells = columns.map { String(format: "%.2f | %.0f%%", $0.kinds[kind]! * 1e3, 100 * $0.kinds[kind]! / $0.total) }
            print("| \(kind.rawValue) | \(cells.joined(separator: " | ")) |")
        }
        print("| total | \(columns.map { String(format: "%.2f | 100%%", $0.total * 1e3) }.joined(separator: " | ")) |")
    }

    /// The file of a PyTorch forward pass that a model folder may carry (`make_latent_unet.py` writes
    /// one): float32 tensors `input` [N, C, H, W], `timesteps` [N] and `output`.
    static let referenceFile = "forward_reference.safetensors"

    /// `‖y − y_ref‖₂ / ‖y_ref‖₂` (in Double) between our forward pass and the reference output, or nil
    /// when the folder has no reference file.
    static func referenceDifference(_ network: UNet2D, folder: URL) throws -> Double? {
        let url = folder.appendingPathComponent(referenceFile)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let file = try SafetensorsFile(contentsOf: url)
        let input = try file.float32Tensor("input"), reference = try file.float32Tensor("output")
        let timesteps = try file.float32Tensor("timesteps").values
        let labels = network.configuration.classEmbeddingCount.map { Array(repeating: $0 - 1, count: timesteps.count) }
        var output = SampleTensor(zeros: reference.shape)
        try network.forward(SampleTensor(shape: input.shape, scalars: input.values), timesteps: timesteps, classLabels: labels,
                            workspace: NeuralWorkspace(), into: &output)
        var difference = 0.0, norm = 0.0
        for (y, r) in zip(output.scalars, reference.values) {
            difference += (Double(y) - Double(r)) * (Double(y) - Double(r))
            norm += Double(r) * Double(r)
        }
        return (difference / norm).squareRoot()
    }

    /// Floating-point operations of one sample's forward pass: `2·m·n·k` for every convolution,
    /// projection and attention product (norms, activations and the time embedding are left out).
    static func forwardOperations(_ c: UNet2DConfiguration) -> Double {
        var height = Double(c.sampleSize[0]), width = Double(c.sampleSize[1])
        func conv(_ input: Int, _ output: Int, kernel: Double = 9) -> Double { 2 * Double(input * output) * kernel * height * width }
        func resnet(_ input: Int, _ output: Int) -> Double {
            conv(input, output) + conv(output, output) + (input == output ? 0 : conv(input, output, kernel: 1))
        }
        func attention(_ channels: Int) -> Double {
            let tokens = height * width, c = Double(channels)
            return 2 * 4 * c * c * tokens + 2 * 2 * tokens * tokens * c
        }
        var total = conv(c.inChannels, c.blockOutChannels[0])
        var skips = [c.blockOutChannels[0]], channels = c.blockOutChannels[0]
        for (i, type) in c.downBlockTypes.enumerated() {
            for _ in 0..<c.layersPerBlock {
                total += resnet(channels, c.blockOutChannels[i]) + (type == .attention ? attention(c.blockOutChannels[i]) : 0)
                channels = c.blockOutChannels[i]
                skips.append(channels)
            }
            if i < c.levels - 1 {
                height /= 2
                width /= 2
                total += conv(channels, channels)
                skips.append(channels)
            }
        }
        if c.midBlockType != nil {
            total += 2 * resnet(channels, channels) + (c.addAttention ? attention(channels) : 0)
        }
        for (i, type) in c.upBlockTypes.enumerated() {
            let output = c.blockOutChannels[c.levels - 1 - i]
            for _ in 0...c.layersPerBlock {
                total += resnet(channels + skips.removeLast(), output) + (type == .attention ? attention(output) : 0)
                channels = output
            }
            if i < c.levels - 1 {
                height *= 2
                width *= 2
                total += conv(channels, channels)
            }
        }
        return total + conv(channels, c.outChannels)
    }

    /// GFLOP/s of `threads` threads each running `kernel`'s fused multiply-add chains (nil for the portable kernel).
    static func peak(threads: Int, kernel: MicroKernel) -> Double? {
        guard let perRound = kernel.chainFlopsPerRound else { return nil }
        let iterations = 20_000_000
        var best = 0.0
        for _ in 0..<5 {
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: threads) { _ in kernel.peakChains(iterations) }
            let d = (ContinuousClock.now - start).components
            let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
            best = max(best, Double(threads * iterations) * perRound / seconds / 1e9)
        }
        return best
    }

    /// GFLOP/s of `threads` threads each running six independent `SIMD8<Float>` multiply-add chains.
    static func peak(threads: Int) -> Double {
        let iterations = 20_000_000
        var best = 0.0
        for _ in 0..<5 {
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: threads) { _ in chains(iterations) }
            let d = (ContinuousClock.now - start).components
            let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
            best = max(best, Double(threads * iterations) * 6 * 16 / seconds / 1e9)
        }
        return best
    }

    /// `iterations` rounds of `a = a·m + d` on six independent accumulators (96 flops per round).
    @inline(never)
    static func chains(_ iterations: Int) {
        var a0 = SIMD8<Float>(repeating: 0.5), a1 = a0 + 0.1, a2 = a0 + 0.2, a3 = a0 + 0.3, a4 = a0 + 0.4, a5 = a0 + 0.5
        let m = SIMD8<Float>(repeating: 0.999_999), d = SIMD8<Float>(repeating: 1e-7)
        for _ in 0..<iterations {
            a0 = a0 * m + d; a1 = a1 * m + d; a2 = a2 * m + d
            a3 = a3 * m + d; a4 = a4 * m + d; a5 = a5 * m + d
        }
        // Keeps the chains from being optimized away.
        if (a0 + a1 + a2 + a3 + a4 + a5).sum() == 0 { print("") }
    }
}
