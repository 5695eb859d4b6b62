import DiffusionSolvers
import Foundation

// Throughput of the solver arithmetic, as ratios against a plain copy of the same bytes measured
// in the same run (absolute GB/s depend on the machine; the ratios are what we track).
//
// Usage: swift run -c release --package-path Benchmarks diffuse-benchmarks [--markdown]

/// Median seconds per call of `body`, over `rounds` rounds of `iterations` calls.
func measure(iterations: Int = 2000, rounds: Int = 15, _ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        for _ in 0..<iterations { try body() }
        let d = (ContinuousClock.now - start).components
        times.append((Double(d.seconds) + Double(d.attoseconds) * 1e-18) / Double(iterations))
    }
    return times.sorted()[rounds / 2]
}

let shape = [1, 4, 64, 64]
let bytes = Double(shape.reduce(1, *) * MemoryLayout<Float>.size)
let noise = SeededNoise(seed: 1)
var x = noise.initialNoise(shape: shape)
let y = SeededNoise(seed: 2).initialNoise(shape: shape)
let z = SeededNoise(seed: 3).initialNoise(shape: shape)
var out = SampleTensor(zeros: shape)

let copy = measure { out.assign(y) }
let copyRate = 2 * bytes / copy / 1e9
print("latent \(shape), \(Int(bytes) / 1024) KiB per tensor")
print(String(format: "plain copy:                      %7.2f GB/s  (%.2f us)", copyRate, copy * 1e6))

// x = a*x + b*y + c*z: reads x, y, z and writes x.
let fused = measure { x.update(scale: 0.99, (0.01, y), (-0.02, z)) }
let fusedRate = 4 * bytes / fused / 1e9
print(String(format: "fused x = a*x + b*y + c*z:       %7.2f GB/s  (%.2f us)  %.2fx the copy's rate", fusedRate, fused * 1e6, fusedRate / copyRate))

let fused5 = measure { x.update(scale: 0.99, (0.01, y), (-0.02, z), (0.003, y), (0.004, z)) }
let fused5Rate = 6 * bytes / fused5 / 1e9
print(String(format: "fused 5 terms:                   %7.2f GB/s  (%.2f us)  %.2fx the copy's rate", fused5Rate, fused5 * 1e6, fused5Rate / copyRate))

/// A model whose evaluation costs nothing: it leaves the output as it is, so a step's time is
/// the solver's arithmetic plus the denoiser's conversion and finiteness checks.
struct FreeModel: DiffusionModel {
    var sampleShape: [Int] { [4, 64, 64] }
    var parameterization: Parameterization { .noise }
    var name: String { "free" }
    func predict(_ x: SampleTensor, at level: NoiseLevel, into output: inout SampleTensor) throws {}
}

print("\nper-step cost with a free model (solver arithmetic + prediction conversion), in copies of the state:")
let schedule = VESchedule()
func perStep<S: Solver>(_ solver: S) throws -> Double {
    let steps = 1000
    let grid = try StepSchedule(spacing: .karras(rho: 7), steps: steps, final: .minimum).grid(on: schedule)
    let x0 = SampleTensor.initialSample(noise: x, schedule: schedule, level: grid[0])
    var run = try SamplingRun(model: FreeModel(), schedule: schedule, solver: solver, grid: grid, initialSample: x0, noise: SeededNoise(seed: 4))
    let perEval = try measure(iterations: 200, rounds: 15) {
        if run.isFinished { run = try SamplingRun(model: FreeModel(), schedule: schedule, solver: solver, grid: grid, initialSample: x0, noise: SeededNoise(seed: 4)) }
        try run.advance()
    }
    return perEval
}
for entry in SolverCatalog.entries {
    let solver = try SolverCatalog.solver(named: entry.name)
    let t = try perStep(solver)
    print(String(format: "  %-12@ %7.2f us/step  %5.2f copies", entry.name as NSString, t * 1e6, t / copy))
}
