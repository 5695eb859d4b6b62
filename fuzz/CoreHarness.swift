// libFuzzer harnesses for the text inputs DiffusionCore reads. Built by fuzz/run.sh, which compiles
// RealModule, DiffusionFormats and DiffusionCore as modules and links this file against them, one
// binary per target (FUZZ_SCHEDULER_CONFIG, FUZZ_TUNED, FUZZ_REQUEST).
//
// The contract checked: any input either throws or yields something that runs; nothing traps,
// overflows or reads out of bounds (AddressSanitizer). What parses is run a few steps on a tiny
// two-component mixture, so a value that parses but breaks a solver or grid is found too.
//
// `request` is the command line's argument-to-run path below ArgumentParser: `diffuse sample`'s
// flags as `key=value` lines, checked as SampleCommand checks them, resolved by SamplingResolver
// and run. The command type itself needs ArgumentParser and DiffusionNeural's resource bundle,
// which only SwiftPM builds, so the harness starts where the flags' strings become a request.
import DiffusionCore
import Foundation

let mixture = try! GaussianMixture(weights: [0.3, 0.7], means: [-1, 0.5, 1, -0.5], stds: [0.4, 0.3, 0.7, 0.5], sampleShape: [2])
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-core-\(getpid())", isDirectory: true)

/// Runs `plan` on the mixture if it is short enough for a fuzzer; any thrown error is fine.
func runBriefly(_ solver: any Solver, grid: TimeGrid, schedule: any NoiseSchedule, noise: any NoiseSource) throws {
    guard grid.steps <= 24 else { return }
    func run<S: Solver>(_ solver: S) throws {
        let start = SampleTensor.initialSample(noise: SampleTensor(shape: [2, 2], scalars: [0.3, -1.2, 1.5, 0.1]),
                                               schedule: schedule, level: grid[0])
        _ = try SamplingRun(model: mixture, schedule: schedule, solver: solver, grid: grid, initialSample: start, noise: noise).finish()
    }
    try run(solver)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(UnsafeBufferPointer(start: bytes, count: size))
#if FUZZ_SCHEDULER_CONFIG
    if let config = try? DiffusersSchedulerConfig(json: data), let schedule = try? config.noiseSchedule() {
        for steps in [1, 3, 7] {
            let request = SamplingRequest(steps: steps)
            if let plan = try? SamplingResolver.resolve(request, model: mixture, schedule: schedule, config: config) {
                try? runBriefly(plan.solver, grid: plan.grid, schedule: plan.schedule, noise: plan.seededStepNoise(seed: 1, schedule: plan.schedule))
            }
        }
    }
#elseif FUZZ_TUNED
    // swift-foundation's Data(contentsOf:) leaks its 4096-byte buffer on an empty file (LeakSanitizer, in
    // readBytesFromFile); an empty tuned file is refused by the tests instead.
    guard !data.isEmpty else { return 0 }
    try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    let url = scratch.appendingPathComponent("tuned.json")
    guard (try? data.write(to: url)) != nil else { return 0 }
    if let file = try? TunedFile(contentsOf: url) {
        for schedule in [VESchedule() as any NoiseSchedule, ContinuousVPSchedule.linear(), RectifiedFlowSchedule()] {
            for configuration in file.configurations {
                if let (solver, grid) = try? configuration.prepared(on: schedule, relativeTo: scratch) {
                    try? runBriefly(solver, grid: grid, schedule: schedule, noise: SeededNoise(seed: 1))
                }
            }
            let request = SamplingRequest(nfe: file.configurations[0].nfe, tunedFile: url)
            if let plan = try? SamplingResolver.resolve(request, model: mixture, schedule: schedule, defaultSpacing: "karras", stepsOffset: 0) {
                try? runBriefly(plan.solver, grid: plan.grid, schedule: plan.schedule, noise: SeededNoise(seed: 1))
            }
        }
        guard let again = try? JSONDecoder().decode(TunedFile.self, from: file.encoded()), again == file else { fatalError("tuned round trip") }
    }
#elseif FUZZ_REQUEST
    guard let text = String(data: data, encoding: .utf8) else { return 0 }
    try? runRequest(text)
#endif
    return 0
}

#if FUZZ_REQUEST
struct Rejected: Error {}

/// `key=value` lines as `diffuse sample` flags: the same conversions and checks as
/// `SampleCommand.request(for:)`, then the resolver and a run.
func runRequest(_ text: String) throws {
    var flags: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 { flags[String(parts[0])] = String(parts[1]) }
    }
    func number(_ key: String) throws -> Double? {
        guard let text = flags[key] else { return nil }
        guard let value = Double(text) else { throw Rejected() }
        return value
    }
    func integer(_ key: String) throws -> Int? {
        guard let text = flags[key] else { return nil }
        guard let value = Int(text) else { throw Rejected() }
        return value
    }
    func numbers(_ key: String) throws -> [Double]? {
        guard let text = flags[key] else { return nil }
        let values = text.split(separator: ",").map { Double($0) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw Rejected() }
        return values.map { $0! }
    }
    let schedule: any NoiseSchedule
    switch flags["noise-schedule"] ?? "edm" {
    case "vp-linear": schedule = ContinuousVPSchedule.linear()
    case "vp-cosine": schedule = ContinuousVPSchedule.cosine
    case "edm": schedule = VESchedule()
    case "flow": schedule = RectifiedFlowSchedule()
    case "sd": schedule = try DiscreteVPSchedule()
    default: throw Rejected()
    }
    let sNoise = try number("s-noise") ?? 1, sChurn = try number("s-churn") ?? 0
    let sTmin = try number("s-tmin") ?? 0, sTmax = try number("s-tmax") ?? .infinity
    guard sNoise.isFinite, sNoise >= 0, sChurn.isFinite, sChurn >= 0, !sTmin.isNaN, !sTmax.isNaN else { throw Rejected() }
    let eta = try number("eta")
    if let eta, !(eta.isFinite && eta >= 0) { throw Rejected() }
    guard let final = FinalNoise(rawValue: flags["final-sigma"] ?? "zero") else { throw Rejected() }
    let stepNoise: StepNoiseKind?
    switch flags["noise-sampler"] ?? "auto" {
    case "auto": stepNoise = nil
    case "brownian": stepNoise = .brownianTree
    case "gaussian": stepNoise = .independent
    default: throw Rejected()
    }
    let churn = sChurn > 0 ? Churn(sChurn: sChurn, sTmin: sTmin, sTmax: sTmax, sNoise: sNoise) : nil
    let options = SolverCatalog.Options(eta: eta, order: try integer("order"), sNoise: sNoise, churn: churn, variance: flags["variance"],
                                        compensationRatios: try numbers("dc-ratios"))
    let steps = try integer("steps"), nfe = try integer("nfe")
    // A fuzzer's budget: long runs prove nothing more than short ones here.
    if let steps, steps > 24 { throw Rejected() }
    if let nfe, nfe > 48 { throw Rejected() }
    var request = SamplingRequest(solver: flags["solver"], options: options, steps: steps, nfe: nfe, spacing: flags["schedule"],
                                  sigmaMin: try number("sigma-min"), sigmaMax: try number("sigma-max"), final: final,
                                  sigmas: try numbers("sigmas"), timesteps: try numbers("timesteps"), stepNoise: stepNoise)
    request.shift = try number("shift")
    request.imageSequenceLength = try integer("image-seq-len")
    request.shiftTerminal = try number("shift-terminal")
    request.options.interpolantDiffusion = try flags["interpolant-eps"].map { try InterpolantDiffusion(parsing: $0) }
    request.options.timeShift = try flags["time-shift"].map { try TimeShift(parsing: $0) }
    request.time = try SamplingResolver.time(named: flags["time"] ?? "native")
    let plan = try SamplingResolver.resolve(request, model: mixture, schedule: schedule)
    try runBriefly(plan.solver, grid: plan.grid, schedule: plan.schedule,
                   noise: plan.seededStepNoise(seed: UInt64(bitPattern: Int64(try integer("seed") ?? 0)), schedule: plan.schedule))
}
#endif
