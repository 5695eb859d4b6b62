import Testing
import DiffusionSolvers

@Suite("Karras ramps with moved points (the searched placements)")
struct KarrasRampTests {
    static let sd = try! DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)

    func sigmas(_ spacing: StepSpacing, steps: Int, final: FinalNoise = .zero, on schedule: any NoiseSchedule = sd) throws -> [Double] {
        try StepSchedule(spacing: spacing, steps: steps, final: final).grid(on: schedule).levels.map { schedule.displaySigma($0) }
    }

    @Test("equal points are Karras' spacing, at their own count and interpolated to others",
          arguments: [3, 5, 8, 13])
    func equalPointsAreKarras(count: Int) throws {
        let ramp = try KarrasRamp(name: "equal", points: (0..<count).map { Double($0) / Double(count - 1) })
        for steps in [count, 2, 7, 20] {
            for final in [FinalNoise.zero, .minimum] {
                for schedule in [Self.sd as any NoiseSchedule, VESchedule()] {
                    let a = try sigmas(.karrasRamp(ramp), steps: steps, final: final, on: schedule)
                    let b = try sigmas(.karras(rho: 7), steps: steps, final: final, on: schedule)
                    #expect(a.count == b.count)
                    for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-9 * Swift.max(y, 1e-300), "\(steps) steps: \(x) vs \(y)") }
                }
            }
        }
    }

    @Test("points that do not increase from 0 to at most 1, or a non-positive rho, are one-line errors")
    func invalid() {
        for points in [[0.0], [0.1, 0.5], [0, 0.5, 0.5], [0, 0.6, 0.4], [0, 0.5, 1.2], [0, .nan]] {
            #expect(throws: ScheduleError.self) { try KarrasRamp(name: "bad", points: points) }
        }
        #expect(throws: ScheduleError.self) { try KarrasRamp(name: "bad", rho: 0, points: [0, 1]) }
    }

    @Test("fraction and sigma are inverse, and the ends of the ramp are the range's ends")
    func inverse() {
        for r in stride(from: 0.0, through: 1.0, by: 0.125) {
            let s = KarrasRamp.sigma(at: r, hi: 14.6, lo: 0.0292)
            #expect(abs(KarrasRamp.fraction(sigma: s, hi: 14.6, lo: 0.0292) - r) <= 1e-12)
        }
        #expect(abs(KarrasRamp.sigma(at: 0, hi: 80, lo: 0.002) - 80) <= 1e-12 * 80)
        #expect(abs(KarrasRamp.sigma(at: 1, hi: 80, lo: 0.002) - 0.002) <= 1e-12 * 0.002)
    }

    @Test("interpolation is linear between the stored points and keeps both ends")
    func interpolation() throws {
        let ramp = try KarrasRamp(name: "test", points: [0, 0.3, 0.5, 0.8])
        let six = ramp.fractions(count: 7)  // x = 0, 0.5, 1, 1.5, 2, 2.5, 3 in stored-point units
        let expected = [0, 0.15, 0.3, 0.4, 0.5, 0.65, 0.8]
        for (a, b) in zip(six, expected) { #expect(abs(a - b) <= 1e-12) }
        #expect(ramp.fractions(count: 4) == ramp.points)
        #expect(ramp.fractions(count: 1) == [0])
    }

    @Test("every searched ramp gives a strictly decreasing grid inside the schedule's range, at any step count",
          arguments: KarrasRamp.searched)
    func searchedGrids(ramp: KarrasRamp) throws {
        #expect(StepSpacing(name: ramp.name) == .karrasRamp(ramp))
        #expect(StepSpacing.names.contains(ramp.name))
        for schedule in [Self.sd as any NoiseSchedule, VESchedule(), try DiscreteVPSchedule(betaSchedule: .squaredCosCapV2), RectifiedFlowSchedule()] {
            let range = schedule.timeRange
            let hi = schedule.displaySigma(schedule.level(at: range.upperBound))
            let lo = schedule.displaySigma(schedule.level(at: range.lowerBound))
            for steps in [1, 2, 5, 10, 20, 50] {
                let s = try sigmas(.karrasRamp(ramp), steps: steps, on: schedule)
                #expect(s.count == steps + 1 && s.last == 0)
                #expect(abs(s[0] - hi) <= 1e-9 * hi)
                #expect(zip(s, s.dropFirst()).allSatisfy { $0 > $1 }, "\(ramp.name), \(steps) steps: \(s)")
                #expect(s[steps - 1] >= lo * (1 - 1e-9) || steps == 1)
            }
            // Ending at the smallest sigma ends at σ_min, whatever the ramp's last fraction.
            let toMinimum = try sigmas(.karrasRamp(ramp), steps: 5, final: .minimum, on: schedule)
            #expect(toMinimum.count == 6 && abs(toMinimum[5] - lo) <= 1e-9 * lo && zip(toMinimum, toMinimum.dropFirst()).allSatisfy { $0 > $1 })
            // At its own count, the grid is the stored fractions.
            let own = try sigmas(.karrasRamp(ramp), steps: ramp.points.count, on: schedule)
            for (s, r) in zip(own, ramp.points) { #expect(abs(KarrasRamp.fraction(sigma: s, hi: hi, lo: lo) - r) <= 1e-7) }
        }
    }
}

@Suite("The searched ramps' literal points")
struct KarrasRampLiteralTests {
    @Test("each searched ramp passes the checks of the throwing initializer", arguments: KarrasRamp.searched)
    func literalsAreValid(ramp: KarrasRamp) throws {
        #expect(try KarrasRamp(name: ramp.name, rho: ramp.rho, points: ramp.points) == ramp)
    }
}
