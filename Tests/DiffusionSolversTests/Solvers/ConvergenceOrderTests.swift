import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// Endpoint error against a tight reference solution of the probability-flow ODE falls like
/// `steps^(−order)`. Step ranges are chosen where the asymptotic regime holds and the error stays
/// well above float32 round-off (about 1e-6 here): first-order solvers 16…128 steps, Heun 8…64.
@Suite("Convergence order")
struct ConvergenceOrderTests {
    static let studies: [(String, ConvergenceStudy)] = [
        ("vp-linear/logsnr", ConvergenceStudy(model: TestModels.mixture2D(), schedule: ContinuousVPSchedule.linear())),
        ("edm/karras", ConvergenceStudy(model: TestModels.mixture2D(), schedule: VESchedule(), spacing: .karras(rho: 7))),
        ("flow/time-uniform", ConvergenceStudy(model: TestModels.mixture2D(), schedule: RectifiedFlowSchedule(), spacing: .timeUniform)),
        ("vp-discrete/karras", ConvergenceStudy(model: TestModels.mixture2D(), schedule: try! DiscreteVPSchedule(), spacing: .karras(rho: 7))),
    ]

    /// `expected` is the order from the paper, written in the test: never the solver's own `order`.
    func check<S: Solver>(_ solver: S, expected: Int, steps: [Int]) throws {
        for (name, study) in Self.studies {
            let (order, errors) = try study.order(solver, steps: steps)
            #expect(abs(order - Double(expected)) <= 0.3, "\(solver.name) on \(name): fitted order \(order), errors \(errors)")
        }
    }

    @Test func ddim() throws { try check(DDIM(), expected: 1, steps: [16, 32, 64, 128]) }
    @Test func euler() throws { try check(Euler(), expected: 1, steps: [16, 32, 64, 128]) }
    @Test func heun() throws { try check(Heun(), expected: 2, steps: [16, 32, 64, 128]) }
}
