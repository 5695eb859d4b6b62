extension SolverCatalog {
    /// Linear multistep and k-diffusion's DPM samplers: lms, ipndm, plms, dpm_2, dpmpp_2s, dpm_fast, dpm_adaptive.
    static let classicalEntries: [Entry] = []
}
