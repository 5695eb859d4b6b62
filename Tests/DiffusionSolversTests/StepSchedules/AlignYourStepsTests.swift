import Testing
import DiffusionSolvers

@Suite("Align Your Steps spacing")
struct AlignYourStepsTests {
    /// Stable Diffusion's schedule, the one the `sd1` and `sdxl` tables were optimized for.
    static let sd = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)

    func sigmas(_ spacing: StepSpacing, steps: Int, final: FinalNoise, on schedule: any NoiseSchedule = sd) throws -> [Double] {
        try StepSchedule(spacing: spacing, steps: steps, final: final).grid(on: schedule).levels.map { schedule.displaySigma($0) }
    }

    @Test("10 steps ending at the smallest sigma are the published levels", arguments: [AlignYourSteps.sd1, .sdxl])
    func published(table: AlignYourSteps) throws {
        let ours = try sigmas(.alignYourSteps(table), steps: 10, final: .minimum)
        #expect(ours.count == 11)
        for (a, b) in zip(ours, table.publishedSigmas) { #expect(abs(a - b) <= 1e-6 * b, "\(a) vs \(b)") }
    }

    @Test("20 steps interpolate log-linearly: every other level is a published one, the ones between their geometric means")
    func interpolation() throws {
        let published = AlignYourSteps.sd1.publishedSigmas
        let ours = AlignYourSteps.sd1.sigmas(count: 21)
        for (i, p) in published.enumerated() { #expect(abs(ours[2 * i] - p) <= 1e-12 * p) }
        for i in 0..<(published.count - 1) {
            let mean = (published[i] * published[i + 1]).squareRoot()
            #expect(abs(ours[2 * i + 1] - mean) <= 1e-12 * mean)
        }
        for n in [2, 5, 7, 30] {
            let s = AlignYourSteps.sd1.sigmas(count: n + 1)
            #expect(s.count == n + 1)
            #expect(abs(s[0] - published[0]) <= 1e-12 * published[0] && abs(s[n] - published[10]) <= 1e-12 * published[10])
            #expect(zip(s, s.dropFirst()).allSatisfy { $0 > $1 }, "\(n) steps not decreasing")
        }
    }

    @Test("ending at sigma = 0 replaces the last level by the clean one (ComfyUI's rule)")
    func finalZero() throws {
        let ours = try sigmas(.alignYourSteps(.sd1), steps: 10, final: .zero)
        let published = AlignYourSteps.sd1.publishedSigmas
        #expect(ours.count == 11 && ours.last == 0)
        #expect(abs(ours[9] - published[9]) <= 1e-6 * published[9])
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
