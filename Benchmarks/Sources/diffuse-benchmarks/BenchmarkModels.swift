import DiffusionSolvers
import Foundation

/// What the suite (``BenchmarkSuite``) and the default's search (``DefaultSearch``) measure on:
/// Stable Diffusion's schedule, the three exact mixtures, and the reference a default candidate
/// is divided by.
enum BenchmarkModels {
    /// Stable Diffusion's discrete VP schedule (scaled_linear 0.00085–0.012, T = 1000).
    static func schedule() throws -> DiscreteVPSchedule {
        try DiscreteVPSchedule(betaSchedule: .scaledLinear, betaStart: 0.00085, betaEnd: 0.012)
    }

    /// Where ground truths are cached between runs.
    static func groundTruthCache(root: URL) -> URL { root.appendingPathComponent(".build/ground-truth-cache") }

    /// The benchmark models by name, in report order.
    static func mixtures(root: URL) throws -> [(String, GaussianMixture)] {
        [("mixture-2d", BuiltInModels.ring), ("glyphs-8x8", BuiltInModels.glyphs),
         ("digits-mixture", try GaussianMixture(contentsOf: root.appendingPathComponent("models/digits-mixture.safetensors")))]
    }

    /// A comparison from `count` draws of `SeededNoise(seed:)`, RMSE only (no distances to the
    /// data), against ground truths at tolerance 1e-7 cached in `cache`.
    static func comparison(_ model: GaussianMixture, schedule: any NoiseSchedule, seed: UInt64, count: Int, cache: URL) -> SamplerComparison {
        let c = SamplerComparison(model: model, schedule: schedule, noise: SeededNoise(seed: seed).initialNoise(shape: [count] + model.sampleShape),
                                  groundTruth: GroundTruth(tolerance: 1e-7, cacheDirectory: cache), stepsOffset: 1)
        c.measuresDistances = false
        return c
    }

    /// A comparison on a shipped network (`digits`, `photos`) from `count` draws of
    /// `SeededNoise(seed:)`, on the network's own schedule, RMSE only, against ground truths at the
    /// networks' default tolerance cached in `cache`; `nil` for a name that is no shipped network.
    static func networkComparison(_ name: String, seed: UInt64, count: Int, cache: URL) throws -> (SamplerComparison, any NoiseSchedule)? {
        guard let net = try BuiltInModels.model(named: name) as? any ScheduledDiffusionModel else { return nil }
        let schedule = try net.schedulerConfig.noiseSchedule()
        let c = SamplerComparison(model: net, schedule: schedule, noise: SeededNoise(seed: seed).initialNoise(shape: [count] + net.sampleShape),
                                  groundTruth: GroundTruth(tolerance: GroundTruth.defaultTolerance(for: net), cacheDirectory: cache),
                                  stepsOffset: net.schedulerConfig.stepsOffset)
        c.measuresDistances = false
        return (c, schedule)
    }

    /// `ratio [lo–hi]`: the ratio of two RMSEs with the 90% paired bootstrap interval
    /// (``Metrics/bootstrapRatioInterval(_:_:resamples:confidence:seed:)``) of their per-sample
    /// errors, or the ratio alone when the errors do not pair up.
    static func ratioWithInterval(_ ratio: Double, errors a: [Double]?, reference b: [Double], seed: UInt64) -> String {
        let value = String(format: "%.2f", ratio)
        guard let a, !a.isEmpty, a.count == b.count else { return value }
        let r = Metrics.bootstrapRatioInterval(a, b, seed: seed)
        return value + String(format: " [%.2f–%.2f]", r.lowerBound, r.upperBound)
    }

    /// The configurations the peers run over the full interval (diffusers' and k-diffusion's
    /// samplers with their Karras and `linspace` schedules), as our parity-tested equivalents.
    static let peerSolvers = RecommendedConfiguration.peerSolvers
    static let peerSpacings: [StepSpacing] = [.karras(rho: 7), .linspace]

    /// The smallest error of the peer equivalents within `nfe` evaluations on `comparison`'s draws,
    /// and which configuration reaches it.
    static func bestPeerEquivalent(on comparison: SamplerComparison, nfe: Int) -> (rmse: Double, label: String) {
        let best = peerEquivalents(on: comparison, nfe: nfe).min { $0.rmse < $1.rmse }
        return (best?.rmse ?? .infinity, best?.label ?? "")
    }

    /// One of our peer-equivalent configurations, as it ran on a comparison's draws.
    struct PeerEquivalent {
        var configuration: SamplerComparison.Configuration
        /// Infinite where it cannot run within the budget.
        var rmse: Double
        /// Each sample's error, for resampling (empty where it did not run).
        var errors: [Double]
        var label: String { configuration.label }
    }

    /// Every peer-equivalent configuration's error at `nfe` (infinite where it cannot run), with
    /// each sample's error for resampling.
    static func peerEquivalents(on comparison: SamplerComparison, nfe: Int) -> [PeerEquivalent] {
        peerSolvers.flatMap { solver in
            peerSpacings.map { spacing in
                let configuration = SamplerComparison.Configuration(solver: solver, spacing: spacing, nfe: nfe)
                let r = try? comparison.run(configuration)
                return PeerEquivalent(configuration: configuration, rmse: r?.rmse ?? .infinity, errors: r?.sampleErrors ?? [])
            }
        }
    }
}
