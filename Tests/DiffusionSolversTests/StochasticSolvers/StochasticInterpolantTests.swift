import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `si_sde`, the stochastic-interpolant SDE `dy = (v − ε·s) dτ + √(2ε) dW̄` with the score the
/// velocity implies, against what its derivation promises: with `ε = 0` it is the probability-flow
/// ODE (Euler in the flow frame), and for `ε > 0` its samples have the exact mixture's law.
@Suite("Stochastic interpolants (si_sde)")
struct StochasticInterpolantTests {
    /// Three well-separated components in 2-D (the closest pair of means lies more than 4 of their
    /// standard deviations apart, so classifying a point by its most likely component errs on well
    /// under 1% of exact draws).
    static func mixture() throws -> GaussianMixture {
        try GaussianMixture(weights: [0.5, 0.3, 0.2], means: [-1, -0.5, 1, 1, 0.8, -1.2], stds: [0.3, 0.2, 0.25, 0.4, 0.2, 0.3])
    }

    /// `τ = 1, 1 − 1/N, …, 0` on rectified flow.
    static func uniformGrid(_ steps: Int, schedule: any NoiseSchedule) throws -> TimeGrid {
        try StepSchedule.grid(sigmas: (0...steps).map { 1 - Double($0) / Double(steps) }, on: schedule)
    }

    func run<S: Solver>(_ solver: S, model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid, count: Int,
                        seed: UInt64) throws -> SampleTensor {
        let noise = SeededNoise(seed: seed)
        let x = noise.initialNoise(shape: [count] + model.sampleShape)
        return try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise).finish()
    }

    @Test("eps = 0 is Euler on flow to float precision, on a shifted grid and on a VP schedule")
    func zeroIsTheODE() throws {
        let model = try GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors"))
        let flow = RectifiedFlowSchedule()
        let shifted = try StepSchedule.grid(sigmas: (0...12).map { i -> Double in let t = 1 - Double(i) / 12; return 3 * t / (1 + 2 * t) },
                                            on: flow)
        let si = StochasticInterpolantSDE(diffusion: .constant(0))
        let a = try run(si, model: model, schedule: flow, grid: shifted, count: 64, seed: 3)
        let b = try run(try SolverCatalog.solver(named: "euler"), model: model, schedule: flow, grid: shifted, count: 64, seed: 3)
        #expect(Compare.relativeRMS(a, b.scalars.map(Double.init)) <= 1e-6)
        let a2 = try run(StochasticInterpolantSDE(diffusion: .proportional(0)), model: model, schedule: flow, grid: shifted, count: 64, seed: 3)
        #expect(Compare.relativeRMS(a2, b.scalars.map(Double.init)) <= 1e-6)
        // DDIM, which Euler is in either frame, is exact for a constant x̂₀ in any time, so on VP too.
        let vp = ContinuousVPSchedule.linear()
        let karras = try StepSchedule(spacing: .karras(rho: 7), steps: 12, final: .zero).grid(on: vp)
        let a3 = try run(si, model: model, schedule: vp, grid: karras, count: 64, seed: 3)
        let b3 = try run(try SolverCatalog.solver(named: "euler"), model: model, schedule: vp, grid: karras, count: 64, seed: 3)
        #expect(Compare.relativeRMS(a3, b3.scalars.map(Double.init)) <= 1e-5)
    }

    @Test("eps -> 0: the distance to the ODE's endpoint shrinks like sqrt(eps)")
    func smallEpsilonApproachesTheODE() throws {
        let model = try Self.mixture(), flow = RectifiedFlowSchedule()
        let grid = try Self.uniformGrid(50, schedule: flow)
        let ode = try run(StochasticInterpolantSDE(diffusion: .constant(0)), model: model, schedule: flow, grid: grid, count: 256, seed: 5)
        let distances = try [1e-2, 1e-4, 1e-6].map { e in
            Compare.relativeRMS(try run(StochasticInterpolantSDE(diffusion: .constant(e)), model: model, schedule: flow, grid: grid,
                                        count: 256, seed: 5), ode.scalars.map(Double.init))
        }
        // The noise enters as √(2εΔ): each factor 100 in ε should cut the distance by about 10.
        #expect(distances[1] < distances[0] / 5 && distances[2] < distances[1] / 5, "\(distances)")
        #expect(distances[2] < 1e-2, "\(distances)")
    }

    /// n = 4000 samples of the exact mixture's SDE. Bounds: 5 standard errors of the sample mean
    /// (sd/√n), variance (var·√(2/(n−1)), the Gaussian-theory error, which a mixture's heavier
    /// tails widen; measured excess kurtosis here is below 1, so the bound uses √3 times it),
    /// component share (√(p(1−p)/n)), each plus 0.01 for the Euler–Maruyama bias
    /// and the misclassification of separated components.
    @Test("samples have the mixture's mean, covariance and component shares for several eps",
          arguments: [InterpolantDiffusion.constant(0.1), .constant(0.5), .constant(1), .proportional(1), .proportional(3)])
    func distribution(_ eps: InterpolantDiffusion) throws {
        let flow = RectifiedFlowSchedule()
        try expectMixtureLaw(StochasticInterpolantSDE(diffusion: eps), model: try Self.mixture(), schedule: flow,
                             grid: try Self.uniformGrid(200, schedule: flow), label: "\(eps)")
    }

    @Test("the default eps (1*t) samples mixture_2d, whose narrowest component has std 0.05, at 100 shift-3 steps")
    func defaultOnNarrowData() throws {
        let flow = RectifiedFlowSchedule()
        let grid = try StepSchedule.grid(sigmas: (0...100).map { i -> Double in let t = 1 - Double(i) / 100; return 3 * t / (1 + 2 * t) },
                                         on: flow)
        let solver = try SolverCatalog.solver(named: "si_sde")
        try expectMixtureLaw(solver, model: try GaussianMixture(contentsOf: Fixtures.url("mixture_2d.safetensors")), schedule: flow,
                             grid: grid, label: "default", shares: false)
    }

    func expectMixtureLaw<S: Solver>(_ solver: S, model: GaussianMixture, schedule: any NoiseSchedule, grid: TimeGrid, label: String,
                                     shares: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let n = 4000
        let out = try run(solver, model: model, schedule: schedule, grid: grid, count: n, seed: 11).scalars.map(Double.init)
        #expect(out.allSatisfy { $0.isFinite }, sourceLocation: sourceLocation)
        let (m, c) = Metrics.moments(out, dimension: 2)
        let w = model.weights, mu = model.means, sd = model.stds
        var mean = [0.0, 0.0], second = [0.0, 0.0, 0.0, 0.0]
        for k in w.indices {
            for i in 0..<2 {
                mean[i] += w[k] * mu[2 * k + i]
                for j in 0..<2 { second[2 * i + j] += w[k] * (mu[2 * k + i] * mu[2 * k + j] + (i == j ? sd[2 * k + i] * sd[2 * k + i] : 0)) }
            }
        }
        let cov = (0..<4).map { second[$0] - mean[$0 / 2] * mean[$0 % 2] }
        let root = Double(n).squareRoot()
        for i in 0..<2 {
            #expect(abs(m[i] - mean[i]) <= 5 * cov[3 * i].squareRoot() / root + 0.01, "\(label): mean[\(i)] \(m[i]) vs \(mean[i])",
                    sourceLocation: sourceLocation)
            for j in 0..<2 {
                let scale = (cov[3 * i] * cov[3 * j]).squareRoot()
                #expect(abs(c[2 * i + j] - cov[2 * i + j]) <= 5 * 3.0.squareRoot() * scale * (2 / Double(n - 1)).squareRoot() + 0.01,
                        "\(label): cov[\(i)][\(j)] \(c[2 * i + j]) vs \(cov[2 * i + j])", sourceLocation: sourceLocation)
            }
        }
        guard shares else { return }
        var counts = [Int](repeating: 0, count: w.count)
        for b in 0..<n {
            let point = [out[2 * b], out[2 * b + 1]]
            let logp = w.indices.map { k in
                Foundation.log(w[k]) - (0..<2).map { i in
                    let z = (point[i] - mu[2 * k + i]) / sd[2 * k + i]; return 0.5 * z * z + Foundation.log(sd[2 * k + i])
                }.reduce(0, +)
            }
            counts[logp.indices.max { logp[$0] < logp[$1] }!] += 1
        }
        for k in w.indices {
            let share = Double(counts[k]) / Double(n)
            #expect(abs(share - w[k]) <= 5 * (w[k] * (1 - w[k])).squareRoot() / root + 0.01, "\(label): share[\(k)] \(share) vs \(w[k])",
                    sourceLocation: sourceLocation)
        }
    }

    @Test("--interpolant-eps reads C and C*t and refuses the rest in one line")
    func parsing() throws {
        #expect(try InterpolantDiffusion(parsing: "0.5") == .constant(0.5))
        #expect(try InterpolantDiffusion(parsing: "2*t") == .proportional(2))
        for bad in ["-1", "x", "1*s", "nan", ""] {
            #expect(throws: SamplingError.self) { try InterpolantDiffusion(parsing: bad) }
        }
        let solver = try SolverCatalog.solver(named: "si_sde", options: .init(interpolantDiffusion: .proportional(2)))
        #expect(solver.name == "si_sde")
    }
}
