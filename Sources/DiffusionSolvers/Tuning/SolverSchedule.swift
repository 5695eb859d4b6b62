/// A solver schedule: the time steps and, for each step, the solver's decisions — the search space
/// of USF / S³ (Liu et al. 2024, "A Unified Sampling Framework for Solver Searching of Diffusion
/// Probabilistic Models", ICLR), here within the UniPC family (Zhao et al. 2023).
///
/// Step `i` goes from `levels[i]` to `levels[i + 1]` with a UniP predictor of order `orders[i]`
/// (capped by the outputs available), in data or noise prediction (`predictions[i]`), and is then
/// corrected by UniC with the next evaluation when `correctors[i]` (no extra evaluation; never
/// after the last step). One model evaluation per step, so NFE = steps. The decisions not covered
/// here (which earlier points a derivative uses, the Taylor starting point) stay UniPC's.
public struct SolverSchedule: Sendable, Equatable, Codable {
    /// The noise levels as display sigmas (`σ/α` for VP, `σ` for VE, `t` for flow), largest first;
    /// a last 0 denoises fully. ``StepSchedule/grid(sigmas:on:)`` turns them into a grid.
    public var sigmas: [Double]
    public var variant: UniPC.Variant
    public var orders: [Int]
    public var predictions: [DPMSolverMultistep.Prediction]
    public var correctors: [Bool]

    public init(sigmas: [Double], variant: UniPC.Variant, orders: [Int], predictions: [DPMSolverMultistep.Prediction],
                correctors: [Bool]) {
        self.sigmas = sigmas; self.variant = variant; self.orders = orders; self.predictions = predictions; self.correctors = correctors
    }

    /// UniPC's own decisions on `grid`: `order` with warm-up and lower-order final steps, one
    /// prediction type, the corrector after every step.
    public init(grid: TimeGrid, schedule: any NoiseSchedule, variant: UniPC.Variant = .bh1, order: Int = 3,
                prediction: DPMSolverMultistep.Prediction = .data) {
        let uniPC = UniPC(variant: variant, order: order, prediction: prediction)
        let n = grid.steps
        self.init(sigmas: grid.levels.map { schedule.displaySigma($0) }, variant: variant,
                  orders: (0..<n).map { uniPC.order(atStep: $0, of: n) }, predictions: Array(repeating: prediction, count: n),
                  correctors: Array(repeating: true, count: n))
    }

    public var steps: Int { sigmas.count - 1 }

    /// The schedule's grid on `schedule`.
    public func grid(on schedule: any NoiseSchedule) throws -> TimeGrid { try StepSchedule.grid(sigmas: sigmas, on: schedule) }

    /// Checks that there is one decision of each kind per step and every order is 1, 2 or 3.
    public func validate() throws {
        let n = steps
        guard n >= 1, orders.count == n, predictions.count == n, correctors.count == n else {
            throw SamplingError.invalidConfiguration("solver schedule: \(sigmas.count) levels need \(n) orders, predictions and correctors; got \(orders.count), \(predictions.count), \(correctors.count)")
        }
        if let bad = orders.first(where: { !(1...3).contains($0) }) {
            throw SamplingError.invalidConfiguration("solver schedule: orders must be 1, 2 or 3, got \(bad)")
        }
    }

    /// The UniPC solver that carries out these decisions.
    public func solver() throws -> UniPC {
        try validate()
        let disabled = Set(correctors.indices.filter { !correctors[$0] })
        return UniPC(variant: variant, order: 3, prediction: predictions.first ?? .data, lowerOrderFinal: false,
                     disabledCorrectorSteps: disabled, stepOrders: orders, stepPredictions: predictions)
    }

    /// A one-line description, e.g. `bh1 orders 12333 pred ddddd corr 11110`.
    public var summary: String {
        "\(variant.rawValue) orders \(orders.map(String.init).joined()) pred \(predictions.map { $0 == .data ? "d" : "n" }.joined()) corr \(correctors.map { $0 ? "1" : "0" }.joined())"
    }
}

extension UniPC.Variant: Codable {}
extension DPMSolverMultistep.Prediction: Codable {}
