import RealModule

/// The φ-functions of exponential integrators, written so that no difference of nearly equal
/// exponentials is formed (Lu et al. 2022, "DPM-Solver", Sec. 3.3; Hochbruck & Ostermann 2010).
///
/// With `h = λ_t − λ_s > 0` the step in half log-SNR:
/// ```
/// φ₁(h) = (e^h − 1)/h,  φ₂(h) = (φ₁(h) − 1)/h,  φ₃(h) = (φ₂(h) − 1/2)/h
/// ```
/// DPM-Solver++ uses them at `−h`; `h = +∞` (the step to `σ = 0`) gives the limits exactly.
enum ExponentialIntegrator {
    /// `e^{−h} − 1`, which is `−1` at `h = ∞`.
    @inline(__always) static func expm1Neg(_ h: Double) -> Double { h == .infinity ? -1 : Double.expMinusOne(-h) }

    /// `(e^{−h} − 1)/h + 1` (DPM-Solver++'s first correction coefficient, `= h·φ₂(−h)`).
    static func dataPhi2(_ h: Double) -> Double {
        if h == .infinity { return 1 }
        if abs(h) < 1e-4 { return h / 2 - h * h / 6 + h * h * h / 24 }
        return Double.expMinusOne(-h) / h + 1
    }

    /// `(e^{−h} − 1 + h)/h² − 1/2` (DPM-Solver++'s second correction coefficient, `= −h·φ₃(−h)`).
    static func dataPhi3(_ h: Double) -> Double {
        if h == .infinity { return -0.5 }
        if abs(h) < 1e-3 { return -h / 6 + h * h / 24 - h * h * h / 120 }
        return (Double.expMinusOne(-h) + h) / (h * h) - 0.5
    }

    /// `(e^h − 1)/h − 1` (DPM-Solver's first correction coefficient, `= h·φ₂(h)`).
    static func noisePhi2(_ h: Double) -> Double {
        if abs(h) < 1e-4 { return h / 2 + h * h / 6 + h * h * h / 24 }
        return Double.expMinusOne(h) / h - 1
    }

    /// `(e^h − 1 − h)/h² − 1/2` (DPM-Solver's second correction coefficient, `= h·φ₃(h)`).
    static func noisePhi3(_ h: Double) -> Double {
        if abs(h) < 1e-3 { return h / 6 + h * h / 24 + h * h * h / 120 }
        return (Double.expMinusOne(h) - h) / (h * h) - 0.5
    }
}
