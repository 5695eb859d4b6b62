import Foundation
import DiffusionSolvers

extension SampleCommand {
    /// Set to `off` (or `0`, `false`, `no`), the environment variable turns the automatic tuning
    /// off as `--no-auto-tune` does (for scripts and test suites that sample many models briefly);
    /// `on` (`1`, `true`, `yes`) or unset leaves it to the policy; other values are refused.
    static let autoTuneEnvironment = "DIFFUSE_AUTO_TUNE"

    /// `request` with the automatic tuning's configuration (``AutoTuning``, ``AutoTune``) as its
    /// `--tuned` file when the policy says a tuning runs; else `request` itself. The bound and
    /// whether the result came from the cache are stated on standard error.
    func autoTuned(_ request: SamplingRequest, model: any DiffusionModel, schedule: any NoiseSchedule,
                   config: DiffusersSchedulerConfig?) throws -> SamplingRequest {
        if let seconds = autoTuneSeconds, !(seconds.isFinite && seconds > 0 && seconds <= 1e6) {
            throw CLIError("--auto-tune-seconds must be a number of seconds in (0, 1000000], got \(seconds)")
        }
        let setting = ProcessInfo.processInfo.environment[Self.autoTuneEnvironment]?.lowercased() ?? "on"
        guard ["0", "off", "false", "no", "1", "on", "true", "yes", ""].contains(setting) else {
            throw CLIError("\(Self.autoTuneEnvironment) must be on or off, got '\(setting)'")
        }
        let off = ["0", "off", "false", "no"].contains(setting)
        guard !noAutoTune, !off, let budget = AutoTuning.budget(for: request, model: model, schedule: schedule, config: config) else {
            return request
        }
        var tunedRequest = request
        (tunedRequest.nfe, tunedRequest.steps) = (budget, nil)
        let cacheDirectory = AutoTune.cacheDirectory
        let lookup = AutoTune(model: model, schedule: schedule, nfe: budget, seconds: AutoTuning.minimumSeconds)  // the cache key has no bound
        if let url = lookup.cached(in: cacheDirectory, note: Self.note) {
            Self.note("auto-tune: using the cached tuning \(url.path) (--no-auto-tune: the default rule)")
            tunedRequest.tunedFile = url
            return tunedRequest
        }
        let bound = try autoTuneSeconds ?? AutoTuning.bound(runSeconds: estimatedRunSeconds(model: model, schedule: schedule, nfe: budget))
        let tune = AutoTune(model: model, schedule: schedule, nfe: budget, seconds: bound)
        let fixed = tune.fixedSeconds(evaluationSeconds: try evaluationSeconds(model: model, schedule: schedule, batch: tune.groundTruthDraws))
        guard AutoTuning.affordable(fixedSeconds: fixed, bound: bound) else {
            Self.note(String(format: "auto-tune: skipped, its ground truth would take about %.0f s of its %.0f s bound; using the default rule (tune with `diffuse tune`)",
                             fixed, bound))
            return request
        }
        let began = ContinuousClock.now
        let url = try tune.tuned(cacheDirectory: cacheDirectory)
        Self.note(String(format: "auto-tune: tuned %@ for %d NFE in %.1f s (bound %.1f s: at most %.0f s or %.0f%% of the sampling run's estimated time); cached in %@ (--no-auto-tune: the default rule)",
                         model.name, budget, (ContinuousClock.now - began).seconds, bound, AutoTuning.minimumSeconds,
                         100 * AutoTuning.runShare, url.path))
        tunedRequest.tunedFile = url
        return tunedRequest
    }

    /// The sampling run's time: one model evaluation on the run's batch, timed, times the budget.
    private func estimatedRunSeconds(model: any DiffusionModel, schedule: any NoiseSchedule, nfe: Int) throws -> Double {
        try evaluationSeconds(model: model, schedule: schedule, batch: count ?? (model.sampleShape == [2] ? 512 : 16)) * Double(nfe)
    }

    /// One model evaluation on `batch` draws at the middle of the schedule, timed (the least of three).
    private func evaluationSeconds(model: any DiffusionModel, schedule: any NoiseSchedule, batch: Int) throws -> Double {
        let x = SampleTensor(shape: [batch] + model.sampleShape, scalars: [Float](repeating: 0, count: batch * model.sampleShape.reduce(1, *)))
        var output = x
        let level = schedule.level(at: 0.5 * (schedule.timeRange.lowerBound + schedule.timeRange.upperBound))
        var least = Double.infinity
        for _ in 0..<3 {  // the least of three: the first call may pay for set-up, and the machine may be busy
            let began = ContinuousClock.now
            try model.predict(x, at: level, into: &output)
            least = min(least, (ContinuousClock.now - began).seconds)
        }
        return least
    }

    private static func note(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}
