import Testing
import DiffusionSolvers
import DiffusionTestSupport

/// ComfyUI's deterministic samplers: the endpoint error against a tight reference solution of the
/// probability-flow ODE falls like `steps^(−order)`, with the order each paper states (written here,
/// not read from the solver). Measured fits (least squares over the steps shown):
///
/// | solver | study, steps | fit |
/// |---|---|---|
/// | res_multistep | vp-linear/logsnr, edm/karras, flow/time-uniform, vp-discrete/karras, 16…128 | 2.1, 2.3, 2.0, 2.0 |
/// | gradient_estimation | the same four, 16…128 | 0.80, 0.83, 0.99, 0.87 |
/// | ipndm_v | edm/uniform σ ∈ [0.05, 2] 32…128; flow/time-uniform 8…32 (equal steps) | 3.7, 4.2 |
/// | ipndm_v | vp-linear/logsnr 16…128 | 2.1 |
/// | ipndm_v | edm/karras, vp-discrete/karras 16…128 (not asserted) | 1.8, 1.7 |
/// | heunpp2 | the four standard studies, 16…128 | 1.0, 1.0, 1.0, 1.0 |
/// | seeds_2, η = 0 | vp-linear/logsnr, edm/karras, vp-discrete/karras, 16…128 | 1.8, 1.8, 1.8 |
/// | seeds_3, η = 0 | the same three, 16…128 | 2.8, 2.8, 2.7 |
/// | exp_heun_2_x0 | vp-linear/logsnr, edm/karras, vp-discrete/karras, 16…128 | 1.79, 1.78, 1.81 |
/// | deis_comfy k = 2 | vp-linear/logsnr, edm/karras, vp-discrete/karras, 16…128 | 1.76, 1.73, 1.75 |
/// | deis_comfy k = 3 | edm/uniform 32…128; flow/time-uniform 8…32; vp-linear/logsnr 32…256 | 2.77, 2.18, 2.65 |
/// | deis_comfy k = 4 | the same three | 4.12, 4.20, 3.64 |
/// | deis_comfy k = 3, 4 | vp-linear/logsnr, edm/karras, vp-discrete/karras, 16…128 | 2.3, 2.3, 2.4; 3.0, 3.0, 3.3 |
/// | deis_comfy k = 3 | edm/karras 128…256 and 128…512; flow/time-uniform 32…128 | 2.87, 2.87, 2.74 |
/// | sa_solver_pece, τ = 0 | vp-linear/logsnr, edm/karras, vp-discrete/karras, 16…128 | 4.06, 4.19, 3.94 |
@Suite("ComfyUI samplers: convergence order")
struct ComfyConvergenceTests {
    func check<S: Solver>(_ solver: S, expected: Double, tolerance: Double = 0.3, _ runs: [(ClassicalGridStudy, [Int])]) throws {
        for (study, steps) in runs {
            let (order, errors) = try study.order(solver, steps: steps)
            #expect(abs(order - expected) <= tolerance, "\(solver.name) on \(study): fitted order \(order), errors \(errors)")
        }
    }

    /// RES multistep: second order (Zhang et al. 2023, Sec. 4, the multistep scheme with `φ₂`).
    @Test func resMultistep() throws {
        try check(RESMultistep(), expected: 2, ClassicalGridStudy.standard.map { ($0, [16, 32, 64, 128]) })
    }

    /// Gradient estimation, γ = 2: first order (Permenter & Yuan 2024 derive it as an averaging of
    /// the denoiser's error and give no order; the slope extrapolated with weights `(γ, 1 − γ)` is off
    /// by `(γ − 3/2)·h·d′`, an `O(h²)` local error).
    @Test func gradientEstimation() throws {
        try check(GradientEstimation(), expected: 1, ClassicalGridStudy.standard.map { ($0, [16, 32, 64, 128]) })
    }

    /// iPNDM-v: fourth order on equal steps, where its weights are Adams–Bashforth's (Hairer, Nørsett
    /// & Wanner 1993, Sec. III.1); second order on smoothly varying steps, where only its two-point
    /// weight is the exact variable-step one (its three- and four-point weights reproduce linear
    /// slopes but not quadratic ones). On Karras grids, whose step ratios change fast near `σ_max`,
    /// the fits wander between 1.2 and 1.8 (not asserted).
    @Test func ipndmV() throws {
        try check(IPNDMV(), expected: 4, [(ClassicalGridStudy.edmUniform, [32, 64, 128]), (ClassicalGridStudy.flowUniform, [8, 16, 32])])
        try check(IPNDMV(), expected: 2, [(ClassicalGridStudy.vpLogSNR, [16, 32, 64, 128])])
    }

    /// Heun++ (heunpp2): first order. Its weights `(1 − w₂ − w₃, w₂, w₃)` follow `σ/σ₀`, not a
    /// Runge–Kutta tableau, and tend to Euler's `(1, 0, 0)` as the levels fall (see ``HeunPlusPlus2``).
    @Test func heunpp2() throws {
        try check(HeunPlusPlus2(), expected: 1, ClassicalGridStudy.standard.map { ($0, [16, 32, 64, 128]) })
    }

    /// SEEDS with `η = 0` (no noise): the data-prediction exponential Runge–Kutta methods of 2 and 3
    /// stages, orders 2 and 3 (Gonzalez et al. 2023, Sec. 4; their deterministic limits are
    /// DPM-Solver++(2S) with `r = ½` and a DPM-Solver-3-type scheme). VP and VE studies only: SEEDS
    /// needs a VP or VE schedule.
    @Test func seeds() throws {
        let studies = [ClassicalGridStudy.vpLogSNR, .edmKarras, .discreteKarras]
        try check(SEEDS(stages: 2, eta: 0), expected: 2, studies.map { ($0, [16, 32, 64, 128]) })
        try check(SEEDS(stages: 3, eta: 0), expected: 3, studies.map { ($0, [16, 32, 64, 128]) })
    }

    /// exp_heun_2_x0: the two-stage exponential Runge–Kutta method with `c₂ = 1` and the `φ₂`
    /// weights satisfies the stiff order-2 conditions (Hochbruck & Ostermann 2005, Sec. 5.1): order 2.
    @Test func exponentialHeun() throws {
        try check(ExponentialHeun(), expected: 2, [ClassicalGridStudy.vpLogSNR, .edmKarras, .discreteKarras].map { ($0, [16, 32, 64, 128]) })
    }

    /// ComfyUI's DEIS: Adams–Bashforth in `t` through `k` derivatives has order `k` (Zhang & Chen
    /// 2023, Sec. 4.2). Asserted where the fits show it: `k = 2` on the log-SNR and Karras grids;
    /// `k = 3` on EDM grids uniform in `σ` and, from 128 steps on, on Karras grids (at 16–128 steps
    /// it fits 2.3–2.4 there: the asymptotic regime starts late); `k = 4` on grids uniform in `σ`
    /// (EDM) and in time (flow). On Karras and log-SNR grids `k = 4` fits 3.0–3.6 at 16–256 steps
    /// (not asserted; the numbers are in docs/CONVERGENCE.md).
    @Test func deisVPTime() throws {
        try check(DEISVPTime(solverOrder: 2), expected: 2, [ClassicalGridStudy.vpLogSNR, .edmKarras, .discreteKarras].map { ($0, [16, 32, 64, 128]) })
        try check(DEISVPTime(solverOrder: 3), expected: 3, [(ClassicalGridStudy.edmUniform, [32, 64, 128]), (ClassicalGridStudy.edmKarras, [128, 256])])
        try check(DEISVPTime(solverOrder: 4), expected: 4, [(ClassicalGridStudy.edmUniform, [32, 64, 128]), (ClassicalGridStudy.flowUniform, [8, 16, 32])])
    }

    /// SA-Solver in PECE mode with `τ = 0`: predictor 3 and corrector 4, so order `min(4, 3 + 1) = 4`
    /// (Xue et al. 2023, Theorem 5.2 for the corrector after a predictor one order lower).
    @Test func saSolverPECE() throws {
        try check(SASolverPECE(eta: 0), expected: 4, [ClassicalGridStudy.vpLogSNR, .edmKarras, .discreteKarras].map { ($0, [16, 32, 64, 128]) })
    }
}
