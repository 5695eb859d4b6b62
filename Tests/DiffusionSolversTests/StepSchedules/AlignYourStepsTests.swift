import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Align Your Steps spacing")
struct AlignYourStepsTests {
    /// Stable Diffusion's schedule, the one the `sd1` and `sdxl` tables were optimized for.
    static let sd = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)

    func sigmas(_ spacing: StepSpacing, steps: Int, final: FinalNoise, on schedule: any NoiseSchedule = sd) throws -> [Double] {
        try StepSchedule(spacing: spacing, steps: steps, final: final).grid(on: schedule).levels.map { schedule.displaySigma($0) }
    }

    /// ComfyUI's `nodes_align_your_steps.py` (`tools/fixtures_ays.py`, `ays_sigmas.json`): its
    /// published levels, `loglinear_interp` in float64, and `get_sigmas` (float32, last level 0).
    struct Reference: Decodable {
        struct Case: Decodable { var table: String; var steps: Int; var interpolated: [Double]; var comfy_sigmas: [Double] }
        var published: [String: [Double]]
        var cases: [Case]
    }
    static let reference = try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: Fixtures.url("ays_sigmas.json")))
    static let tables: [String: AlignYourSteps] = ["sd1": .sd1, "sdxl": .sdxl, "svd": .svd]

    @Test("the published levels are ComfyUI's, and every step count interpolates them log-linearly as ComfyUI does")
    func interpolation() throws {
        for (name, table) in Self.tables {
            #expect(table.publishedSigmas == Self.reference.published[name], "\(name)")
        }
        try #require(Self.reference.cases.count == 15)
        for c in Self.reference.cases {
            let table = try #require(Self.tables[c.table])
            let ours = table.sigmas(count: c.steps + 1)
            try #require(ours.count == c.interpolated.count)
            for (a, b) in zip(ours, c.interpolated) { #expect(abs(a - b) <= 1e-12 * b, "\(c.table) \(c.steps) steps: \(a) vs \(b)") }
        }
    }

    @Test("on Stable Diffusion's schedule the grid ending at sigma = 0 is ComfyUI's get_sigmas (last level replaced by 0)")
    func comfyGrid() throws {
        for c in Self.reference.cases where c.table != "svd" {
            let table = try #require(Self.tables[c.table])
            let ours = try sigmas(.alignYourSteps(table), steps: c.steps, final: .zero)
            try #require(ours.count == c.comfy_sigmas.count)
            #expect(ours.last == 0 && c.comfy_sigmas.last == 0)
            // ComfyUI returns float32.
            for (a, b) in zip(ours, c.comfy_sigmas) { #expect(abs(a - b) <= 1e-6 * b, "\(c.table) \(c.steps) steps: \(a) vs \(b)") }
        }
    }

    @Test("10 steps ending at the smallest sigma are the published levels")
    func published() throws {
        for c in Self.reference.cases where c.table != "svd" && c.steps == 10 {
            let ours = try sigmas(.alignYourSteps(try #require(Self.tables[c.table])), steps: 10, final: .minimum)
            for (a, b) in zip(ours, try #require(Self.reference.published[c.table])) { #expect(abs(a - b) <= 1e-6 * b, "\(a) vs \(b)") }
        }
    }

    @Test("a schedule that cannot hold the levels, and sigma bounds, are one-line errors")
    func errors() throws {
        #expect(throws: ScheduleError.self) { try sigmas(.alignYourSteps(.svd), steps: 10, final: .zero) }
        #expect(throws: ScheduleError.self) {
            try StepSchedule(spacing: .alignYourSteps(.sd1), steps: 10, sigmaMax: 10).grid(on: Self.sd)
        }
        // EDM's range (0.002 to 80) holds the SD levels.
        #expect(try sigmas(.alignYourSteps(.sd1), steps: 4, final: .zero, on: VESchedule()).count == 5)
        #expect(StepSpacing(name: "ays") == .alignYourSteps(.sd1) && StepSpacing(name: "ays-svd")?.name == "ays-svd")
    }
}
