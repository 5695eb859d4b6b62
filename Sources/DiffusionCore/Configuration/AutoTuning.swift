import Foundation

/// When `diffuse sample` tunes the model before sampling: the one place that decides it.
///
/// Without a named solver, a model that carries no `tuned.json` (``ModelTuning``) gets the default
/// rule's choice, which was chosen on a zoo of models and does not know this one. A short tuning
/// on the model itself (GITS and DMN search steps per model; Chen et al. 2024, Xue et al. 2024)
/// adapts to it, at a bounded cost: at most ``minimumSeconds`` or ``runShare`` of the sampling
/// run's estimated time, whichever is larger. It runs only where that bound buys a meaningful
/// search: on models evaluated in closed form (``GaussianMixture``), whose ground-truth ODE
/// solutions, which every tuning error is measured against, are cheap, and of those only when
/// that ground truth fits half the bound (``affordable(fixedSeconds:bound:)``). A network's cost
/// hundreds of its evaluations per draw, which the bound does not cover. The result is cached
/// by the model's fingerprint, so it is paid once.
public enum AutoTuning {
    /// The least time the tuning may take, in seconds.
    public static let minimumSeconds = 10.0
    /// The share of the sampling run's estimated time the tuning may take when that is larger.
    public static let runShare = 0.1
    /// The largest budget tuned for: above it the solvers' errors are small and close to each
    /// other, and a search over that many steps would not fit the bound.
    public static let maximumBudget = 50

    /// The time bound for a sampling run estimated to take `runSeconds`.
    public static func bound(runSeconds: Double) -> Double {
        Swift.max(minimumSeconds, runShare * (runSeconds.isFinite ? runSeconds : 0))
    }

    /// Whether a tuning whose work outside its searches (the ground truth it measures against)
    /// takes `fixedSeconds` fits `bound`: at most half of it, the rest for the searches.
    public static func affordable(fixedSeconds: Double, bound: Double) -> Bool { fixedSeconds <= 0.5 * bound }

    /// The budget to tune for before resolving `request`, or `nil` when no tuning runs: a solver,
    /// steps, noise range, guidance, another time or flow sigmas set by hand; a `--tuned` file; a
    /// model with its own tuning; a model not evaluated in closed form or without a fingerprint; a
    /// budget above ``maximumBudget``.
    public static func budget(for request: SamplingRequest, model: any DiffusionModel, schedule: any NoiseSchedule,
                              config: DiffusersSchedulerConfig?) -> Int? {
        guard request.tunedFile == nil, request.leavesChoiceToDefault, request.time == nil,
              request.flowFlags.isEmpty, config?.flow == nil else { return nil }
        guard model is GaussianMixture, (model as? any Fingerprinted)?.fingerprint != nil,
              (model as? any TunedDiffusionModel)?.tuning == nil else { return nil }
        let budget = request.nfe ?? request.steps ?? SamplingResolver.defaultBudget
        return budget <= maximumBudget ? budget : nil
    }
}
