import Foundation

/// What the user asked for: a solver or none, the steps or a budget, and the overrides of the
/// step schedule (the flags of `diffuse sample`, parsed). `nil` means "not given".
public struct SamplingRequest: Sendable {
    /// A catalog name (``SolverCatalog``); `nil` lets the resolver choose.
    public var solver: String?
    /// The solver's options; ``SolverCatalog/Options/order`` counts as steps set by hand.
    public var options: SolverCatalog.Options
    public var steps: Int?
    /// The evaluation budget: the most steps that use at most this many model evaluations.
    public var nfe: Int?
    /// A step spacing name (``StepSpacing``).
    public var spacing: String?
    public var sigmaMin: Double?
    public var sigmaMax: Double?
    public var final: FinalNoise
    /// An explicit grid of noise levels, largest first.
    public var sigmas: [Double]?
    /// An explicit grid of model timesteps, largest first (followed by ``final``).
    public var timesteps: [Double]?
    /// A file written by `diffuse tune`.
    public var tunedFile: URL?
    /// Whether guidance samples another model than the unguided one a tuning saw (`--class`, `--guidance`).
    public var guided: Bool
    /// The step noise to draw; `nil` draws what the solver declares (``Solver/stepNoise``).
    public var stepNoise: StepNoiseKind?
    /// Flow sigmas on a rectified-flow schedule (``FlowSigmas``): a constant shift (`--shift`), the
    /// image's token count for Flux's dynamic shift (`--image-seq-len`), the last sigma (`--shift-terminal`).
    public var shift: Double?
    public var imageSequenceLength: Int?
    public var shiftTerminal: Double?
    /// The time the solver steps in (`--time`): the model's schedule in another ODE frame
    /// (``ReframedSchedule``), `nil` for its own.
    public var time: ODEFrame?

    public init(solver: String? = nil, options: SolverCatalog.Options = .init(), steps: Int? = nil, nfe: Int? = nil,
                spacing: String? = nil, sigmaMin: Double? = nil, sigmaMax: Double? = nil, final: FinalNoise = .zero,
                sigmas: [Double]? = nil, timesteps: [Double]? = nil, tunedFile: URL? = nil, guided: Bool = false,
                stepNoise: StepNoiseKind? = nil) {
        self.solver = solver; self.options = options; self.steps = steps; self.nfe = nfe; self.spacing = spacing
        self.sigmaMin = sigmaMin; self.sigmaMax = sigmaMax; self.final = final; self.sigmas = sigmas; self.timesteps = timesteps
        self.tunedFile = tunedFile; self.guided = guided; self.stepNoise = stepNoise
    }

    /// The flow-sigma flags given, by name.
    var flowFlags: [String] {
        [("--shift", shift != nil), ("--image-seq-len", imageSequenceLength != nil), ("--shift-terminal", shiftTerminal != nil)]
            .filter(\.1).map(\.0)
    }

    /// Steps or orders set by hand: a model's tuning and searched per-step decisions do not apply.
    var stepsSetByHand: Bool { spacing != nil || sigmas != nil || timesteps != nil || options.order != nil }

    /// No solver, steps, noise range or guidance set: the model's tuning or the default rule chooses
    /// (when flow sigmas and `--time` leave the steps to it too).
    var leavesChoiceToDefault: Bool {
        solver == nil && !stepsSetByHand && sigmaMin == nil && sigmaMax == nil && final == .zero && !guided
    }
}

/// Why the resolver chose what runs.
public enum SamplingReason: Sendable {
    /// The user named the solver.
    case namedSolver
    /// The configuration of a file written by `diffuse tune` (`--tuned`).
    case tunedFile(URL)
    /// The model folder's own `tuned.json` (``ModelTuning``) has this configuration for `budget`.
    case modelTuning(TunedConfiguration, ModelTuning, budget: Int)
    /// The default rule's choice for `budget` on the schedule (``RecommendedConfiguration/choice(forNFE:schedule:)``,
    /// whose ``RecommendedConfiguration/Choice/scheduleClass`` says which class of schedule it chose for); `modelTuningNotApplied` says why the model's
    /// `tuned.json`, when it has one, was not used (other weights, skip scales or schedule).
    case recommendedTable(RecommendedConfiguration.Choice, budget: Int, modelTuningNotApplied: String?)
}

/// What runs: the solver, its grid, and what the summary line and report call them.
public struct SamplingPlan: Sendable {
    public var solver: any Solver
    public var grid: TimeGrid
    /// The solver as the summary line and report name it (`uni_pc [bh2 orders …]`, a tuned run label, …).
    public var label: String
    /// The step schedule as the report names it (`karras`, `explicit sigmas`, `tuned`, …).
    public var spacing: String
    public var stepNoise: StepNoiseKind
    public var reason: SamplingReason
    /// The schedule the run steps on: the model's, or the model's in another frame (`--time`).
    public var schedule: any NoiseSchedule
}

/// Decides what `diffuse sample` runs. In order: a `--tuned` file's configuration; a named
/// solver; without one, the model's own tuned configuration for exactly the budget (unless the
/// steps are set by hand or guidance samples another model); else the default rule's choice for
/// the schedule and budget (``RecommendedConfiguration/choice(forNFE:schedule:)``), its named
/// solver when the steps are set by hand.
/// The reasons behind the order are in `docs/DEFAULT-CONFIGURATION.md`.
public enum SamplingResolver {
    /// The default budget without `--nfe` or `--steps`.
    public static let defaultBudget = 20

    /// The plan for `request` on `model` and `schedule` (with the diffusers scheduler config the
    /// schedule came from, for its default spacing and `steps_offset`). Without a named
    /// solver, a few-step config (`LCMScheduler`, `TCDScheduler`) runs its own (`lcm`, `tcd`).
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` in one line for contradicting options,
    ///   unknown names, a budget a solver cannot run in, or a tuned file that does not fit.
    public static func resolve(_ request: SamplingRequest, model: any DiffusionModel, schedule: any NoiseSchedule,
                               config: DiffusersSchedulerConfig? = nil) throws -> SamplingPlan {
        var request = request
        if request.solver == nil, let own = config?.fewStepSolverName { request.solver = own }
        return try resolve(request, model: model, schedule: schedule, defaultSpacing: defaultSpacingName(for: config),
                           stepsOffset: config?.stepsOffset ?? 0, flow: config?.flow, originalInferenceSteps: config?.originalInferenceSteps)
    }

    /// The plan for `request`, with the spacing used when neither the request nor the table names
    /// one, the offset of discrete timesteps (diffusers' `steps_offset`), and the flow options of a
    /// flow scheduler config, whose sigmas are then the grid unless the request gives its own. A
    /// few-step sampler with its own time steps (``SolverCatalog/ownStepSchedule(of:steps:originalSteps:final:)``)
    /// runs on them when the request places no steps, with LCM's `originalInferenceSteps`.
    public static func resolve(_ request: SamplingRequest, model: any DiffusionModel, schedule native: any NoiseSchedule,
                               defaultSpacing: String, stepsOffset: Int, flow: FlowConfiguration? = nil,
                               originalInferenceSteps: Int? = nil) throws -> SamplingPlan {
        if request.nfe != nil && request.steps != nil { throw invalid("give either --steps or --nfe, not both") }
        let schedule = Self.schedule(native, time: request.time)
        let reframed = schedule is ReframedSchedule
        if reframed && request.tunedFile != nil { throw invalid("--time: a --tuned configuration runs in the time it was tuned in") }
        let flowSigmas = try flowSigmas(request, schedule: schedule, flow: flow)
        if let steps = request.steps, steps < 1 { throw invalid("--steps must be at least 1, got \(steps)") }
        if let nfe = request.nfe, !(1...100_000).contains(nfe) { throw invalid("--nfe must be between 1 and 100000, got \(nfe)") }
        if let url = request.tunedFile {
            let (label, solver) = try tunedFileChoice(url, request: request, model: model, schedule: schedule, stepsOffset: stepsOffset)
            return plan(solver.solver, grid: solver.grid, label: label, spacing: "tuned", request: request, reason: .tunedFile(url), schedule: schedule)
        }
        let budget = request.nfe ?? request.steps ?? defaultBudget
        var notApplied: String?
        if request.leavesChoiceToDefault && flowSigmas == nil && !reframed {
            let (recommendation, why) = RecommendedConfiguration.recommendation(forNFE: budget, model: model, schedule: schedule)
            notApplied = why
            if case let .tuned(configuration, tuning) = recommendation {
                let (solver, grid) = try configuration.prepared(on: schedule, relativeTo: tuning.directory)
                return plan(solver, grid: grid, label: configuration.runLabel, spacing: "tuned", request: request,
                            reason: .modelTuning(configuration, tuning, budget: budget), schedule: schedule)
            }
        }
        let name: String, reason: SamplingReason, choice: RecommendedConfiguration.Choice?
        if let solver = request.solver {
            (name, reason, choice) = (solver, .namedSolver, nil)
        } else {
            // Flow sigmas place the steps as the spacing does when set by hand: the table names the solver only.
            var table = request.stepsSetByHand || flowSigmas != nil ? RecommendedConfiguration.namedChoice(forNFE: budget, schedule: schedule)
                : RecommendedConfiguration.choice(forNFE: budget, schedule: schedule)
            // A noise range set by hand needs a spacing defined by noise levels; time-uniform is trailing's own in continuous time.
            if table.spacing.isTimestepRule && (request.sigmaMin != nil || request.sigmaMax != nil) { table.spacing = .timeUniform }
            (name, reason, choice) = (table.solver, .recommendedTable(table, budget: budget, modelTuningNotApplied: notApplied), table)
        }
        var named = try SolverCatalog.solver(named: name, options: request.options)
        named = SolverCatalog.solver(named, on: schedule)  // LCMScheduler's scalings on a discrete schedule
        if request.options.interpolantDiffusion != nil && !(named is StochasticInterpolantSDE) {
            throw invalid("--interpolant-eps sets si_sde's diffusion coefficient; \(name) has none")
        }
        if request.options.timeShift != nil && !(named is TimeShiftDDIM || named is TimeShiftDPMSolver) {
            throw invalid("--time-shift sets the window and cutoff of ts_ddim and ts_dpm_solver; \(name) does not shift time steps")
        }
        if !reframed, schedule.trainingTimesteps != nil, !request.stepsSetByHand,
           var own = SolverCatalog.ownStepSchedule(of: named, steps: budget, originalSteps: originalInferenceSteps, final: request.final) {
            (own.sigmaMin, own.sigmaMax) = (request.sigmaMin, request.sigmaMax)   // refused by the rule, not dropped
            return plan(named, grid: try own.grid(on: schedule), label: name, spacing: own.spacing.name, request: request, reason: reason, schedule: schedule)
        }
        let spacing = flowSigmas.map { "flow-" + $0.rule.label } ?? spacingName(request, default: choice?.spacing.name ?? defaultSpacing)
        let grid = try named.adaptedGrid(try makeGrid(request, spacing: spacing, solver: named, budget: choice == nil ? request.nfe : budget,
                                                      schedule: schedule, stepsOffset: stepsOffset, flowSigmas: flowSigmas,
                                                      comfyShift: try comfyShift(request, flow: flow)),
                                         schedule: schedule)
        if let decisions = choice?.decisions, decisions.steps == grid.steps {
            return plan(try decisions.solver(), grid: grid, label: "\(name) [\(decisions.summary)]", spacing: spacing, request: request, reason: reason, schedule: schedule)
        }
        return plan(named, grid: grid, label: name, spacing: spacing, request: request, reason: reason, schedule: schedule)
    }

    /// The spacing a diffusers scheduler config asks for (`timestep_spacing`), else `karras`.
    /// DDIM-family configs (`set_alpha_to_one` present) take DDIM's own `leading` and `linspace`
    /// rules, which place the steps differently from the other schedulers'.
    public static func defaultSpacingName(for config: DiffusersSchedulerConfig?) -> String {
        guard let config, let spacing = config.timestepSpacing else { return "karras" }
        if config.setAlphaToOne != nil, spacing == "leading" || spacing == "linspace" { return "ddim-" + spacing }
        return spacing
    }

    private static func plan(_ solver: any Solver, grid: TimeGrid, label: String, spacing: String, request: SamplingRequest,
                             reason: SamplingReason, schedule: any NoiseSchedule) -> SamplingPlan {
        SamplingPlan(solver: solver, grid: grid, label: label, spacing: spacing, stepNoise: request.stepNoise ?? solver.stepNoise,
                     reason: reason, schedule: schedule)
    }

    private static func invalid(_ message: String) -> SamplingError { .invalidConfiguration(message) }

    /// `schedule` stepped in `time` (``ReframedSchedule``); itself for `nil` or its own frame.
    public static func schedule(_ schedule: any NoiseSchedule, time: ODEFrame?) -> any NoiseSchedule {
        guard let time, time != schedule.frame else { return schedule }
        return ReframedSchedule(schedule, frame: time)
    }

    /// The time named on the command line (`flag`): `native` (`nil`), `flow` or `sigma`.
    public static func time(named name: String, flag: String = "--time") throws -> ODEFrame? {
        switch name {
        case "native": return nil
        case "flow": return .rectifiedFlow
        case "sigma": return .varianceExploding
        default: throw invalid("unknown \(flag) '\(name)' (known: native, flow, sigma)")
        }
    }

    /// The shift ComfyUI's named schedules take on a flow schedule: `--shift`, else the flow
    /// config's own constant shift, as ComfyUI's `ModelSamplingDiscreteFlow` takes the model's. A
    /// config that shifts by the image size has no constant to give, so it needs `--shift`.
    private static func comfyShift(_ r: SamplingRequest, flow: FlowConfiguration?) throws -> Double? {
        if let shift = r.shift { return shift }
        guard let flow, let name = r.spacing, case .comfy? = StepSpacing(name: name) else { return nil }
        if flow.dynamicShifting != nil {
            throw invalid("--schedule \(name) takes a constant shift, and the scheduler config shifts by the image size (use_dynamic_shifting); give --shift")
        }
        if case .constant(let shift) = flow.sigmas.shift { return shift }
        return nil
    }

    private static func spacingName(_ request: SamplingRequest, default name: String) -> String {
        if request.sigmas != nil { return "explicit sigmas" }
        if request.timesteps != nil { return "explicit timesteps" }
        return request.spacing ?? name
    }

    /// The flow sigmas that place the grid: a flow config's rule, with `--shift`, `--image-seq-len` and
    /// `--shift-terminal` applied, or FlowMatchEuler's rule on `--noise-schedule flow` when one of
    /// them is given; `nil` when an explicit spacing or grid replaces them, or on other schedules
    /// (where the flags are refused).
    private static func flowSigmas(_ r: SamplingRequest, schedule: any NoiseSchedule, flow: FlowConfiguration?) throws -> FlowSigmas? {
        let given = r.flowFlags.first
        guard schedule.frame == .rectifiedFlow else {
            if let given { throw invalid("\(given) applies to flow schedules (--noise-schedule flow or a flow --scheduler-config), not '\(schedule.name)'") }
            return nil
        }
        let explicit = [("--schedule", r.spacing != nil), ("--sigmas", r.sigmas != nil), ("--timesteps", r.timesteps != nil)].first(where: \.1)?.0
        if let explicit {
            // ComfyUI's schedules take --shift as their ModelSamplingDiscreteFlow's (makeGrid).
            let comfy = r.spacing.flatMap { StepSpacing(name: $0) }.map { if case .comfy = $0 { true } else { false } } ?? false
            if let given, !(comfy && r.flowFlags == ["--shift"]) { throw invalid("\(given) shifts the flow sigmas, which \(explicit) replaces; give one of them") }
            return nil
        }
        if flow == nil && given == nil { return nil }
        let ranged = [("--sigma-min", r.sigmaMin != nil), ("--sigma-max", r.sigmaMax != nil), ("--final-sigma min", r.final == .minimum)]
        if let flag = ranged.first(where: \.1)?.0 {
            throw invalid("\(flag) does not apply to flow sigmas, which place their own ends; use --schedule or --sigmas")
        }
        var rule: FlowSigmas
        if let flow {
            if r.shift != nil && flow.dynamicShifting != nil {
                throw invalid("--shift: the scheduler config shifts by the image size (use_dynamic_shifting); give --image-seq-len")
            }
            rule = try flow.sigmas(imageSequenceLength: r.imageSequenceLength)
        } else {
            if r.shift != nil && r.imageSequenceLength != nil { throw invalid("give either --shift or --image-seq-len, not both") }
            rule = FlowSigmas(rule: .flowMatch)
            if let length = r.imageSequenceLength { rule.shift = try DynamicShifting().shift(imageSequenceLength: length) }
        }
        if let shift = r.shift { rule.shift = .constant(shift) }
        if let terminal = r.shiftTerminal { rule.shiftTerminal = terminal }
        return try rule.validated()
    }

    private static func makeGrid(_ request: SamplingRequest, spacing name: String, solver: any Solver, budget: Int?,
                                 schedule: any NoiseSchedule, stepsOffset: Int, flowSigmas: FlowSigmas? = nil,
                                 comfyShift: Double? = nil) throws -> TimeGrid {
        if request.sigmas != nil && request.timesteps != nil { throw invalid("give either --sigmas or --timesteps, not both") }
        if (request.sigmas != nil || request.timesteps != nil) && request.nfe != nil {
            throw invalid("--nfe does not apply to an explicit --sigmas or --timesteps grid")
        }
        if let sigmas = request.sigmas { return try StepSchedule.grid(sigmas: sigmas, on: schedule) }
        if let timesteps = request.timesteps { return try StepSchedule.grid(timesteps: timesteps, final: request.final, on: schedule) }
        let make: (Int) throws -> TimeGrid
        if let flowSigmas {
            make = { try flowSigmas.grid(steps: $0, on: schedule) }
        } else {
            guard var spacing = StepSpacing(name: name) else {
                throw invalid("unknown step schedule '\(name)' (known: \(StepSpacing.names.joined(separator: ", ")))")
            }
            if case .comfy(var comfy) = spacing, let shift = comfyShift { comfy.shift = shift; spacing = .comfy(comfy) }
            make = { (steps: Int) in
                try StepSchedule(spacing: spacing, steps: steps, sigmaMin: request.sigmaMin, sigmaMax: request.sigmaMax, final: request.final,
                                 stepsOffset: stepsOffset).grid(on: schedule)
            }
        }
        if let budget {
            guard let (_, grid) = try solver.steps(forBudget: budget, grid: make) else {
                throw invalid("\(solver.name) cannot run within \(budget) model evaluations")
            }
            return grid
        }
        return try make(request.steps ?? defaultBudget)
    }

    /// The configuration of the tuned file for `nfe` (or its only one; for a budget the file has
    /// no configuration for, DC-Solver with ratios predicted by its compensation rule), checked
    /// against the model and schedule and against options that would contradict it.
    private static func tunedFileChoice(_ url: URL, request r: SamplingRequest, model: any DiffusionModel, schedule: any NoiseSchedule,
                                        stepsOffset: Int) throws -> (label: String, solver: (solver: any Solver, grid: TimeGrid)) {
        let conflicts = [("--solver", r.solver != nil), ("--steps", r.steps != nil), ("--schedule", r.spacing != nil),
                         ("--sigmas", r.sigmas != nil), ("--timesteps", r.timesteps != nil), ("--order", r.options.order != nil),
                         ("--sigma-min", r.sigmaMin != nil), ("--sigma-max", r.sigmaMax != nil),
                         ("--statistics", r.options.statistics != nil), ("--dc-ratios", r.options.compensationRatios != nil)]
            + r.flowFlags.map { ($0, true) }
        if let first = conflicts.first(where: \.1)?.0 { throw invalid("--tuned sets the solver and time steps; drop \(first)") }
        if r.guided {
            throw invalid("--tuned configurations are tuned on the unguided model; --class and --guidance would sample another one")
        }
        let file = try TunedFile(contentsOf: url)
        try file.check(model: model, schedule: schedule)
        let configuration: TunedConfiguration
        if let nfe = r.nfe, !file.configurations.contains(where: { $0.nfe == nfe }), let rule = file.compensation {
            let prepared = try rule.prepared(steps: nfe, on: schedule, stepsOffset: stepsOffset)
            let fitted = rule.fittedSteps.map(String.init).joined(separator: ", ")
            return ("tuned dc_solver (ratios by cascade polynomial regression from NFE \(fitted))", prepared)
        } else if let nfe = r.nfe {
            configuration = try file.configuration(nfe: nfe)
        } else if file.configurations.count == 1, let only = file.configurations.first {
            configuration = only
        } else {
            throw invalid("--tuned: give --nfe, one of \(file.configurations.map { String($0.nfe) }.joined(separator: ", "))")
        }
        return (configuration.runLabel, try configuration.prepared(on: schedule, relativeTo: url.deletingLastPathComponent()))
    }
}

extension RecommendedConfiguration {
    /// What runs for a budget without a named solver: the model's own tuned configuration, or the
    /// default rule's choice.
    public enum Recommendation: Sendable {
        /// The configuration the model carries for exactly this budget (``ModelTuning``).
        case tuned(TunedConfiguration, ModelTuning)
        case table(Choice)

        /// What the model's tuned file found (a standard configuration it kept is named as such),
        /// or the table choice's label.
        public var label: String {
            switch self {
            case let .tuned(c, _):
                c.keptStandardLabel.map { "tuned for this model: \($0) (a standard configuration the tuner kept)" }
                    ?? "tuned for this model: \(c.method)"
            case let .table(choice): choice.label
            }
        }
    }

    /// The recommendation for `nfe` evaluations of `model` on `schedule`: the configuration the
    /// model carries for exactly that budget (``TunedDiffusionModel``), when it was tuned for these
    /// weights and skip scales on this schedule, else the default rule's ``choice(forNFE:schedule:)``. This is the
    /// default step of ``SamplingResolver``, and what `diffuse compare --solvers default` runs.
    ///
    /// - Returns: the recommendation, and why the model's tuned file does not apply when it has one
    ///   that does not (other weights, skip scales or schedule); a budget it has no configuration for
    ///   is not such a reason.
    public static func recommendation(forNFE nfe: Int, model: any DiffusionModel, schedule: any NoiseSchedule)
        -> (recommendation: Recommendation, notApplied: String?) {
        guard let tuning = (model as? any TunedDiffusionModel)?.tuning else { return (.table(choice(forNFE: nfe, schedule: schedule)), nil) }
        do {
            if let configuration = try tuning.configuration(nfe: nfe, model: model, schedule: schedule) {
                return (.tuned(configuration, tuning), nil)
            }
            return (.table(choice(forNFE: nfe, schedule: schedule)), nil)
        } catch {
            return (.table(choice(forNFE: nfe, schedule: schedule)), "\(error)")
        }
    }
}
