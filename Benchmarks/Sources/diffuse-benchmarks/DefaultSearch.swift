import DiffusionSolvers
import Foundation

/// Searches the step placement of the recommended configuration (``RecommendedConfiguration``):
/// one Karras ramp per NFE budget and solver whose interior points are moved, by the
/// evolutionary search of ``EvolutionarySearch`` (time steps only), to minimize the worst ratio,
/// over the three benchmark models, of the solver's error to the best peer-equivalent error on the
/// same noise. The result is a ``KarrasRamp``: the searched points as fractions of the Karras ramp
/// (`ρ = 7`) between the schedule's own σ_max and σ_min, so it means the same grid on any schedule,
/// the way Align Your Steps' published levels do for the schedule they were searched on.
///
/// The search never sees the benchmark noise (`Benchmarks/peers/noise-*.npy`, numpy draws) nor the
/// suite's held-out draws (`SeededNoise` seeds 9001–9003): it tunes on `SeededNoise(seed: 7001)`,
/// re-ranks its best candidates and the seed spacings on `SeededNoise(seed: 7002)`, and the suite
/// then measures the winner on both of the others.
///
/// The searches behind the committed ramps and solver schedules, with their settings and figures,
/// are in `docs/DEFAULT-CONFIGURATION.md`.
///
/// With `--decisions` it searches one UniPC solver schedule instead: the time steps together with
/// each step's order, prediction type and corrector, and the B(h) variant (USF, Liu et al. 2024),
/// seeded from `uni_pc` and `uni_pc_bh2` on the seed spacings.
///
/// With `--network NAME[,NAME]` shipped networks (`digits`, `photos`) are scored as further
/// models, each on its own schedule: the searched levels are carried over by their place on the
/// Karras ramp, as a ``KarrasRamp`` is, and the reference is the network's best peer-equivalent on
/// its own draws (with `--network-against-default`, the error of the table's current choice there,
/// which is what a network without tuned configurations of its own gets).
///
/// Usage: `swift run -c release diffuse-benchmarks --search-default --nfe 5 --solvers uni_pc,deis
/// [--decisions [--data-prediction] [--fixed-steps NAME]] [--network digits,photos [--network-samples 64] [--network-against-default]]
/// [--generations 15] [--population 40] [--samples 128] [--validation-samples 256]`.
struct DefaultSearch {
    /// Progress on standard error, which is not buffered (a search runs for minutes).
    func print(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    struct Model { var name: String; var tuning: SamplerComparison; var validation: SamplerComparison
        /// A network's own schedule, onto which the searched levels are carried by their place on
        /// the Karras ramp (``carry(_:from:to:)``); `nil` for the mixtures, which share the search's.
        var ownSchedule: (any NoiseSchedule)? = nil
        /// The best peer-equivalent error on each noise set.
        var tuningReference = 0.0, validationReference = 0.0 }

    let root: URL
    var nfe = 5
    var solvers = ["uni_pc", "uni_pc_bh2", "deis", "dpmpp_3m", "ipndm", "plms"]
    var generations = 15
    var population = 40
    var samples = 128
    var validationSamples = 256
    var finePoints = 200
    /// Search UniPC's per-step decisions (orders, prediction types, correctors, variant) with the
    /// time steps (USF), seeded from `uni_pc` and `uni_pc_bh2`, instead of the steps of each solver.
    var decisions = false
    /// With `decisions`: keep data prediction on every step (`--data-prediction`).
    var dataPredictionOnly = false
    /// With `decisions`: search the decisions only, on these steps (`--fixed-steps NAME`).
    var fixedSteps: StepSpacing?
    /// Shipped networks scored next to the mixtures (`--network digits,photos`), each on its own
    /// draws (`SeededNoise` 7001 and 7002, `--network-samples` each) against its best peer-equivalent.
    var networks: [String] = []
    var networkSamples = 64
    /// With `networks`: divide each one's error by the table's current choice's (`--network-against-default`)
    /// instead of the best peer-equivalent's, so the network only bars candidates worse than that
    /// choice there.
    var networkAgainstDefault = false

    init(root: URL, arguments: [String]) throws {
        self.root = root
        func value(_ flag: String) -> String? {
            guard let i = arguments.firstIndex(of: flag), i + 1 < arguments.count else { return nil }
            return arguments[i + 1]
        }
        func count(_ flag: String, _ current: Int) throws -> Int {
            guard let v = value(flag) else { return current }
            guard let n = Int(v), n >= 1 else { throw SamplingError.invalidConfiguration("\(flag) must be a positive integer, got '\(v)'") }
            return n
        }
        nfe = try count("--nfe", nfe)
        generations = try count("--generations", generations)
        population = try count("--population", population)
        samples = try count("--samples", samples)
        validationSamples = try count("--validation-samples", validationSamples)
        finePoints = try count("--fine-points", finePoints)
        networkSamples = try count("--network-samples", networkSamples)
        networks = value("--network").map { $0.split(separator: ",").map(String.init) } ?? []
        networkAgainstDefault = arguments.contains("--network-against-default")
        decisions = arguments.contains("--decisions")
        dataPredictionOnly = arguments.contains("--data-prediction")
        if let name = value("--fixed-steps") {
            guard let spacing = StepSpacing(name: name) else { throw SamplingError.invalidConfiguration("--fixed-steps: unknown step schedule '\(name)'") }
            fixedSteps = spacing
        }
        if let named = try Benchmarks.solverNames(arguments) { solvers = named }
    }

    func run() throws {
        let schedule = try BenchmarkModels.schedule()
        let cache = BenchmarkModels.groundTruthCache(root: root)
        var models = try BenchmarkModels.mixtures(root: root).map {
            Model(name: $0.0, tuning: BenchmarkModels.comparison($0.1, schedule: schedule, seed: 7001, count: samples, cache: cache),
                  validation: BenchmarkModels.comparison($0.1, schedule: schedule, seed: 7002, count: validationSamples, cache: cache))
        }
        for network in networks {
            guard let (tuning, own) = try BenchmarkModels.networkComparison(network, seed: 7001, count: networkSamples, cache: cache),
                  let (validation, _) = try BenchmarkModels.networkComparison(network, seed: 7002, count: networkSamples, cache: cache) else {
                throw SamplingError.invalidConfiguration("--network: '\(network)' is not a shipped network")
            }
            models.append(Model(name: network, tuning: tuning, validation: validation, ownSchedule: own))
        }
        for i in models.indices {
            func reference(_ c: SamplerComparison) -> (rmse: Double, label: String) {
                guard networkAgainstDefault && models[i].ownSchedule != nil else { return BenchmarkModels.bestPeerEquivalent(on: c, nfe: nfe) }
                let r = try? c.run(.recommended(nfe: nfe))
                return (r?.rmse ?? .infinity, "the table's choice " + RecommendedConfiguration.choice(forNFE: nfe).label)
            }
            let t = reference(models[i].tuning), v = reference(models[i].validation)
            models[i].tuningReference = t.rmse; models[i].validationReference = v.rmse
            print(String(format: "%@ NFE %d: reference %@ %.4e (tuning), %@ %.4e (validation)", models[i].name, nfe, t.label, t.rmse, v.label, v.rmse))
        }
        let fine = try StepSchedule(spacing: .karras(rho: 7), steps: finePoints).grid(on: schedule)
        let range = schedule.timeRange
        let hi = schedule.displaySigma(schedule.level(at: range.upperBound)), lo = schedule.displaySigma(schedule.level(at: range.lowerBound))
        /// The ratio of `solver`'s error on the levels `sigmas` to the best peer-equivalent error, per model.
        func solverRatios<S: Solver>(_ solver: S, _ sigmas: [Double], name: String, validation: Bool) -> [Double] {
            models.map { m in
                let c = validation ? m.validation : m.tuning
                guard let grid = try? m.ownSchedule.map({ try Self.carry(sigmas, from: schedule, to: $0) }) ?? StepSchedule.grid(sigmas: sigmas, on: schedule),
                      let r = try? c.run(solver, grid: grid, name: name, scheduleName: "searched", nfeBudget: nfe), r.nfe <= nfe else { return .infinity }
                return r.rmse / (validation ? m.validationReference : m.tuningReference)
            }
        }
        func scheduleRatios(_ s: SolverSchedule, validation: Bool) throws -> [Double] {
            solverRatios(try s.solver(), s.sigmas, name: "schedule", validation: validation)
        }
        for name in decisions ? ["uni_pc decisions"] : solvers {
            let solver = try SolverCatalog.solver(named: decisions ? "uni_pc" : name)
            func ratios(_ s: SolverSchedule, validation: Bool) throws -> [Double] {
                decisions ? try scheduleRatios(s, validation: validation)
                    : solverRatios(solver, s.sigmas, name: name, validation: validation)
            }
            guard let (steps, _) = try solver.steps(forBudget: nfe, grid: { try StepSchedule(spacing: .karras(rho: 7), steps: $0).grid(on: schedule) }) else { continue }
            var seeds: [SolverSchedule] = []
            for spacing in fixedSteps.map({ [$0] }) ?? [StepSpacing.karras(rho: 7), .logSNR, .timeQuadratic, .alignYourSteps(.sd1), .linspace] {
                guard let g = try? StepSchedule(spacing: spacing, steps: steps).grid(on: schedule) else { continue }
                seeds.append(SolverSchedule(grid: g, schedule: schedule))
                if decisions { seeds.append(SolverSchedule(grid: g, schedule: schedule, variant: .bh2, order: 2)) }
            }
            var search = EvolutionarySearch(population: population, parents: 10, mutations: population / 2, crossovers: population * 3 / 10,
                                            mutationProbability: 0.15, generations: generations, searchesDecisions: decisions, seed: 11)
            search.searchesPredictions = !dataPredictionOnly
            search.searchesTimeSteps = fixedSteps == nil
            let began = ContinuousClock.now
            let result = try search.search(fineGrid: fine, schedule: schedule, steps: steps, seeds: seeds, score: { s in
                try ratios(s, validation: false).max()!
            }, progress: { g, best, _ in print(String(format: "  %@ generation %d: worst ratio %.4f", name, g, best)) })
            // Re-rank the finalists on the validation noise.
            var finalists: [(SolverSchedule, [Double])] = []
            for s in result.top { finalists.append((s, try ratios(s, validation: true))) }
            for s in seeds { finalists.append((s, try ratios(s, validation: true))) }
            finalists.sort { $0.1.max()! < $1.1.max()! }
            let (best, v) = finalists[0]
            let fractions = [0] + best.sigmas.dropFirst().dropLast().map { KarrasRamp.fraction(sigma: $0, hi: hi, lo: lo) }  // starts at σ_max
            print(String(format: "%@ NFE %d: tuning worst %.4f (seeds %.4f), validation ratios %@ in %.0f s, %d candidates",
                         name, nfe, result.score, result.seedScore, v.map { String(format: "%.3f", $0) }.joined(separator: " "),
                         (ContinuousClock.now - began).seconds, result.evaluated))
            if decisions { print("  decisions: " + best.summary) }
            print("  ramp: [" + fractions.map { String(format: "%.4f", $0) }.joined(separator: ", ") + "]")
        }
    }

    /// `sigmas` (levels of `schedule`, largest first, a final 0 meaning the clean level) on
    /// `target`: each level at the same fraction of the Karras ramp (``KarrasRamp``) between the
    /// schedules' own largest and smallest sigmas, as a searched ramp means the same grid on any schedule.
    static func carry(_ sigmas: [Double], from schedule: any NoiseSchedule, to target: any NoiseSchedule) throws -> TimeGrid {
        func extremes(_ s: any NoiseSchedule) -> (hi: Double, lo: Double) {
            (s.displaySigma(s.level(at: s.timeRange.upperBound)), s.displaySigma(s.level(at: s.timeRange.lowerBound)))
        }
        let (from, to) = (extremes(schedule), extremes(target))
        let carried = sigmas.map { $0 == 0 ? 0 : KarrasRamp.sigma(at: KarrasRamp.fraction(sigma: $0, hi: from.hi, lo: from.lo), hi: to.hi, lo: to.lo) }
        return try StepSchedule.grid(sigmas: carried, on: target)
    }
}
