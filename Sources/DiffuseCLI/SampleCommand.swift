import ArgumentParser
import Foundation
import DiffusionSolvers
#if canImport(Glibc)
import Glibc
#endif

/// `diffuse sample`: draw samples from a model with a chosen solver and step schedule.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Draw samples from a model and write them as .npy or .png.",
        discussion: """
        Solvers: \(SolverCatalog.names.joined(separator: ", ")).
        Step schedules: \(StepSpacing.names.joined(separator: ", ")).
        Built-in models: \(BuiltInModels.names.joined(separator: ", ")).
        Discrete models (categorical mixtures, e.g. \(CategoricalMixture.builtInNames.joined(separator: ", "))): solvers fhs and mdlm, int32 .npy output.
        """
    )

    @OptionGroup var source: ModelOptions

    @OptionGroup var steering: SteeringOptions

    @OptionGroup var guidanceRules: GuidanceOptions

    @Option(help: "Solver name, as in k-diffusion and ComfyUI, or dmcmc (Denoising MCMC, see --dmcmc). Default: the recommended configuration for the NFE budget.")
    var solver: String?

    // Numbers a user may type negative are parsed unconditionally, so that '-1' reaches the checks in
    // request(for:) and the model loading, which name the flag and the value; otherwise ArgumentParser
    // reads it as a flag and reports a missing value.
    @Option(parsing: .unconditional, help: "Fresh-noise amount eta: 0 deterministic, 1 ancestral (default 0 for ddim, 1 for the ancestral and SDE samplers).")
    var eta: Double?

    @Option(parsing: .unconditional, help: "Scale of the fresh noise of ancestral, SDE and churned samplers.")
    var sNoise: Double = 1

    @Option(parsing: .unconditional, help: "Karras et al.'s S_churn for euler and heun (Algorithm 2); 0 is off.")
    var sChurn: Double = 0

    @Option(parsing: .unconditional, help: "Churn only where sigma >= this.")
    var sTmin: Double = 0

    @Option(parsing: .unconditional, help: "Churn only where sigma <= this.")
    var sTmax: Double = .infinity

    @Option(help: "DDPM posterior variance: fixed_small or fixed_large.")
    var variance: String?

    @Option(help: "The time the solver steps in: native (the schedule's own), flow (tau = sigma/(alpha+sigma); --shift then applies to any model) or sigma (k-diffusion's sigma/alpha; Karras grids for flow models).")
    var time: String = "native"

    @Option(parsing: .unconditional, help: "si_sde's diffusion coefficient eps(t) in flow time: C (constant) or C*t (proportional); 0 is the ODE. Default 1*t.")
    var interpolantEps: String?

    @Option(help: "WINDOW,CUTOFF of ts_ddim (default 5,550) and ts_dpm_solver (default 30,300), in training time steps (Li et al. 2024).")
    var timeShift: String?

    @Option(help: "Parameters of --solver dmcmc (Denoising MCMC, mixtures only), KEY=VALUE,...: steps, eta, rounds, points, levels, sigma-min, sigma-max, warmup, warmup-eta, init-noise, init-points, churn, tweedie (docs/MCMC.md).")
    var dmcmc: String?

    @Option(help: "Step noise: auto (a Brownian tree for the *_sde samplers, else independent draws), gaussian or brownian.")
    var noiseSampler: String = "auto"

    @Option(parsing: .unconditional, help: "Override the order of a multistep or singlestep solver family (1-3).")
    var order: Int?

    @Option(help: "DPM-Solver-v3's model statistics (.safetensors, written by `diffuse tune --statistics`).")
    var statistics: String?

    @Option(help: "DC-Solver's compensation ratios, one per step, comma-separated (missing steps use 1).")
    var dcRatios: String?

    @Option(name: .customLong("class"), parsing: .unconditional, help: "Sample this class of a labelled model (classifier-free guidance with --guidance).")
    var classLabel: Int?

    @Option(parsing: .unconditional, help: "Classifier-free guidance scale w: eps = eps_uncond + w * (eps_cond - eps_uncond). Default 1 with --class.")
    var guidance: Double?

    @Option(help: "Minority guidance W[,SIGMA]: add W times the gradient of the minority score (reconstruction error after re-noising the clean estimate to SIGMA, default 1) to the score. Exact on mixtures; on networks by central differences (2D + 3 evaluations per call).")
    var minorityGuidance: String?

    @Option(parsing: .unconditional, help: "Guidance rescale phi in [0, 1] (Lin et al. 2024).")
    var guidanceRescale: Double = 0

    @Flag(help: "Dynamic thresholding of the clean estimate (Imagen), as diffusers' thresholding=True.")
    var thresholding = false

    @Option(parsing: .unconditional, help: "Quantile for dynamic thresholding.")
    var thresholdingRatio: Double = 0.995

    @Option(parsing: .unconditional, help: "Upper bound of the dynamic threshold (1 clips to [-1, 1]).")
    var sampleMaxValue: Double = 1

    @Option(parsing: .unconditional, help: "Number of solver steps (default 20; without --solver it is read as the NFE budget).")
    var steps: Int?

    @Option(parsing: .unconditional, help: "Model-evaluation budget: the most steps that use at most N evaluations (any solver).")
    var nfe: Int?

    @Option(help: "Step schedule (spacing). Default: karras, or the scheduler config's timestep_spacing.")
    var schedule: String?

    @Option(parsing: .unconditional, help: "Smallest noise level (sigma/alpha; t for flow). Default: the schedule's own.")
    var sigmaMin: Double?

    @Option(parsing: .unconditional, help: "Largest noise level (sigma/alpha; t for flow). Default: the schedule's own.")
    var sigmaMax: Double?

    @Option(help: "Where the run ends: zero (denoise to sigma = 0) or min (the smallest sigma).")
    var finalSigma: String = "zero"

    @Option(parsing: .unconditional, help: "Flow schedules: shift the sigmas toward noise, s*t/(1+(s-1)*t) (SD3: 3).")
    var shift: Double?

    @Option(parsing: .unconditional, help: "Flow schedules: the image's token count, for Flux's resolution-dependent shift (mu linear between base and max).")
    var imageSeqLen: Int?

    @Option(parsing: .unconditional, help: "Flow schedules: stretch the shifted sigmas so that the last one is this value.")
    var shiftTerminal: Double?

    @Option(help: "Explicit model timesteps, comma-separated, largest first (the final level follows --final-sigma).")
    var timesteps: String?

    @Option(help: "Explicit noise levels, comma-separated, largest first; a last 0 denoises fully.")
    var sigmas: String?

    @Option(help: "A file written by `diffuse tune`: sample with its configuration for --nfe (solver and time steps tuned to this model).")
    var tuned: String?

    @Flag(help: "Without --solver on a mixture without a tuned.json: do not tune it first (at most 10 s or 10% of the run, cached by its fingerprint); use the default rule. DIFFUSE_AUTO_TUNE=off does the same.")
    var noAutoTune = false

    @Option(parsing: .unconditional, help: .hidden)
    var autoTuneSeconds: Double?

    @Option(parsing: .unconditional, help: "Random seed for the initial and step noise.")
    var seed: UInt64 = 0

    @Option(help: "Random numbers: philox (each sample's noise depends only on the seed and its index) or torch (the numbers of torch.manual_seed(seed); torch.randn on CPU, drawn for the whole batch).")
    var rng: String = "philox"

    @Option(parsing: .unconditional, help: "Number of samples (default 16, or 512 for 2-D models).")
    var count: Int?

    @Option(help: "Standard-normal initial noise [B, D] (.npy), scaled by the prior's std at the first level.")
    var initialNoise: String?

    @Option(help: "Standard-normal step noise [draws, B, D] (.npy) for stochastic solvers, used in order.")
    var stepNoise: String?

    @Option(help: "img2img: start every sample from this PNG (the image model's size and channels), noised to --strength.")
    var initImage: String?

    @Option(parsing: .unconditional, help: "img2img strength in (0, 1]: the last floor(steps * strength) steps run (default 0.8, or 1 with --mask).")
    var strength: Double?

    @Option(help: "Inpainting mask PNG for --init-image, the image's size: white regenerates, black keeps.")
    var mask: String?

    @Option(help: "Discrete models: categorical draws in float64 (default) or float32 (reproduces the truncated Gumbel noise of float32 pipelines, for study).")
    var categoricalPrecision: String?

    @Option(help: "Discrete models, fhs: tokens revealed per model evaluation (default 1, exact; k > 1 is the parallel variant).")
    var tokensPerStep: Int?

    @Option(help: "Output file: .npy (float32 samples) or .png (image grid or scatter plot).")
    var output: String = "samples.png"

    @Option(help: "Write a JSON report (model, solver, grid, NFE, wall time) to this file.")
    var report: String?

    /// Parses the flags, resolves what runs (``SamplingResolver``), samples, and writes the output.
    func run() throws {
        let started = ContinuousClock.now
        if try sampleDiscrete(started: started) { return }
        if try sampleDMCMC(started: started) { return }
        let outputKind = try OutputKind(path: output)
        if let report { try OutputKind.checkDirectory(of: report) }
        let resolved = try source.resolve()
        let (model, noiseSchedule, config) = (resolved.model, resolved.schedule, resolved.config)
        try outputKind.check(for: model)
        let image = try imageToImage(for: model)
        let plan = try SamplingResolver.resolve(try autoTuned(try request(for: model), model: model, schedule: noiseSchedule, config: config),
                                                model: model, schedule: noiseSchedule, config: config)
        if case let .recommendedTable(_, _, notApplied?) = plan.reason {
            FileHandle.standardError.write(Data("note: the model's \(ModelTuning.fileName) does not apply (\(notApplied)); using the default rule\n".utf8))
        }
        let sampled = try minorityGuided(try guidedModel(model, frame: noiseSchedule.frame), schedule: noiseSchedule)
        let threshold = thresholding ? try DynamicThresholding(ratio: thresholdingRatio, maxValue: sampleMaxValue) : nil
        let torch: TorchGenerator?
        switch rng {
        case "philox": torch = nil
        case "torch": torch = TorchGenerator(seed: seed)
        default: throw CLIError("unknown --rng '\(rng)' (known: philox, torch)")
        }
        let steer = try steering.steering(for: model, sampled: sampled, schedule: plan.schedule, seed: seed)
        let noise = try initialNoiseTensor(for: model, torch: torch, particles: steer.map { $0.sharesInitialSample ? 1 : $0.particles } ?? 1)
        let x = SampleTensor.initialSample(noise: noise, schedule: plan.schedule, level: plan.grid[0])
        let stepNoiseSource = try stepNoiseSource(plan, shape: noise.shape, schedule: plan.schedule, torch: torch)
        let (samples, evaluations, grid) = try steer.map {
            try steered($0, plan: plan, model: sampled, schedule: plan.schedule, x: x, noise: stepNoiseSource, thresholding: threshold)
        } ?? sample(plan.solver, model: sampled, schedule: plan.schedule, grid: plan.grid, x: x,
                    image: image.map { ($0, noise) }, noise: stepNoiseSource, thresholding: threshold)
        try outputKind.write(samples, model: model, to: output)
        let seconds = (ContinuousClock.now - started).seconds
        if let report {
            try RunReport(model: model, schedule: plan.schedule, solverName: plan.label, spacing: plan.spacing,
                          grid: grid, evaluations: evaluations, seconds: seconds, samples: samples, seed: initialNoise == nil ? seed : nil,
                          output: output, guidance: classLabel.map { ($0, guidance ?? 1, guidanceRescale) }).write(to: report)
        }
        let shape = model.sampleShape.map(String.init).joined(separator: "x")
        print("sampled \(samples.batchSize) x \(shape) from \(sampled.name) with \(plan.label)" + Self.why(plan) + " on \(plan.schedule.name): "
              + "\(grid.steps) steps, \(evaluations) model evaluations, \(String(format: "%.3f", seconds)) s")
        print("wrote \(output)")
    }

    /// The flags as a ``SamplingRequest``: numbers and names parsed, files read.
    private func request(for model: any DiffusionModel) throws -> SamplingRequest {
        guard sNoise.isFinite, sNoise >= 0 else { throw CLIError("--s-noise must be a non-negative number, got \(sNoise)") }
        guard sChurn.isFinite, sChurn >= 0 else { throw CLIError("--s-churn must be a non-negative number, got \(sChurn)") }
        guard !sTmin.isNaN else { throw CLIError("--s-tmin must be a number, got \(sTmin)") }
        guard !sTmax.isNaN else { throw CLIError("--s-tmax must be a number, got \(sTmax)") }
        if let eta, !(eta.isFinite && eta >= 0) { throw CLIError("--eta must be a non-negative number, got \(eta)") }
        guard let final = FinalNoise(rawValue: finalSigma) else {
            throw CLIError("unknown --final-sigma '\(finalSigma)' (known: zero, min)")
        }
        let stepNoise: StepNoiseKind?
        switch noiseSampler {
        case "auto": stepNoise = nil
        case "brownian": stepNoise = .brownianTree
        case "gaussian": stepNoise = .independent
        default: throw CLIError("unknown --noise-sampler '\(noiseSampler)' (known: auto, gaussian, brownian)")
        }
        let churn = sChurn > 0 ? Churn(sChurn: sChurn, sTmin: sTmin, sTmax: sTmax, sNoise: sNoise) : nil
        let options = SolverCatalog.Options(eta: eta, order: order, sNoise: sNoise, churn: churn, variance: variance,
                                            statistics: try self.statistics.map { try Self.statistics($0, for: model) },
                                            compensationRatios: try dcRatios.map { try Self.numbers($0, flag: "--dc-ratios") })
        var request = SamplingRequest(solver: solver, options: options, steps: steps, nfe: nfe, spacing: schedule, sigmaMin: sigmaMin,
                                      sigmaMax: sigmaMax, final: final, sigmas: try sigmas.map { try Self.numbers($0, flag: "--sigmas") },
                                      timesteps: try timesteps.map { try Self.numbers($0, flag: "--timesteps") },
                                      tunedFile: tuned.map { URL(fileURLWithPath: $0) }, guided: classLabel != nil || guidance != nil,
                                      stepNoise: stepNoise)
        (request.shift, request.imageSequenceLength, request.shiftTerminal) = (shift, imageSeqLen, shiftTerminal)
        request.options.interpolantDiffusion = try interpolantEps.map { try InterpolantDiffusion(parsing: $0) }
        request.options.timeShift = try timeShift.map { try TimeShift(parsing: $0) }
        request.time = try SamplingResolver.time(named: time)
        return request
    }

    /// What the summary line says after the solver's label about why it runs.
    static func why(_ plan: SamplingPlan) -> String {
        switch plan.reason {
        case .namedSolver, .tunedFile: ""
        case let .modelTuning(_, _, budget): " (the model's own \(ModelTuning.fileName), recommended for \(budget) NFE),"
        case let .recommendedTable(choice, budget, _):
            plan.spacing == choice.spacing.name ? ", \(plan.spacing) steps (recommended for \(budget) NFE\(onClass(choice))),"
                : " (recommended for \(budget) NFE\(onClass(choice))), \(plan.spacing) steps,"
        }
    }

    /// ` on a wide VP/VE schedule` and the like: the class of schedule the default rule chose for.
    static func onClass(_ choice: RecommendedConfiguration.Choice) -> String {
        switch choice.scheduleClass {
        case .narrow?: " on a VP/VE schedule with σ_max ≤ \(Int(RecommendedConfiguration.ScheduleClass.wideThreshold))"
        case .wide?: " on a VP/VE schedule with σ_max > \(Int(RecommendedConfiguration.ScheduleClass.wideThreshold))"
        case .flow?: " on a flow schedule"
        case nil: ""
        }
    }

    /// DPM-Solver-v3's statistics from `path`, checked against `model`.
    static func statistics(_ path: String, for model: any DiffusionModel) throws -> ModelStatistics {
        let statistics: ModelStatistics
        do { statistics = try ModelStatistics(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIError("--statistics '\(path)': \(error)")
        }
        try statistics.check(model: model)
        return statistics
    }

    static func numbers(_ text: String, flag: String) throws -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try parts.map {
            guard let value = Double($0), value.isFinite else { throw CLIError("\(flag): '\($0)' is not a number") }
            return value
        }
    }

    /// `particles` initial draws per sample for FK steering (1 otherwise).
    private func initialNoiseTensor(for model: any DiffusionModel, torch: TorchGenerator?, particles: Int = 1) throws -> SampleTensor {
        let defaultCount = model.sampleShape == [2] ? 512 : 16
        if let torch, initialNoise == nil {
            let batch = count ?? defaultCount
            guard batch >= 1, batch <= 1_000_000 else { throw CLIError("--count must be between 1 and 1000000, got \(batch)") }
            return torch.randn(shape: [batch * particles] + model.sampleShape)
        }
        if particles > 1, let batch = count ?? (initialNoise == nil ? defaultCount : nil) {
            guard batch >= 1, batch * particles <= 1_000_000 else { throw CLIError("--count x --particles must be between 1 and 1000000, got \(batch) x \(particles)") }
            return try NoiseInput.tensor(path: nil, count: batch * particles, defaultCount: defaultCount, seed: seed, model: model)
        }
        return try NoiseInput.tensor(path: initialNoise, count: count, defaultCount: defaultCount, seed: seed, model: model)
    }

    static func recordedNoise(_ path: String, batch shape: [Int]) throws -> RecordedNoise {
        let array = try NPYArray(contentsOf: URL(fileURLWithPath: path))
        let per = shape.reduce(1, *)
        guard array.shape.count >= 2, array.shape[1] == shape[0], array.shape.dropFirst().reduce(1, *) == per else {
            throw CLIError("step noise '\(path)' has shape \(array.shape); expected [draws, \(shape[0]), \(per / shape[0])]")
        }
        let values = array.float32Values
        let draws = (0..<array.shape[0]).map { SampleTensor(shape: shape, scalars: Array(values[($0 * per)..<(($0 + 1) * per)])) }
        return RecordedNoise(draws: draws)
    }

    /// Recorded step noise, the torch stream, a Brownian tree, or independent seeded draws.
    private func stepNoiseSource(_ plan: SamplingPlan, shape: [Int], schedule: any NoiseSchedule,
                                 torch: TorchGenerator?) throws -> any NoiseSource {
        if let stepNoise { return try Self.recordedNoise(stepNoise, batch: shape) }
        // torch: step noise continues the same stream, as a diffusers pipeline's generator does,
        // unless a Brownian tree is asked for by name.
        if let torch, noiseSampler != "brownian" { return torch }
        guard plan.stepNoise == .brownianTree else { return SeededNoise(seed: seed) }
        let sigmas = plan.grid.levels.filter { !$0.isClean }.map { schedule.displaySigma($0) }
        return BrownianTreeNoise(seed: seed, sigmaMin: sigmas.min() ?? 0, sigmaMax: sigmas.max() ?? 1)
    }

    /// The model itself, or its classifier-free-guided conditional model for `--class`.
    private func guidedModel(_ model: any DiffusionModel, frame: ODEFrame) throws -> any DiffusionModel {
        guard let classLabel else {
            if guidance != nil || guidanceRescale != 0 { throw CLIError("--guidance and --guidance-rescale need --class") }
            if guidanceRules.isSet { throw CLIError("--guidance-interval, --apg-* and --cfg-zero-star need --class") }
            return model
        }
        guard let conditional = model as? any ConditionalDiffusionModel else {
            throw CLIError("--class needs a class-conditional model; '\(model.name)' is not one")
        }
        let guided = try ClassifierFreeGuidance(base: conditional, classLabel: classLabel, scale: guidance ?? 1, rescale: guidanceRescale)
        return try guidanceRules.apply(to: guided, frame: frame)
    }

    /// `model` with `--minority-guidance W[,SIGMA]` (``MinorityGuidance``), or `model` without it.
    private func minorityGuided(_ model: any DiffusionModel, schedule: any NoiseSchedule) throws -> any DiffusionModel {
        guard let minorityGuidance else { return model }
        let parts = minorityGuidance.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let scale = Double(parts[0]), scale.isFinite,
              let sigma = parts.count == 2 ? Double(parts[1]) : 1, sigma.isFinite, sigma > 0 else {
            throw CLIError("--minority-guidance '\(minorityGuidance)': expected W[,SIGMA] with a finite W and a positive SIGMA")
        }
        let pullback: any DenoiserPullback = try (model as? GaussianMixture).map { try MixturePullback(mixture: $0) } ?? FiniteDifferencePullback(model: model)
        return try MinorityGuidance(pullback: pullback, scale: scale, level: schedule.level(sigma: sigma), seed: seed)
    }

    /// `--init-image`, `--strength` and `--mask` as an ``ImageToImage``, or `nil` without `--init-image`.
    private func imageToImage(for model: any DiffusionModel) throws -> ImageToImage? {
        guard let initImage else {
            if mask != nil || strength != nil { throw CLIError("--mask and --strength need --init-image") }
            return nil
        }
        func read(_ path: String, flag: String, _ convert: (PNGImage) throws -> SampleTensor) throws -> SampleTensor {
            guard FileManager.default.fileExists(atPath: path) else { throw CLIError("\(flag) '\(path)': no such file") }
            do { return try convert(try PNGDecoder.decode(contentsOf: URL(fileURLWithPath: path))) } catch {
                throw CLIError("\(flag) '\(path)': \(error)")
            }
        }
        let image = try read(initImage, flag: "--init-image") { try SampleTensor(image: $0, sampleShape: model.sampleShape) }
        let keep = try mask.map { path in try read(path, flag: "--mask") { try .keepMask($0, sampleShape: model.sampleShape) } }
        do { return try ImageToImage(image: image, strength: strength, keep: keep) } catch {
            throw CLIError("--strength: \(error)")
        }
    }

    /// Runs the plan (from `x`, or img2img from `image` noised with its standard-normal initial noise);
    /// returns the samples, the evaluations and the grid that ran.
    private func sample<S: Solver>(_ solver: S, model: any DiffusionModel, schedule: any NoiseSchedule, grid: TimeGrid,
                                   x: SampleTensor, image: (ImageToImage, SampleTensor)?, noise: any NoiseSource,
                                   thresholding: DynamicThresholding?) throws -> (SampleTensor, Int, TimeGrid) {
        let run = try image.map { try $0.makeRun(model: model, schedule: schedule, solver: solver, grid: grid, noise: $1,
                                                 stepNoise: noise, thresholding: thresholding) }
            ?? SamplingRun(model: model, schedule: schedule, solver: solver, grid: grid, initialSample: x, noise: noise,
                           thresholding: thresholding)
        let progress = ProgressLine(enabled: isatty(STDERR_FILENO) != 0)
        while let step = try run.advance() {
            progress.show(step, sigma: schedule.displaySigma(step.to))
        }
        progress.finish()
        return (run.sample, run.evaluations, run.grid)
    }
}

/// A one-line progress display on standard error, shown only on a terminal.
struct ProgressLine {
    let enabled: Bool
    func show(_ step: StepReport, sigma: Double) {
        guard enabled else { return }
        let line = "\rstep \(step.index + 1)/\(step.count)  sigma \(String(format: "%.4g", sigma))  nfe \(step.evaluations)   "
        FileHandle.standardError.write(Data(line.utf8))
    }
    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

