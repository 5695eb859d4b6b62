import ArgumentParser
import Foundation
import DiffusionSolvers

/// `diffuse sample`'s flags for guidance variants: the guidance interval, APG and CFG-Zero*.
struct GuidanceOptions: ParsableArguments {
    @Option(help: "Guide only where sigma lies in LOW,HIGH (Kynkaanniemi et al. 2024); the conditional model elsewhere.")
    var guidanceInterval: String?

    @Option(parsing: .unconditional, help: "APG (Sadat et al. 2024): weight eta of the guidance update parallel to the conditional prediction (1 = CFG's).")
    var apgEta: Double?

    @Option(parsing: .unconditional, help: "APG: bound on the norm of the guidance update per sample (0 = none).")
    var apgNormThreshold: Double?

    @Option(parsing: .unconditional, help: "APG: momentum beta of the guidance update (negative in the paper, e.g. -0.5).")
    var apgMomentum: Double?

    @Flag(help: "CFG-Zero* (Fan et al. 2025): optimized unconditional scale and zeroed first steps.")
    var cfgZeroStar = false

    @Option(parsing: .unconditional, help: "CFG-Zero*: how many first evaluations give a zero prediction (default 1).")
    var zeroInitSteps: Int?

    var isSet: Bool { guidanceInterval != nil || apgEta != nil || apgNormThreshold != nil || apgMomentum != nil || cfgZeroStar || zeroInitSteps != nil }

    /// `model` with the interval and rule the flags name.
    func apply(to model: ClassifierFreeGuidance, frame: ODEFrame) throws -> ClassifierFreeGuidance {
        var guided = model
        do {
            if let text = guidanceInterval {
                let bounds = try SampleCommand.numbers(text.replacingOccurrences(of: "inf", with: "\(Double.greatestFiniteMagnitude)"),
                                                       flag: "--guidance-interval")
                guard bounds.count == 2 else { throw CLIError("--guidance-interval needs LOW,HIGH, got '\(text)'") }
                guided.interval = try GuidanceInterval(low: bounds[0], high: bounds[1], frame: frame)
            }
            let apg = apgEta != nil || apgNormThreshold != nil || apgMomentum != nil
            if apg && (cfgZeroStar || zeroInitSteps != nil) { throw CLIError("choose APG (--apg-*) or --cfg-zero-star, not both") }
            if zeroInitSteps != nil && !cfgZeroStar { throw CLIError("--zero-init-steps needs --cfg-zero-star") }
            if apg {
                guided.combination = try AdaptiveProjectedGuidance(eta: apgEta ?? 1, normThreshold: apgNormThreshold ?? 0, momentum: apgMomentum)
            } else if cfgZeroStar {
                guided.combination = try CFGZeroStar(zeroInitSteps: zeroInitSteps ?? 1)
            }
        } catch let error as ModelError { throw CLIError("\(error)") }
        return guided
    }
}
