import RealModule

/// Align Your Steps (Sabour, Fidler and Kreis 2024, "Align Your Steps: Optimizing Sampling
/// Schedules in Diffusion Models", ICML): noise levels optimized per model family so that a
/// sampler's discretization error is small at few steps, published for 10 steps.
///
/// Other step counts interpolate the published levels log-linearly (the authors' recipe): with the
/// 11 published sigmas `s₀ > … > s₁₀`, `N` steps use `exp(interp(linspace(0, 1, N+1), linspace(0, 1, 11),
/// log s))` from the smallest up. Ending at `σ = 0` replaces the last level by 0, as ComfyUI's
/// `AlignYourStepsScheduler` does; ending at the smallest sigma keeps it.
///
/// The levels are user-facing sigmas (`σ/α`): `sd1` and `sdxl` are for Stable Diffusion's discrete
/// schedule (σ from 14.61 to 0.029), `svd` for Stable Video Diffusion (EDM-style, 700 to 0.002).
public enum AlignYourSteps: String, Sendable, CaseIterable {
    case sd1, sdxl, svd

    /// The published 10-step levels, largest first.
    public var publishedSigmas: [Double] {
        switch self {
        case .sd1: [14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092,
                    0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582]
        case .sdxl: [14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141,
                     0.5550693289, 0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582]
        case .svd: [700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002]
        }
    }

    /// `count` levels, largest first: the published ones, or their log-linear interpolation.
    public func sigmas(count: Int) -> [Double] {
        let published = publishedSigmas
        guard count != published.count else { return published }
        guard count > 1 else { return [published[0]] }
        // Ascending in log σ, as numpy.interp wants increasing abscissae.
        let ys = published.reversed().map { Double.log($0) }
        let last = Double(ys.count - 1)
        let ascending = (0..<count).map { i -> Double in
            let x = Double(i) / Double(count - 1) * last
            let k = Swift.min(Int(x), ys.count - 2)
            let f = x - Double(k)
            return Double.exp(ys[k] + f * (ys[k + 1] - ys[k]))
        }
        return ascending.reversed()
    }
}
