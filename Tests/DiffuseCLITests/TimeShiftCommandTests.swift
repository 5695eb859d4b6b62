import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `diffuse sample --solver ts_ddim [--time-shift WINDOW,CUTOFF]` on a discrete VP schedule.
@Suite("diffuse sample, time-shift DDIM")
struct TimeShiftCommandTests {
    static let config = Fixtures.url("neural/tiny-unet/scheduler_config.json").path

    func sample(_ arguments: [String]) throws -> [Float] {
        let npy = try temporaryDirectory().appendingPathComponent("out.npy")
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--scheduler-config", Self.config, "--count", "16",
                                      "--seed", "4", "--steps", "10", "--output", npy.path] + arguments)
        try #require(result.status == 0, "\(result.stderr)")
        return try NPYArray(contentsOf: npy).float32Values
    }

    @Test("ts_ddim runs; with window 0 it writes ddim's samples bit for bit, with a wide window it moves them")
    func run() throws {
        let ddim = try sample(["--solver", "ddim"])
        #expect(try sample(["--solver", "ts_ddim", "--time-shift", "0,0"]) == ddim)
        let shifted = try sample(["--solver", "ts_ddim", "--time-shift", "60,100"])
        #expect(shifted.count == 32 && shifted.allSatisfy { $0.isFinite })
        #expect(shifted != ddim)
    }

    @Test("ts_dpm_solver runs; with window 0 it writes dpm_2m's samples bit for bit, with its default window it moves them")
    func runDPMSolver() throws {
        let dpm = try sample(["--solver", "dpm_2m"])
        #expect(try sample(["--solver", "ts_dpm_solver", "--time-shift", "0,0"]) == dpm)
        let shifted = try sample(["--solver", "ts_dpm_solver"])
        #expect(shifted.count == 32 && shifted.allSatisfy { $0.isFinite })
        #expect(shifted != dpm)
        try BadInputTests().expectFailure(["--model", "mixture-2d", "--scheduler-config", Self.config, "--solver", "ts_dpm_solver", "--order", "3"],
                                          mentions: ["ts_dpm_solver", "--order 2"])
    }

    @Test("compare --time-shift labels the time-shift rows; with window 0 they equal the base solvers' rows; without a ts solver it is refused")
    func compare() throws {
        let dir = try temporaryDirectory().appendingPathComponent("cmp")
        let result = try Diffuse.run(["compare", "--model", "mixture-2d", "--scheduler-config", Self.config, "--solvers", "ddim,ts_ddim,dpm_2m,ts_dpm_solver",
                                      "--schedules", "linspace", "--nfe", "6", "--count", "16", "--no-cache", "--time-shift", "0,0",
                                      "--output-dir", dir.path])
        try #require(result.status == 0, "\(result.stderr)")
        struct Document: Decodable { struct Row: Decodable { var solver: String; var rmse: Double }; var results: [Row] }
        let rows = try JSONDecoder().decode(Document.self, from: Data(contentsOf: dir.appendingPathComponent("results.json"))).results
        let rmse = Dictionary(rows.map { ($0.solver, $0.rmse) }, uniquingKeysWith: { a, _ in a })
        #expect(rmse["ts_ddim 0,0"] == rmse["ddim"] && rmse["ddim"] != nil)
        #expect(rmse["ts_dpm_solver 0,0"] == rmse["dpm_2m"] && rmse["dpm_2m"] != nil)
        let refused = try Diffuse.run(["compare", "--model", "mixture-2d", "--solvers", "ddim", "--time-shift", "5,550", "--output-dir", dir.path])
        #expect(refused.status != 0 && refused.stderr.contains("--time-shift") && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
    }

    @Test("a malformed --time-shift, --time-shift on another solver, or a continuous schedule is refused in one line")
    func refusals() throws {
        let bad = BadInputTests()
        for value in ["5", "x,550", "-4,550"] {
            try bad.expectFailure(["--model", "mixture-2d", "--scheduler-config", Self.config, "--solver", "ts_ddim", "--time-shift", value], mentions: ["--time-shift"])
        }
        try bad.expectFailure(["--model", "mixture-2d", "--scheduler-config", Self.config, "--solver", "euler", "--time-shift", "5,550"], mentions: ["--time-shift", "euler"])
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "ts_ddim"], mentions: ["ts_ddim", "discrete VP schedule"])
    }
}
