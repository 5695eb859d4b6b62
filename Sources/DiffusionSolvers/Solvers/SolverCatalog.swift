/// The solver names users know from k-diffusion and ComfyUI, mapped onto solver types.
public enum SolverCatalog {
    /// Options that some solvers take; the rest ignore them.
    public struct Options: Sendable, Equatable {
        /// Fresh-noise amount for DDIM (0 = deterministic).
        public var eta: Double = 0
        /// Overrides the order of a multistep or singlestep family (`--order`).
        public var order: Int?
        public init(eta: Double = 0, order: Int? = nil) { self.eta = eta; self.order = order }
    }

    /// One entry: the name, its aliases, what it is, and how to build it.
    public struct Entry: Sendable {
        public let name: String
        public let aliases: [String]
        public let summary: String
        /// Model evaluations per step (on steps that do not end at `σ = 0`).
        public let evaluationsPerStep: Int
        public let reference: String
        let make: @Sendable (Options) throws -> any Solver

        public init(name: String, aliases: [String] = [], summary: String, evaluationsPerStep: Int, reference: String,
                    make: @escaping @Sendable (Options) throws -> any Solver) {
            self.name = name; self.aliases = aliases; self.summary = summary
            self.evaluationsPerStep = evaluationsPerStep; self.reference = reference; self.make = make
        }
    }

    public static let entries: [Entry] = foundationEntries + exponentialEntries + classicalEntries

    static let foundationEntries: [Entry] = [
        Entry(name: "ddim", aliases: [], summary: "DDIM (Song et al. 2021); --eta > 0 adds fresh noise",
              evaluationsPerStep: 1, reference: "diffusers DDIMScheduler") { options in
            guard options.eta >= 0, options.eta <= 1 else {
                throw SamplingError.invalidConfiguration("--eta must lie in [0, 1], got \(options.eta)")
            }
            return DDIM(eta: options.eta)
        },
        Entry(name: "euler", aliases: [], summary: "Euler on the probability-flow ODE (Karras et al. 2022)",
              evaluationsPerStep: 1, reference: "k-diffusion sample_euler, diffusers EulerDiscreteScheduler") { _ in Euler() },
        Entry(name: "heun", aliases: [], summary: "Heun's 2nd-order method (Karras et al. 2022, Algorithm 1)",
              evaluationsPerStep: 2, reference: "k-diffusion sample_heun, diffusers HeunDiscreteScheduler") { _ in Heun() },
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
