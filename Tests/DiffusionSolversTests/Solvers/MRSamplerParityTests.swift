import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// The official MR Sampler's formulas (grrrute/mr-sampler, re-stated in numpy by
/// `tools/fixtures_mrs.py` on its own exact mixture), and the reduction to DDIM / DPM-Solver(++)
/// when μ = 0 and σ_∞ = 1.
@Suite("MR Sampler parity")
struct MRSamplerParityTests {
    struct Schedule: Decodable {
        var theta: String, T: Int, sigma_inf: Double, eps: Double, lambda_min: Double
        var alphas: [Double], sigmas: [Double], max_timestep: Int
    }
    struct Case: Decodable {
        var name: String, schedule: Int, kind: String, prediction: String, fit_target: String, order: Int, steps: Int
        var t: [Double], alpha: [Double], sigma: [Double], lambda: [Double]
        var mu: [Double], x_T: [Double], noise: [[Double]], expected: [Double]
        /// Dynamic thresholding of x̂₀ (0.995, max 1.5), and the run without it.
        var thresholding: Bool?, unthresholded: [Double]?
    }
    struct Mixture: Decodable { var weights: [Double], means: [Double], stds: [Double] }
    struct File: Decodable { var mixture: Mixture, schedules: [Schedule], batch: Int, cases: [Case] }

    static let file = try? JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("parity_mrs.json")))

    static func tensor(_ values: [Double], batch: Int) -> SampleTensor {
        SampleTensor(shape: [batch, values.count / batch], scalars: values.map { Float($0) })
    }

    @Test func scheduleMatchesIRSDE() throws {
        let file = try #require(Self.file)
        for s in file.schedules {
            let schedule = try MeanRevertingSchedule(thetaSchedule: #require(.init(rawValue: s.theta)), trainingSteps: s.T,
                                                     sigmaInfinity: s.sigma_inf, terminalAlpha: s.eps)
            for k in 0...s.T {
                let level = schedule.level(at: Double(k))
                #expect(abs(level.alpha - s.alphas[k]) <= 1e-12 * s.alphas[k], "\(s.theta) alpha[\(k)]")
                #expect(abs(level.sigma - s.sigmas[k]) <= 1e-12 * s.sigmas[k], "\(s.theta) sigma[\(k)]")
                #expect(abs(level.lambda - (Foundation.log(s.alphas[k]) - Foundation.log(s.sigmas[k]))) <= 1e-10)
            }
            #expect(schedule.maximumTime(lambdaMin: s.lambda_min) == s.max_timestep, "\(s.theta)")
        }
    }

    @Test func officialFormulas() throws {
        let file = try #require(Self.file)
        #expect(file.cases.count == 103)
        let mixture = try GaussianMixture(weights: file.mixture.weights, means: file.mixture.means, stds: file.mixture.stds)
        for c in file.cases {
            let sInf = file.schedules[c.schedule].sigma_inf
            let model = MeanRevertingMixture(mixture: mixture, parameterization: try #require(.init(rawValue: c.fit_target)),
                                             sigmaInfinity: sInf)
            let grid = try TimeGrid(levels: c.t.indices.map { NoiseLevel(t: c.t[$0], alpha: c.alpha[$0], sigma: c.sigma[$0], lambda: c.lambda[$0]) })
            let sampler = try MRSampler(.init(kind: try #require(.init(rawValue: c.kind)), order: c.order,
                                              prediction: try #require(.init(rawValue: c.prediction)),
                                              thresholding: c.thresholding == true ? DynamicThresholding(ratio: 0.995, maxValue: 1.5) : nil))
            let noise = RecordedNoise(draws: c.noise.map { Self.tensor($0, batch: file.batch) })
            let out = try sampler.sample(model: model, mean: Self.tensor(c.mu, batch: file.batch), from: Self.tensor(c.x_T, batch: file.batch),
                                         grid: grid, noise: noise)
            let error = Compare.rms(out.scalars.map(Double.init), c.expected)
            // Float32 samples against float64 formulas: the first steps from λ = −5 scale by
            // α_i/α_{i−1} = O(e^h) in the noise form and cancel, which amplifies float32 rounding.
            #expect(error <= 3e-5 * (1 + c.expected.map(abs).max()!), "\(c.name): RMS difference \(error)")
            #expect(noise.used == c.noise.count, "\(c.name)")
            if let unthresholded = c.unthresholded {
                #expect(Compare.rms(unthresholded, c.expected) > 1e-2, "\(c.name): thresholding should change the result")
            }
        }
    }

    /// μ = 0, σ_∞ = 1 makes `α² + σ² = 1`: the MR steps are the package's own DDIM, DPM-Solver
    /// (noise) and DPM-Solver++ (data) multistep and SDE-DPM-Solver++, run on the same levels.
    @Test func reducesToDPMSolverOnVP() throws {
        let schedule = try MeanRevertingSchedule(thetaSchedule: .cosine, trainingSteps: 100, sigmaInfinity: 1)
        let mixture = TestModels.mixture2D()
        let model = MeanRevertingMixture(mixture: mixture, parameterization: .noise, sigmaInfinity: 1)
        let batch = 16
        let mu = SampleTensor(zeros: [batch, 2])
        for steps in [6, 12] {
            let grid = try schedule.grid(steps: steps, lambdaMin: -5)
            for level in grid.levels { #expect(abs(level.alpha * level.alpha + level.sigma * level.sigma - 1) < 1e-12) }
            let x = TestModels.noise([batch, 2], seed: 3)
            func draws() -> RecordedNoise { RecordedNoise(draws: (0..<steps).map { TestModels.noise([batch, 2], seed: 100 + UInt64($0)) }) }
            func peer<S: Solver>(_ solver: S, noise: RecordedNoise? = nil) throws -> SampleTensor {
                let run = try SamplingRun(model: mixture, schedule: ContinuousVPSchedule.linear(), solver: solver, grid: grid,
                                          initialSample: x, noise: noise)
                return try run.finish()
            }
            for (kind, orders) in [(MRSampler.Kind.ode, 1...3), (.sde, 1...2)] {
                for prediction in [PredictionKind.data, .noise] where kind == .ode || prediction == .data {
                    for order in orders {
                        let sampler = try MRSampler(.init(kind: kind, order: order, prediction: prediction))
                        var solver = DPMSolverMultistep(prediction: prediction, solverOrder: order, secondOrderForm: .heun,
                                                        stepOrders: (1...steps).map { sampler.order(atStep: $0, of: steps) })
                        solver.stochastic = kind == .sde
                        let ours = try sampler.sample(model: model, mean: mu, from: x, grid: grid, noise: draws())
                        let theirs = try peer(solver, noise: kind == .sde ? draws() : nil)
                        let error = Compare.relativeRMS(ours, theirs.scalars.map(Double.init))
                        #expect(error < 2e-6, "mrs_\(kind) \(prediction) order \(order), \(steps) steps: relative RMS \(error) against \(solver.name)")
                        if kind == .ode, order == 1 {
                            let ddim = try peer(DDIM())
                            #expect(Compare.relativeRMS(ours, ddim.scalars.map(Double.init)) < 2e-6, "mrs_ode \(prediction) order 1 against ddim")
                        }
                    }
                }
            }
        }
    }

    /// The restoration form of the exact model (clean data given `μ = x₀ + s·n`) against a 1-D
    /// quadrature of `∫ x₀ p(x₀) N(μ; x₀, s²) N(x; μ + α(x₀ − μ), σ²) dx₀` over its normalizer.
    @Test func restorationPosteriorMatchesQuadrature() throws {
        let weights = [0.6, 0.4], means = [-1.0, 1.2], stds = [0.3, 0.5], s = 0.7
        let mixture = try GaussianMixture(weights: weights, means: means, stds: stds)
        let model = MeanRevertingMixture(mixture: mixture, sigmaInfinity: 0.5, degradationSigma: s)
        let schedule = try MeanRevertingSchedule(sigmaInfinity: 0.5)
        func normal(_ v: Double, _ m: Double, _ sd: Double) -> Double { Foundation.exp(-0.5 * (v - m) * (v - m) / (sd * sd)) / sd }
        for t in [5.0, 40.0, 90.0] {
            let level = schedule.level(at: t)
            for (x, mu) in [(0.3, -0.8), (1.5, 0.2), (-2.0, 1.9)] {
                var num = 0.0, den = 0.0
                for i in 0...60_000 {
                    let x0 = -6 + Double(i) * 2e-4
                    let prior = zip(weights, zip(means, stds)).reduce(0) { $0 + $1.0 * normal(x0, $1.1.0, $1.1.1) }
                    let w = prior * normal(mu, x0, s) * normal(x, mu + level.alpha * (x0 - mu), level.sigma) * (i == 0 || i == 60_000 ? 0.5 : 1)
                    num += x0 * w; den += w
                }
                let exact = num / den
                let ours = model.predictData([x], mean: [mu], at: level)[0]
                #expect(abs(ours - exact) < 1e-7, "t = \(t), x = \(x), mu = \(mu): \(ours) vs quadrature \(exact)")
            }
        }
    }

    @Test("the library example of docs/MEAN-REVERTING.md runs, restores, and is shown exactly")
    func documentedExample() throws {
        // MEAN-REVERTING example begin
        let sigmaInf = 50.0 / 255
        let schedule = try MeanRevertingSchedule(thetaSchedule: .cosine, trainingSteps: 100, sigmaInfinity: sigmaInf)
        let grid = try schedule.grid(steps: 20, lambdaMin: -5)  // the official "linspace" rule
        let glyphs = BuiltInModels.glyphs
        let model = MeanRevertingMixture(mixture: glyphs, sigmaInfinity: sigmaInf, degradationSigma: 0.8)
        // Four copies of glyph 3, degraded by noise of standard deviation 0.8.
        let clean = SampleTensor(shape: [4, 1, 8, 8], scalars: (0..<4).flatMap { _ in glyphs.means[192..<256].map { Float($0) } })
        var degraded = SeededNoise(seed: 1).initialNoise(shape: clean.shape)
        degraded.update(scale: 0.8, (1, clean))
        // The official prior x = μ + σ_∞·ε, then 20 steps of the second-order data-prediction ODE sampler.
        let noise = SeededNoise(seed: 2)
        var start = noise.initialNoise(shape: clean.shape)
        start.update(scale: sigmaInf, (1, degraded))
        let sampler = try MRSampler(.init(kind: .ode, order: 2, prediction: .data))
        let restored = try sampler.sample(model: model, mean: degraded, from: start, grid: grid, noise: noise)
        // MEAN-REVERTING example end
        let truth = clean.scalars.map(Double.init)
        let before = Compare.rms(degraded.scalars.map(Double.init), truth), after = Compare.rms(restored.scalars.map(Double.init), truth)
        #expect(after < 0.5 * before, "RMS to the clean glyph: degraded \(before), restored \(after)")

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/MEAN-REVERTING.md"), encoding: .utf8)
        let lines = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8).components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex { $0.hasSuffix("// MEAN-REVERTING example begin") })
        let end = try #require(lines.firstIndex { $0.hasSuffix("// MEAN-REVERTING example end") })
        let body = lines[(begin + 1)..<end].map { String($0.dropFirst(8)) }.joined(separator: "\n")
        #expect(doc.contains("```swift\nimport DiffusionSolvers\n\n" + body + "\n```"), "docs/MEAN-REVERTING.md must show:\n\(body)")
    }

    @Test func refusesWhatTheOfficialSamplerDoesNotDefine() throws {
        #expect(throws: SamplingError.self) { try MRSampler(.init(kind: .sde, order: 3)) }
        #expect(throws: SamplingError.self) { try MRSampler(.init(kind: .ode, order: 4)) }
        #expect(throws: SamplingError.self) { try MRSampler(.init(prediction: .noise, thresholding: DynamicThresholding())) }
        let schedule = try MeanRevertingSchedule(sigmaInfinity: 0.2)
        let model = MeanRevertingMixture(mixture: TestModels.mixture2D(), sigmaInfinity: 0.2)
        let x = SampleTensor(zeros: [1, 2])
        let sampler = try MRSampler(.init(kind: .ode, order: 3))
        #expect(throws: SamplingError.self) { try sampler.sample(model: model, mean: x, from: x, grid: schedule.grid(steps: 2)) }
        let sde = try MRSampler(.init(kind: .sde, order: 1))
        #expect(throws: SamplingError.self) { try sde.sample(model: model, mean: x, from: x, grid: schedule.grid(steps: 4)) }
        #expect(throws: ScheduleError.self) { try MeanRevertingSchedule(sigmaInfinity: 0) }
        #expect(throws: ScheduleError.self) { try schedule.grid(steps: 4, lambdaMin: 50) }
    }
}
