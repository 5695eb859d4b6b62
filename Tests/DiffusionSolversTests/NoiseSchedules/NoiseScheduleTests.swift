import Testing
import Foundation
@testable import DiffusionSolvers

@Suite("Noise schedules")
struct NoiseScheduleTests {
    static let schedules: [any NoiseSchedule] = [
        try! DiscreteVPSchedule(betaSchedule: .linear, betaStart: 1e-4, betaEnd: 0.02),
        try! DiscreteVPSchedule(betaSchedule: .scaledLinear),
        try! DiscreteVPSchedule(betaSchedule: .squaredCosCapV2),
        try! DiscreteVPSchedule(betaSchedule: .scaledLinear, rescaleToZeroTerminalSNR: true),
        ContinuousVPSchedule.linear(),
        ContinuousVPSchedule.cosine,
        VESchedule(),
        RectifiedFlowSchedule(),
    ]

    static func times(_ s: any NoiseSchedule) -> [Double] {
        let r = s.timeRange
        return (0...40).map { r.lowerBound + (r.upperBound - r.lowerBound) * Double($0) / 40 }
    }

    @Test("VP schedules keep alpha^2 + sigma^2 = 1")
    func variancePreserving() {
        for s in Self.schedules where s is DiscreteVPSchedule || s is ContinuousVPSchedule {
            for t in Self.times(s) {
                let a = s.alpha(at: t), g = s.sigma(at: t)
                #expect(abs(a * a + g * g - 1) < 1e-12, "\(s.name) at t=\(t)")
            }
        }
    }

    @Test("t(lambda(t)) round-trips to 1e-10")
    func lambdaRoundTrip() {
        for s in Self.schedules {
            let r = s.timeRange
            for t in Self.times(s) where t > r.lowerBound || !(s is RectifiedFlowSchedule) {
                let lambda = s.lambda(at: t)
                guard lambda.isFinite else { continue }
                let back = s.time(lambda: lambda)
                let scale = max(1, abs(t))
                #expect(abs(back - t) / scale < 1e-10, "\(s.name): t=\(t) -> lambda=\(lambda) -> \(back)")
            }
        }
    }

    @Test("lambda decreases in t and matches log(alpha/sigma)")
    func lambdaMonotone() {
        for s in Self.schedules {
            var previous = Double.infinity
            for t in Self.times(s) {
                let l = s.lambda(at: t)
                #expect(l < previous, "\(s.name) at t=\(t)")
                previous = l
                let direct = log(s.alpha(at: t)) - log(s.sigma(at: t))
                if direct.isFinite { #expect(abs(direct - l) < 1e-9 * max(1, abs(l)), "\(s.name) at t=\(t)") }
            }
        }
    }

    @Test("discrete schedule: interpolation hits the training sigmas and reaches sigma = 0 at t = -1")
    func discreteInterpolation() throws {
        let s = try DiscreteVPSchedule(betaSchedule: .scaledLinear)
        for i in [0, 1, 500, 998, 999] {
            #expect(abs(s.kSigma(at: Double(i)) - s.sigmas[i]) <= 1e-15 * s.sigmas[i])
        }
        #expect(s.level(at: -1).sigma == 0)
        #expect(s.cleanLevel.lambda == .infinity)
        // diffusers' scaled_linear sigma range for SD 1.x.
        #expect(abs(s.sigmas[999] - 14.6146) < 1e-3)
        #expect(abs(s.sigmas[0] - 0.029168) < 1e-5)
    }

    @Test("zero terminal SNR rescaling sets the last alpha-bar to 2^-24")
    func zeroTerminalSNR() throws {
        let s = try DiscreteVPSchedule(betaSchedule: .scaledLinear, rescaleToZeroTerminalSNR: true)
        #expect(s.alphasCumprod[999] == 0x1p-24)
        let plain = try DiscreteVPSchedule(betaSchedule: .scaledLinear)
        #expect(abs(s.alphasCumprod[0] - plain.alphasCumprod[0]) < 1e-12)
    }

    @Test("continuous VP linear matches the score-SDE closed form")
    func vpLinearClosedForm() {
        let s = ContinuousVPSchedule.linear()
        let t = 0.37
        let logMean = -0.25 * t * t * (20 - 0.1) - 0.5 * t * 0.1
        #expect(abs(s.alpha(at: t) - exp(logMean)) < 1e-14)
        #expect(abs(s.sigma(at: t) - (1 - exp(2 * logMean)).squareRoot()) < 1e-14)
    }

    @Test("flow: alpha = 1 - t, sigma = t, and the frame time is t")
    func flow() {
        let s = RectifiedFlowSchedule()
        for t in [0.001, 0.25, 0.5, 0.999] {
            let level = s.level(at: t)
            #expect(level.alpha == 1 - t && level.sigma == t)
            #expect(abs(s.displaySigma(level) - t) < 1e-15)
            #expect(abs(s.level(sigma: t).t - t) < 1e-12)
        }
        #expect(s.level(at: 1).lambda == -.infinity)
        #expect(s.time(lambda: -.infinity) == 1)
    }

    @Test("the VE frame's sigma is sigma/alpha for VP schedules")
    func displaySigma() throws {
        let s = try DiscreteVPSchedule()
        let level = s.level(at: 250)
        #expect(abs(s.displaySigma(level) - s.kSigma(at: 250)) < 1e-12)
        #expect(abs(s.level(sigma: s.displaySigma(level)).t - 250) < 1e-9)
    }

    @Test("bad beta parameters are one-line errors")
    func badBetas() {
        #expect(throws: ScheduleError.self) { try DiscreteVPSchedule(betaStart: 0, betaEnd: 0.02) }
        #expect(throws: ScheduleError.self) { try DiscreteVPSchedule(trainingSteps: 1) }
    }
}
