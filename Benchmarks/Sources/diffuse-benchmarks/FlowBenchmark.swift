import DiffusionSolvers
import Foundation

/// `diffuse-benchmarks --flow`: our solvers and step placements against diffusers' flow-matching
/// schedulers at 5, 10 and 20 NFE, on a rectified-flow mixture (`mixture-2d` with shift 3, exact
/// velocity) and on the shipped flow network `digits-flow` (its own shift 1), from the draws the
/// peers started from (`Benchmarks/peers/flow/<model>.safetensors`, `tools/benchmark_peers_flow.py`).
/// Error = RMSE of the endpoints to the ground-truth ODE solution from the same first level
/// (Dormand–Prince 5(4)); each peer against the ground truth from its own first sigma. Writes
/// `docs/benchmarks/flow.md`.
struct FlowBenchmark {
    let root: URL

    static let budgets = [5, 10, 20]
    static let solvers = ["euler", "heun", "dpmpp_2m", "dpmpp_3m", "uni_pc", "uni_pc_bh2", "deis", "ipndm"]

    /// A step placement of ours: diffusers' flow rules (``FlowSigmas``), ComfyUI's names with the
    /// model's shift, and the package's spacings in flow time (not `logsnr`, which has no first
    /// point at σ = 1).
    struct Placement {
        var name: String
        var grid: (Int, any NoiseSchedule) throws -> TimeGrid
    }

    static func placements(shift: Double) -> [Placement] {
        let f = FlowShift.constant(shift)
        func flow(_ name: String, _ sigmas: FlowSigmas) -> Placement { Placement(name: name) { try sigmas.grid(steps: $0, on: $1) } }
        func spacing(_ s: StepSpacing) -> Placement {
            Placement(name: s.name) { try StepSchedule(spacing: s, steps: $0, final: .zero).grid(on: $1) }
        }
        return [flow("flow-match", FlowSigmas(rule: .flowMatch, shift: f)),
                flow("flow-match karras", FlowSigmas(rule: .flowMatch, shift: f, spacing: .karras)),
                flow("flow-match beta", FlowSigmas(rule: .flowMatch, shift: f, spacing: .beta)),
                flow("flow-multistep", FlowSigmas(rule: .multistep, shift: f)),
                flow("flow-unipc", FlowSigmas(rule: .uniPC, shift: f))]
            + ComfySchedule.Kind.allCases.filter { $0 != .ddimUniform }.map { spacing(.comfy(ComfySchedule($0, shift: shift))) }
            + [spacing(.timeUniform), spacing(.karras(rho: 7))]
    }

    /// Our configuration that reproduces each peer (parity-tested in `FlowParityTests`), by peer id prefix.
    static let equivalents = ["flowmatch_euler": ("euler", "flow-match"), "flowmatch_heun": ("heun", "flow-match"),
                              "dpmpp_2m": ("dpmpp_2m", "flow-multistep"), "unipc_bh2": ("uni_pc_bh2", "flow-unipc")]

    struct PeerRecord: Decodable { var id: String; var label: String; var nfe: Int; var budget: Int }

    struct Row { var label: String; var nfe: [Int: Int] = [:]; var rmse: [Int: Double] = [:] }

    func run() throws {
        let started = ContinuousClock.now
        let cache = BenchmarkModels.groundTruthCache(root: root)
        let schedule = RectifiedFlowSchedule()
        var md: [String] = []
        var summaries: [String] = []
        var modelLines: [String] = []
        for (name, model, tolerance) in try models() {
            let file = try SafetensorsFile(contentsOf: root.appendingPathComponent("Benchmarks/peers/flow/\(name).safetensors"))
            guard let shiftText = file.metadata["shift"], let shift = Double(shiftText), let recordsText = file.metadata["records"] else {
                throw SamplingError.invalidConfiguration("Benchmarks/peers/flow/\(name).safetensors: no shift or records")
            }
            let records = try JSONDecoder().decode([PeerRecord].self, from: Data(recordsText.utf8))
            let (noiseShape, noiseValues) = try file.float32Tensor("noise")
            let noise = SampleTensor(shape: [noiseShape[0]] + model.sampleShape, scalars: noiseValues)
            let comparison = SamplerComparison(model: model, schedule: schedule, noise: noise,
                                               groundTruth: GroundTruth(tolerance: tolerance, cacheDirectory: cache))
            comparison.measuresDistances = false
            var ours: [String: Row] = [:], order: [String] = []
            for placement in Self.placements(shift: shift) {
                for solverName in Self.solvers {
                    let solver = try SolverCatalog.solver(named: solverName)
                    let label = "\(solverName) \(placement.name)"
                    for budget in Self.budgets {
                        guard let r = try? Self.run(solver, placement: placement, budget: budget, comparison: comparison, schedule: schedule,
                                                    label: label) else { continue }
                        if ours[label] == nil { order.append(label); ours[label] = Row(label: label) }
                        ours[label]?.rmse[budget] = r.rmse
                        ours[label]?.nfe[budget] = r.nfe
                    }
                }
            }
            var peers: [String: Row] = [:], peerOrder: [String] = []
            var peerIDs: [String: String] = [:]
            for record in records {
                let x = try file.float32Tensor("\(record.id).x_final").values.map(Double.init)
                let sigmas = try file.float64Tensor("\(record.id).sigmas").values
                let reference = try comparison.reference(from: schedule.level(sigma: sigmas[0]))
                let key = record.label
                if peers[key] == nil { peerOrder.append(key); peers[key] = Row(label: key) }
                peers[key]?.rmse[record.budget] = Metrics.rmse(x, reference.endpoint)
                peers[key]?.nfe[record.budget] = record.nfe
                peerIDs[key] = String(record.id.split(separator: ".")[0])
            }
            let truths = comparison.references.values
            modelLines.append(String(format: "`%@` (%d draws, shift %g): %d ground truths (one per first level), %d–%d evaluations, error estimates ≤ %.1e, tolerance %.0e",
                                     name, noise.batchSize, shift, truths.count, truths.map(\.evaluations).min() ?? 0,
                                     truths.map(\.evaluations).max() ?? 0, truths.map(\.errorEstimate).max() ?? 0, tolerance))

            md.append("## \(name)")
            md.append("")
            md.append("| configuration | RMSE at 5 NFE | at 10 NFE | at 20 NFE |")
            md.append("|---|---|---|---|")
            func cells(_ row: Row) -> String {
                Self.budgets.map { b in
                    guard let e = row.rmse[b] else { return "—" }
                    let n = row.nfe[b] ?? b
                    return String(format: "%.3e", e) + (n != b ? " (\(n))" : "")
                }.joined(separator: " | ")
            }
            for key in peerOrder { md.append("| diffusers \(key) | \(cells(peers[key]!)) |") }
            for key in order { md.append("| \(key) | \(cells(ours[key]!)) |") }
            md.append("")

            for budget in Self.budgets {
                let bestPeer = peers.values.compactMap { r in r.rmse[budget].map { (r.label, $0) } }.min { $0.1 < $1.1 }
                let bestOurs = ours.values.compactMap { r in r.rmse[budget].map { (r.label, $0) } }.min { $0.1 < $1.1 }
                guard let bestPeer, let bestOurs else { continue }
                var parity: [String] = []
                for (label, id) in peerIDs.sorted(by: { $0.key < $1.key }) {
                    guard let (solver, grid) = Self.equivalents[id], let theirs = peers[label]?.rmse[budget],
                          let mine = ours["\(solver) \(grid)"]?.rmse[budget] else { continue }
                    parity.append(String(format: "%@ %.3e / %.3e", solver, mine, theirs))
                }
                summaries.append(String(format: "| %@ | %d | %@ (%.3e) | `%@` (%.3e) | %.2f | %@ |", name, budget, bestPeer.0, bestPeer.1,
                                        bestOurs.0, bestOurs.1, bestOurs.1 / bestPeer.1, parity.joined(separator: "; ")))
            }
        }
        let seconds = (ContinuousClock.now - started).seconds
        var out: [String] = []
        out.append("# Flow benchmark")
        out.append("")
        out.append(String(format: "Regenerate with `swift run -c release diffuse-benchmarks --flow` (peers: `tools/benchmark_peers_flow.py`). This run took %.0f s on this machine (%d cores), ground truths included.",
                          seconds, ProcessInfo.processInfo.activeProcessorCount))
        out.append("")
        out.append("**Setup.** Rectified flow `x = (1 − σ)·x₀ + σ·ε`, sampled from `x = ε` at the first sigma to σ = 0. Models: `mixture-2d` (9 modes in 2-D) with its exact flow velocity, on SD3's shift 3, and the shipped network `digits-flow` (velocity prediction, its config's shift 1, class label 10 = unconditional). **Error** = RMSE over all elements between a sampler's endpoints and the ground-truth solution of the probability-flow ODE from the same start (Dormand–Prince 5(4); each peer against the ground truth from its own first sigma: 1 for FlowMatch, `shift(0.999)` for DPM-Solver's flow sigmas, `1 − 10⁻⁶` for UniPC's). Peers: diffusers 0.42.1's flow schedulers on the same model and draws. Ours: each solver on diffusers' flow placements (`flow-match`: FlowMatchEuler's sigmas, with its Karras and beta options; `flow-multistep`: DPM-Solver's flow sigmas; `flow-unipc`: UniPC's), ComfyUI's named schedules with the model's shift, and the package's spacings in flow time (`time-uniform`, `karras`, unshifted; `logsnr` has no first point at σ = 1). A number in brackets is the NFE used where it is below the budget (Heun: 2N − 1).")
        out.append("")
        for line in modelLines { out.append("- " + line) }
        out.append("")
        out.append("## Summary")
        out.append("")
        out.append("Best of each side per budget, and our parity-tested equivalents of four peers on the same draws (ours / diffusers). They agree to the digits shown on the mixture; on `digits-flow` diffusers' DPM-Solver and UniPC call the network at their integer timesteps `⌊1000·σ⌋` and ours at `1000·σ` (FlowMatch passes `1000·σ` too), which moves those two by up to 5%.")
        out.append("")
        out.append("| model | NFE | best diffusers scheduler (RMSE) | best of ours (RMSE) | ours / it | equivalents: ours / diffusers |")
        out.append("|---|---|---|---|---|---|")
        out += summaries
        out.append("")
        out += md
        let url = root.appendingPathComponent("docs/benchmarks/flow.md")
        try AtomicFile.write(Data(out.joined(separator: "\n").utf8), to: url)
        print(summaries.joined(separator: "\n"))
        print("wrote docs/benchmarks/flow.md in \(String(format: "%.1f", seconds)) s")
    }

    /// The flow models: the 2-D mixture (exact velocity, tolerance 1e-7) and `digits-flow` (float32 network, 1e-5).
    func models() throws -> [(String, any DiffusionModel, Double)] {
        guard let network = try BuiltInModels.model(named: "digits-flow") else {
            throw SamplingError.invalidConfiguration("no built-in model digits-flow")
        }
        return [("mixture-2d", BuiltInModels.ring, 1e-7), ("digits-flow", network, GroundTruth.defaultTolerance(for: network))]
    }

    /// `solver` on `placement` with the most steps that fit `budget` evaluations.
    static func run<S: Solver>(_ solver: S, placement: Placement, budget: Int, comparison: SamplerComparison, schedule: any NoiseSchedule,
                               label: String) throws -> SamplerComparison.Result {
        guard let (_, grid) = try solver.steps(forBudget: budget, grid: { try placement.grid($0, schedule) }) else {
            throw SamplingError.invalidConfiguration("\(label) cannot run within \(budget) evaluations")
        }
        return try comparison.run(solver, grid: try solver.adaptedGrid(grid, schedule: schedule), name: label, scheduleName: placement.name,
                                  nfeBudget: budget)
    }
}
