import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// A convergence study on any step schedule (including a sigma range), against a tight reference
/// solution from the same start to the same end level.
struct ClassicalGridStudy: Sendable, CustomStringConvertible {
    var description: String
    var schedule: any NoiseSchedule
    var template: StepSchedule
    var model: any DiffusionModel = TestModels.mixture2D()

    func errors<S: Solver>(_ solver: S, steps: [Int]) throws -> [Double] {
        let noise = TestModels.noise([16] + model.sampleShape, seed: 7)
        var reference: ReferenceSolver.Solution?
        return try steps.map { n in
            var schedule = template
            schedule.steps = n
            let grid = try schedule.grid(on: self.schedule)
            let x0 = SampleTensor.initialSample(noise: noise, schedule: self.schedule, level: grid[0])
            if reference == nil {
                reference = try ReferenceSolver(relativeTolerance: 1e-10, absoluteTolerance: 1e-10)
                    .solve(model: model, schedule: self.schedule, x: x0, from: grid[0], to: grid.levels.last!)
            }
            let run = try SamplingRun(model: model, schedule: self.schedule, solver: solver, grid: grid, initialSample: x0)
            return Compare.rms(try run.finish().scalars.map(Double.init), reference!.endpoint)
        }
    }

    /// The fitted order `−d log(error) / d log(steps)` and the errors.
    func order<S: Solver>(_ solver: S, steps: [Int]) throws -> (order: Double, errors: [Double]) {
        let e = try errors(solver, steps: steps)
        return (-Compare.logLogSlope(x: steps.map(Double.init), y: e), e)
    }

    static let vpLogSNR = ClassicalGridStudy(description: "vp-linear/logsnr", schedule: ContinuousVPSchedule.linear(),
                                    template: StepSchedule(spacing: .logSNR, steps: 1, final: .minimum))
    static let edmKarras = ClassicalGridStudy(description: "edm/karras", schedule: VESchedule(),
                                     template: StepSchedule(spacing: .karras(rho: 7), steps: 1, final: .minimum))
    static let flowUniform = ClassicalGridStudy(description: "flow/time-uniform", schedule: RectifiedFlowSchedule(),
                                       template: StepSchedule(spacing: .timeUniform, steps: 1, final: .minimum))
    static let discreteKarras = ClassicalGridStudy(description: "vp-discrete/karras", schedule: try! DiscreteVPSchedule(),
                                          template: StepSchedule(spacing: .karras(rho: 7), steps: 1, final: .minimum))
    /// Uniform in σ (Karras with ρ = 1) over a range short enough for equal steps to resolve.
    static let edmUniform = ClassicalGridStudy(description: "edm/uniform σ ∈ [0.05, 2]", schedule: VESchedule(),
                                      template: StepSchedule(spacing: .karras(rho: 1), steps: 1, sigmaMin: 0.05, sigmaMax: 2, final: .minimum))
    static let standard = [vpLogSNR, edmKarras, flowUniform, discreteKarras]
}

/// Endpoint error against a tight reference solution of the probability-flow ODE falls like
/// `steps^(−order)`, in step ranges where the asymptotic regime holds and errors stay above float32
/// round-off (about 1e-6). Measured fits (least squares over the ranges shown):
///
/// | solver | study, steps | fit |
/// |---|---|---|
/// | lms | vp-linear/logsnr 128…256; vp-discrete/karras 64…192; edm/uniform 32…128 | 3.9, 3.8, 4.0 |
/// | lms | edm/karras 64…256 (not asserted) | 3.7 |
/// | lms, ipndm | flow/time-uniform 64…256 (not asserted) | 2.0 |
/// | ipndm | edm/uniform 32…128; flow/time-uniform 8…32 | 4.0, 4.0 |
/// | ipndm | vp-linear/logsnr, edm/karras 16…128 (unequal steps) | 2.1, 2.2 |
/// | plms | vp-linear/logsnr, edm/karras 10…160 | 2.1, 2.2 |
/// | plms | flow/time-uniform 8…32 (equal steps) | 4.2 |
/// | dpm_2 | the four standard studies, 16…128 | 2.0–2.1 |
/// | dpmpp_2s | the four standard studies, 32…256 | 1.9 |
/// | dpm_fast | the four standard studies, NFE 8…128 (≡ 2 mod 3) | 2.9–3.5 |
///
/// The linear multistep methods start with Euler (k-diffusion's and ComfyUI's warm-up); its
/// `O(h²)` local error stays in the result. In the VE frame the ODE contracts from `σ_max`, which
/// damps that term until about 1e-6; in the flow frame nothing damps it, and it dominates from 64
/// steps. iPNDM's and PLMS's weights are those of equal steps, so on other grids they are second order.
@Suite("Classical solvers: convergence order")
struct ClassicalConvergenceTests {
    func check<S: Solver>(_ solver: S, expected: Double, tolerance: Double = 0.3, _ runs: [(ClassicalGridStudy, [Int])]) throws {
        for (study, steps) in runs {
            let (order, errors) = try study.order(solver, steps: steps)
            #expect(abs(order - expected) <= tolerance, "\(solver.name) on \(study): fitted order \(order), errors \(errors)")
        }
    }

    @Test func lms() throws {
        try check(LMS(), expected: 4, [(ClassicalGridStudy.vpLogSNR, [128, 192, 256]), (ClassicalGridStudy.discreteKarras, [64, 96, 128, 192]),
                                       (ClassicalGridStudy.edmUniform, [32, 64, 128])])
    }

    @Test func ipndm() throws {
        try check(IPNDM(), expected: 4, [(ClassicalGridStudy.edmUniform, [32, 64, 128]), (ClassicalGridStudy.flowUniform, [8, 16, 32])])
        try check(IPNDM(), expected: 2, [(ClassicalGridStudy.vpLogSNR, [16, 32, 64, 128]), (ClassicalGridStudy.edmKarras, [32, 64, 128, 256])])
    }

    @Test func plms() throws {
        #expect(PLMS().order == 2)
        try check(PLMS(), expected: 2, [(ClassicalGridStudy.vpLogSNR, [10, 20, 40, 80, 160]), (ClassicalGridStudy.edmKarras, [10, 20, 40, 80, 160])])
        try check(PLMS(), expected: 4, [(ClassicalGridStudy.flowUniform, [8, 16, 32])])
    }

    @Test func dpm2() throws {
        try check(DPM2(), expected: 2, ClassicalGridStudy.standard.map { ($0, [16, 32, 64, 128]) })
    }

    @Test func dpmpp2s() throws {
        try check(DPMSolverPlusPlus2S(), expected: 2, ClassicalGridStudy.standard.map { ($0, [32, 64, 128, 256]) })
    }

    /// `steps` is the NFE budget; budgets `≡ 2 (mod 3)` end with a second-order step.
    @Test func dpmFast() throws {
        try check(DPMSolverFast(), expected: 3, tolerance: 0.5, ClassicalGridStudy.standard.map { ($0, [8, 14, 20, 32, 50, 80, 128]) })
    }
}

@Suite("Classical solvers: tolerance, final step, evaluation counts")
struct ClassicalSolverTests {
    static let schedules: [any NoiseSchedule] = [
        try! DiscreteVPSchedule(), ContinuousVPSchedule.linear(), ContinuousVPSchedule.cosine, VESchedule(), RectifiedFlowSchedule(),
    ]
    static let solvers: [any Solver] = [
        LMS(), IPNDM(), PLMS(), DPM2(), DPMSolverPlusPlus2S(), DPMSolverFast(), DPMSolverAdaptive(),
    ]

    func run<S: Solver>(_ solver: S, schedule: any NoiseSchedule, spacing: StepSpacing = .karras(rho: 7), steps: Int = 10,
                        final: FinalNoise = .zero, previews: Bool = false) throws -> (SampleTensor, SamplingRun<S>) {
        let grid = try StepSchedule(spacing: spacing, steps: steps, final: final).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([32, 2]), schedule: schedule, level: grid[0])
        let run = try SamplingRun(model: TestModels.mixture2D(), schedule: schedule, solver: solver, grid: grid,
                                  initialSample: x, previews: previews)
        return (try run.finish(), run)
    }

    @Test("every solver reaches sigma = 0 with finite output on VP, EDM and flow, using the evaluations it states")
    func finalStepToZero() throws {
        for schedule in Self.schedules {
            for steps in [1, 2, 5] {
                for solver in Self.solvers {
                    func check<S: Solver>(_ solver: S) throws {
                        let (out, run) = try self.run(solver, schedule: schedule, steps: steps)
                        #expect(out.isFinite, "\(solver.name) on \(schedule.name), \(steps) steps")
                        if solver is DPMSolverAdaptive {
                            #expect(run.evaluations <= solver.evaluations(on: run.grid))
                        } else {
                            #expect(run.evaluations == solver.evaluations(on: run.grid), "\(solver.name), \(steps) steps")
                        }
                    }
                    try check(solver)
                }
            }
        }
    }

    @Test("evaluation counts: 1 per step, PLMS one more, the 2-stage solvers 2 per step (1 to sigma = 0), dpm_fast = steps")
    func evaluationCounts() throws {
        for final in FinalNoise.allCases {
            for steps in [1, 2, 7] {
                let clean = final == .zero ? 1 : 0
                let expected: [(any Solver, Int)] = [
                    (LMS(), steps), (IPNDM(), steps), (PLMS(), steps + (steps >= 2 ? 1 : 0)), (DPM2(), 2 * steps - clean),
                    (DPMSolverPlusPlus2S(), 2 * steps - clean), (DPMSolverFast(), steps),
                ]
                for (solver, count) in expected {
                    func check<S: Solver>(_ solver: S) throws {
                        let (_, run) = try self.run(solver, schedule: VESchedule(), steps: steps, final: final)
                        #expect(run.evaluations == count, "\(solver.name), \(steps) steps, final \(final)")
                        #expect(solver.evaluations(on: run.grid) == count)
                    }
                    try check(solver)
                }
            }
        }
        // An explicit dpm_fast budget is k-diffusion's n; a final step to sigma = 0 adds one.
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 3).grid(on: VESchedule())
        #expect(DPMSolverFast(budget: 10).evaluations(on: grid) == 11)
    }

    @Test("dpm_adaptive costs order × attempts, plus one on the step to sigma = 0")
    func adaptiveCount() throws {
        let schedule = VESchedule()
        for order in [2, 3] {
            let solver = DPMSolverAdaptive(order: order)
            let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 2).grid(on: schedule)
            let denoiser = Denoiser(model: TestModels.mixture2D(), schedule: schedule)
            let context = SolverContext(grid: grid, denoiser: denoiser, noise: nil, frame: schedule.frame)
            var x = SampleTensor.initialSample(noise: TestModels.noise([8, 2]), schedule: schedule, level: grid[0])
            var state = solver.makeState(for: x, grid: grid)
            for step in 0..<grid.steps { try solver.step(step, x: &x, state: &state, context: context) }
            #expect(state.acceptedSteps > 0)
            #expect(denoiser.evaluations == order * (state.acceptedSteps + state.rejectedSteps) + 1)
            #expect(denoiser.evaluations <= solver.evaluations(on: grid))
        }
    }

    @Test("dpm_adaptive meets its tolerance and spends fewer evaluations on looser ones")
    func adaptiveTolerance() throws {
        let model = TestModels.mixture2D()
        for schedule in [ContinuousVPSchedule.linear(), VESchedule(), RectifiedFlowSchedule()] as [any NoiseSchedule] {
            let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 1, final: .minimum).grid(on: schedule)
            let end = grid.levels.last!
            let x0 = SampleTensor.initialSample(noise: TestModels.noise([64, 2], seed: 7), schedule: schedule, level: grid[0])
            let reference = try ReferenceSolver(relativeTolerance: 1e-10, absoluteTolerance: 1e-10)
                .solve(model: model, schedule: schedule, x: x0, from: grid[0], to: end)
            var previousEvaluations = Int.max
            for (rtol, atol) in [(1e-3, 1e-4), (0.01, 0.001), (0.05, 0.0078)] {
                let solver = DPMSolverAdaptive(relativeTolerance: rtol, absoluteTolerance: atol)
                let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x0)
                let out = try run.finish()
                // The error in the norm the controller uses: RMS of (y − y_ref)/(atol + rtol·|y_ref|), y = x/s.
                let s = schedule.frame.scale(end)
                var sum = 0.0
                for i in 0..<out.count {
                    let y = Double(out.scalars[i]) / s, r = reference.endpoint[i] / s
                    let e = (y - r) / (atol + rtol * abs(r))
                    sum += e * e
                }
                let scaled = (sum / Double(out.count)).squareRoot()
                #expect(scaled <= 1, "\(schedule.name), rtol \(rtol): scaled endpoint error \(scaled)")
                #expect(run.evaluations < previousEvaluations, "\(schedule.name), rtol \(rtol): \(run.evaluations) evaluations")
                previousEvaluations = run.evaluations
            }
        }
    }

    @Test("the step to sigma = 0 returns the clean estimate for ipndm, dpm_2, dpmpp_2s, dpm_fast, dpm_adaptive, UniPC (bh1, bh2), DEIS and DPM-Solver++ (2M, 3M)")
    func lastStepIsDenoised() throws {
        let schedule = ContinuousVPSchedule.linear()
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 4).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([8, 2]), schedule: schedule, level: grid[0])
        // The multistep solvers with lower-order final steps off as well, so that the last step
        // has a full history and would use it unless it returns x̂₀.
        let multistep: [any Solver] = [
            UniPC(variant: .bh1, solverOrder: 3), UniPC(variant: .bh2, solverOrder: 2),
            UniPC(variant: .bh1, solverOrder: 3, lowerOrderFinal: false), UniPC(variant: .bh2, solverOrder: 2, lowerOrderFinal: false),
            UniPC(variant: .bh2, solverOrder: 3, prediction: .noise, lowerOrderFinal: false),
            DEIS(solverOrder: 3), DEIS(solverOrder: 3, lowerOrderFinal: false),
            DPMSolverMultistep(prediction: .data, solverOrder: 2), DPMSolverMultistep(prediction: .data, solverOrder: 3),
            DPMSolverMultistep(prediction: .data, solverOrder: 2, lowerOrderFinal: false),
            DPMSolverMultistep(prediction: .data, solverOrder: 3, lowerOrderFinal: false, thirdOrderForm: .taylor),
        ]
        for solver in [IPNDM() as any Solver, DPM2(), DPMSolverPlusPlus2S(), DPMSolverFast(), DPMSolverAdaptive()] + multistep {
            func check<S: Solver>(_ solver: S) throws {
                let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x)
                for _ in 0..<3 { try run.advance() }
                var expected = SampleTensor(zeros: x.shape)
                try model.predict(run.sample, at: grid[3], into: &expected)
                #expect(try run.finish() == expected, "\(solver.name)")
            }
            try check(solver)
        }
    }

    @Test("first-order members of the families are Euler")
    func firstOrderIsEuler() throws {
        for schedule in [VESchedule(), ContinuousVPSchedule.linear(), RectifiedFlowSchedule()] as [any NoiseSchedule] {
            let (euler, _) = try run(Euler(), schedule: schedule, final: .minimum)
            let single = try StepSchedule(spacing: .karras(rho: 7), steps: 1, final: .minimum).grid(on: schedule)
            for solver in [LMS(solverOrder: 1) as any Solver, IPNDM(solverOrder: 1)] {
                func check<S: Solver>(_ solver: S) throws {
                    let (out, _) = try run(solver, schedule: schedule, final: .minimum)
                    let difference = Compare.relativeRMS(out, euler.scalars.map(Double.init))
                    #expect(difference < 1e-5, "\(solver.name) on \(schedule.name): \(difference)")
                }
                try check(solver)
            }
            // One DPM-Solver-1 step (dpm_fast with a budget of 1) is DDIM; a one-step PLMS is Euler.
            let x = SampleTensor.initialSample(noise: TestModels.noise([32, 2]), schedule: schedule, level: single[0])
            func once<S: Solver>(_ solver: S) throws -> SampleTensor {
                try SamplingRun(model: TestModels.mixture2D(), schedule: schedule, solver: solver, grid: single, initialSample: x).finish()
            }
            #expect(try once(DPMSolverFast(budget: 1)) == once(DDIM()), "\(schedule.name)")
            // (In the flow frame PLMS forms d = ε̂ − x̂₀ first, which rounds differently.)
            let difference = Compare.relativeRMS(try once(PLMS()), try once(Euler()).scalars.map(Double.init))
            #expect(difference < 1e-6, "\(schedule.name): \(difference)")
        }
    }

    @Test("with previews on, the step-by-step solvers keep the clean estimate at the step's start current")
    func previews() throws {
        let schedule = ContinuousVPSchedule.linear()
        let model = TestModels.mixture2D()
        let grid = try StepSchedule(spacing: .karras(rho: 7), steps: 6).grid(on: schedule)
        let x = SampleTensor.initialSample(noise: TestModels.noise([4, 2]), schedule: schedule, level: grid[0])
        for solver in [LMS() as any Solver, IPNDM(), PLMS(), DPM2(), DPMSolverPlusPlus2S()] {
            func check<S: Solver>(_ solver: S) throws {
                try expectPreviewsCurrent(solver, model: model, schedule: schedule, grid: grid, initialSample: x, steps: 4)
            }
            try check(solver)
        }
    }

    @Test("the catalog builds the classical solvers and checks --order")
    func catalog() throws {
        for name in ["lms", "ipndm", "plms", "dpm_2", "dpmpp_2s", "dpm_fast", "dpm_adaptive"] {
            let solver = try SolverCatalog.solver(named: name)
            #expect(solver.name == name)
        }
        #expect(try SolverCatalog.solver(named: "lms", options: .init(order: 3)).order == 3)
        #expect(try SolverCatalog.solver(named: "ipndm", options: .init(order: 2)).order == 2)
        #expect(try SolverCatalog.solver(named: "dpm_adaptive", options: .init(order: 2)).order == 2)
        for (name, order) in [("ipndm", 5), ("plms", 0), ("dpm_adaptive", 4), ("lms", 7)] {
            #expect(throws: SamplingError.self) { _ = try SolverCatalog.solver(named: name, options: .init(order: order)) }
        }
    }

    @Test("dpm_adaptive turns an unreachable tolerance into a one-line error")
    func adaptiveCap() throws {
        let solver = DPMSolverAdaptive(relativeTolerance: 1e-9, absoluteTolerance: 1e-9, maximumEvaluations: 30)
        do {
            _ = try run(solver, schedule: VESchedule(), steps: 1, final: .minimum)
            Issue.record("expected an error")
        } catch let error as SamplingError {
            #expect(!error.description.contains("\n"))
            #expect(error.description.contains("dpm_adaptive"))
        }
    }
}
