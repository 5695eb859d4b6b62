import RealModule

/// The noise-level classifier of Denoising MCMC: `log p(σₖ | x)` up to a constant, over a grid of
/// variance-exploding noise levels, for points in the VE frame (`x = x₀ + σ·ε`).
public protocol NoiseLevelPosterior: Sendable {
    /// For each of the `batch` points in `x` (row-major), `log p(σₖ | x) + c` for every `σₖ` of
    /// `sigmas`, as `batch × sigmas.count` values.
    func logNoiseLevelPosterior(_ x: [Double], batch: Int, sigmas: [Double]) -> [Double]
}

extension GaussianMixture: NoiseLevelPosterior {
    /// Exact for a uniform prior over the grid (the official classifier is trained on uniformly
    /// drawn grid indices): `log p(σₖ | x) = log p_σₖ(x) + c`, with `p_σ` the mixture convolved
    /// with `N(0, σ²I)`.
    public func logNoiseLevelPosterior(_ x: [Double], batch: Int, sigmas: [Double]) -> [Double] {
        let d = dimension, k = componentCount
        var out = [Double](repeating: 0, count: batch * sigmas.count)
        var terms = [Double](repeating: 0, count: k)
        for (level, sigma) in sigmas.enumerated() {
            let (invV, _, offset) = levelTables(alpha: 1, sigmaSquared: sigma * sigma, mask: nil)
            for b in 0..<batch {
                var best = -Double.infinity
                for c in 0..<k {
                    var q = 0.0
                    for j in 0..<d {
                        let r = x[b * d + j] - means[c * d + j]
                        q += r * r * invV[c * d + j]
                    }
                    terms[c] = offset[c] - 0.5 * q
                    best = Swift.max(best, terms[c])
                }
                var sum = 0.0
                for c in 0..<k { sum += Double.exp(terms[c] - best) }
                out[b * sigmas.count + level] = best + Double.log(sum)
            }
        }
        return out
    }
}

/// Denoising MCMC (Kim & Ye, ICML 2023, official code `1202kbs/DMCMC`, `Sampling Demo.ipynb`), its
/// DLG variant: a Gibbs chain on the product space of the sample `x` and the noise level `σ`
/// (VE frame), then a diffusion sampler from the lowest level reached.
/// ```
/// x ← x + (η/2)·∇ₓ log p_σ(x) + √η·z,   ∇ₓ log p_σ(x) = (x̂₀(x, σ) − x)/σ²     (x ~ p(x | σ), Langevin)
/// σ ← argmaxₖ p(σₖ | x),   σₖ = σ_min·(σ_max/σ_min)^{tₖ}, tₖ = linspace(1, 10⁻³, K)   (σ from the noise classifier)
/// ```
/// The official code takes the classifier's mode; ``Options/LevelChoice/sample`` draws
/// `σ ~ p(σ | x)` instead, the exact Gibbs step of the paper's analysis.
/// Each output sample: `langevinSteps` sweeps keeping the visited `(x, σ)` of smallest `σ`, then
/// Karras et al.'s Algorithm 2 (Heun with churn, ``Heun``) over `denoisePoints` levels on a
/// `ρ = 7` ramp from that `σ` to `σ_min`, then `0`, then Tweedie's step `x̂₀(x, σ_tweedie)`. The
/// chains persist across `rounds` (one output per chain per round). They start as the official
/// CIFAR-10 setting does: Algorithm 2 from `σ_max`, plus `initialNoise·z`, `warmupSteps` Langevin
/// steps of size `warmupStepSize`, then `warmupSteps` of size `η`.
///
/// The chain lets a few-step sampler start from a sample already near the data manifold, at a
/// noise level that fits it, instead of from pure noise.
public struct DenoisingMCMC: Sendable {
    /// The sampler's parameters, with the official CIFAR-10 defaults.
    public struct Options: Sendable, Equatable {
        /// How the chain's level follows from the classifier.
        public enum LevelChoice: String, Sendable { case mode, sample }
        /// The official code's argmax (`mode`), or a draw from `p(σ | x)` (`sample`).
        public var levelChoice = LevelChoice.mode
        /// `K`, the number of noise levels of the classifier's grid.
        public var levels = 1000
        /// The lowest level of the grid and of the denoising ramp (VE sigma).
        public var sigmaMin = 0.01
        /// The highest level (VE sigma); `nil` for the schedule's largest.
        public var sigmaMax: Double?
        /// Gibbs sweeps per output sample (the official `skp`).
        public var langevinSteps = 10
        /// The Langevin step size `η`.
        public var stepSize = 0.8
        /// Output samples per chain.
        public var rounds = 1
        /// Langevin steps at each of the two warm-up step sizes.
        public var warmupSteps = 10
        public var warmupStepSize = 0.5
        /// The noise added to the initial denoised sample before the chain starts.
        public var initialNoise = 0.5
        /// `N` of the initial Algorithm-2 run from `σ_max`.
        public var initialPoints = 20
        /// `N`, the levels of the denoising ramp including the final `0` (`2N − 3` evaluations).
        public var denoisePoints = 20
        /// Algorithm 2's churn: `S_churn 80`, `S_tmin 0.05`, `S_tmax 1`, `S_noise 1.007`.
        public var churn = Churn(sChurn: 80, sTmin: 0.05, sTmax: 1, sNoise: 1.007)
        /// The level of the final Tweedie step; 0 skips it.
        public var tweedieSigma = 0.01

        public init() {}

        /// Parses `--dmcmc KEY=VALUE,...` with keys `levels`, `sigma-min`, `sigma-max`, `steps`,
        /// `eta`, `rounds`, `warmup`, `warmup-eta`, `init-noise`, `init-points`, `points`, `churn`, `tweedie`, `level` (`mode` or `sample`).
        public init(parsing text: String) throws {
            self.init()
            for item in text.split(separator: ",") {
                let pair = item.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2 else { throw Self.invalid("expects KEY=VALUE pairs, got '\(item)'") }
                let (key, value) = (pair[0], pair[1])
                func number() throws -> Double {
                    guard let v = Double(value), v.isFinite else { throw Self.invalid("\(key) needs a number, got '\(value)'") }
                    return v
                }
                func count() throws -> Int {
                    guard let v = Int(value) else { throw Self.invalid("\(key) needs an integer, got '\(value)'") }
                    return v
                }
                switch key {
                case "levels": levels = try count()
                case "sigma-min": sigmaMin = try number()
                case "sigma-max": sigmaMax = try number()
                case "steps": langevinSteps = try count()
                case "eta": stepSize = try number()
                case "rounds": rounds = try count()
                case "warmup": warmupSteps = try count()
                case "warmup-eta": warmupStepSize = try number()
                case "init-noise": initialNoise = try number()
                case "init-points": initialPoints = try count()
                case "points": denoisePoints = try count()
                case "churn": churn.sChurn = try number()
                case "tweedie": tweedieSigma = try number()
                case "level":
                    guard let choice = LevelChoice(rawValue: value) else { throw Self.invalid("level is mode or sample, got '\(value)'") }
                    levelChoice = choice
                default:
                    throw Self.invalid("unknown key '\(key)' (known: levels, sigma-min, sigma-max, steps, eta, rounds, warmup, warmup-eta, init-noise, init-points, points, churn, tweedie, level)")
                }
            }
            try validate()
        }

        /// Refuses values the sampler cannot honour, in one line.
        public func validate() throws {
            guard levels >= 2 else { throw Self.invalid("levels must be at least 2, got \(levels)") }
            guard sigmaMin > 0 else { throw Self.invalid("sigma-min must be positive, got \(sigmaMin)") }
            if let sigmaMax, !(sigmaMax > sigmaMin && sigmaMax.isFinite) {
                throw Self.invalid("sigma-max must exceed sigma-min (\(sigmaMin)), got \(sigmaMax)")
            }
            guard langevinSteps >= 0, warmupSteps >= 0 else { throw Self.invalid("steps and warmup must be >= 0") }
            guard stepSize > 0, warmupStepSize > 0 else { throw Self.invalid("eta and warmup-eta must be positive") }
            guard rounds >= 1 else { throw Self.invalid("rounds must be at least 1, got \(rounds)") }
            guard initialNoise >= 0 else { throw Self.invalid("init-noise must be >= 0, got \(initialNoise)") }
            guard denoisePoints >= 2, initialPoints >= 2 else {
                throw Self.invalid("points and init-points must be at least 2, got \(denoisePoints), \(initialPoints)")
            }
            guard churn.sChurn >= 0 else { throw Self.invalid("churn must be >= 0, got \(churn.sChurn)") }
            guard tweedieSigma >= 0 else { throw Self.invalid("tweedie must be >= 0, got \(tweedieSigma)") }
        }

        static func invalid(_ message: String) -> SamplingError { .invalidConfiguration("--dmcmc \(message)") }
    }

    /// The outputs of a run.
    public struct Result: Sendable {
        /// `chains × rounds` clean samples, round-major (all chains of round 1 first).
        public var samples: SampleTensor
        /// The VE level each output was denoised from.
        public var startSigmas: [Double]
        /// Model evaluations per chain, warm-up included.
        public var evaluationsPerChain: Int
        /// Model evaluations per output sample (``evaluationsPerChain`` / rounds).
        public var evaluationsPerSample: Double
    }

    public let options: Options

    public init(options: Options = Options()) throws {
        try options.validate()
        self.options = options
    }

    /// The classifier's grid, largest first.
    public func sigmas(maximum: Double) -> [Double] {
        let k = options.levels
        return (0..<k).map { i in
            let t = 1 + Double(i) * (1e-3 - 1) / Double(k - 1)
            return options.sigmaMin * Double.pow(maximum / options.sigmaMin, t)
        }
    }

    /// Runs `chains` chains on `model` (trained on `schedule`), with `posterior` as the noise
    /// classifier and fresh noise from `seed`.
    public func run(model: any DiffusionModel, posterior: any NoiseLevelPosterior, schedule: any NoiseSchedule,
                    chains: Int, seed: UInt64) throws -> Result {
        guard schedule.frame != .rectifiedFlow else {
            throw SamplingError.invalidConfiguration("dmcmc runs Langevin in the variance-exploding frame; it needs a VP or VE schedule, not \(schedule.name)")
        }
        let lowest = schedule.displaySigma(schedule.level(at: schedule.timeRange.lowerBound))
        let highest = schedule.displaySigma(schedule.level(at: schedule.timeRange.upperBound))
        let top = options.sigmaMax ?? highest
        for (name, sigma) in [("sigma-min", options.sigmaMin), ("sigma-max", top)] + (options.tweedieSigma > 0 ? [("tweedie", options.tweedieSigma)] : [])
        where sigma < lowest * (1 - 1e-9) || sigma > highest * (1 + 1e-9) {
            throw SamplingError.invalidConfiguration(
                "--dmcmc \(name) \(sigma) lies outside the schedule's noise levels [\(lowest), \(highest)] (VE sigma)")
        }
        guard chains >= 1 else { throw SamplingError.invalidConfiguration("dmcmc needs at least one chain") }
        let grid = sigmas(maximum: top)
        var chain = Chain(model: model, posterior: posterior, schedule: schedule, grid: grid, noise: SeededNoise(seed: seed),
                          choice: options.levelChoice, draws: CategoricalDraws(seed: seed),
                          x: SeededNoise(seed: seed).initialNoise(shape: [chains] + model.sampleShape))
        chain.x.scale(by: top)
        // Start: Algorithm 2 from the top, fresh noise, the classifier, then Langevin warm-up.
        let started = try denoise(chain.x, from: Array(repeating: top, count: chains), points: options.initialPoints, chain: chain, seed: seed &+ 1)
        chain.x = started.x
        var z = SampleTensor(zeros: chain.x.shape)
        try chain.noise.fill(&z, step: 0)
        chain.x.update(scale: 1, (options.initialNoise, z))
        chain.level = chain.classify(chain.x)
        for size in [options.warmupStepSize, options.stepSize] {
            for _ in 0..<options.warmupSteps { try chain.langevin(stepSize: size) }
        }
        var outputs: [Float] = [], starts: [Double] = []
        var roundEvaluations = 0
        for round in 0..<options.rounds {
            var best = chain.x, bestLevel = chain.level
            for _ in 0..<options.langevinSteps {
                try chain.langevin(stepSize: options.stepSize)
                for b in 0..<chains where chain.level[b] > bestLevel[b] {
                    bestLevel[b] = chain.level[b]
                    best.scalars.replaceSubrange(b * best.sampleCount..<(b + 1) * best.sampleCount, with: chain.x.sample(b))
                }
            }
            let sigmasReached = bestLevel.map { grid[$0] }
            var (clean, perSample) = try denoise(best, from: sigmasReached, points: options.denoisePoints, chain: chain, seed: seed &+ 2 &+ UInt64(round))
            if options.tweedieSigma > 0 {
                var prediction = ModelPrediction(like: clean)
                try chain.denoiser.predict(clean.scaled(by: schedule.level(sigma: options.tweedieSigma).alpha),
                                           at: schedule.level(sigma: options.tweedieSigma), into: &prediction, needs: .data)
                clean = prediction.data
            }
            if round == 0 { roundEvaluations = perSample }
            outputs += clean.scalars
            starts += sigmasReached
        }
        let perChain = chain.denoiser.evaluations + started.evaluations + options.rounds * roundEvaluations
        return Result(samples: SampleTensor(shape: [chains * options.rounds] + model.sampleShape, scalars: outputs),
                      startSigmas: starts, evaluationsPerChain: perChain,
                      evaluationsPerSample: Double(perChain) / Double(options.rounds))
    }

    /// Algorithm 2 over `points` levels from each sample's VE level `from` (VE-frame `x`) to 0, one run per distinct
    /// level; returns the clean samples and the evaluations one sample costs.
    private func denoise(_ x: SampleTensor, from levels: [Double], points: Int, chain: Chain, seed: UInt64) throws -> (x: SampleTensor, evaluations: Int) {
        var out = x
        var evaluations = 0
        let size = x.sampleCount
        var groups: [(sigma: Double, members: [Int])] = []
        for (b, s) in levels.enumerated() {
            if let g = groups.firstIndex(where: { $0.sigma == s }) { groups[g].members.append(b) } else { groups.append((s, [b])) }
        }
        for (g, group) in groups.enumerated() {
            let positive = points - 1   // the ramp's levels before the final 0
            let ramp = positive == 1 || group.sigma <= options.sigmaMin ? [group.sigma]
                : (0..<positive).map { KarrasRamp.sigma(at: Double($0) / Double(positive - 1), hi: group.sigma, lo: options.sigmaMin) }
            let grid = try StepSchedule.grid(sigmas: ramp + [0], on: chain.schedule)
            var part = SampleTensor(zeros: [group.members.count] + x.sampleShape)
            for (j, b) in group.members.enumerated() { part.scalars[j * size..<(j + 1) * size] = x.sample(b) }
            part.scale(by: grid[0].alpha)
            let run = try SamplingRun(model: chain.model, schedule: chain.schedule, solver: Heun(churn: options.churn), grid: grid,
                                      initialSample: part, noise: SeededNoise(seed: seed &+ UInt64(g) &* 0x9E37_79B9))
            let clean = try run.finish()
            evaluations = Swift.max(evaluations, run.evaluations)
            for (j, b) in group.members.enumerated() {
                out.scalars[b * size..<(b + 1) * size] = clean.scalars[j * size..<(j + 1) * size]
            }
        }
        return (out, evaluations)
    }

    /// The chain state `(x, σ)` and what a Gibbs sweep needs.
    private struct Chain {
        let model: any DiffusionModel
        let posterior: any NoiseLevelPosterior
        let schedule: any NoiseSchedule
        let grid: [Double]
        let noise: SeededNoise
        let choice: Options.LevelChoice
        let categorical: CategoricalDraws
        let denoiser: Denoiser
        /// The VE-frame samples.
        var x: SampleTensor
        /// Each chain's index into `grid`.
        var level: [Int]
        private var draws = 0

        init(model: any DiffusionModel, posterior: any NoiseLevelPosterior, schedule: any NoiseSchedule, grid: [Double],
             noise: SeededNoise, choice: Options.LevelChoice, draws: CategoricalDraws, x: SampleTensor) {
            self.model = model; self.posterior = posterior; self.schedule = schedule; self.grid = grid; self.noise = noise
            self.choice = choice; self.categorical = draws
            self.denoiser = Denoiser(model: model, schedule: schedule)
            self.x = x
            self.level = Array(repeating: 0, count: x.batchSize)
        }

        /// `argmaxₖ p(σₖ | x)` per sample (the first on ties, the larger σ), or a draw from it.
        func classify(_ x: SampleTensor) -> [Int] {
            let k = grid.count
            let logits = posterior.logNoiseLevelPosterior(x.scalars.map(Double.init), batch: x.batchSize, sigmas: grid)
            return (0..<x.batchSize).map { b in
                if choice == .sample { return categorical.draw(logits[b * k..<(b + 1) * k], group: b, step: draws)[0] }
                var best = 0
                for i in 1..<k where logits[b * k + i] > logits[b * k + best] { best = i }
                return best
            }
        }

        /// One Gibbs sweep: a Langevin step of `x` at each chain's level, then `σ` from the classifier.
        mutating func langevin(stepSize eta: Double) throws {
            let levels = level.map { schedule.level(sigma: grid[$0]) }
            var input = x
            let size = x.sampleCount
            for (b, l) in levels.enumerated() {
                for i in b * size..<(b + 1) * size { input.scalars[i] = Float(l.alpha * Double(x.scalars[i])) }
            }
            var prediction = ModelPrediction(like: x)
            try denoiser.predict(input, atEach: levels, into: &prediction, needs: .data)
            var z = SampleTensor(zeros: x.shape)
            draws += 1
            try noise.fill(&z, step: draws)
            let root = eta.squareRoot()
            for b in 0..<x.batchSize {
                let s2 = grid[level[b]] * grid[level[b]]
                for i in b * size..<(b + 1) * size {
                    let xi = Double(x.scalars[i])
                    let score = (Double(prediction.data.scalars[i]) - xi) / s2
                    x.scalars[i] = Float(xi + 0.5 * eta * score + root * Double(z.scalars[i]))
                }
            }
            level = classify(x)
        }
    }
}

extension SampleTensor {
    /// A copy with every value multiplied by `factor`.
    func scaled(by factor: Double) -> SampleTensor {
        var copy = self
        copy.scale(by: factor)
        return copy
    }
}
