import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// ComfyUI's named schedulers against `comfy_schedules.json` (`tools/fixtures_comfy_schedules.py`,
/// ComfyUI's own `calculate_sigmas` run on its `model_sampling` classes).
@Suite("ComfyUI schedules: simple, sgm_uniform, ddim_uniform, normal, beta, kl_optimal, linear_quadratic")
struct ComfyScheduleTests {
    struct Case: CustomStringConvertible {
        var model: String, schedule: String, steps: Int, sigmas: [Double]
        var description: String { "\(model) \(schedule) n=\(steps)" }
    }

    static func load() throws -> (commit: String, cases: [Case]) {
        let file = try #require(try Fixtures.json("comfy_schedules.json") as? [String: Any])
        let cases = try #require(file["cases"] as? [[String: Any]])
        return (try #require(file["comfyui_commit"] as? String), try cases.map { c in
            Case(model: try #require(c["model"] as? String), schedule: try #require(c["schedule"] as? String),
                 steps: try #require(c["steps"] as? Int), sigmas: try #require(c["sigmas"] as? [Double]))
        })
    }

    /// The fixture's models as our schedules, with the flow shift ComfyUI's model_sampling had.
    static func model(_ name: String) throws -> (schedule: any NoiseSchedule, shift: Double) {
        switch name {
        case "sd1": (try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012), 1)
        case "ddpm": (try DiscreteVPSchedule(betaSchedule: .linear, betaStart: 0.0001, betaEnd: 0.02), 1)
        case "flow": (RectifiedFlowSchedule(), 1)
        case "flow_shift3": (RectifiedFlowSchedule(), 3)
        case "edm": (VESchedule(sigmaMin: 0.002, sigmaMax: 80), 1)
        default: throw ScheduleError("unknown fixture model \(name)")
        }
    }

    /// How far ComfyUI's float32 result may lie from the exact sigma, relative, in units of
    /// `u = 2⁻²⁴` (float32's relative rounding). ComfyUI builds the discrete table in float64 and
    /// stores it in float32 (one rounding, `u`); it computes the flow table (`t = i/1000`, the shift)
    /// and the EDM table (`exp` of a float32 `linspace` of `log σ` from −6.2 to 4.4, so off by a few
    /// `u·6.2` in `log σ`) in float32. `sigma(t)` interpolates float32 `log σ` and exponentiates, so a
    /// rounding of `log σ` moves `σ` by `u·|log σ|`; `linear_quadratic` multiplies two float32 values;
    /// `kl_optimal` takes `tan` of a float32 angle (a sum of products of size up to `π/2`), which
    /// multiplies its rounding by `(1 + σ²)/σ`.
    static func tolerance(model: String, schedule: String, sigma: Double) -> Double {
        let u = 0x1p-24, logs = abs(Double.log(sigma))
        switch (model, schedule) {
        case (_, "kl_optimal"): return u * (2 + 1.5 * Double.pi * (1 + sigma * sigma) / sigma)
        case (_, "linear_quadratic"): return 3 * u
        case ("sd1", "simple"), ("sd1", "ddim_uniform"), ("sd1", "beta"), ("ddpm", "simple"), ("ddpm", "ddim_uniform"), ("ddpm", "beta"): return u
        case ("flow", _), ("flow_shift3", _): return 3 * u
        case ("edm", _): return u * (2 + Double.log(500))
        default: return u * (2 + 2 * logs)
        }
    }

    @Test("the fixture comes from a recorded ComfyUI commit and holds every name, model and step count")
    func fixture() throws {
        let (commit, cases) = try Self.load()
        #expect(commit.count == 40)
        #expect(cases.count == 7 * 5 * 3)
        #expect(Set(cases.map(\.schedule)) == Set(ComfySchedule.Kind.allCases.map(\.rawValue)))
    }

    @Test("our sigmas equal ComfyUI's to its float32 precision")
    func parity() throws {
        for c in try Self.load().cases {
            let (schedule, shift) = try Self.model(c.model)
            let spacing = try #require(StepSpacing(name: c.schedule))
            guard case .comfy(var comfy) = spacing else { Issue.record("\(c.schedule) is not a ComfyUI schedule"); continue }
            comfy.shift = shift
            let grid = try StepSchedule(spacing: .comfy(comfy), steps: c.steps).grid(on: schedule)
            let ours = grid.levels.map { schedule.displaySigma($0) }
            try #require(ours.count == c.sigmas.count, "\(c): \(ours.count) vs \(c.sigmas.count) sigmas")
            for (a, b) in zip(ours, c.sigmas) {
                if b == 0 { #expect(a == 0, "\(c)"); continue }
                let rel = abs(a - b) / b
                #expect(rel <= Self.tolerance(model: c.model, schedule: c.schedule, sigma: b), "\(c): \(a) vs \(b), relative \(rel)")
            }
        }
    }

    @Test("every name is a --schedule name, and one that has no ComfyUI model_sampling is refused in one line")
    func namesAndRefusals() throws {
        for kind in ComfySchedule.Kind.allCases {
            #expect(StepSpacing.names.contains(kind.rawValue))
            #expect(StepSpacing(name: kind.rawValue)?.name == kind.rawValue)
        }
        #expect(Set(StepSpacing.names).count == StepSpacing.names.count)
        let beta = StepSpacing.comfy(ComfySchedule(.beta))
        #expect(throws: ScheduleError.self) { try StepSchedule(spacing: beta, steps: 10).grid(on: ContinuousVPSchedule.linear()) }
        #expect(throws: ScheduleError.self) { try StepSchedule(spacing: .comfy(ComfySchedule(.beta, shift: 3)), steps: 10).grid(on: VESchedule()) }
        #expect(throws: ScheduleError.self) { try StepSchedule(spacing: beta, steps: 10, sigmaMax: 0.5).grid(on: RectifiedFlowSchedule()) }
    }
}
