import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// Denoising MCMC on an exact mixture, whose noise-level posterior is closed form
/// (``GaussianMixture/logNoiseLevelPosterior(_:batch:sigmas:)``): the samples must pass the same
/// mean / covariance / component-share test as exact draws (``ExactFlowMapTests``: every statistic
/// within 4 standard errors), and a deliberately broken variant must fail it.
@Suite("Denoising MCMC")
struct DenoisingMCMCTests {
    static let mixture = ExactFlowMapTests.mixture
    static let schedule = ExactFlowMapTests.schedule

    /// The official defaults but for the step size: Langevin at level σ is stable for
    /// `η < 2(σ² + s²)` with `s = 0.15` the mixture's narrowest spread, so `η = 0.02` is stable at
    /// every level (the official 0.8 is for 3072-D CIFAR-10, where the chain never reaches small σ).
    /// 100 classifier levels instead of 1000 keep the debug run short.
    static func options(_ edit: (inout DenoisingMCMC.Options) -> Void = { _ in }) -> DenoisingMCMC.Options {
        var o = DenoisingMCMC.Options()
        o.levels = 100
        o.stepSize = 0.02
        o.warmupStepSize = 0.02
        edit(&o)
        return o
    }

    @Test("DMCMC samples have the mixture's mean, covariance and component shares; a final Tweedie step at sigma 0.5 breaks them")
    func distribution() throws {
        let result = try DenoisingMCMC(options: Self.options()).run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule,
                                                                    chains: 1200, seed: 3)
        #expect(result.samples.shape == [1200, 2] && result.samples.isFinite)
        let worst = ExactFlowMapTests.worstDeviation(result.samples)
        #expect(worst.z < 4, "\(worst.what)")
        // The same chains, but the last step denoises as if the samples still carried noise 0.5:
        // the output shrinks towards the component means.
        let broken = try DenoisingMCMC(options: Self.options { $0.tweedieSigma = 0.5 })
            .run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule, chains: 1200, seed: 3)
        let wrong = ExactFlowMapTests.worstDeviation(broken.samples)
        print("mcmc figure: worst deviation \(String(format: "%.1f", worst.z)) SE (\(worst.what)); broken variant \(String(format: "%.1f", wrong.z)) SE (\(wrong.what))")
        #expect(wrong.z > 4, "the broken variant passed: \(wrong.what)")
    }

    @Test("with sigma drawn from the classifier (level=sample) instead of its mode, the samples pass the same test")
    func sampledLevels() throws {
        let result = try DenoisingMCMC(options: Self.options { $0.levelChoice = .sample })
            .run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule, chains: 1200, seed: 4)
        let worst = ExactFlowMapTests.worstDeviation(result.samples)
        print("mcmc figure: level=sample worst deviation \(String(format: "%.1f", worst.z)) SE (\(worst.what)); median start sigma \(result.startSigmas.sorted()[600])")
        #expect(worst.z < 4, "\(worst.what)")
        let mode = try DenoisingMCMC(options: Self.options()).run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule,
                                                                  chains: 8, seed: 4)
        #expect(mode.samples != (try DenoisingMCMC(options: Self.options { $0.levelChoice = .sample })
            .run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule, chains: 8, seed: 4)).samples)
    }

    @Test("the evaluation count follows the algorithm, and the same seed gives the same samples")
    func countsAndDeterminism() throws {
        let o = Self.options { $0.rounds = 3; $0.langevinSteps = 4; $0.warmupSteps = 2; $0.denoisePoints = 5; $0.initialPoints = 6; $0.levels = 40 }
        let sampler = try DenoisingMCMC(options: o)
        let a = try sampler.run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule, chains: 16, seed: 9)
        let b = try sampler.run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule, chains: 16, seed: 9)
        #expect(a.samples == b.samples && a.startSigmas == b.startSigmas)
        // Algorithm 2 over N levels costs 2N − 3; warm-up 2 × 2; each round 4 sweeps, 2·5 − 3, and Tweedie.
        #expect(a.evaluationsPerChain == (2 * 6 - 3) + 2 * 2 + 3 * (4 + (2 * 5 - 3) + 1))
        #expect(a.evaluationsPerSample == Double(a.evaluationsPerChain) / 3)
        let c = try sampler.run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule, chains: 16, seed: 10)
        #expect(c.samples != a.samples)
    }

    @Test("--dmcmc values are parsed in one place and bad ones refused in one line")
    func parsing() throws {
        let o = try DenoisingMCMC.Options(parsing: "steps=4, eta=0.05,rounds=3,points=8,levels=100,tweedie=0,level=sample")
        #expect(o.langevinSteps == 4 && o.stepSize == 0.05 && o.rounds == 3 && o.denoisePoints == 8 && o.levels == 100 && o.tweedieSigma == 0)
        #expect(o.levelChoice == .sample)
        #expect(try DenoisingMCMC.Options(parsing: "") == DenoisingMCMC.Options())
        for text in ["steps", "eta=x", "eta=-1", "rounds=0", "points=1", "levels=1", "sigma-max=0.001", "colour=3", "steps=2.5", "eta=nan", "level=max"] {
            #expect { _ = try DenoisingMCMC.Options(parsing: text) } throws: { error in
                let line = "\(error)"
                return line.hasPrefix("--dmcmc") && !line.contains("\n")
            }
        }
        var tooHigh = Self.options()
        tooHigh.sigmaMax = 500
        #expect {
            _ = try DenoisingMCMC(options: tooHigh).run(model: Self.mixture, posterior: Self.mixture, schedule: Self.schedule, chains: 2, seed: 1)
        } throws: { "\($0)".contains("sigma-max 500.0 lies outside") }
        #expect {
            _ = try DenoisingMCMC(options: Self.options()).run(model: Self.mixture, posterior: Self.mixture, schedule: RectifiedFlowSchedule(),
                                                               chains: 2, seed: 1)
        } throws: { "\($0)".contains("VP or VE schedule") }
    }
}
