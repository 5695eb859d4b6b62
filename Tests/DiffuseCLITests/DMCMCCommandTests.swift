import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `diffuse sample --solver dmcmc [--dmcmc KEY=VALUE,...]` on the built-in 2-D mixture.
@Suite("diffuse sample, Denoising MCMC")
struct DMCMCCommandTests {
    /// A step size stable on mixture-2d (narrowest spread 0.08) and a short classifier grid.
    static let settings = "eta=0.004,warmup-eta=0.004,levels=60,rounds=2,points=6,init-points=8"

    func sample(_ arguments: [String]) throws -> [Float] {
        let npy = try temporaryDirectory().appendingPathComponent("out.npy")
        let result = try Diffuse.run(["sample", "--model", "mixture-2d", "--solver", "dmcmc", "--count", "32", "--output", npy.path] + arguments)
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("dmcmc (16 chains x 2 rounds)"))
        return try NPYArray(contentsOf: npy).float32Values
    }

    @Test("dmcmc writes --count samples near the ring's modes, the same for the same seed and different for another")
    func run() throws {
        let a = try sample(["--dmcmc", Self.settings, "--seed", "2"])
        #expect(a.count == 64 && a.allSatisfy { $0.isFinite })
        // Every component of mixture-2d lies within radius 1.6 + 4 x 0.12 of the origin.
        for i in 0..<32 { #expect((a[2 * i] * a[2 * i] + a[2 * i + 1] * a[2 * i + 1]).squareRoot() < 2.1, "sample \(i)") }
        #expect(try sample(["--dmcmc", Self.settings, "--seed", "2"]) == a)
        #expect(try sample(["--dmcmc", Self.settings, "--seed", "3"]) != a)
    }

    @Test("bad --dmcmc values, flags dmcmc does not take, --dmcmc with another solver and a model without a classifier are refused in one line")
    func refusals() throws {
        let bad = BadInputTests()
        for value in ["eta=-1", "rounds=0", "steps=x", "speed=2"] {
            try bad.expectFailure(["--model", "mixture-2d", "--solver", "dmcmc", "--dmcmc", value], mentions: ["--dmcmc"])
        }
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "dmcmc", "--steps", "10"], mentions: ["--steps", "dmcmc"])
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "dmcmc", "--guidance", "2"], mentions: ["--guidance", "dmcmc"])
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "dmcmc", "--count", "5", "--dmcmc", "rounds=2"], mentions: ["--count", "rounds"])
        try bad.expectFailure(["--model", "mixture-2d", "--solver", "euler", "--dmcmc", "steps=3"], mentions: ["--dmcmc", "euler"])
        try bad.expectFailure(["--model", Fixtures.url("neural/tiny-unet").path, "--solver", "dmcmc"], mentions: ["dmcmc", "noise-level classifier"])
    }
}
