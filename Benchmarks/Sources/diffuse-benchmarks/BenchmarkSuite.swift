import DiffusionSolvers
import Foundation

/// Regenerates `docs/BENCHMARKS.md`: every solver × spacing × NFE on the benchmark models, next to
/// the endpoints diffusers and k-diffusion reach from the same noise (`Benchmarks/peers/peers.json`,
/// written by `tools/benchmark_peers.py`), all measured against one ground truth per start.
struct BenchmarkSuite {
    /// Where the figures for the shipped networks are, which this suite (exact mixtures, SD's
    /// schedule, peers from the same noise) does not regenerate.
    static let networksNote = "**Networks.** The default's ratios on the shipped U-Nets are in \"Best for the budget\" below; everything else about them is measured apart: forward-pass time against PyTorch and the matrix multiply against the machine's peak in [`benchmarks/neural.md`](benchmarks/neural.md) (`tools/neural/bench_forward.py`), Skip-Tuning and solver figures on the networks in [`benchmarks/networks.md`](benchmarks/networks.md) (`diffuse skip-tune`, `diffuse compare`)."
    let root: URL
    let budgets = [5, 10, 20]
    let spacings: [StepSpacing] = [.karras(rho: 7), .logSNR, .linspace, .trailing, .timeUniform, .timeQuadratic, .alignYourSteps(.sd1)]
        + KarrasRamp.searched.map { .karrasRamp($0) }
    /// Spacings defined by noise levels relative to the schedule's own range, which mean the same
    /// grid on any schedule: the ones the default configuration may use.
    static func isScheduleIndependent(_ spacing: StepSpacing) -> Bool {
        switch spacing {
        case .karras, .logSNR: true
        case let .karrasRamp(ramp): KarrasRamp.searched.contains { $0.name == ramp.name }
        default: false
        }
    }

    struct Row {
        /// What the tables call the run: our configuration's label, or the peer's library, configuration and spacing.
        var label: String
        /// Our solver and spacing; `nil` for a peer's run.
        var configuration: SamplerComparison.Configuration?
        var nfe: Int; var rmse: Double; var library: String
        /// Whether the run integrates the common interval, from σ_max to σ = 0 (the peers that start
        /// lower, like DDIM `leading`, or stop at σ_min, like DEIS, solve an easier problem).
        var fullInterval = true
        /// The peer's scheduler or k-diffusion function.
        var sampler = ""
        /// Each draw's error `‖x − x_gt‖₂`, in the order of the noise (for bootstrap intervals).
        var sampleErrors: [Double]? = nil
    }

    /// A tuned configuration measured on the benchmark noise.
    struct TunedRow { var configuration: TunedConfiguration; var nfe: Int; var rmse: Double }

    /// One record of `Benchmarks/peers/peers.json` (written by `tools/benchmark_peers.py`): a peer
    /// sampler's endpoints from recorded start states, on the levels `sigmas` down to `final_sigma`.
    struct PeerRecord: Decodable {
        var model: String
        var library: String
        /// The diffusers scheduler or k-diffusion function.
        var sampler: String?
        var config: String
        var spacing: String
        var nfe: Int
        var sigmas: [Double]
        var finalSigma: Double
        /// Whether the peer's endpoints were not finite (`x_final` is then null).
        var referenceNaN: Bool?
        var xInit: [[Double]]
        var xFinal: [[Double]]?

        enum CodingKeys: String, CodingKey {
            case model, library, sampler, config, spacing, nfe, sigmas
            case finalSigma = "final_sigma", referenceNaN = "reference_nan", xInit = "x_init", xFinal = "x_final"
        }
    }

    struct PeerFile: Decodable { var cases: [PeerRecord] }

    /// The peer families the tuning targets are stated against: DPM-Solver++ 2M/3M, UniPC, DEIS.
    static let targetSamplers: Set<String> = ["DPMSolverMultistepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler", "sample_dpmpp_2m"]

    func run() throws {
        let schedule = try BenchmarkModels.schedule()
        let records = try JSONDecoder().decode(PeerFile.self, from: Data(contentsOf: root.appendingPathComponent("Benchmarks/peers/peers.json"))).cases
        let models = try BenchmarkModels.mixtures(root: root)
        let stochastic = Set(SolverCatalog.stochasticNames)
        // dc_solver without fitted ratios is uni_pc_bh2; its fitted form is in the tuned section.
        let solvers = SolverCatalog.entries.filter { $0.needs == nil && $0.name != "dc_solver" }.map(\.name).filter { $0 != "dpm_adaptive" && $0 != "dpmpp_2m_karras" && !stochastic.contains($0) }
        var distances: [String: [(String, Int, Double, Double)]] = [:]  // model → (sampler, NFE, FD, SW)
        var floors: [String: (Double, Double)] = [:]
        let cache = BenchmarkModels.groundTruthCache(root: root)
        let started = ContinuousClock.now
        var ours: [String: [Row]] = [:], theirs: [String: [Row]] = [:]
        var overhead: [String: Double] = [:]
        var tuned: [String: [TunedRow]] = [:], tunedSeconds: [String: Double] = [:]
        var groundTruthSeconds = 0.0
        for (name, model) in models {
            let npy = try NPYArray(contentsOf: root.appendingPathComponent("Benchmarks/peers/noise-\(name).npy"))
            let noise = SampleTensor(shape: [npy.shape[0]] + model.sampleShape, scalars: npy.float32Values)
            let comparison = SamplerComparison(model: model, schedule: schedule, noise: noise,
                                               groundTruth: GroundTruth(tolerance: 1e-7, cacheDirectory: cache), stepsOffset: 1)
            for solver in solvers {
                for spacing in spacings {
                    for nfe in budgets {
                        let c = SamplerComparison.Configuration(solver: solver, spacing: spacing, nfe: nfe)
                        guard let r = try? comparison.run(c) else { continue }
                        ours[name, default: []].append(Row(label: c.label, configuration: c, nfe: r.nfe, rmse: r.rmse, library: "ours",
                                                           sampleErrors: r.sampleErrors))
                    }
                }
            }
            // A default with searched per-step decisions is no solver × spacing of the grid above.
            for nfe in budgets {
                let c = SamplerComparison.Configuration.recommended(nfe: nfe)
                guard c.decisions != nil, let r = try? comparison.run(c) else { continue }
                ours[name, default: []].append(Row(label: c.label, configuration: c, nfe: r.nfe, rmse: r.rmse, library: "ours",
                                                   sampleErrors: r.sampleErrors))
            }
            // Stochastic samplers: their distance to the data, next to an ODE solver's and the floor
            // (the ground truth's own distance: 64 samples cannot match 64-D moments exactly).
            for sampler in SolverCatalog.stochasticNames + ["dpmpp_2m"] {
                for nfe in [10, 20, 40] {
                    guard let r = try? comparison.run(.init(solver: sampler, spacing: .karras(rho: 7), nfe: nfe)),
                          let fd = r.frechetToData, let sw = r.slicedWassersteinToData else { continue }
                    distances[name, default: []].append((sampler, r.nfe, fd, sw))
                }
            }
            if let reference = comparison.references.values.first, let fd = reference.frechetToData, let sw = reference.slicedWassersteinToData {
                floors[name] = (fd, sw)
            }
            groundTruthSeconds += comparison.references.values.reduce(0) { $0 + $1.seconds }
            // The peers: each record from its own recorded start state to its own end level.
            let truth = GroundTruth(tolerance: 1e-7, cacheDirectory: cache)
            for record in records where record.model == name {
                guard record.referenceNaN != true, let xFinal = record.xFinal, let start = record.sigmas.first else { continue }
                let x = SampleTensor(shape: [record.xInit.count] + model.sampleShape, scalars: record.xInit.flatMap { $0.map(Float.init) })
                let (solution, _) = try truth.solve(model: model, schedule: schedule, x: x, from: schedule.level(sigma: start),
                                                    to: schedule.level(sigma: record.finalSigma))
                let label = "\(record.library) \(record.config) \(record.spacing)" + (record.finalSigma > 0 ? " (to sigma_min)" : "")
                let full = record.finalSigma == 0 && abs(start - schedule.kSigma(at: 999)) <= 1e-4 * start
                theirs[name, default: []].append(Row(label: label + (full ? "" : " †"), nfe: record.nfe,
                                                     rmse: Metrics.rmse(xFinal.flatMap { $0 }, solution.endpoint),
                                                     library: record.library, fullInterval: full, sampler: record.sampler ?? "",
                                                     sampleErrors: Metrics.perSampleErrors(xFinal.flatMap { $0 }, solution.endpoint,
                                                                                           dimension: noise.sampleCount)))
            }
            overhead[name] = try modelEvaluationSeconds(model, schedule: schedule, noise: noise)
            // Configurations `diffuse tune` found for this model (Benchmarks/tuned/<model>.json), on
            // this noise, which tuning never saw.
            let tunedURL = root.appendingPathComponent("Benchmarks/tuned/\(name).json")
            if FileManager.default.fileExists(atPath: tunedURL.path) {
                let file = try TunedFile(contentsOf: tunedURL)
                try file.check(model: model, schedule: schedule)
                for c in file.configurations {
                    let (solver, grid) = try c.prepared(on: schedule, relativeTo: tunedURL.deletingLastPathComponent())
                    let r = try Self.run(solver, grid: grid, comparison: comparison, nfe: c.nfe)
                    tuned[name, default: []].append(TunedRow(configuration: c, nfe: r.nfe, rmse: r.rmse))
                }
                tunedSeconds[name] = file.seconds
            }
        }
        let heldOut = try heldOutReport(models: models, schedule: schedule, cache: cache)
        let seconds = (ContinuousClock.now - started).seconds
        var markdown = try report(models: models.map(\.0), ours: ours, theirs: theirs, overhead: overhead, seconds: seconds,
                                  groundTruthSeconds: groundTruthSeconds, heldOut: heldOut)
        markdown += tunedReport(models: models.map(\.0), tuned: tuned, seconds: tunedSeconds, theirs: theirs)
        markdown += stochasticReport(models: models.map(\.0), distances: distances, floors: floors)
        try AtomicFile.write(Data(markdown.utf8), to: root.appendingPathComponent("docs/BENCHMARKS.md"))
        print("wrote docs/BENCHMARKS.md and docs/benchmarks/*.png in \(String(format: "%.1f", seconds)) s")
    }

    /// Median seconds of one model evaluation on the benchmark batch.
    func modelEvaluationSeconds(_ model: GaussianMixture, schedule: any NoiseSchedule, noise: SampleTensor) throws -> Double {
        var out = SampleTensor(zeros: noise.shape)
        let level = schedule.level(at: 500)
        let iterations = model.componentCount > 100 ? 5 : 200
        return try Benchmarks.measure(iterations: iterations, rounds: 7) { try model.predict(noise, at: level, into: &out) }
    }

    func report(models: [String], ours: [String: [Row]], theirs: [String: [Row]], overhead: [String: Double], seconds: Double,
                groundTruthSeconds: Double, heldOut: String) throws -> String {
        var md: [String] = []
        md.append("# Benchmarks")
        md.append("")
        md.append("Regenerate with `swift run -c release diffuse-benchmarks --suite` (peers: `tools/benchmark_peers.py`). This run took \(String(format: "%.0f", seconds)) s on this machine (\(ProcessInfo.processInfo.activeProcessorCount) cores), ground truths included.")
        md.append("")
        md.append("**Setup.** Stable Diffusion's noise schedule (discrete VP, scaled_linear 0.00085–0.012, T = 1000, steps_offset 1), sampling to σ = 0 from 64 standard-normal draws per model (`Benchmarks/peers/noise-*.npy`, the same draws the peers start from). Models: `mixture-2d` (9 modes in 2-D), `glyphs-8x8` (10 digit glyphs, 64-D) and `digits-mixture` (the 1,797 scikit-learn 8x8 digits as mixture means with std 0.1, 64-D; CC BY 4.0, see `models/README.md`). All are Gaussian mixtures with exact denoisers, so the error is the solver's alone. **Error** = RMSE over all elements between a sampler's endpoints and the ground-truth solution of the probability-flow ODE from the same start state (Dormand–Prince 5(4), tolerance 1e-7). Peers' endpoints come from diffusers 0.42.1 and k-diffusion 0.1.1.post1 on the same model, noise and schedule; each is measured against the ground truth from its own recorded start state (diffusers' Euler/Heun and k-diffusion start at σ_max·z/√(1+σ_max²), DDIM `leading` starts at t = 801–951).")
        md.append("")
        md.append("Ratios below compare against the best peer that integrates the same interval, from σ_max to σ = 0. Peers marked † solve a shorter one — DDIM `leading` starts at t = 801–951, DEIS (which has no `final_sigmas_type`), UniPC with `sigma_min` and `sample_dpm_fast` stop at σ_min = 0.029 — and are listed with their error against the ground truth of their own interval, but not used as the reference.")
        md.append("")
        md.append(Self.networksNote)
        md.append("")
        md.append("## Best for the budget")
        md.append("")
        md.append(heldOut)
        md.append("")
        md.append("**The default on the peers' 64 draws**, against the peers' own endpoints (the best full-interval peer at each NFE, picked on these draws). On 64 draws the ratio of one configuration to another moves by tens of percent when one or two samples end in another mixture component than the ground truth (compare the two tables), which is why the default is chosen on the held-out draws above. In brackets: the 90% bootstrap interval over the 64 draws, as above; it holds the best peer fixed and so leaves out that the peer was picked as the best of 17 full-interval peers on these same draws (at 5 NFE on `glyphs-8x8`, k-diffusion's `lms karras` here, where on the 512 held-out draws `uni_pc linspace` is the best peer-equivalent and the default reaches 0.97 of it).")
        md.append("")
        // Per NFE: the peers' full-interval runs within the budget, the default's row, and the
        // default's ratio to a peer run with its bootstrap interval.
        func window(_ m: String, _ nfe: Int) -> [Row] { (theirs[m] ?? []).filter { $0.nfe <= nfe && $0.nfe > nfe / 2 && $0.fullInterval } }
        func ratio(_ m: String, _ nfe: Int, to peer: Row) -> String {
            let label = RecommendedConfiguration.choice(forNFE: nfe).label
            guard let row = ours[m]?.first(where: { $0.label == label && $0.nfe == bestNFE(label, nfe, ours[m]!) }) else { return "–" }
            return BenchmarkModels.ratioWithInterval(row.rmse / peer.rmse, errors: row.sampleErrors, reference: peer.sampleErrors ?? [], seed: UInt64(nfe))
        }
        var single = ["", "Against the best single peer configuration on these draws instead: the full-interval peer configuration whose worst ratio over the three models to the best peer there is smallest (one configuration, as a user runs it).", "",
                      "| NFE | default | best single peer (worst ratio to the best peer) | " + models.map { "\($0): ours / it" }.joined(separator: " | ") + " |",
                      "|---|---|---|" + models.map { _ in "---|" }.joined()]
        md.append("| NFE | default | " + models.map { "\($0): ours / best peer" }.joined(separator: " | ") + " |")
        md.append("|---|---|" + models.map { _ in "---|" }.joined())
        for nfe in budgets {
            let label = RecommendedConfiguration.choice(forNFE: nfe).label
            let best = models.map { m in window(m, nfe).min { $0.rmse < $1.rmse } }
            md.append("| \(nfe) | `\(label)` | " + zip(models, best).map { m, peer in
                peer.map { ratio(m, nfe, to: $0) + " (\($0.label))" } ?? "–"
            }.joined(separator: " | ") + " |")
            // Each peer configuration that ran on every model, with its worst ratio to the best peer.
            let singles = Set(window(models[0], nfe).map(\.label)).compactMap { peer -> (label: String, worst: Double, rows: [Row])? in
                let rows = models.compactMap { m in window(m, nfe).filter { $0.label == peer }.min { $0.rmse < $1.rmse } }
                guard rows.count == models.count else { return nil }
                return (peer, zip(rows, best).map { $0.rmse / ($1?.rmse ?? .nan) }.max()!, rows)
            }.sorted { ($0.worst, $0.label) < ($1.worst, $1.label) }
            guard let it = singles.first else { continue }
            single.append("| \(nfe) | `\(label)` | \(it.label) (\(String(format: "%.2f", it.worst))) | "
                          + zip(models, it.rows).map { ratio($0, nfe, to: $1) }.joined(separator: " | ") + " |")
        }
        md.append(contentsOf: single)
        md.append("")
        md.append("**Minimax on the peers' 64 draws**, for reference: the configuration whose worst ratio over the three models to the best peer is smallest there. The first table admits the spacings defined by noise levels (karras, logsnr, the searched ramps), which mean the same grid on any schedule; the second also the time-based spacings (linspace, trailing, time-uniform, time-quadratic) and Align Your Steps' SD levels (`ays`), measured on this discrete-time schedule only (its 20-NFE winner, `plms time-quadratic`, diverges on the shipped `photos` network, |x| up to 146).")
        let tables: [(title: String, qualifies: (StepSpacing) -> Bool)] = [
            ("Any schedule (karras, logsnr, searched ramps)", Self.isScheduleIndependent),
            ("Discrete-time VP schedules (every spacing)", { _ in true }),
        ]
        for (title, qualifies) in tables {
            md.append("")
            md.append("**\(title)**")
            md.append("")
            md.append("| NFE | recommended | " + models.map { "\($0): ours / best peer" }.joined(separator: " | ") + " | runner-up |")
            md.append("|---|---|" + models.map { _ in "---|" }.joined() + "---|")
            for nfe in budgets {
                var scores: [String: [Double]] = [:]
                var spacings: [String: StepSpacing] = [:]
                for m in models {
                    guard let bestPeer = theirs[m]?.filter({ $0.nfe <= nfe && $0.nfe > nfe / 2 && $0.fullInterval }).map(\.rmse).min() else { continue }
                    let rows = ours[m] ?? []
                    for row in rows where row.nfe <= nfe && row.nfe > nfe / 2 && row.nfe == bestNFE(row.label, nfe, rows) {
                        scores[row.label, default: []].append(row.rmse / bestPeer)
                        spacings[row.label] = row.configuration?.spacing
                    }
                }
                let complete = scores.filter { $0.value.count == models.count && spacings[$0.key].map(qualifies) == true }
                // Minimax: the configuration whose worst ratio over the models is smallest (ties: geometric mean).
                guard let best = complete.min(by: { ($0.value.max()!, geometricMean($0.value)) < ($1.value.max()!, geometricMean($1.value)) })
                else { continue }
                let second = complete.filter { $0.key != best.key }.min(by: { $0.value.max()! < $1.value.max()! })
                md.append("| \(nfe) | `\(best.key)` | " + best.value.map { String(format: "%.2f", $0) }.joined(separator: " | ") + " | "
                          + (second.map { "`\($0.key)` (worst \(String(format: "%.2f", $0.value.max()!)))" } ?? "") + " |")
            }
        }
        md.append("")
        for m in models {
            md.append("## \(m)")
            md.append("")
            md.append(String(format: "One model evaluation of the 64-sample batch: %.3f ms.", (overhead[m] ?? 0) * 1e3))
            md.append("")
            md.append("| NFE | best of ours | error | best peer | error | ratio | ours, top 5 |")
            md.append("|---|---|---|---|---|---|---|")
            for nfe in budgets {
                let o = (ours[m] ?? []).filter { $0.nfe <= nfe && $0.nfe > nfe / 2 }.sorted { $0.rmse < $1.rmse }
                let p = (theirs[m] ?? []).filter { $0.nfe <= nfe && $0.nfe > nfe / 2 && $0.fullInterval }.sorted { $0.rmse < $1.rmse }
                guard let bo = o.first, let bp = p.first else { continue }
                let top = o.prefix(5).map { "`\($0.label)` \(format($0.rmse))" }.joined(separator: ", ")
                md.append("| \(nfe) | `\(bo.label)` | \(format(bo.rmse)) | \(bp.label) | \(format(bp.rmse)) | \(String(format: "%.2f", bo.rmse / bp.rmse)) | \(top) |")
            }
            md.append("")
            md.append("<details><summary>All peer configurations</summary>")
            md.append("")
            md.append("| peer | NFE | error |")
            md.append("|---|---|---|")
            for row in (theirs[m] ?? []).sorted(by: { ($0.nfe, $0.rmse) < ($1.nfe, $1.rmse) }) {
                md.append("| \(row.label) | \(row.nfe) | \(format(row.rmse)) |")
            }
            md.append("")
            md.append("</details>")
            md.append("")
            md.append("<details><summary>All of our configurations</summary>")
            md.append("")
            md.append("| configuration | NFE | error |")
            md.append("|---|---|---|")
            for row in (ours[m] ?? []).sorted(by: { ($0.label, $0.nfe) < ($1.label, $1.nfe) }) {
                md.append("| \(row.label) | \(row.nfe) | \(format(row.rmse)) |")
            }
            md.append("")
            md.append("</details>")
            md.append("")
            try plot(m, ours: ours[m] ?? [], theirs: theirs[m] ?? [])
            md.append("![\(m): error against NFE](benchmarks/\(m).png)")
            md.append("")
        }
        md.append("## Sampler overhead")
        md.append("")
        md.append("The model evaluation above dominates: a solver step on the 64-sample 64-D batch costs microseconds. On a 4×64×64 latent (batch 1), the arithmetic a step adds, on the default (SSE2) build; the same benchmark built for AVX2 is in [`benchmarks/overhead-avx2.md`](benchmarks/overhead-avx2.md):")
        md.append("")
        md.append(try Benchmarks.kernelReport())
        md.append("")
        md.append("A step's cost follows the tensors it moves more than its arithmetic. The 64 KiB tensors sit in the 1 MiB L2 cache: a copy moves two tensors (one read, one write), an update that reads the state and two stored outputs moves four (about 2 copies here), and one that reads the state and four stored outputs moves six (about 3 copies on this build). The adds-only row moves the same six with a quarter of the multiplies and costs only 0–13% less across runs: on this portable build, whose loads are 16 bytes wide, the loads set the pace. So the solvers whose update combines four stored outputs with the state (`uni_pc` at order 3 with its corrector, `lms`, `ipndm`, `plms`) cost about 3 copies per step here, and 2.6–2.8 on the AVX2 build (32-byte loads), where the adds-only row costs as much as the update itself. A Swift package cannot switch to AVX2 at run time: the language has no per-function target attribute, and SwiftPM refuses the `unsafeFlags` that would set it in a package depended on by version.")
        md.append("")
        return md.joined(separator: "\n")
    }

    func stochasticReport(models: [String], distances: [String: [(String, Int, Double, Double)]], floors: [String: (Double, Double)]) -> String {
        var md = ["", "## Stochastic samplers: distance to the data", "",
                  "An SDE sampler does not follow the ODE trajectory, so its RMSE to the ODE solution says little; what it should reach is the data distribution. Fréchet distance of the samples' first two moments to the mixture's exact moments, and sliced 2-Wasserstein distance to 64 samples drawn from the mixture (64 projections), Karras steps, seeded step noise. The floor is the same distances for the ground-truth ODE endpoints from the same noise (64 samples cannot match the data's moments exactly); `dpmpp_2m` is the ODE reference.", ""]
        for m in models {
            guard let rows = distances[m] else { continue }
            md.append("### \(m)")
            md.append("")
            if let (fd, sw) = floors[m] { md.append(String(format: "Floor (ground truth): FD %.3e, SW %.3e.", fd, sw)); md.append("") }
            md.append("| sampler | NFE | FD to data | SW to data |")
            md.append("|---|---|---|---|")
            for (sampler, nfe, fd, sw) in rows { md.append("| \(sampler) | \(nfe) | \(format(fd)) | \(format(sw)) |") }
            md.append("")
        }
        return md.joined(separator: "\n")
    }

    static func run<S: Solver>(_ solver: S, grid: TimeGrid, comparison: SamplerComparison, nfe: Int) throws -> SamplerComparison.Result {
        try comparison.run(solver, grid: grid, name: "tuned", scheduleName: "tuned", nfeBudget: nfe)
    }

    /// The tuned configurations against the best peer DPM-Solver++ 2M/3M, UniPC or DEIS
    /// configuration on the same noise (issue targets: at most 0.5× at NFE 5 and 10, and NFE 5
    /// tuned at least as good as the best peer at NFE 10).
    func tunedReport(models: [String], tuned: [String: [TunedRow]], seconds: [String: Double], theirs: [String: [Row]]) -> String {
        guard !tuned.isEmpty else { return "" }
        var md = ["", "## Tuned to each model", "",
                  "`diffuse tune` (evolutionary search over time steps and UniPC's per-step decisions, GITS seeds, DC-Solver ratios, DPM-Solver-v3 statistics; finalists ranked on validation noise) ran on each model with its own seeded noise; its files are `Benchmarks/tuned/<model>.json`, regenerated by the commands in `Benchmarks/tuned/README.md`. Here they run on the benchmark noise above, which tuning never saw. The reference is the best peer configuration among diffusers' DPMSolverMultistep (2M, 3M), UniPC and DEIS and k-diffusion's DPM++ 2M with their schedules, over the full interval (σ_max to 0). Targets: tuned / best peer ≤ 0.5 at NFE 5 and 10, and tuned at NFE 5 ≤ best peer at NFE 10.", "",
                  "| model | NFE | tuned configuration | tuned RMSE | best peer | its RMSE | ratio | NFE 5 tuned / best peer at NFE 10 | tuning time |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for m in models {
            guard let rows = tuned[m] else { continue }
            let peers = (theirs[m] ?? []).filter { $0.fullInterval && Self.targetSamplers.contains($0.sampler) }
            func bestPeer(_ nfe: Int) -> Row? { peers.filter { $0.nfe <= nfe }.min { $0.rmse < $1.rmse } }
            for r in rows.sorted(by: { $0.nfe < $1.nfe }) {
                guard let p = bestPeer(r.nfe) else { continue }
                let cross = r.nfe == 5 ? bestPeer(10).map { String(format: "%.2f", r.rmse / $0.rmse) } ?? "–" : ""
                md.append("| \(m) | \(r.nfe) | \(r.configuration.method) | \(format(r.rmse)) | \(p.label) | \(format(p.rmse)) | \(String(format: "%.2f", r.rmse / p.rmse)) | \(cross) | \(seconds[m].map { String(format: "%.0f s", $0) } ?? "") |")
            }
        }
        md.append("")
        return md.joined(separator: "\n")
    }

    /// For a label, the largest NFE it used within `budget` (each configuration counted once per budget).
    /// Draws per model in ``heldOutReport(models:schedule:cache:)``.
    static let heldOutCount = 512
    /// The solvers the default is chosen from: one evaluation per step, so any budget is spent on
    /// as many steps. (`uni_pc` stays a candidate, though with Karras-like steps it leaves the data
    /// range on the `photos` network; `RecommendedConfiguration` records where that rules it out.)
    static let defaultCandidates = ["uni_pc", "uni_pc_bh2", "deis", "dpmpp_2m", "dpmpp_3m", "dpm_3m", "ipndm", "plms", "dpmpp_3s_diffusers"]

    /// The default configuration (``RecommendedConfiguration``) and the minimax choice among
    /// every candidate solver × spacing defined by noise levels (karras, logsnr, the searched
    /// ramps), both against our parity-tested equivalents of the peers' full-interval configurations
    /// (``BenchmarkModels/peerSolvers`` × ``BenchmarkModels/peerSpacings``) on ``heldOutCount`` seeded
    /// draws per model, which neither the search for the ramps nor the peers' 64 draws include.
    /// With 8× more samples than the peers' draws, the few that end in another mixture component
    /// than the ground truth move the ratio less.
    func heldOutReport(models: [(String, GaussianMixture)], schedule: any NoiseSchedule, cache: URL) throws -> String {
        var md = ["**How the default is chosen.** For each NFE, every candidate (" + Self.defaultCandidates.map { "`\($0)`" }.joined(separator: ", ")
                  + ") with every spacing defined by noise levels (karras, logsnr, and the searched ramps " + KarrasRamp.searched.map { "`\($0.name)`" }.joined(separator: ", ")
                  + ", which mean the same grid on any schedule) runs from \(Self.heldOutCount) standard-normal draws per model (`SeededNoise` seeds 9001–9003) that neither the peers' 64 draws nor the search for the ramps include. Its error is divided by the best of our parity-tested equivalents of the peers' full-interval configurations on the same draws (" + BenchmarkModels.peerSolvers.map { "`\($0)`" }.joined(separator: ", ")
                  + ", each with Karras and `linspace` steps; the best is named). The candidate with the smallest worst ratio over the three models is the held-out minimax. The default (`RecommendedConfiguration`, used by `diffuse sample` without `--solver`) is that minimax, or a UniPC solver schedule searched with its per-step decisions (orders, prediction types, correctors; `usf-5`, `usf-10`) where one does better, unless the shipped networks rule it out; the reasons are in `RecommendedConfiguration.swift` and `docs/benchmarks/networks.md`. In brackets: the 90% bootstrap interval of the default's ratio (2,000 resamples of the draws, the same for both configurations, with the reference configuration held fixed: the choice of the best of sixteen per model on these draws is not resampled, so the intervals are, if anything, too favourable to the peers' side).", "",
                  "| NFE | default | " + models.map { "\($0.0): ours / best peer-equivalent" }.joined(separator: " | ") + " | held-out minimax (worst ratio) | runner-up |",
                  "|---|---|" + models.map { _ in "---|" }.joined() + "---|---|"]
        let comparisons = models.enumerated().map { i, m in
            BenchmarkModels.comparison(m.1, schedule: schedule, seed: UInt64(9001 + i), count: Self.heldOutCount, cache: cache)
        }
        let spacings: [StepSpacing] = [.karras(rho: 7), .logSNR] + KarrasRamp.searched.map { .karrasRamp($0) }
        // The default against the single peer-equivalent configuration with the smallest worst ratio to
        // the per-model best: what a user who runs one peer configuration on every model gets.
        var singles: [Int: SamplerComparison.Configuration] = [:]
        var bestConfigurations: [[SamplerComparison.Configuration]] = []  // [NFE index][model]
        var single = ["", "**The default against the best single peer configuration** on the same held-out draws: the peer-equivalent configuration whose worst ratio over the three models to the per-model best peer-equivalent is smallest (a user runs one configuration, not the best of sixteen picked per model afterwards).", "",
                      "| NFE | default | best single peer-equivalent (worst ratio to the per-model best) | " + models.map { "\($0.0): ours / it" }.joined(separator: " | ") + " | minimax against it (worst ratio) |",
                      "|---|---|---|" + models.map { _ in "---|" }.joined() + "---|"]
        for nfe in budgets {
            let peers = comparisons.map { BenchmarkModels.peerEquivalents(on: $0, nfe: nfe) }
            let best = peers.map { p in p.min { $0.rmse < $1.rmse }! }
            bestConfigurations.append(best.map(\.configuration))
            let singleBest = peers[0].indices.map { k in (k, zip(peers, best).map { $0[k].rmse / $1.rmse }.max()!) }.min { $0.1 < $1.1 }!
            func ratios(_ solver: String, _ spacing: StepSpacing) -> (label: String, values: [Double]) {
                ("\(solver) \(spacing.name)", zip(comparisons, best).map { c, b in
                    ((try? c.run(.init(solver: solver, spacing: spacing, nfe: nfe)))?.rmse ?? .infinity) / b.rmse
                })
            }
            var candidates = Self.defaultCandidates.flatMap { solver in spacings.map { ratios(solver, $0) } }
            candidates.sort { ($0.values.max()!, geometricMean($0.values)) < ($1.values.max()!, geometricMean($1.values)) }
            let used = SamplerComparison.Configuration.recommended(nfe: nfe)
            let usedLabel = used.label
            let usedResults = comparisons.map { try? $0.run(used) }
            let defaultValues = zip(usedResults, best).map { r, b in (r?.rmse ?? .infinity) / b.rmse }
            func worst(_ r: (label: String, values: [Double])) -> String { "`\(r.label)` (\(String(format: "%.2f", r.values.max()!)))" }
            // The default's per-sample errors, for 90% bootstrap intervals of its ratios (the same
            // resampled draws for both sides of a ratio).
            func ratio(_ m: Int, _ value: Double, _ reference: [Double]) -> String {
                BenchmarkModels.ratioWithInterval(value, errors: usedResults[m]?.sampleErrors, reference: reference, seed: UInt64(nfe))
            }
            md.append("| \(nfe) | `\(usedLabel)` | " + (0..<models.count).map { m in
                ratio(m, defaultValues[m], best[m].errors) + " (`\(best[m].label)`)"
            }.joined(separator: " | ") + " | \(worst(candidates[0])) | \(worst(candidates[1])) |")
            // Ratios to the per-model best, times that best over the single configuration's error.
            let toSingle = (0..<models.count).map { m in best[m].rmse / peers[m][singleBest.0].rmse }
            let vsSingle = zip(defaultValues, toSingle).map(*)
            let singleMinimax = candidates.map { (label: $0.label, values: zip($0.values, toSingle).map(*)) }
                .min { ($0.values.max()!, geometricMean($0.values)) < ($1.values.max()!, geometricMean($1.values)) }!
            singles[nfe] = peers[0][singleBest.0].configuration
            single.append("| \(nfe) | `\(usedLabel)` | `\(peers[0][singleBest.0].label)` (\(String(format: "%.2f", singleBest.1))) | "
                          + (0..<models.count).map { m in ratio(m, vsSingle[m], peers[m][singleBest.0].errors) }
                            .joined(separator: " | ") + " | \(worst(singleMinimax)) |")
        }
        md.append(contentsOf: single)
        md.append(contentsOf: try otherMetricsReport(models: models, schedule: schedule, cache: cache, bestConfigurations: bestConfigurations))
        md.append(contentsOf: try networkReport(cache: cache, singles: singles))
        md.append("")
        return md.joined(separator: "\n")
    }

    /// The default and the per-model best peer-equivalent (`bestConfigurations[NFE index][model]`) on the
    /// held-out draws, by the other measures `diffuse compare` reports: the median per-draw error,
    /// the share of draws that end in the ground truth's mixture component, and the Fréchet
    /// distance of the samples' moments to the mixture's exact ones. RMSE is dominated by the few
    /// draws that end in another component; these show what happens to the rest.
    func otherMetricsReport(models: [(String, GaussianMixture)], schedule: any NoiseSchedule, cache: URL,
                            bestConfigurations: [[SamplerComparison.Configuration]]) throws -> [String] {
        var md = ["", "**The default and the best peer-equivalent by the other measures**, on the same held-out draws: RMSE is dominated by the few draws that end in another mixture component than the ground truth; the median error per draw (‖x − x_gt‖₂) shows the rest, and the Fréchet distance of the samples' first two moments to the mixture's exact ones (the ground-truth endpoints' own distance in the last column) shows the distribution.", "",
                  "| NFE | model | best peer-equivalent | RMSE: ours / it | median error per draw: ours, it | same component as the ground truth: ours, it | Fréchet distance to the data: ours, it, ground truth |",
                  "|---|---|---|---|---|---|---|"]
        for (m, (name, mixture)) in models.enumerated() {
            let comparison = BenchmarkModels.comparison(mixture, schedule: schedule, seed: UInt64(9001 + m), count: Self.heldOutCount, cache: cache)
            comparison.measuresDistances = true
            for (n, nfe) in budgets.enumerated() {
                let peer = bestConfigurations[n][m]
                let label = peer.label
                guard let ours = try? comparison.run(SamplerComparison.Configuration.recommended(nfe: nfe)),
                      let theirs = try? comparison.run(peer) else { continue }
                // Both start at the schedule's largest noise level: one ground truth.
                let truthDistance = comparison.references.count == 1 ? comparison.references.values.first?.frechetToData : nil
                func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "–" }
                func value(_ v: Double?) -> String { v.map { String(format: "%.3g", $0) } ?? "–" }
                md.append("| \(nfe) | \(name) | `\(label)` | " + String(format: "%.2f", ours.rmse / theirs.rmse)
                          + " | \(value(ours.medianError)), \(value(theirs.medianError)) | \(percent(ours.modeAgreement)), \(percent(theirs.modeAgreement)) | "
                          + "\(value(ours.frechetToData)), \(value(theirs.frechetToData)), \(value(truthDistance)) |")
            }
        }
        return md
    }

    /// The shipped networks and the draws the suite runs them from (seeds after the mixtures').
    static let networks: [(name: String, count: Int, seed: UInt64)] = [("digits", 128, 9004), ("photos", 32, 9005)]

    /// The default against the same peer-equivalent configurations on the shipped networks, each
    /// on its own schedule and seeded draws, which neither the networks' tuning nor any search for
    /// the table used. The default there is the network's own tuned configuration
    /// (``ModelTuning``, `tuned.json` in its folder); the table's choice, what a model without one
    /// gets, is measured too.
    ///
    /// - Parameter singles: The best single peer-equivalent configuration on the mixtures, per NFE.
    func networkReport(cache: URL, singles: [Int: SamplerComparison.Configuration]) throws -> [String] {
        var md = ["", "**The default on the shipped networks**, on draws neither their tuning nor any search for the table used. Each shipped network carries its own tuned configurations (`tuned.json` in its folder, written by `diffuse tune`; see `Benchmarks/tuned/README.md`), which `diffuse sample` runs without `--solver` at the budgets they were tuned for; a model without one gets the table above, measured here too. RMSE to the ground truth (Dormand–Prince 5(4) at tolerance 1e-5 with the network's float32 outputs) from "
                  + Self.networks.map { "\($0.count) draws for `\($0.name)` (`SeededNoise` \($0.seed))" }.joined(separator: " and ")
                  + ", each on the network's own schedule, against the same peer-equivalent configurations as above (the best of sixteen picked per network on these draws) and against the best single one on the mixtures. In brackets: 90% bootstrap intervals as above.", "",
                  "| network | NFE | default | its RMSE | best peer-equivalent | its RMSE | ours / it | ours / best single peer-equivalent on the mixtures | the table's choice / best peer-equivalent |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for network in Self.networks {
            guard let (comparison, _) = try BenchmarkModels.networkComparison(network.name, seed: network.seed, count: network.count, cache: cache) else { continue }
            for nfe in budgets {
                let peers = BenchmarkModels.peerEquivalents(on: comparison, nfe: nfe)
                guard let best = peers.min(by: { $0.rmse < $1.rmse }) else { continue }
                let (ours, used) = try comparison.runRecommended(nfe: nfe)
                let table = try comparison.run(.recommended(nfe: nfe))
                func ratio(_ result: SamplerComparison.Result, _ reference: BenchmarkModels.PeerEquivalent) -> String {
                    BenchmarkModels.ratioWithInterval(result.rmse / reference.rmse, errors: result.sampleErrors, reference: reference.errors, seed: UInt64(nfe))
                }
                func label(_ r: RecommendedConfiguration.Recommendation) -> String {
                    switch r {
                    case .tuned: r.label
                    case let .table(c): "`\(c.label)`"
                    }
                }
                let single = peers.first { $0.configuration == singles[nfe] }
                md.append("| \(network.name) | \(nfe) | \(label(used)) | \(format(ours.rmse)) | `\(best.label)` | \(format(best.rmse)) | \(ratio(ours, best)) | "
                          + (single.map { "\(ratio(ours, $0)) (`\($0.label)`)" } ?? "–") + " | \(ratio(table, best)) |")
            }
        }
        return md
    }

    func bestNFE(_ label: String, _ budget: Int, _ rows: [Row]) -> Int {
        rows.filter { $0.label == label && $0.nfe <= budget }.map(\.nfe).max() ?? 0
    }

    func geometricMean(_ v: [Double]) -> Double { exp(v.map { log(max($0, 1e-300)) }.reduce(0, +) / Double(v.count)) }
    func format(_ x: Double) -> String { String(format: "%.3e", x) }

    /// error-vs-NFE plot: our five best configurations at 10 NFE and every peer family.
    func plot(_ model: String, ours: [Row], theirs: [Row]) throws {
        let bestOurs = Set(ours.filter { $0.nfe <= 10 && $0.nfe > 5 }.sorted { $0.rmse < $1.rmse }.prefix(5).map(\.label))
        let bestPeers = Set(theirs.filter { $0.nfe <= 10 && $0.nfe > 5 }.sorted { $0.rmse < $1.rmse }.prefix(5).map(\.label))
        var series: [LinePlot.Series] = []
        for label in bestOurs.sorted() {
            series.append(.init(label: "ours: " + label, points: ours.filter { $0.label == label }.map { SIMD2(Double($0.nfe), $0.rmse) }.sorted { $0.x < $1.x }))
        }
        for label in bestPeers.sorted() {
            series.append(.init(label: label, points: theirs.filter { $0.label == label }.map { SIMD2(Double($0.nfe), $0.rmse) }.sorted { $0.x < $1.x }))
        }
        let plot = LinePlot(title: "\(model): error against NFE", xLabel: "NFE", yLabel: "RMSE to the ground-truth ODE solution", series: series)
        let directory = root.appendingPathComponent("docs/benchmarks")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try plot.png().write(to: directory.appendingPathComponent("\(model).png"))
        try AtomicFile.write(Data(plot.svg().utf8), to: directory.appendingPathComponent("\(model).svg"))
    }
}
