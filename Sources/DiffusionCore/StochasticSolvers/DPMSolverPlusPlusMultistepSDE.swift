import RealModule

/// DPM-Solver++(2M) SDE and (3M) SDE (Lu et al. 2022b, SDE-DPM-Solver++; k-diffusion's
/// `sample_dpmpp_2m_sde` and `sample_dpmpp_3m_sde`), in the VE frame with `h = log(σ/σ′)`:
/// ```
/// y′ = (σ′/σ)·e^{−ηh}·y + (1 − e^{−(1+η)h})·x̂₀ + corrections + s_noise·σ′·√(1 − e^{−2ηh})·z
/// 2M:  + ½(1 − e^{−(1+η)h})/r·(x̂₀ − x̂₀⁻)           (midpoint)  or  (φ₂ form) for heun
/// 3M:  + φ₂·D₁ − φ₃·D₂  with φ₂ = (e^{−h_η} − 1)/h_η + 1, φ₃ = φ₂/h_η − ½, h_η = (1+η)h
/// ```
/// warming up from first order; the step to `σ = 0` returns `x̂₀`. `η = 0` makes 2M the ODE
/// solver DPM-Solver++(2M). NFE per step: 1.
public struct DPMSolverPlusPlusMultistepSDE: Solver {
    /// The multistep update: k-diffusion's 2M midpoint, its `heun` form, or 3M.
    public enum Variant: String, Sendable { case midpoint, heun, thirdOrder }

    /// What the solver keeps between steps (explicit solver state).
    public struct State: SolverState {
        var history: MultistepHistory
        var z: SampleTensor
        public var denoised: SampleTensor { history.prediction(0).data }
    }

    public var variant: Variant
    public var eta: Double
    public var sNoise: Double

    public init(variant: Variant = .midpoint, eta: Double = 1, sNoise: Double = 1) {
        self.variant = variant; self.eta = eta; self.sNoise = sNoise
    }

    public var stepNoise: StepNoiseKind { .brownianTree }
    public var name: String {
        switch variant { case .midpoint: "dpmpp_2m_sde"; case .heun: "dpmpp_2m_sde_heun"; case .thirdOrder: "dpmpp_3m_sde" }
    }
    public var order: Int { 1 }
    public func evaluations(on grid: TimeGrid) -> Int { grid.steps }
    public func makeState(for x: SampleTensor, grid: TimeGrid) -> State {
        State(history: MultistepHistory(capacity: variant == .thirdOrder ? 3 : 2, like: x), z: SampleTensor(zeros: x.shape))
    }

    public func step(_ step: Int, x: inout SampleTensor, state: inout State, context: SolverContext) throws {
        try Ancestral.requireVEFrame(context, solver: name)
        let from = context.grid[step], to = context.grid[step + 1]
        state.history.advance(to: from)
        try context.predict(x, at: from, step: step, into: &state.history.newestSlot, needs: .data)
        let history = state.history
        if to.isClean { x.assign(history.prediction(0).data); return }
        let sigma = Ancestral.sigma(from), next = Ancestral.sigma(to)
        let h = Double.log(sigma) - Double.log(next)
        let a = to.alpha
        let scale = a * next / sigma * Double.exp(-eta * h) / from.alpha
        let available = Swift.min(history.count, variant == .thirdOrder ? 3 : 2)
        func lastH(_ k: Int) -> Double { // h of the step that started at history level k
            Double.log(Ancestral.sigma(history.level(k))) - Double.log(Ancestral.sigma(history.level(k - 1)))
        }
        let d0 = history.prediction(0).data
        switch variant {
        case .midpoint, .heun:
            let base = -Double.expMinusOne(-h - eta * h)
            if available >= 2 {
                let r = lastH(1) / h
                let k = variant == .heun ? (base / (-h - eta * h) + 1) / r : 0.5 * base / r
                x.update(scale: scale, (a * (base + k), d0), (-a * k, history.prediction(1).data))
            } else {
                x.update(scale: scale, (a * base, d0))
            }
        case .thirdOrder:
            let hEta = h * (eta + 1)
            let base = -Double.expMinusOne(-hEta)
            let phi2 = Double.expMinusOne(-hEta) / hEta + 1
            let phi3 = phi2 / hEta - 0.5
            if available >= 3 {
                let r0 = lastH(1) / h, r1 = lastH(2) / h
                // d1_0 = (D0 − D1)/r0, d1_1 = (D1 − D2)/r1; d1 = d1_0 + (d1_0 − d1_1)·r0/(r0+r1); d2 = (d1_0 − d1_1)/(r0+r1).
                let cA = phi2 * (1 + r0 / (r0 + r1)) - phi3 / (r0 + r1)   // on d1_0
                let cB = -phi2 * r0 / (r0 + r1) + phi3 / (r0 + r1)        // on d1_1
                x.update(scale: scale, (a * (base + cA / r0), d0), (a * (-cA / r0 + cB / r1), history.prediction(1).data),
                         (-a * cB / r1, history.prediction(2).data))
            } else if available == 2 {
                let r = lastH(1) / h
                x.update(scale: scale, (a * (base + phi2 / r), d0), (-a * phi2 / r, history.prediction(1).data))
            } else {
                x.update(scale: scale, (a * base, d0))
            }
        }
        if eta != 0 {
            try context.drawNoise(&state.z, step: step, from: sigma, to: next, for: name)
            x.update(scale: 1, (a * next * (-Double.expMinusOne(-2 * eta * h)).squareRoot() * sNoise, state.z))
        }
    }
}
