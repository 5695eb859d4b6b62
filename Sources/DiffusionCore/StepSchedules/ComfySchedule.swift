import RealModule

/// ComfyUI's named schedulers (`comfy/samplers.py`, `SCHEDULER_HANDLERS` and `calculate_sigmas`),
/// built as ComfyUI builds them: from the model's sigma table `σ_0 < … < σ_{T−1}` and its
/// `sigma(t)` / `timestep(σ)` (`ComfyModelSampling`). On a flow schedule with `--shift S` the
/// table is the shifted one, so every name gives its shifted form (SD3: `S = 3`).
///
/// With `N` steps and `T` table entries (`T = 1000`):
///
/// | name | ComfyUI function | sigmas, then 0 |
/// |---|---|---|
/// | `simple` | `simple_scheduler` | `σ[T − 1 − ⌊i·T/N⌋]`, `i = 0…N−1` |
/// | `sgm_uniform` | `normal_scheduler(sgm=True)` | `sigma(t)` at `linspace(timestep(σ_max), timestep(σ_min), N + 1)` without its last |
/// | `ddim_uniform` | `ddim_scheduler` | `σ[1 + k·(T ÷ N)]` while below `T`, reversed (one more step when `σ[1] ≈ 0`) |
/// | `normal` | `normal_scheduler` | `sigma(t)` at `linspace(timestep(σ_max), timestep(σ_min), N)` (no 0 appended when `sigma(t_min) ≈ 0`) |
/// | `beta` | `beta_scheduler` | `σ[rint(F⁻¹(1 − i/N)·(T − 1))]`, repeats dropped; `F` the Beta(0.6, 0.6) CDF (Lee et al. 2024) |
/// | `kl_optimal` | `kl_optimal_scheduler` | `tan(r·atan σ_min + (1 − r)·atan σ_max)`, `r = i/(N − 1)` |
/// | `linear_quadratic` | `linear_quadratic_schedule` | `σ_max·(1 − s_i)`: `s` linear to 0.025 over `⌊N/2⌋` steps, then quadratic to 1 (Mochi) |
///
/// `ddim_uniform` gives `⌈(T − 1)/(T ÷ N)⌉` steps, not always `N` (as ComfyUI); `beta` fewer when
/// rounding repeats a timestep. `linear_quadratic` only scales by `σ_max`, so a flow shift leaves it
/// unchanged. With one step `kl_optimal` gives `[σ_max, 0]` (ComfyUI divides by zero).
public struct ComfySchedule: Sendable, Equatable {
    /// ComfyUI's schedule names.
    public enum Kind: String, Sendable, CaseIterable {
        case simple
        case sgmUniform = "sgm_uniform"
        case ddimUniform = "ddim_uniform"
        case normal, beta
        case klOptimal = "kl_optimal"
        case linearQuadratic = "linear_quadratic"
    }

    public var kind: Kind
    /// The flow shift `S` of ComfyUI's `ModelSamplingDiscreteFlow` (`--shift`); 1 elsewhere.
    public var shift: Double

    public init(_ kind: Kind, shift: Double = 1) { self.kind = kind; self.shift = shift }

    public var name: String { kind.rawValue }

    /// ComfyUI's sigmas for `steps` steps on `schedule`, largest first, ending in 0.
    public func sigmas(steps n: Int, on schedule: any NoiseSchedule) throws -> [Double] {
        let m = try ComfyModelSampling(schedule, shift: shift)
        let table = m.sigmas, count = table.count
        switch kind {
        case .simple:
            let stride = Double(count) / Double(n)
            return (0..<n).map { table[count - 1 - Int(Double($0) * stride)] } + [0]
        case .ddimUniform:
            let degenerate = abs(table[1]) <= 1e-5
            let stride = Swift.max(count / (degenerate ? n + 1 : n), 1)
            let picked = Swift.stride(from: 1, to: count, by: stride).map { table[$0] }
            return Array(((degenerate ? [] : [0.0]) + picked).reversed())
        case .sgmUniform, .normal:
            let start = m.timestep(m.sigmaMax), end = m.timestep(m.sigmaMin)
            if kind == .sgmUniform { return Self.torchLinspace(start, end, n + 1).dropLast().map(m.sigma) + [0] }
            let endsAtZero = abs(m.sigma(end)) <= 1e-5
            let s = Self.torchLinspace(start, end, endsAtZero ? n + 1 : n).map(m.sigma)
            return endsAtZero ? s : s + [0]
        case .beta:
            var indices: [Int] = []
            for i in 0..<n {
                // Beta(0.6, 0.6) is symmetric: its median is exactly ½ (rint then takes the even neighbour of 499.5, as numpy does).
                let p = 1 - Double(i) / Double(n)
                let q = p == 0.5 ? 0.5 : BetaDistribution.quantile(p, a: 0.6, b: 0.6)
                let t = Int((q * Double(count - 1)).rounded(.toNearestOrEven))
                if indices.last != t { indices.append(t) }
            }
            return indices.map { table[$0] } + [0]
        case .klOptimal:
            let lo = Double.atan(m.sigmaMin), hi = Double.atan(m.sigmaMax)
            return (0..<n).map { i in
                let r = n == 1 ? 0 : Double(i) / Double(n - 1)
                return Double.tan(r * lo + (1 - r) * hi)
            } + [0]
        case .linearQuadratic:
            return Self.linearQuadratic(steps: n).map { m.sigmaMax * $0 }
        }
    }

    /// Mochi's schedule on `[0, 1]` (genmoai `linear_quadratic_schedule`, threshold 0.025, ⌊N/2⌋
    /// linear steps), as `1 − s`: `N + 1` values from 1 to 0.
    static func linearQuadratic(steps n: Int, threshold: Double = 0.025) -> [Double] {
        guard n > 1 else { return [1, 0] }
        let linear = n / 2, quadratic = Double(n - linear), l = Double(linear)
        let diff = l - threshold * Double(n)
        let a = diff / (l * quadratic * quadratic)
        let b = threshold / l - 2 * diff / (quadratic * quadratic)
        let c = a * l * l
        let ramp: [Double] = (0..<linear).map { Double($0) * threshold / l }
        let curve: [Double] = (linear..<n).map { (i: Int) -> Double in
            let x = Double(i)
            return a * x * x + b * x + c
        }
        return (ramp + curve + [1]).map { 1 - $0 }
    }

    /// `torch.linspace`: `a + i·h` for the first half, `b − (n − 1 − i)·h` for the second.
    static func torchLinspace(_ a: Double, _ b: Double, _ n: Int) -> [Double] {
        guard n > 1 else { return [a] }
        let h = (b - a) / Double(n - 1)
        return (0..<n).map { $0 < n / 2 ? a + Double($0) * h : b - Double(n - 1 - $0) * h }
    }
}
