/// The time-shift rule of Li et al. 2024, "Alleviating Exposure Bias in Diffusion Models through
/// Sampling with Shifted Time Steps" (ICLR), official code `Mingxiao-Li/TS-DPM`.
///
/// A sample produced by a few-step sampler is not distributed like training data at its grid
/// time (exposure bias); a nearby training time step may couple with it better. With `v` the
/// unbiased variance of one sample's elements and `t` the next grid time, the step goes to
/// ```
/// τ* = argmin_{τ ∈ W} (v − (1 − ᾱ_τ))²,    W = {t} ∪ {τ ∈ ℤ : |τ − t| ≤ ⌊window/2⌋} ∩ [0, T − 1]
/// ```
/// instead of `t`, but only while `t > cutoff` (late, low-noise steps are left alone), and only
/// from the second step on. Ties keep `t`, then the smallest `τ`. `window` is the full window
/// size as in the official code (`window_size // 2` each side).
public struct TimeShift: Sendable, Equatable {
    /// The full window size in training time steps; 0 or 1 never shifts.
    public let window: Int
    /// Steps whose target time is at or below this training time are not shifted.
    public let cutoff: Double

    /// The official README's settings for the DDIM/PNDM path (`window_size 5`, `cutoff 550`).
    public static let paperDefault = try! TimeShift(window: 5, cutoff: 550)

    public init(window: Int, cutoff: Double) throws {
        guard window >= 0, cutoff.isFinite else {
            throw SamplingError.invalidConfiguration("--time-shift needs a window >= 0 and a finite cutoff, got \(window),\(cutoff)")
        }
        self.window = window
        self.cutoff = cutoff
    }

    /// Parses `--time-shift WINDOW,CUTOFF`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let window = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let cutoff = Double(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw SamplingError.invalidConfiguration("--time-shift expects WINDOW,CUTOFF (for example 5,550), got '\(text)'")
        }
        try self.init(window: window, cutoff: cutoff)
    }

    /// The level a sample of element variance `variance` is moved to instead of `target`, the
    /// grid level of step `step + 1`; `target` itself when the rule does not apply.
    package func shiftedLevel(variance: Double, step: Int, target: NoiseLevel, schedule: DiscreteVPSchedule) -> NoiseLevel {
        let half = window / 2
        guard step > 0, half > 0, !target.isClean, target.t > cutoff else { return target }
        var best = target, bestCost = (variance - target.sigma * target.sigma) * (variance - target.sigma * target.sigma)
        let lowest = Swift.max(0, Int((target.t - Double(half)).rounded(.up)))
        let highest = Swift.min(schedule.trainingSteps - 1, Int((target.t + Double(half)).rounded(.down)))
        guard lowest <= highest else { return target }
        for tau in lowest...highest where Double(tau) != target.t {
            let noise = 1 - schedule.alphasCumprod[tau]
            let cost = (variance - noise) * (variance - noise)
            if cost < bestCost { best = schedule.level(at: Double(tau)); bestCost = cost }
        }
        return best
    }

    /// The discrete VP schedule the rule compares with, after checking that `x` has at least two
    /// elements per sample (the variance needs them); `solver` names the caller in the errors.
    static func requirements(for x: SampleTensor, context: SolverContext, solver: String) throws -> DiscreteVPSchedule {
        guard let schedule = context.denoiser.schedule as? DiscreteVPSchedule else {
            throw SamplingError.invalidConfiguration(
                "\(solver) matches noise levels of discrete training steps; it needs a discrete VP schedule, not \(context.denoiser.schedule.name)")
        }
        guard x.sampleCount >= 2 else {
            throw SamplingError.invalidConfiguration("\(solver) estimates each sample's variance; a sample needs at least 2 elements")
        }
        return schedule
    }

    /// The unbiased variance of one sample's elements, accumulated in `Double`.
    static func variance<C: Collection>(of values: C) -> Double where C.Element == Float {
        let n = Double(values.count)
        var sum = 0.0
        for v in values { sum += Double(v) }
        let mean = sum / n
        var squares = 0.0
        for v in values { squares += (Double(v) - mean) * (Double(v) - mean) }
        return squares / (n - 1)
    }
}

/// TS-DDIM: deterministic DDIM (``DDIM`` with `η = 0`) whose step from grid time `s` goes, for
/// each sample, to the shifted time `τ*` of ``TimeShift`` instead of the next grid time `t`:
/// ```
/// x′ = (σ_τ*/σ_s)·x + (α_τ* − σ_τ*·α_s/σ_s)·x̂₀(x, s)
/// ```
/// The next step then treats `x′` as lying at `t` again (model input and coefficients), as the
/// official `pnm_solver.py` does: the shift only corrects the noise the sample carries.
///
/// Needs a discrete VP schedule (the rule compares with `1 − ᾱ_τ` of training steps) and at
/// least two elements per sample. The model is evaluated only at grid levels, so the run can be
/// listed ahead; the levels the samples reach depend on the samples. NFE per step: 1.
public struct TimeShiftDDIM: Solver {
    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var prediction: ModelPrediction
        /// The training time each sample was moved to in the latest step.
        public internal(set) var targetTimes: [Double]
        public var denoised: SampleTensor { prediction.data }
    }

    public let shift: TimeShift

    public init(shift: TimeShift = .paperDefault) { self.shift = shift }

    public var name: String { "ts_ddim" }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }

    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(prediction: ModelPrediction(like: x), targetTimes: [])
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        let schedule = try TimeShift.requirements(for: x, context: context, solver: name)
        let from = context.grid[step], target = context.grid[step + 1]
        try context.predict(x, at: from, step: step, into: &state.prediction, needs: .data)
        let size = x.sampleCount
        let levels = (0..<x.batchSize).map { b in
            shift.shiftedLevel(variance: TimeShift.variance(of: x.sample(b)), step: step, target: target, schedule: schedule)
        }
        state.targetTimes = levels.map(\.t)
        x.scalars.withUnsafeMutableBufferPointer { out in
            state.prediction.data.scalars.withUnsafeBufferPointer { data in
                for (b, to) in levels.enumerated() {
                    let keep = Swift.max(to.sigma * to.sigma, 0).squareRoot() / from.sigma, dataCoefficient = to.alpha - keep * from.alpha
                    let s = Float(keep), c = Float(dataCoefficient)
                    for i in b * size..<(b + 1) * size { out[i] = s * out[i] + c * data[i] }
                }
            }
        }
    }
}
