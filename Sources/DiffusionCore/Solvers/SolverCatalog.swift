/// The solver names users know from k-diffusion and ComfyUI, mapped onto solver types.
public enum SolverCatalog {
    /// Options that some solvers take; the rest ignore them.
    public struct Options: Sendable, Equatable {
        /// Fresh-noise amount η: 0 is deterministic, 1 ancestral; `nil` for the solver's default
        /// (0 for DDIM, 1 for the ancestral and SDE samplers).
        public var eta: Double?
        /// Overrides the order of a multistep or singlestep family (`--order`).
        public var order: Int?
        /// Scale of the fresh noise of ancestral, SDE and churned samplers (`s_noise`).
        public var sNoise: Double = 1
        /// Karras et al.'s churn for `euler` and `heun` (Algorithm 2), off when `nil`.
        public var churn: Churn?
        /// DDPM's posterior variance, `fixed_small` or `fixed_large`.
        public var variance: String?
        /// DPM-Solver-v3's empirical model statistics.
        public var statistics: ModelStatistics?
        /// DC-Solver's compensation ratios, one per step.
        public var compensationRatios: [Double]?
        /// The diffusion coefficient `ε(τ)` of `si_sde` (`--interpolant-eps`), `1·τ` when `nil`.
        public var interpolantDiffusion: InterpolantDiffusion?
        /// The window and cutoff of `ts_ddim` and `ts_dpm_solver` (`--time-shift`), the paper's defaults when `nil`.
        public var timeShift: TimeShift?

        public init(eta: Double? = nil, order: Int? = nil, sNoise: Double = 1, churn: Churn? = nil, variance: String? = nil,
                    statistics: ModelStatistics? = nil, compensationRatios: [Double]? = nil,
                    interpolantDiffusion: InterpolantDiffusion? = nil) {
            self.eta = eta; self.order = order; self.sNoise = sNoise; self.churn = churn; self.variance = variance
            self.statistics = statistics; self.compensationRatios = compensationRatios
            self.interpolantDiffusion = interpolantDiffusion
        }

        /// η, checked to lie in `[0, maximum]`, or the solver's default.
        func eta(default value: Double, maximum: Double = 1) throws -> Double {
            guard let eta else { return value }
            guard eta >= 0, eta <= maximum, eta.isFinite else {
                throw SamplingError.invalidConfiguration("--eta must lie in [0, \(maximum)], got \(eta)")
            }
            return eta
        }
    }

    /// One entry: the name, its aliases, what it is, and how to build it.
    public struct Entry: Sendable {
        public let name: String
        public let aliases: [String]
        public let summary: String
        /// Model evaluations per step (on steps that do not end at `σ = 0`).
        public let evaluationsPerStep: Int
        public let reference: String
        /// What the solver needs besides its name (a statistics file for `dpm_solver_v3`), or `nil`.
        public let needs: String?
        let make: @Sendable (Options) throws -> any Solver

        public init(name: String, aliases: [String] = [], summary: String, evaluationsPerStep: Int, reference: String,
                    needs: String? = nil, make: @escaping @Sendable (Options) throws -> any Solver) {
            self.name = name; self.aliases = aliases; self.summary = summary
            self.evaluationsPerStep = evaluationsPerStep; self.reference = reference; self.needs = needs; self.make = make
        }
    }

    public static let entries: [Entry] = foundationEntries + exponentialEntries + classicalEntries + tunedEntries + stochasticEntries
        + predictorCorrectorEntries + comfyEntries + comfyStochasticEntries + cfgPlusPlusEntries
        + cfgPlusPlusStochasticEntries + fewStepEntries + timeShiftEntries

    static let foundationEntries: [Entry] = [
        Entry(name: "ddim", aliases: [], summary: "DDIM (Song et al. 2021); --eta > 0 adds fresh noise",
              evaluationsPerStep: 1, reference: "diffusers DDIMScheduler") { options in
            DDIM(eta: try options.eta(default: 0))
        },
        Entry(name: "euler", aliases: [], summary: "Euler on the probability-flow ODE (Karras et al. 2022)",
              evaluationsPerStep: 1, reference: "k-diffusion sample_euler, diffusers EulerDiscreteScheduler") { o in Euler(churn: o.churn) },
        Entry(name: "heun", aliases: [], summary: "Heun's 2nd-order method (Karras et al. 2022, Algorithm 1)",
              evaluationsPerStep: 2, reference: "k-diffusion sample_heun, diffusers HeunDiscreteScheduler") { o in Heun(churn: o.churn) },
    ]

    /// All accepted names, primary names first.
    public static var names: [String] { entries.map(\.name) + entries.flatMap(\.aliases) }

    /// The entry for `name` or one of its aliases.
    public static func entry(named name: String) -> Entry? {
        entries.first { $0.name == name || $0.aliases.contains(name) }
    }

    /// Builds the solver called `name`.
    ///
    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` naming the known solvers when `name`
    ///   is unknown, or when an option is out of range.
    public static func solver(named name: String, options: Options = Options()) throws -> any Solver {
        guard let entry = entry(named: name) else {
            throw SamplingError.invalidConfiguration("unknown solver '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        return try entry.make(options)
    }
}
