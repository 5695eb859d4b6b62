import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport
import PropertyBased

/// Every test that changes process-wide state (``Parallelism/maximumThreads``, the working
/// directory), in one serialized suite: tests run in parallel, so two of these running at once
/// could save and restore each other's value, and a "1 thread against all threads" comparison
/// would compare 1 thread with 1 thread. Each test sets the value it needs for every run it
/// compares, and restores the previous value.
@Suite("Process-wide state", .serialized)
struct ProcessWideStateTests {
    /// Runs `body` with `Parallelism.maximumThreads = threads`; restores the previous value.
    static func withThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        let saved = Parallelism.maximumThreads
        Parallelism.maximumThreads = threads
        defer { Parallelism.maximumThreads = saved }
        return try body()
    }

    @Test("feature classifier: results do not depend on the thread count")
    func featureClassifierThreads() throws {
        let d = 16
        let file = SafetensorsFile(tensors: [
            "fc1.weight": SafetensorsFile.float32(TestModels.noise([32, d], seed: 1).scalars, shape: [32, d]),
            "fc1.bias": SafetensorsFile.float32(TestModels.noise([1, 32], seed: 2).scalars, shape: [32]),
            "fc2.weight": SafetensorsFile.float32(TestModels.noise([24, 32], seed: 3).scalars, shape: [24, 32]),
            "fc2.bias": SafetensorsFile.float32(TestModels.noise([1, 24], seed: 4).scalars, shape: [24]),
            "fc3.weight": SafetensorsFile.float32(TestModels.noise([5, 24], seed: 5).scalars, shape: [5, 24]),
            "fc3.bias": SafetensorsFile.float32(TestModels.noise([1, 5], seed: 6).scalars, shape: [5]),
        ])
        let classifier = try FeatureClassifier(file: file, name: "random")
        let x = TestModels.noise([300, d], seed: 7)
        let parallel = try Self.withThreads(0) { try classifier.logits(of: x) }
        let serial = try Self.withThreads(1) { try classifier.logits(of: x) }
        #expect(serial == parallel)
    }

    @Test("matrix multiplication: the same bits for one thread and all threads")
    func matrixMultiplyThreads() {
        let (m, n, k) = (150, 97, 600)
        typealias Values = Neural.MatrixMultiplyTests
        let a = Values.values(m * k, seed: 5), b = Values.values(k * n, seed: 6), bias = Values.values(m, seed: 7)
        var serial = [Float](repeating: 0, count: m * n), parallel = serial
        Self.withThreads(1) { MatrixMultiply.multiply(a, b, into: &serial, m: m, n: n, k: k, bias: bias) }
        Self.withThreads(0) { MatrixMultiply.multiply(a, b, into: &parallel, m: m, n: n, k: k, bias: bias) }
        #expect(serial == parallel)
    }

    @Test("matrix multiplication: every micro-kernel gives the same bits for one thread and all threads")
    func microKernelThreads() {
        let (m, n, k) = (300, 97, 600)
        typealias Values = Neural.MatrixMultiplyTests
        let a = Values.values(m * k, seed: 5), b = Values.values(k * n, seed: 6), bias = Values.values(m, seed: 7)
        for kernel in MicroKernel.supported {
            var serial = [Float](repeating: 0, count: m * n), parallel = serial
            Self.withThreads(1) { MatrixMultiply.multiply(a, b, into: &serial, m: m, n: n, k: k, bias: bias, kernel: kernel) }
            Self.withThreads(0) { MatrixMultiply.multiply(a, b, into: &parallel, m: m, n: n, k: k, bias: bias, kernel: kernel) }
            #expect(serial == parallel, "\(kernel.rawValue)")
        }
    }

    @Test("ts_dpm_solver and dmcmc, whose samples sit at different levels: the same bits for one thread and all threads")
    func perSampleLevelThreads() throws {
        let schedule = TimeShiftTests.schedule, mixture = TimeShiftTests.mixture
        let grid = try StepSchedule(spacing: .linspace, steps: 8).grid(on: schedule)
        func shifted() throws -> SampleTensor {
            try SamplingRun(model: mixture, schedule: schedule, solver: TimeShiftDPMSolver(), grid: grid,
                            initialSample: TestModels.noise([32, 16], seed: 4)).finish()
        }
        #expect(try Self.withThreads(1, shifted) == (try Self.withThreads(0, shifted)))
        var options = DenoisingMCMC.Options()
        (options.levels, options.stepSize, options.warmupStepSize, options.rounds) = (40, 0.02, 0.02, 2)
        func chains() throws -> SampleTensor {
            try DenoisingMCMC(options: options).run(model: mixture, posterior: mixture, schedule: VESchedule(), chains: 24, seed: 6).samples
        }
        #expect(try Self.withThreads(1, chains) == (try Self.withThreads(0, chains)))
    }

    @Test("UNet2D: the same bits for one thread and all threads, and for a sample alone or in a batch")
    func unetThreads() throws {
        let fixture = try NeuralFixtures.file("tiny-unet-forward.safetensors")
        let network = try NeuralFixtures.model("tiny-unet").network
        let input = try NeuralFixtures.tensor(fixture, "input_b8")
        let timesteps = try fixture.float32Tensor("timesteps_b8").values, labels = try NeuralFixtures.labels(fixture, "class_labels_b8")
        var parallel = SampleTensor(zeros: input.shape), serial = parallel
        try Self.withThreads(0) {
            try network.forward(input, timesteps: timesteps, classLabels: labels, workspace: NeuralWorkspace(), into: &parallel)
        }
        try Self.withThreads(1) {
            try network.forward(input, timesteps: timesteps, classLabels: labels, workspace: NeuralWorkspace(), into: &serial)
        }
        #expect(parallel == serial)
        // Sample 5 on its own.
        var alone = SampleTensor(zeros: [1] + input.sampleShape)
        try network.forward(SampleTensor(shape: [1] + input.sampleShape, scalars: Array(input.sample(5))), timesteps: [timesteps[5]],
                            classLabels: [labels[5]], workspace: NeuralWorkspace(), into: &alone)
        #expect(alone.scalars == Array(parallel.sample(5)))
    }

    @Test("stochastic samplers: 1 and all threads agree")
    func stochasticSamplerThreads() throws {
        // The digits-sized mixture is large enough to run its evaluations in parallel.
        let wide = try GaussianMixture(weights: Array(repeating: 1, count: 300), means: (0..<(300 * 64)).map { Double($0 % 7) / 7 - 0.5 },
                                       stds: Array(repeating: 0.2, count: 300 * 64), sampleShape: [64])
        let schedule = try DiscreteVPSchedule()
        let tests = StochasticSamplerTests()
        let single = try Self.withThreads(1) {
            try tests.sample("dpmpp_2m_sde", .init(), model: wide, schedule: schedule, steps: 6, count: 64, seed: 3)
        }
        let parallel = try Self.withThreads(0) {
            try tests.sample("dpmpp_2m_sde", .init(), model: wide, schedule: schedule, steps: 6, count: 64, seed: 3)
        }
        #expect(single == parallel)
    }

    /// One generated sampling setup: a random Gaussian mixture wide enough that a whole batch is
    /// evaluated on several threads, a noise schedule, a step spacing and count, and a catalog solver.
    struct RandomSetup: CustomStringConvertible {
        static let solvers = ["euler", "heun", "dpmpp_2m", "uni_pc", "deis", "ipndm", "lms", "dpmpp_2s_ancestral",
                              "euler_ancestral", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde", "ddpm", "sa_solver", "restart"]
        /// The stochastic solvers that run on rectified flow, and the deterministic ones.
        static let flowSolvers = ["euler", "heun", "dpmpp_2m", "uni_pc", "deis", "ipndm", "lms", "dpmpp_2s_ancestral", "euler_ancestral"]
        static let schedules: [any NoiseSchedule] = [VESchedule(), try! DiscreteVPSchedule(), ContinuousVPSchedule.linear(), RectifiedFlowSchedule()]
        static let spacings: [StepSpacing] = [.karras(rho: 7), .logSNR, .timeUniform, .exponential]
        let model: GaussianMixture
        let schedule: any NoiseSchedule
        let grid: TimeGrid
        let solver: String
        let summary: String
        var description: String { summary }

        init(seed: UInt64, steps: Int) throws {
            var random = SplitMix(seed)
            let k = 8 + Int(random.next() % 3), d = 64
            let weights = (0..<k).map { _ in 0.1 + random.unit() }
            let means = (0..<(k * d)).map { _ in 2 * random.unit() - 1 }
            let stds = (0..<(k * d)).map { _ in 0.05 + 0.5 * random.unit() }
            model = try GaussianMixture(weights: weights, means: means, stds: stds, sampleShape: [d])
            schedule = Self.schedules[Int(random.next() % UInt64(Self.schedules.count))]
            // Flow's σ/α is unbounded at its start: time-uniform steps there.
            let spacing = schedule is RectifiedFlowSchedule ? .timeUniform : Self.spacings[Int(random.next() % UInt64(Self.spacings.count))]
            let solvers = schedule is RectifiedFlowSchedule ? Self.flowSolvers : Self.solvers
            solver = solvers[Int(random.next() % UInt64(solvers.count))]
            grid = try StepSchedule(spacing: spacing, steps: steps).grid(on: schedule)
            summary = "\(solver), \(schedule.name), \(spacing), \(steps) steps, \(k) components"
        }

        /// Samples `count` samples from index `first` of the seed's noise with `threads` threads.
        func run(seed: UInt64, first: Int, count: Int, threads: Int) throws -> [Float] {
            let noise = SeededNoise(seed: seed, firstSample: first)
            let x = SampleTensor.initialSample(noise: noise.initialNoise(shape: [count] + model.sampleShape), schedule: schedule, level: grid[0])
            func pull<S: Solver>(_ solver: S) throws -> [Float] {
                try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise).finish().scalars
            }
            return try ProcessWideStateTests.withThreads(threads) { try pull(try SolverCatalog.solver(named: solver)) }
        }
    }

    /// SplitMix64 (Steele et al. 2014), for the generated setups.
    struct SplitMix {
        var state: UInt64
        init(_ seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    }

    @Test("each sample depends only on the seed and its index: random models, schedules, solvers, steps, batch splits and thread counts")
    func determinismProperty() async throws {
        await propertyCheck(count: 8, input: Gen.uint64(in: 0...UInt64.max), Gen.int(in: 2...5), Gen.int(in: 128...136), Gen.int(in: 1...127),
                            Gen.int(in: 0...3)) { seed, steps, count, cut, threads in
            let outcome = Result { () throws -> (setup: String, equal: Bool, finite: Bool) in
                let setup = try RandomSetup(seed: seed, steps: steps)
                // The whole batch on one thread or all, its two parts on the other setting.
                let (wholeThreads, partThreads) = threads & 1 == 0 ? (0, 1) : (1, 0)
                let whole = try setup.run(seed: seed, first: 0, count: count, threads: wholeThreads)
                let head = try setup.run(seed: seed, first: 0, count: cut, threads: partThreads)
                let tail = try setup.run(seed: seed, first: cut, count: count - cut, threads: partThreads)
                return (setup.summary, whole == head + tail, whole.allSatisfy(\.isFinite))
            }
            switch outcome {
            case .success(let r):
                let message = "\(r.setup): seed \(seed), batch \(count) split at \(cut)"
                #expect(r.equal, Comment(rawValue: message))
                #expect(r.finite, Comment(rawValue: message))
            case .failure(let error):
                Issue.record(error, "seed \(seed), \(steps) steps")
            }
        }
    }

    @Test("the pull-style library example runs in a fresh working directory and produces finite samples in the data range")
    func readmeExampleRuns() throws {
        let cwd = FileManager.default.currentDirectoryPath
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        _ = FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        let samples = try ReadmeExampleTests().example()
        #expect(samples.isFinite)
        #expect(samples.scalars.allSatisfy { abs($0) < 2 })
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("digits.png").path))
    }
}
