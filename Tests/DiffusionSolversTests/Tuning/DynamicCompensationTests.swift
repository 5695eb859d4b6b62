import Testing
import Foundation
@testable import DiffusionSolvers
import DiffusionTestSupport

/// The DC-Solver ratio search (``DynamicCompensationFit``) and cascade polynomial regression
/// (``CascadePolynomialRegression``).
@Suite("Dynamic compensation: ratio fit and cascade polynomial regression")
struct DynamicCompensationTests {
    struct Problem: Sendable, CustomStringConvertible {
        var name: String
        var model: GaussianMixture
        var steps: Int
        var description: String { "\(name), \(steps) steps" }
    }

    static let problems = [
        Problem(name: "2-D mixture", model: TestModels.mixture2D(), steps: 5),
        Problem(name: "16-D mixture", model: try! GaussianMixture(contentsOf: Fixtures.url("mixture_16d.safetensors")), steps: 5),
    ]

    /// diffusers' DC-Solver search defaults (UniPC bh2, order 2, no corrector after step 1) on
    /// Karras steps to σ = 0 of the SD schedule.
    static let solver = DCSolver(variant: .bh2, solverOrder: 2, disabledCorrectorSteps: [0])
    static let schedule = try! DiscreteVPSchedule()

    @Test("the greedy fit lowers every step's loss and the tuning error, and the ratios carry to held-out noise",
          arguments: problems)
    func fitLowersError(_ p: Problem) throws {
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: p.steps).grid(on: Self.schedule)
        let d = p.model.sampleShape.reduce(1, *)
        let noise = TestModels.noise([10, d], seed: 5)
        let truth = try DynamicCompensationFit.groundTruth(model: p.model, schedule: Self.schedule, grid: grid, noise: noise)
        let result = try DynamicCompensationFit().fit(model: p.model, schedule: Self.schedule, grid: grid, solver: Self.solver,
                                                      noise: noise, groundTruth: truth)
        #expect(result.ratios.count == p.steps && result.ratios.prefix(2) == [1, 1])
        #expect(result.ratios.allSatisfy { (0.5...1.5).contains($0) })
        for i in 0..<p.steps {
            #expect(result.stepLossAfter[i] <= result.stepLossBefore[i], "step \(i + 1): \(result.stepLossAfter[i]) vs \(result.stepLossBefore[i])")
        }
        // Measured: 2-D 0.00722 → 0.00400 (×0.55), 16-D 0.00909 → 0.00599 (×0.66).
        #expect(result.errorAfter < 0.8 * result.errorBefore,
                "\(p): tuning MSE \(result.errorBefore) → \(result.errorAfter), ratios \(result.ratios)")

        // Held-out noise, 200 samples. Measured: 2-D 0.0244 → 0.0113 (×0.46), 16-D 0.0193 → 0.0127 (×0.66).
        let held = TestModels.noise([200, d], seed: 77)
        let heldTruth = try DynamicCompensationFit.groundTruth(model: p.model, schedule: Self.schedule, grid: grid, noise: held)
        var fitted = Self.solver
        fitted.ratios = result.ratios
        let before = try DynamicCompensationFit.error(of: Self.solver, model: p.model, schedule: Self.schedule, grid: grid,
                                                      noise: held, target: heldTruth.last!)
        let after = try DynamicCompensationFit.error(of: fitted, model: p.model, schedule: Self.schedule, grid: grid,
                                                     noise: held, target: heldTruth.last!)
        #expect(after < 0.8 * before, "\(p): held-out MSE \(before) → \(after)")

        // Deterministic.
        let again = try DynamicCompensationFit().fit(model: p.model, schedule: Self.schedule, grid: grid, solver: Self.solver,
                                                     noise: noise, groundTruth: truth)
        #expect(again == result)
    }

    @Test("the ground truth and the fit's run agree with independent computations")
    func groundTruthAndBaseline() throws {
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 6).grid(on: Self.schedule)
        let noise = TestModels.noise([10, 2], seed: 5)
        let truth = try DynamicCompensationFit.groundTruth(model: model, schedule: Self.schedule, grid: grid, noise: noise)
        #expect(truth.count == grid.levels.count && truth[0] == noise)
        // Segment by segment equals one solve over the whole range, to the tolerance.
        let whole = try ReferenceSolver(relativeTolerance: 1e-7, absoluteTolerance: 1e-7)
            .solve(model: model, schedule: Self.schedule, x: noise, from: grid[0], to: grid[grid.steps])
        let difference = Compare.rms(truth.last!.scalars.map(Double.init), whole.endpoint)
        #expect(difference < 1e-5, "rms \(difference)")
        // errorBefore is UniPC's error.
        let result = try DynamicCompensationFit(maximumEvaluations: 3).fit(
            model: model, schedule: Self.schedule, grid: grid, solver: Self.solver, noise: noise, groundTruth: truth)
        let run = try SamplingRun(model: model, schedule: Self.schedule, solver: Self.solver.uniPC, grid: grid, initialSample: noise)
        let uni = try run.finish()
        let expected = DynamicCompensationFit.meanSquaredError(uni, truth.last!)
        #expect(result.errorBefore == expected)
    }

    @Test("Brent's method finds interior and boundary minima from the start point 1")
    func brent() {
        let interior = DynamicCompensationFit.brentMinimum(in: 0.5...1.5, start: 1, tolerance: 1e-6, maximumEvaluations: 60) {
            ($0 - 1.234) * ($0 - 1.234) + 0.25 * pow($0 - 1.234, 4)
        }
        #expect(abs(interior.x - 1.234) < 1e-5 && interior.evaluations < 20, "\(interior)")
        let boundary = DynamicCompensationFit.brentMinimum(in: 0.5...1.5, start: 1, tolerance: 1e-4, maximumEvaluations: 60) { $0 }
        #expect(boundary.x < 0.5 + 1e-3, "\(boundary)")
        let flat = DynamicCompensationFit.brentMinimum(in: 0.5...1.5, start: 1, tolerance: 1e-3, maximumEvaluations: 60) { _ in 2 }
        #expect(flat.value == flat.startValue)
    }

    @Test("bad bounds, tolerance or ground truth are one-line configuration errors")
    func invalidFit() throws {
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 5).grid(on: Self.schedule)
        let noise = TestModels.noise([4, 2], seed: 5)
        let truth = try DynamicCompensationFit.groundTruth(model: model, schedule: Self.schedule, grid: grid, noise: noise)
        let cases: [(DynamicCompensationFit, [SampleTensor], DCSolver)] = [
            (DynamicCompensationFit(bounds: 0.5...3), truth, Self.solver),
            (DynamicCompensationFit(bounds: 1...1), truth, Self.solver),
            (DynamicCompensationFit(tolerance: .nan), truth, Self.solver),
            (DynamicCompensationFit(), Array(truth.dropLast()), Self.solver),
            (DynamicCompensationFit(), truth, DCSolver(dcOrder: 0)),
        ]
        for (fit, gt, solver) in cases {
            #expect {
                _ = try fit.fit(model: model, schedule: Self.schedule, grid: grid, solver: solver, noise: noise, groundTruth: gt)
            } throws: { error in
                guard case .invalidConfiguration(let message)? = error as? SamplingError else { return false }
                return !message.contains("\n")
            }
        }
        #expect(throws: SamplingError.self) {
            _ = try DynamicCompensationFit.groundTruth(model: model, schedule: Self.schedule, grid: grid, noise: noise, tolerance: 0)
        }
    }

    // MARK: Cascade polynomial regression

    /// The authors' `cascade_polynomial_regression` with their `sd2.1.npy` (`tools/fixtures_cpr.py`,
    /// `cpr_ratios.json`): 6 guidance scales × 8 step counts.
    @Test("the published SD-2.1 coefficients and the ratios equal the official code's")
    func cprVectors() throws {
        struct Reference: Decodable {
            struct Case: Decodable { var guidance: Double; var steps: Int; var ratios: [Double] }
            var coefficients: [Double]
            var cases: [Case]
        }
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Fixtures.url("cpr_ratios.json")))
        let cpr = CascadePolynomialRegression.stableDiffusion21
        #expect(cpr.coefficients == reference.coefficients)
        try #require(reference.cases.count == 48)
        for c in reference.cases {
            let ratios = try cpr.ratios(steps: c.steps, guidance: c.guidance)
            try #require(ratios.count == c.ratios.count)
            let error = zip(ratios, c.ratios).map { abs($0 - $1) / max(1, abs($1)) }.max()!
            #expect(error <= 1e-11, "CFG \(c.guidance) NFE \(c.steps): \(ratios) vs \(c.ratios)")
        }
        #expect(throws: SamplingError.self) { _ = try cpr.ratios(steps: 0, guidance: 7.5) }
        #expect(throws: SamplingError.self) { _ = try cpr.ratios(steps: 5, guidance: .nan) }
    }

    @Test("a least-squares fit recovers a known cascade polynomial, in full and at one guidance scale")
    func cprFit() throws {
        // Full degrees, from the SD-2.1 polynomial at 6 step counts × 5 guidance scales.
        let truth = CascadePolynomialRegression.stableDiffusion21
        var samples: [CascadePolynomialRegression.Sample] = []
        for n in [5, 6, 7, 8, 10, 12] {
            for g in [3.0, 5.0, 7.5, 9.0, 11.0] {
                samples.append(.init(steps: n, guidance: g, ratios: try truth.ratios(steps: n, guidance: g)))
            }
        }
        let fitted = try CascadePolynomialRegression.fit(samples)
        let coefficientError = zip(fitted.coefficients, truth.coefficients).map { abs($0 - $1) / abs($1) }.max()!
        let unseen = try fitted.ratios(steps: 9, guidance: 6), expected = try truth.ratios(steps: 9, guidance: 6)
        let ratioError = zip(unseen, expected).map { abs($0 - $1) }.max()!
        #expect(coefficientError < 1e-6 && ratioError < 1e-9, "coefficients \(coefficientError), ratios \(ratioError)")

        // One guidance scale: the NFE dependence only (D_g = 0), degrees 3 in x and 1 in N.
        let known = try CascadePolynomialRegression(coefficients: [0.3, 1.1, -2.0, 0.4, 5.0, -1.5, -3.0, 0.7],
                                                    positionDegree: 3, guidanceDegree: 0, stepsDegree: 1)
        let single = try [5, 6, 8].map { CascadePolynomialRegression.Sample(steps: $0, guidance: 7.5, ratios: try known.ratios(steps: $0, guidance: 7.5)) }
        let refit = try CascadePolynomialRegression.fit(single, positionDegree: 3, guidanceDegree: 0, stepsDegree: 1)
        let singleError = zip(refit.coefficients, known.coefficients).map { abs($0 - $1) }.max()!
        #expect(singleError < 1e-9, "\(refit.coefficients)")
        let unseenSingle = zip(try refit.ratios(steps: 7, guidance: 2), try known.ratios(steps: 7, guidance: 2)).map { abs($0 - $1) }.max()!
        #expect(unseenSingle < 1e-9, "NFE 7: \(unseenSingle)")

        // Stored as JSON and read back.
        let data = try JSONEncoder().encode(refit)
        #expect(try JSONDecoder().decode(CascadePolynomialRegression.self, from: data) == refit)

        // Two step counts cannot determine a quadratic in N.
        #expect(throws: SamplingError.self) {
            _ = try CascadePolynomialRegression.fit(Array(single.prefix(2)), positionDegree: 3, guidanceDegree: 0, stepsDegree: 2)
        }
        #expect(throws: SamplingError.self) {
            _ = try CascadePolynomialRegression(coefficients: [1, 2, 3])
        }
    }
}
