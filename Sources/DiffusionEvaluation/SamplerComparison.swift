import Foundation
import DiffusionCore
import DiffusionNeural

/// Runs solver × step schedule × NFE configurations from the same initial noise and measures each
/// against the ground-truth solution of the probability-flow ODE — the trade-off the seed papers
/// report (quality at a number of model evaluations), on the user's own model.
public final class SamplerComparison {
    /// One configuration: a solver by name, a spacing, and an evaluation budget.
    public struct Configuration: Sendable, Equatable {
        public var solver: String
        public var spacing: StepSpacing
        public var nfe: Int
        public var options: SolverCatalog.Options
        /// Searched per-step UniPC decisions that replace the solver's own rules (the run must have
        /// as many steps); `nil` runs the named solver.
        public var decisions: SolverDecisions?
        public init(solver: String, spacing: StepSpacing, nfe: Int, options: SolverCatalog.Options = .init(),
                    decisions: SolverDecisions? = nil) {
            self.solver = solver; self.spacing = spacing; self.nfe = nfe; self.options = options; self.decisions = decisions
        }
        /// The recommended configuration for `nfe` evaluations (`RecommendedConfiguration`).
        public static func recommended(nfe: Int) -> Configuration {
            let choice = RecommendedConfiguration.choice(forNFE: nfe)
            return Configuration(solver: choice.solver, spacing: choice.spacing, nfe: nfe, decisions: choice.decisions)
        }
        public var label: String { "\(solver) \(spacing.name)" + (decisions.map { " [\($0.summary)]" } ?? "") }
    }

    /// What one configuration achieved.
    public struct Result: Sendable, Codable, Equatable {
        public var solver: String
        public var schedule: String
        public var nfeBudget: Int
        /// Model evaluations actually used (counted).
        public var nfe: Int
        public var steps: Int
        /// RMSE of the endpoints to the ground truth, over all elements.
        public var rmse: Double
        /// The median over samples of `‖x − x_gt‖₂`.
        public var medianError: Double
        /// `‖x − x_gt‖₂` of each sample, in the order of the initial noise: `rmse² = Σ eᵢ²/(n·d)`,
        /// so a ratio of two configurations' errors can be resampled over the draws (bootstrap).
        public var sampleErrors: [Double]?
        /// For mixtures: the share of samples ending in the same component as the ground truth.
        public var modeAgreement: Double?
        /// Fréchet distance of the samples' first two moments to the model's data distribution
        /// (exact moments for mixtures).
        public var frechetToData: Double?
        /// Sliced 2-Wasserstein distance of the samples to samples drawn from the model (mixtures).
        public var slicedWassersteinToData: Double?
        /// Fréchet distance in the ``SamplerComparison/classifier``'s feature space to the data's
        /// feature statistics (the FID recipe with the model's own classifier).
        public var featureFrechetToData: Double?
        public var seconds: Double
    }

    /// The ground truth the configurations are measured against.
    public struct Reference: Sendable {
        public var endpoint: [Double]
        public var evaluations: Int
        public var errorEstimate: Double
        public var cached: Bool
        public var seconds: Double
        public var frechetToData: Double?
        public var slicedWassersteinToData: Double?
        public var featureFrechetToData: Double?
    }

    public let model: any DiffusionModel
    public let schedule: any NoiseSchedule
    /// Standard-normal initial noise `[B] + sampleShape`.
    public let noise: SampleTensor
    public var sigmaMin: Double?
    public var sigmaMax: Double?
    public var stepsOffset: Int
    public var groundTruth: GroundTruth
    /// The seed of the fresh noise stochastic samplers draw (their RMSE to the ODE solution
    /// measures how far the SDE's sample is from the ODE's; their distances to the data are the
    /// comparable figure).
    public var stepNoiseSeed: UInt64 = 0
    /// A classifier trained on the model's data, whose features give each configuration's
    /// ``Result/featureFrechetToData`` (needs its data statistics and at least two samples).
    public var classifier: FeatureClassifier?
    /// Whether results carry the distances to the data (mode agreement, Fréchet and sliced
    /// Wasserstein distances, feature FD); a search that reads only the RMSE turns them off.
    public var measuresDistances = true

    /// Ground truths by start level (`λ`): timestep spacings such as `leading` start below the
    /// schedule's largest noise level, and each start has its own exact endpoint.
    public private(set) var references: [Double: Reference] = [:]

    public init(model: any DiffusionModel, schedule: any NoiseSchedule, noise: SampleTensor, groundTruth: GroundTruth = GroundTruth(),
                sigmaMin: Double? = nil, sigmaMax: Double? = nil, stepsOffset: Int = 0) {
        self.model = model; self.schedule = schedule; self.noise = noise; self.groundTruth = groundTruth
        self.sigmaMin = sigmaMin; self.sigmaMax = sigmaMax; self.stepsOffset = stepsOffset
    }

    /// The initial state at `level`: the common noise scaled by the prior there.
    func initialSample(at level: NoiseLevel) -> SampleTensor { SampleTensor.initialSample(noise: noise, schedule: schedule, level: level) }

    /// The ground truth from `start` to `σ = 0`, with the distances of its samples to the data
    /// (the floor the solvers' distances are read against); computed once per start.
    public func reference(from start: NoiseLevel) throws -> Reference {
        if let known = references[start.lambda] { return known }
        let began = ContinuousClock.now
        let (solution, cached) = try groundTruth.solve(model: model, schedule: schedule, x: initialSample(at: start), from: start,
                                                       to: schedule.cleanLevel)
        var reference = Reference(endpoint: solution.endpoint, evaluations: solution.evaluations, errorEstimate: solution.errorEstimate,
                                  cached: cached, seconds: (ContinuousClock.now - began).seconds)
        if measuresDistances {
            (reference.frechetToData, reference.slicedWassersteinToData) = dataDistances(solution.endpoint)
            reference.featureFrechetToData = try featureDistance(solution.endpoint)
        }
        references[start.lambda] = reference
        return reference
    }

    /// The classifier's Fréchet distance of the endpoints `x` to the data, when there is a classifier.
    func featureDistance(_ x: [Double]) throws -> Double? {
        guard let classifier, classifier.dataStatistics != nil, noise.batchSize >= 2 else { return nil }
        return try classifier.frechetDistance(of: SampleTensor(shape: noise.shape, scalars: x.map(Float.init)))
    }

    func dataDistances(_ x: [Double]) -> (Double?, Double?) {
        guard let mixture = model as? GaussianMixture, x.count / mixture.dimension >= 2 else { return (nil, nil) }
        let d = mixture.dimension
        let (m, c) = Metrics.moments(x, dimension: d)
        let fd = Metrics.frechetDistance(mean1: m, covariance1: c, mean2: mixture.mean, covariance2: mixture.covariance)
        let data = mixture.samples(count: x.count / d, seed: 12345)
        return (fd, Metrics.slicedWasserstein(x, data, dimension: d))
    }

    /// Runs one configuration against the ground truth from its grid's start.
    public func run(_ configuration: Configuration) throws -> Result {
        let solver = SolverCatalog.solver(try SolverCatalog.solver(named: configuration.solver, options: configuration.options), on: schedule)
        return try run(solver, configuration: configuration)
    }

    private func run<S: Solver>(_ solver: S, configuration c: Configuration) throws -> Result {
        let stepSchedule = { (steps: Int) in
            try StepSchedule(spacing: c.spacing, steps: steps, sigmaMin: self.sigmaMin, sigmaMax: self.sigmaMax, final: .zero,
                             stepsOffset: self.stepsOffset).grid(on: self.schedule)
        }
        guard let (_, grid) = try solver.steps(forBudget: c.nfe, grid: stepSchedule) else {
            throw SamplingError.invalidConfiguration("\(c.solver) cannot run within \(c.nfe) model evaluations")
        }
        if let decisions = c.decisions {
            guard decisions.steps == grid.steps else {
                throw SamplingError.invalidConfiguration("\(c.label): decisions for \(decisions.steps) steps, \(c.nfe) evaluations give \(grid.steps)")
            }
            let name = c.solver + " [\(decisions.summary)]"
            return try run(try decisions.solver(), grid: grid, name: name, scheduleName: c.spacing.name, nfeBudget: c.nfe)
        }
        return try run(solver, grid: try solver.adaptedGrid(grid, schedule: schedule), name: c.solver, scheduleName: c.spacing.name, nfeBudget: c.nfe)
    }

    /// Runs what `diffuse sample` without a named solver runs for `nfe` evaluations of this model
    /// and this comparison's sigma range (`SamplingResolver`): the model's own tuned
    /// configuration for that budget when it carries one, else the table's choice.
    public func runRecommended(nfe: Int) throws -> (result: Result, recommendation: RecommendedConfiguration.Recommendation) {
        let plan = try SamplingResolver.resolve(SamplingRequest(nfe: nfe, sigmaMin: sigmaMin, sigmaMax: sigmaMax), model: model,
                                                schedule: schedule, defaultSpacing: "karras", stepsOffset: stepsOffset)
        switch plan.reason {
        case let .modelTuning(configuration, tuning, _):
            return (try run(plan.solver, grid: plan.grid, name: "tuned", scheduleName: "tuned", nfeBudget: nfe), .tuned(configuration, tuning))
        case let .recommendedTable(choice, _, _):
            return (try run(plan.solver, grid: plan.grid, name: plan.label, scheduleName: choice.spacing.name, nfeBudget: nfe), .table(choice))
        case .namedSolver, .tunedFile:
            throw SamplingError.invalidConfiguration("the recommended configuration for \(nfe) NFE resolved to \(plan.label)")
        }
    }

    /// Runs `solver` on an explicit `grid` (a searched or tuned schedule) against the ground truth
    /// from the grid's start; `name`, `scheduleName` and `nfeBudget` label the result.
    public func run<S: Solver>(_ solver: S, grid: TimeGrid, name: String, scheduleName: String, nfeBudget: Int) throws -> Result {
        let reference = try reference(from: grid[0])
        let began = ContinuousClock.now
        let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: initialSample(at: grid[0]),
                                  noise: SeededNoise(seed: stepNoiseSeed))
        let out = try run.finish().scalars.map(Double.init)
        let seconds = (ContinuousClock.now - began).seconds
        let d = noise.sampleCount
        let errors = Metrics.perSampleErrors(out, reference.endpoint, dimension: d)
        var result = Result(solver: name, schedule: scheduleName, nfeBudget: nfeBudget, nfe: run.evaluations, steps: grid.steps,
                            rmse: Metrics.rmse(out, reference.endpoint), medianError: Metrics.median(errors), sampleErrors: errors,
                            seconds: seconds)
        guard measuresDistances else { return result }
        if let mixture = model as? GaussianMixture {
            result.modeAgreement = Metrics.modeAgreement(out, reference.endpoint, mixture: mixture)
        }
        (result.frechetToData, result.slicedWassersteinToData) = dataDistances(out)
        result.featureFrechetToData = try featureDistance(out)
        return result
    }
}

extension GaussianMixture {
    /// `count` samples from the data distribution, seeded (component by weight, then Gaussian).
    public func samples(count: Int, seed: UInt64) -> [Double] {
        let d = dimension
        let noise = SeededNoise(seed: seed).initialNoise(shape: [count, d + 1])
        var cumulative: [Double] = []
        var total = 0.0
        for w in weights { total += w; cumulative.append(total) }
        var out = [Double](repeating: 0, count: count * d)
        for s in 0..<count {
            // A uniform from the extra normal coordinate via the normal CDF.
            let z = Double(noise.scalars[s * (d + 1) + d])
            let u = 0.5 * Foundation.erfc(-z / 2.0.squareRoot())
            let c = cumulative.firstIndex { $0 >= u * total } ?? (componentCount - 1)
            for j in 0..<d { out[s * d + j] = means[c * d + j] + stds[c * d + j] * Double(noise.scalars[s * (d + 1) + j]) }
        }
        return out
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
