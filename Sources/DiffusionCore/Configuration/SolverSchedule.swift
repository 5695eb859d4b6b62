/// A solver schedule: the time steps and, for each step, the solver's decisions — the search space
/// of USF / S³ (Liu et al. 2024, "A Unified Sampling Framework for Solver Searching of Diffusion
/// Probabilistic Models", ICLR), here within the UniPC family (Zhao et al. 2023).
///
/// Step `i` goes from `levels[i]` to `levels[i + 1]` with a UniP predictor of order `orders[i]`
/// (capped by the outputs available), in data or noise prediction (`predictions[i]`), and is then
/// corrected by UniC with the next evaluation when `correctors[i]` (no extra evaluation; never
/// after the last step). One model evaluation per step, so NFE = steps. The decisions not covered
/// here (which earlier points a derivative uses, the Taylor starting point) stay UniPC's.
public struct SolverSchedule: Sendable, Equatable {
    /// The noise levels as display sigmas (`σ/α` for VP, `σ` for VE, `t` for flow), largest first;
    /// a last 0 denoises fully. ``StepSchedule/grid(sigmas:on:)`` turns them into a grid.
    public var sigmas: [Double]
    /// What the solver does at each step.
    public var decisions: SolverDecisions

    public init(sigmas: [Double], decisions: SolverDecisions) {
        self.sigmas = sigmas; self.decisions = decisions
    }

    public init(sigmas: [Double], variant: UniPC.Variant, orders: [Int], predictions: [PredictionKind],
                correctors: [Bool]) {
        self.init(sigmas: sigmas, decisions: SolverDecisions(variant: variant, orders: orders, predictions: predictions, correctors: correctors))
    }

    /// UniPC's own decisions on `grid`: `order` with warm-up and lower-order final steps, one
    /// prediction type, the corrector after every step.
    public init(grid: TimeGrid, schedule: any NoiseSchedule, variant: UniPC.Variant = .bh1, order: Int = 3,
                prediction: PredictionKind = .data) {
        let uniPC = UniPC(variant: variant, solverOrder: order, prediction: prediction)
        let n = grid.steps
        self.init(sigmas: grid.levels.map { schedule.displaySigma($0) }, variant: variant,
                  orders: (0..<n).map { uniPC.order(atStep: $0, of: n) }, predictions: Array(repeating: prediction, count: n),
                  correctors: Array(repeating: true, count: n))
    }

    public var variant: UniPC.Variant {
        get { decisions.variant }
        set { decisions.variant = newValue }
    }
    public var orders: [Int] {
        get { decisions.orders }
        set { decisions.orders = newValue }
    }
    public var predictions: [PredictionKind] {
        get { decisions.predictions }
        set { decisions.predictions = newValue }
    }
    public var correctors: [Bool] {
        get { decisions.correctors }
        set { decisions.correctors = newValue }
    }

    public var steps: Int { sigmas.count - 1 }

    /// The schedule's grid on `schedule`.
    public func grid(on schedule: any NoiseSchedule) throws -> TimeGrid { try StepSchedule.grid(sigmas: sigmas, on: schedule) }

    /// Checks that there is one decision of each kind per step and every order is 1, 2 or 3.
    public func validate() throws {
        guard steps >= 1, orders.count == steps else {
            throw SamplingError.invalidConfiguration("solver schedule: \(sigmas.count) levels need \(steps) orders, predictions and correctors; got \(orders.count), \(predictions.count), \(correctors.count)")
        }
        try decisions.validate()
    }

    /// The UniPC solver that carries out these decisions.
    public func solver() throws -> UniPC {
        try validate()
        return try decisions.solver()
    }

    /// A one-line description, e.g. `bh1 orders 12333 pred ddddd corr 11110`.
    public var summary: String { decisions.summary }
}

/// One flat object, `{sigmas, variant, orders, predictions, correctors}`: the decisions' fields
/// next to the levels, as tuned files have always stored a solver schedule.
extension SolverSchedule: Codable {
    enum CodingKeys: String, CodingKey { case sigmas }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(sigmas: try container.decode([Double].self, forKey: .sigmas), decisions: try SolverDecisions(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sigmas, forKey: .sigmas)
        try decisions.encode(to: encoder)
    }
}

/// The per-step decisions of a UniPC solver schedule (``SolverSchedule`` without its time steps):
/// the B(h) variant, and for each step the predictor's order, the prediction type and whether
/// UniC corrects it. A searched set of decisions on a ``KarrasRamp`` is one of the recommended
/// configurations (``RecommendedConfiguration``), as the same decisions apply on any schedule.
public struct SolverDecisions: Sendable, Equatable, Codable {
    public var variant: UniPC.Variant
    public var orders: [Int]
    public var predictions: [PredictionKind]
    public var correctors: [Bool]

    public init(variant: UniPC.Variant, orders: [Int], predictions: [PredictionKind], correctors: [Bool]) {
        self.variant = variant; self.orders = orders; self.predictions = predictions; self.correctors = correctors
    }

    /// Reads the form ``summary`` writes, `bh1 orders 12333 pred ddddd corr 11110`; anything else
    /// is refused with a one-line error.
    public init(summary: String) throws {
        let words = summary.split(separator: " ").map(String.init)
        func bad() -> SamplingError {
            SamplingError.invalidConfiguration("solver decisions: expected 'bh1|bh2 orders 123… pred dn… corr 10…', got '\(summary)'")
        }
        guard words.count == 7, words[1] == "orders", words[3] == "pred", words[5] == "corr",
              let variant = UniPC.Variant(rawValue: words[0]) else { throw bad() }
        let orders = words[2].map { $0.wholeNumberValue ?? 0 }
        guard words[4].allSatisfy({ $0 == "d" || $0 == "n" }), words[6].allSatisfy({ $0 == "0" || $0 == "1" }) else { throw bad() }
        self.init(variant: variant, orders: orders, predictions: words[4].map { $0 == "d" ? .data : .noise },
                  correctors: words[6].map { $0 == "1" })
        try validate()
    }

    public var steps: Int { orders.count }

    /// Checks that there is one decision of each kind per step and every order is 1, 2 or 3.
    public func validate() throws {
        let n = orders.count
        guard n >= 1, predictions.count == n, correctors.count == n else {
            throw SamplingError.invalidConfiguration("solver decisions: \(n) orders need as many predictions and correctors; got \(predictions.count), \(correctors.count)")
        }
        if let bad = orders.first(where: { !(1...3).contains($0) }) {
            throw SamplingError.invalidConfiguration("solver schedule: orders must be 1, 2 or 3, got \(bad)")
        }
    }

    /// The UniPC solver that carries out these decisions (on a grid of ``steps`` steps).
    public func solver() throws -> UniPC {
        try validate()
        let disabled = Set(correctors.indices.filter { !correctors[$0] })
        return UniPC(variant: variant, solverOrder: 3, prediction: predictions.first ?? .data, lowerOrderFinal: false,
                     disabledCorrectorSteps: disabled, stepOrders: orders, stepPredictions: predictions)
    }

    /// A one-line description, e.g. `bh1 orders 12333 pred ddddd corr 11110`.
    public var summary: String {
        "\(variant.rawValue) orders \(orders.map(String.init).joined()) pred \(predictions.map { $0 == .data ? "d" : "n" }.joined()) corr \(correctors.map { $0 ? "1" : "0" }.joined())"
    }
}

extension UniPC.Variant: Codable {}
