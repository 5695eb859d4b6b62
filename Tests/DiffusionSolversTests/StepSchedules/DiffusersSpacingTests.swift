import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Golden timestep and sigma lists from diffusers 0.42.1 (`tools/fixtures_foundation.py`).
@Suite("diffusers spacing rules")
struct DiffusersSpacingTests {
    struct Case: Decodable, Sendable, CustomStringConvertible {
        var scheduler: String
        var spacing: String
        var steps: Int
        var steps_offset: Int
        var sigma_schedule: String
        var final_sigmas_type: String?
        var timesteps: [Double]
        var sigmas: [Double]?
        var description: String { "\(scheduler) \(spacing) \(sigma_schedule) N=\(steps) offset=\(steps_offset) final=\(final_sigmas_type ?? "-")" }
    }
    struct File: Decodable { var cases: [Case] }

    static let cases: [Case] = try! JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("diffusers_timesteps.json"))).cases
    static let schedule = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)

    /// The spacing name under which we offer each diffusers class's rule.
    static func spacing(for c: Case) -> StepSpacing {
        switch c.sigma_schedule {
        case "karras": return .karras(rho: 7)
        case "exponential": return .exponential
        default: break
        }
        let multistep = ["DPMSolverMultistepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler"].contains(c.scheduler)
        switch c.spacing {
        case "linspace": return multistep ? .linspace : c.scheduler == "DDIMScheduler" ? .ddimLinspace : .timeUniform
        case "leading": return multistep ? .leading : .ddimLeading
        default: return .trailing
        }
    }

    @Test("timesteps equal diffusers' exactly", arguments: cases.filter { $0.sigma_schedule == "default" })
    func timesteps(_ c: Case) throws {
        let spacing = Self.spacing(for: c)
        let ours = try StepSchedule(spacing: spacing, steps: c.steps, stepsOffset: c.steps_offset).grid(on: Self.schedule)
        let ts = ours.levels.dropLast().map(\.t)
        #expect(ts.count == c.timesteps.count)
        for (a, b) in zip(ts, c.timesteps) {
            if spacing == .timeUniform {
                // Euler's fractional timesteps come from a float32 linspace: equal to one float32 ulp.
                #expect(abs(a - b) <= Double(Float(b).ulp), "\(a) vs \(b)")
            } else {
                #expect(a == b, "\(a) vs \(b)")
            }
        }
    }

    @Test("sigmas equal diffusers' to float32 precision", arguments: cases.filter { $0.sigmas != nil })
    func sigmas(_ c: Case) throws {
        let spacing = Self.spacing(for: c)
        // diffusers' Euler with `linspace` and `sigma_min` repeats σ(t=0) (a zero-length last step);
        // our time-uniform spacing with `min` instead places N + 1 points, so that pairing is skipped.
        if c.scheduler == "EulerDiscreteScheduler" && spacing == .timeUniform && c.final_sigmas_type == "sigma_min" { return }
        let final: FinalNoise = c.final_sigmas_type == "sigma_min" ? .minimum : .zero
        let grid = try StepSchedule(spacing: spacing, steps: c.steps, final: final, stepsOffset: c.steps_offset).grid(on: Self.schedule)
        var expected = c.sigmas!
        // Drop a repeated final sigma (diffusers' zero-length step): our grid ends there instead.
        if expected.count >= 2 && expected[expected.count - 1] == expected[expected.count - 2] { expected.removeLast() }
        let ours = grid.levels.map { Self.schedule.displaySigma($0) }
        #expect(ours.count == expected.count)
        for (a, b) in zip(ours, expected) {
            // diffusers accumulates ᾱ in float32: up to 1.3e-5 relative at t = 0 (measured by the script).
            #expect(abs(a - b) <= 2e-5 * b, "\(a) vs \(b)")
        }
    }
}
