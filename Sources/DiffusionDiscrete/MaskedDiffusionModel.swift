/// A masked diffusion model's denoiser: given a partly masked sequence and the time `t`, the
/// predictive categorical distribution over the `V` real tokens of every masked position,
/// `p(x_l = v | visible tokens)` (Sahoo et al. 2024, MDLM: the "SUBS" parameterization, which
/// never predicts the mask and keeps visible tokens). Probabilities are Float64, so the
/// categorical draws that follow do not lose the small ones.
///
/// Sampling never asks the model about a visible position; a model may leave those rows alone.
public protocol MaskedDiffusionModel: Sendable {
    var name: String { get }
    /// `L`.
    var length: Int { get }
    /// `V`; the mask id is `V`.
    var vocabularySize: Int { get }
    /// Writes the predictive of each masked position `l` of `sequence` into
    /// `probabilities[l·V ..< (l+1)·V]` (length `L·V`).
    func predict(_ sequence: TokenSequence, time: Double, into probabilities: inout [Double]) throws
}
