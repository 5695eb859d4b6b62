extension SolverCatalog {
    /// The CFG++ samplers (Chung et al. 2024) under ComfyUI's names: with `--class`/`--guidance`
    /// they step with the unconditional estimate; without guidance they are their plain samplers.
    static let cfgPlusPlusEntries: [Entry] = [
        Entry(name: "euler_cfg_pp", summary: "Euler with CFG++ (guidance scales in [0, 1])", evaluationsPerStep: 1,
              reference: "ComfyUI sample_euler_cfg_pp") { _ in EulerAncestralCFGPP(eta: 0, sNoise: 0) },
        Entry(name: "dpmpp_2m_cfg_pp", summary: "DPM-Solver++(2M) with CFG++", evaluationsPerStep: 1,
              reference: "ComfyUI sample_dpmpp_2m_cfg_pp") { _ in DPMSolverPlusPlus2MCFGPP() },
    ]

    /// The ancestral CFG++ samplers (they draw fresh noise every step).
    static let cfgPlusPlusStochasticEntries: [Entry] = [
        Entry(name: "euler_ancestral_cfg_pp", summary: "Euler ancestral with CFG++; --eta, --s-noise", evaluationsPerStep: 1,
              reference: "ComfyUI sample_euler_ancestral_cfg_pp") { o in EulerAncestralCFGPP(eta: try o.eta(default: 1), sNoise: o.sNoise) },
        Entry(name: "dpmpp_2s_ancestral_cfg_pp", summary: "DPM-Solver++(2S) ancestral with CFG++; --eta, --s-noise", evaluationsPerStep: 2,
              reference: "ComfyUI sample_dpmpp_2s_ancestral_cfg_pp") { o in
            DPMSolverPlusPlus2SAncestralCFGPP(eta: try o.eta(default: 1), sNoise: o.sNoise)
        },
    ]
}
