import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// Runs the built `diffuse` binary, as a user would; with the automatic tuning off (`DIFFUSE_AUTO_TUNE=off`)
/// unless `environment` turns it on, so that tests of other features sample with the default rule, quickly.
struct Diffuse {
    static let binary: URL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("diffuse")

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["DIFFUSE_AUTO_TUNE": "off"].merging(environment) { $1 }) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// The sigmas in the report of `diffuse sample` on `mixture-2d` with `arguments`.
func reportedSigmas(_ arguments: [String]) throws -> [Double] {
    let dir = try temporaryDirectory()
    let report = dir.appendingPathComponent("r.json").path
    let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--count", "4", "--output", dir.appendingPathComponent("o.npy").path,
                                  "--report", report] + arguments)
    try #require(result.status == 0, "\(result.stderr)")
    let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
    return try #require(json["sigmas"] as? [Double])
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("diffuse sample, end to end")
struct CommandLineTests {
    @Test("the README's default run writes a PNG of the built-in model and prints a summary")
    func defaultRun() throws {
        let dir = try temporaryDirectory()
        let png = dir.appendingPathComponent("samples.png").path
        let result = try Diffuse.run(["sample", "--count", "2", "--output", png])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("from digits") && result.stdout.contains("model evaluations"), "\(result.stdout)")
        let image = try PNGDecoder.decode(contentsOf: URL(fileURLWithPath: png))
        #expect(image.width >= 64 && image.height >= 64)
    }

    @Test("npy output and the JSON report describe the run", arguments: ["ddim", "euler", "heun"])
    func npyAndReport(solver: String) throws {
        let dir = try temporaryDirectory()
        let npy = dir.appendingPathComponent("out.npy"), report = dir.appendingPathComponent("report.json")
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--solver", solver, "--steps", "8", "--count", "5",
                                      "--noise-schedule", "vp-linear", "--schedule", "logsnr",
                                      "--output", npy.path, "--report", report.path])
        #expect(result.status == 0, "\(result.stderr)")
        let array = try NPYArray(contentsOf: npy)
        #expect(array.shape == [5, 2])
        #expect(array.float32Values.allSatisfy { $0.isFinite })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        #expect(json["solver"] as? String == solver)
        #expect(json["steps"] as? Int == 8)
        #expect(json["nfe"] as? Int == (solver == "heun" ? 15 : 8))
        #expect((json["sigmas"] as? [Double])?.count == 9)
        #expect((json["timesteps"] as? [Double])?.count == 9)
        #expect(json["wall_seconds"] as? Double != nil)
        #expect(json["model"] as? String == "mixture-2d")
    }

    @Test("the same seed gives bit-identical output; --initial-noise reproduces a seeded run")
    func determinism() throws {
        let dir = try temporaryDirectory()
        let a = dir.appendingPathComponent("a.npy").path, b = dir.appendingPathComponent("b.npy").path
        let args = ["sample", "--model", "glyphs-8x8", "--solver", "ddim", "--eta", "0.5", "--steps", "6", "--count", "4", "--seed", "9"]
        #expect(try Diffuse.run(args + ["--output", a]).status == 0)
        #expect(try Diffuse.run(args + ["--output", b]).status == 0)
        let dataA = try Data(contentsOf: URL(fileURLWithPath: a)), dataB = try Data(contentsOf: URL(fileURLWithPath: b))
        #expect(dataA == dataB)

        // Draw the seed's initial noise into a file and feed it back: same deterministic result.
        let noise = SeededNoise(seed: 9).initialNoise(shape: [4, 64])
        let noiseFile = dir.appendingPathComponent("noise.npy")
        try NPYArray(shape: [4, 64], float32: noise.scalars).write(to: noiseFile)
        let det = ["sample", "--model", "glyphs-8x8", "--solver", "heun", "--steps", "6"]
        let c = dir.appendingPathComponent("c.npy").path, d = dir.appendingPathComponent("d.npy").path
        #expect(try Diffuse.run(det + ["--seed", "9", "--count", "4", "--output", c]).status == 0)
        #expect(try Diffuse.run(det + ["--initial-noise", noiseFile.path, "--output", d]).status == 0)
        let arrayC = try NPYArray(contentsOf: URL(fileURLWithPath: c)), arrayD = try NPYArray(contentsOf: URL(fileURLWithPath: d))
        #expect(arrayC == arrayD)
    }

    @Test("a diffusers scheduler_config.json with its own spacing, explicit sigmas and timesteps")
    func schedulerConfigAndExplicitGrids() throws {
        let dir = try temporaryDirectory()
        let config = Fixtures.url("scheduler_config_sd.json").path
        let out = dir.appendingPathComponent("o.npy").path, report = dir.appendingPathComponent("r.json").path
        var result = try Diffuse.run(["sample", "--model", "glyphs-8x8", "--scheduler-config", config, "--solver", "ddim", "--steps", "10",
                                      "--count", "2", "--output", out, "--report", report])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        // SD's config: DDIM leading spacing with steps_offset 1 → 901, 801, …, 1, then the final level.
        #expect((json["timesteps"] as? [Double])?.prefix(3) == [901, 801, 701])
        #expect(json["step_schedule"] as? String == "ddim-leading")

        result = try Diffuse.run(["sample", "--model", "mixture-2d", "--solver", "heun", "--sigmas", "80,10,1,0.1,0", "--count", "3", "--output", out,
                                  "--report", report])
        #expect(result.status == 0, "\(result.stderr)")
        let json2 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect(json2["sigmas"] as? [Double] == [80, 10, 1, 0.1, 0])
        #expect(json2["nfe"] as? Int == 7)

        result = try Diffuse.run(["sample", "--model", "glyphs-8x8", "--scheduler-config", config, "--timesteps", "999,500,100", "--solver", "euler",
                                  "--count", "3", "--output", out])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("every noise schedule and spacing runs from the command line")
    func schedulesAndSpacings() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("o.npy").path
        for schedule in ["vp-linear", "vp-cosine", "edm", "flow"] {
            for spacing in ["karras", "exponential", "time-uniform", "logsnr", "time-quadratic"] {
                for final in ["zero", "min"] {
                    // logsnr cannot start at flow's pure noise (λ = −∞): it needs --sigma-max below 1.
                    let extra = schedule == "flow" && spacing == "logsnr" ? ["--sigma-max", "0.99"] : []
                    let r = try Diffuse.run(["sample", "--model", "mixture-2d", "--noise-schedule", schedule, "--schedule", spacing,
                                             "--final-sigma", final, "--steps", "4", "--count", "2", "--output", out] + extra)
                    #expect(r.status == 0, "\(schedule) \(spacing) \(final): \(r.stderr)")
                }
            }
        }
        let config = Fixtures.url("scheduler_config_sd.json").path
        for spacing in StepSpacing.names {
            let r = try Diffuse.run(["sample", "--model", "glyphs-8x8", "--scheduler-config", config, "--schedule", spacing, "--steps", "5",
                                     "--count", "2", "--output", out])
            if spacing == "ays-svd" {
                // Stable Video Diffusion's levels (up to σ = 700) do not fit SD's schedule (σ ≤ 14.6).
                #expect(r.status != 0 && r.stderr.contains("outside this schedule"), "\(r.stderr)")
            } else {
                #expect(r.status == 0, "\(spacing): \(r.stderr)")
            }
        }
    }
}

@Suite("diffuse compare and --nfe, end to end")
struct CompareCommandTests {
    @Test("compare runs every configuration, prints a table and writes JSON that parses back")
    func compare() throws {
        let dir = try temporaryDirectory()
        let result = try Diffuse.run(["compare", "--model", "mixture-2d", "--solvers", "euler,heun,dpmpp_2m", "--schedules", "karras,logsnr",
                                      "--nfe", "4,8", "--count", "16", "--output-dir", dir.path, "--no-cache"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("dpmpp_2m") && result.stdout.contains("RMSE"))
        struct Document: Decodable {
            struct Row: Decodable { var solver: String; var schedule: String; var nfe: Int; var rmse: Double; var modeAgreement: Double? }
            var results: [Row]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let document = try decoder.decode(Document.self, from: Data(contentsOf: dir.appendingPathComponent("results.json")))
        #expect(document.results.count == 12)
        #expect(document.results.allSatisfy { $0.rmse.isFinite && $0.nfe <= 8 && $0.modeAgreement != nil })
    }

    @Test("--nfe picks the steps for any solver, and without --solver the recommended configuration")
    func nfeBudget() throws {
        let dir = try temporaryDirectory()
        let report = dir.appendingPathComponent("r.json").path, out = dir.appendingPathComponent("o.npy").path
        for (solver, budget) in [("heun", 10), ("dpm_solver_3", 10), ("dpmpp_2m", 7)] {
            let r = try Diffuse.run(["sample", "--model", "mixture-2d", "--solver", solver, "--nfe", "\(budget)", "--count", "4",
                                     "--output", out, "--report", report])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
            #expect((json["nfe"] as? Int ?? 99) <= budget, "\(solver)")
        }
        let r = try Diffuse.run(["sample", "--model", "mixture-2d", "--nfe", "6", "--count", "4", "--output", out, "--report", report])
        #expect(r.status == 0 && r.stdout.contains("recommended for 6 NFE"), "\(r.stdout) \(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect(json["solver"] as? String == RecommendedConfiguration.choice(forNFE: 6, schedule: VESchedule()).solver)
        #expect((json["nfe"] as? Int ?? 99) <= 6)
    }

    @Test("a recommended choice with searched decisions runs them on its own steps, and the named solver when the steps are set by hand")
    func recommendedDecisions() throws {
        // mixture-2d runs on EDM's schedule, whose rule keeps the table's choices below 8 NFE.
        let choice = try #require(RecommendedConfiguration.rule[.narrow]?.first { $0.decisions != nil })
        let nfe = choice.fromNFE, decisions = try #require(choice.decisions)
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("o.npy").path
        let r = try Diffuse.run(["sample", "--model", "mixture-2d", "--nfe", "\(nfe)", "--count", "4", "--output", out])
        #expect(r.status == 0 && r.stdout.contains("[\(decisions.summary)]") && r.stdout.contains("\(nfe) model evaluations"), "\(r.stdout) \(r.stderr)")
        for flags in [["--schedule", "logsnr"], ["--order", "2"]] {
            let h = try Diffuse.run(["sample", "--model", "mixture-2d", "--nfe", "\(nfe)", "--count", "4", "--output", out] + flags)
            let named = RecommendedConfiguration.namedChoice(forNFE: nfe, schedule: VESchedule()).solver
            #expect(h.status == 0 && h.stdout.contains("with \(named)") && !h.stdout.contains("["), "\(flags): \(h.stdout) \(h.stderr)")
        }
    }
}

@Suite("--rng torch")
struct TorchRNGCommandTests {
    @Test("--rng torch starts from torch.manual_seed(s); torch.randn(B, D) and rejects unknown generators")
    func torchInitialNoise() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("o.npy")
        // DDIM to sigma_min with one step from a known state: check the noise through --initial-noise equality instead.
        let a = try Diffuse.run(["sample", "--rng", "torch", "--seed", "42", "--count", "3", "--model", "mixture-2d", "--solver", "heun",
                                 "--steps", "4", "--output", out.path])
        #expect(a.status == 0, "\(a.stderr)")
        let noise = TorchGenerator(seed: 42).randn(shape: [3, 2])
        let noiseFile = dir.appendingPathComponent("n.npy")
        try NPYArray(shape: [3, 2], float32: noise.scalars).write(to: noiseFile)
        let out2 = dir.appendingPathComponent("o2.npy")
        let b = try Diffuse.run(["sample", "--initial-noise", noiseFile.path, "--model", "mixture-2d", "--solver", "heun",
                                 "--steps", "4", "--output", out2.path])
        #expect(b.status == 0)
        let x = try NPYArray(contentsOf: out), y = try NPYArray(contentsOf: out2)
        #expect(x == y)
        let bad = try Diffuse.run(["sample", "--model", "glyphs-8x8", "--rng", "numpy", "--output", out.path])
        #expect(bad.status != 0 && bad.stderr.contains("unknown --rng"))
    }
}

@Suite("diffuse sample: what runs and why, as the summary line says")
struct SampleResolutionCommandTests {
    func run(_ flags: [String]) throws -> (Diffuse.Result, Data) {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("o.npy")
        let r = try Diffuse.run(["sample", "--count", "4", "--output", out.path] + flags)
        return (r, (try? Data(contentsOf: out)) ?? Data())
    }

    @Test("the summary line names the solver and why it runs: named, the table for the budget, the table's spacing set by hand")
    func summaryLines() throws {
        let (named, _) = try run(["--model", "mixture-2d", "--solver", "heun", "--steps", "4"])
        #expect(named.status == 0 && named.stdout.contains("with heun on edm: 4 steps"), "\(named.stdout) \(named.stderr)")
        // mixture-2d runs on EDM's schedule (σ_max = 80): the rule's class for VP/VE schedules up to σ_max 300.
        let choice = RecommendedConfiguration.choice(forNFE: 7, schedule: VESchedule())
        let (table, _) = try run(["--model", "mixture-2d", "--nfe", "7"])
        #expect(table.stdout.contains("with \(choice.solver), \(choice.spacing.name) steps (recommended for 7 NFE on a VP/VE schedule with σ_max ≤ 300), on edm"),
                "\(table.stdout)")
        let (byHand, _) = try run(["--model", "mixture-2d", "--nfe", "7", "--schedule", "logsnr"])
        #expect(byHand.stdout.contains("with \(choice.solver) (recommended for 7 NFE on a VP/VE schedule with σ_max ≤ 300), logsnr steps, on edm"),
                "\(byHand.stdout)")
    }

    @Test("auto step noise is the Brownian tree for an SDE solver and independent draws for an ancestral one")
    func brownianTreeByProperty() throws {
        let base = ["--model", "mixture-2d", "--steps", "6", "--seed", "3"]
        let (auto, a) = try run(base + ["--solver", "dpmpp_2m_sde"])
        let (_, tree) = try run(base + ["--solver", "dpmpp_2m_sde", "--noise-sampler", "brownian"])
        let (_, draws) = try run(base + ["--solver", "dpmpp_2m_sde", "--noise-sampler", "gaussian"])
        #expect(auto.status == 0 && !a.isEmpty && a == tree && a != draws, "\(auto.stderr)")
        let (_, ancestral) = try run(base + ["--solver", "euler_ancestral"])
        let (_, ancestralDraws) = try run(base + ["--solver", "euler_ancestral", "--noise-sampler", "gaussian"])
        #expect(!ancestral.isEmpty && ancestral == ancestralDraws)
    }
}
