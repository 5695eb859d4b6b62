import DiffusionCore

/// An evolutionary search over solver schedules, after AutoDiffusion (Li et al. 2023,
/// "AutoDiffusion: Training-Free Optimization of Time Steps and Architectures for Automated
/// Diffusion Model Acceleration", ICCV), with the per-step decisions of USF / S³ (Liu et al. 2024)
/// added to the genome (`SolverSchedule`).
///
/// A candidate's time steps are `steps − 1` distinct interior points of a fine grid (its first and
/// last points — the largest noise level and σ = 0 — are fixed), so every candidate is strictly
/// monotone and uses exactly `steps` model evaluations. Each generation keeps the best ``parents``
/// of everything seen (elitist), then fills the population with
/// - mutations of a random parent: each interior point is replaced with probability
///   ``mutationProbability`` by a random unused point (AutoDiffusion's mutation), or shifted by a
///   few fine-grid points (a local move added here, which refines a good schedule faster), and
///   each step's order, prediction type and corrector are redrawn with the same probability;
/// - crossovers of two parents: position by position, each point and each step's decisions come
///   from either parent with probability ½;
/// - random candidates.
/// A candidate already evaluated is never evaluated again. The score is any figure to minimize
/// (``SchedulingObjective`` gives the RMSE to the ground truth on tuning samples); a candidate
/// whose score is NaN, infinite or throws counts as infinitely bad.
///
/// The same seed and settings give the same result; a ``search(fineGrid:schedule:steps:seeds:score:deadline:progress:)``
/// stopped by its deadline returns the best found so far and says so (the seeds are always
/// evaluated, so a search with seeds returns at least the best of them).
public struct EvolutionarySearch: Sendable {
    public var population: Int
    /// How many of the best candidates seen are kept as parents (AutoDiffusion's `select_num`).
    public var parents: Int
    public var mutations: Int
    public var crossovers: Int
    public var mutationProbability: Double
    public var generations: Int
    /// Whether orders, prediction types, correctors and the UniPC variant evolve too (USF);
    /// otherwise only the time steps do (AutoDiffusion).
    public var searchesDecisions: Bool
    /// With ``searchesDecisions``: whether the prediction types evolve too; otherwise each step
    /// keeps its seed's (data prediction throughout, which networks tolerate better at few steps
    /// than extrapolated noise predictions).
    public var searchesPredictions = true
    /// Whether the time steps evolve; otherwise every candidate keeps the first seed's steps and
    /// only the decisions are searched (on a step placement already chosen).
    public var searchesTimeSteps = true
    public var seed: UInt64

    public init(population: Int = 50, parents: Int = 10, mutations: Int = 25, crossovers: Int = 15, mutationProbability: Double = 0.1,
                generations: Int = 20, searchesDecisions: Bool = true, seed: UInt64 = 0) {
        self.population = population; self.parents = parents; self.mutations = mutations; self.crossovers = crossovers
        self.mutationProbability = mutationProbability; self.generations = generations
        self.searchesDecisions = searchesDecisions; self.seed = seed
    }

    /// What a search found.
    public struct Result: Sendable {
        public var best: SolverSchedule
        public var score: Double
        /// The best score among the seeds (after placing them on the fine grid).
        public var seedScore: Double
        /// Candidates evaluated.
        public var evaluated: Int
        /// Generations completed.
        public var generations: Int
        /// The best score after each generation.
        public var history: [Double]
        /// Whether the deadline ended the search before its last generation.
        public var stoppedByDeadline: Bool
        /// The best ``parents`` candidates, best first (the best is ``best``): finalists a caller
        /// can re-rank on samples the search did not see.
        public var top: [SolverSchedule] = []
        public var topScores: [Double] = []
    }

    struct Candidate: Hashable {
        /// Fine-grid indices, strictly increasing, from 0 to the last fine point.
        var indices: [Int]
        var orders: [Int]
        var predictions: [PredictionKind]
        var correctors: [Bool]
        var variant: UniPC.Variant
    }

    /// Searches the best `steps`-step schedule whose levels lie on `fineGrid`.
    ///
    /// - Parameters:
    ///   - fineGrid: The candidate levels; its first and last levels start and end every schedule.
    ///   - schedule: The noise schedule that turns fine-grid levels into the candidates' sigmas.
    ///   - steps: The number of steps (model evaluations) of every candidate, at most `fineGrid`'s steps.
    ///   - seeds: Schedules to start from (their levels are moved to the nearest fine-grid levels).
    ///   - score: The figure to minimize.
    ///   - deadline: Stop evaluating after this instant.
    ///   - progress: Called after each generation with its index, the best score and the best
    ///     schedule (a caller can watch the best on other samples and stop trusting the search when
    ///     it starts to overfit).
    public func search(fineGrid: TimeGrid, schedule: any NoiseSchedule, steps: Int, seeds: [SolverSchedule],
                       score: (SolverSchedule) throws -> Double, deadline: ContinuousClock.Instant? = nil,
                       progress: (Int, Double, SolverSchedule) -> Void = { _, _, _ in }) throws -> Result {
        let last = fineGrid.steps
        guard steps >= 1, steps <= last else {
            throw SamplingError.invalidConfiguration("evolutionary search: \(steps) steps on a fine grid of \(last)")
        }
        guard population >= 1, parents >= 1, mutations >= 0, crossovers >= 0, generations >= 0,
              mutationProbability >= 0, mutationProbability <= 1 else {
            throw SamplingError.invalidConfiguration("evolutionary search: population and parents must be positive, mutation probability in [0, 1]")
        }
        var rng = SplitMix64(seed: seed)
        var scores: [Candidate: Double] = [:]
        var order: [Candidate] = []  // evaluation order, for deterministic tie-breaking
        var stopped = false

        func toSchedule(_ c: Candidate) -> SolverSchedule {
            SolverSchedule(sigmas: c.indices.map { schedule.displaySigma(fineGrid[$0]) }, variant: c.variant, orders: c.orders,
                           predictions: c.predictions, correctors: c.correctors)
        }
        @discardableResult
        func evaluate(_ c: Candidate, pastDeadline: Bool = false) -> Bool {
            guard scores[c] == nil else { return false }
            if !pastDeadline, let deadline, ContinuousClock.now >= deadline { stopped = true; return false }
            let value = (try? score(toSchedule(c))) ?? .infinity
            scores[c] = value.isFinite ? value : .infinity
            order.append(c)
            return true
        }
        /// A candidate's score; one never evaluated ranks last.
        func scoreOf(_ c: Candidate) -> Double { scores[c] ?? .infinity }
        func ranked() -> [Candidate] {
            order.enumerated().sorted { a, b in
                let (sa, sb) = (scoreOf(a.element), scoreOf(b.element))
                return sa != sb ? sa < sb : a.offset < b.offset
            }.map(\.element)
        }

        // Seeds, placed on the fine grid.
        let lambdas = fineGrid.levels.map(\.lambda)
        var seedCandidates: [Candidate] = []
        for s in seeds where s.steps == steps {
            guard let placed = place(s, lambdas: lambdas, schedule: schedule) else { continue }
            seedCandidates.append(placed)
            evaluate(placed, pastDeadline: true)  // the seeds always: a late search still returns its best seed
        }
        let seedScore = seedCandidates.compactMap { scores[$0] }.min() ?? .infinity
        let template = seedCandidates.first ?? Candidate(indices: [], orders: Array(repeating: 3, count: steps),
                                                         predictions: Array(repeating: .data, count: steps),
                                                         correctors: Array(repeating: true, count: steps), variant: .bh1)
        func random() -> Candidate {
            var c = template
            if searchesTimeSteps || seedCandidates.isEmpty { c.indices = randomIndices(steps: steps, last: last, using: &rng) }
            if searchesDecisions { redraw(&c, probability: 0.5, using: &rng) }
            return c
        }
        // The first population: seeds, half random, the rest mutations of the seeds.
        var attempts = 0
        while order.count < population && attempts < 10 * population && !stopped {
            attempts += 1
            if !seedCandidates.isEmpty && order.count >= population / 2 {
                evaluate(mutate(seedCandidates[rng.below(seedCandidates.count)], last: last, using: &rng))
            } else {
                evaluate(random())
            }
        }
        var history: [Double] = []
        var completed = 0
        for _ in 0..<generations where !stopped {
            let top = Array(ranked().prefix(parents))
            var added = 0
            attempts = 0
            while added < mutations && attempts < 10 * Swift.max(mutations, 1) && !stopped {
                attempts += 1
                if evaluate(mutate(top[rng.below(top.count)], last: last, using: &rng)) { added += 1 }
            }
            added = 0
            attempts = 0
            while added < crossovers && attempts < 10 * Swift.max(crossovers, 1) && !stopped {
                attempts += 1
                let a = top[rng.below(top.count)], b = top[rng.below(top.count)]
                if let child = crossover(a, b, using: &rng), evaluate(child) { added += 1 }
            }
            added = 0
            attempts = 0
            let fresh = Swift.max(population - mutations - crossovers, 0)
            while added < fresh && attempts < 10 * Swift.max(fresh, 1) && !stopped {
                attempts += 1
                if evaluate(random()) { added += 1 }
            }
            if stopped { break }
            completed += 1
            let leader = ranked()[0]
            history.append(scoreOf(leader))
            progress(completed, scoreOf(leader), toSchedule(leader))
        }
        guard let best = ranked().first else {
            throw SamplingError.invalidConfiguration("evolutionary search: the deadline passed before any candidate was evaluated")
        }
        let top = Array(ranked().prefix(parents))
        return Result(best: toSchedule(best), score: scoreOf(best), seedScore: seedScore, evaluated: order.count,
                      generations: completed, history: history, stoppedByDeadline: stopped, top: top.map(toSchedule),
                      topScores: top.map(scoreOf))
    }

    /// `s` on the fine grid: each interior level at the nearest fine level (by λ), moved along
    /// when two would coincide; `nil` when the steps do not fit.
    func place(_ s: SolverSchedule, lambdas: [Double], schedule: any NoiseSchedule) -> Candidate? {
        let last = lambdas.count - 1
        let n = s.steps
        guard n >= 1, n <= last, s.orders.count == n, s.predictions.count == n, s.correctors.count == n else { return nil }
        var indices = [0]
        for k in 1..<n {
            let lambda = schedule.level(sigma: s.sigmas[k]).lambda
            var best = 1, distance = Double.infinity
            for i in 1..<last where abs(lambdas[i] - lambda) < distance { distance = abs(lambdas[i] - lambda); best = i }
            // Keep room for the remaining points and stay above the previous one.
            indices.append(Swift.min(Swift.max(best, indices[k - 1] + 1), last - (n - k)))
        }
        indices.append(last)
        return Candidate(indices: indices, orders: s.orders, predictions: s.predictions, correctors: s.correctors, variant: s.variant)
    }

    private func randomIndices(steps: Int, last: Int, using rng: inout SplitMix64) -> [Int] {
        var interior = Set<Int>()
        while interior.count < steps - 1 { interior.insert(1 + rng.below(last - 1)) }
        return [0] + interior.sorted() + [last]
    }

    private func mutate(_ parent: Candidate, last: Int, using rng: inout SplitMix64) -> Candidate {
        var c = parent
        let steps = c.indices.count - 1
        if steps >= 2 && searchesTimeSteps {
            var interior = Array(c.indices[1..<steps])
            let jitter = Swift.max(1, last / 50)
            for k in interior.indices where rng.uniform() < mutationProbability {
                if rng.uniform() < 0.5 {
                    interior[k] = 1 + rng.below(last - 1)
                } else {
                    interior[k] = Swift.min(Swift.max(interior[k] + rng.below(2 * jitter + 1) - jitter, 1), last - 1)
                }
            }
            let unique = Set(interior)
            if unique.count == interior.count { c.indices = [0] + unique.sorted() + [last] }
        }
        if searchesDecisions { redraw(&c, probability: mutationProbability, using: &rng) }
        return c
    }

    private func redraw(_ c: inout Candidate, probability p: Double, using rng: inout SplitMix64) {
        for i in c.orders.indices {
            if rng.uniform() < p { c.orders[i] = 1 + rng.below(3) }
            if rng.uniform() < p && searchesPredictions { c.predictions[i] = c.predictions[i] == .data ? .noise : .data }
            if rng.uniform() < p { c.correctors[i].toggle() }
        }
        if rng.uniform() < p { c.variant = c.variant == .bh1 ? .bh2 : .bh1 }
    }

    private func crossover(_ a: Candidate, _ b: Candidate, using rng: inout SplitMix64) -> Candidate? {
        var c = a
        if searchesTimeSteps {
            for k in 1..<(a.indices.count - 1) where rng.uniform() < 0.5 { c.indices[k] = b.indices[k] }
        }
        let interior = c.indices.dropFirst().dropLast()
        guard Set(interior).count == interior.count else { return nil }
        c.indices = [c.indices[0]] + interior.sorted() + [c.indices[c.indices.count - 1]]
        for i in c.orders.indices where rng.uniform() < 0.5 {
            c.orders[i] = b.orders[i]; c.predictions[i] = b.predictions[i]; c.correctors[i] = b.correctors[i]
        }
        if rng.uniform() < 0.5 { c.variant = b.variant }
        return c
    }
}
