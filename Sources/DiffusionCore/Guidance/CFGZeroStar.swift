/// CFG-Zero* (Fan et al. 2025, "CFG-Zero*: Improved Classifier-Free Guidance for Flow Matching
/// Models"), as diffusers' `ClassifierFreeZeroStarGuidance` computes it, per sample:
/// ```
/// s* = (ε_c·ε_u)/(‖ε_u‖² + 10⁻⁸)
/// ε  = s*·ε_u + w·(ε_c − s*·ε_u)             (zero for the first `zeroInitSteps` evaluations)
/// ```
/// The optimized scale `s*` corrects the unconditional prediction where it is a poor estimate
/// (early, high noise), and zeroing the first steps skips the evaluations where it is worst.
/// At `w = 1` it is the conditional model after the zeroed steps, as in diffusers.
public final class CFGZeroStar: GuidanceCombination, @unchecked Sendable {
    public let zeroInitSteps: Int
    private var calls = 0

    public init(zeroInitSteps: Int = 1) throws {
        guard zeroInitSteps >= 0 else { throw ModelError("CFG-Zero* zero-init steps must be >= 0, got \(zeroInitSteps)") }
        self.zeroInitSteps = zeroInitSteps
    }

    public func combine(conditional: SampleTensor, unconditional: SampleTensor, scale: Double, into output: inout SampleTensor) {
        calls += 1
        guard calls > zeroInitSteps else { output.assign(SampleTensor(zeros: output.shape)); return }
        guard abs(scale - 1) > 1e-9 * Swift.max(1, abs(scale)) else { output.assign(conditional); return }
        let per = conditional.sampleCount, w = Float(scale)
        for b in 0..<conditional.batchSize {
            let range = (b * per)..<((b + 1) * per)
            var dot: Float = 0, squared: Float = 0
            for i in range {
                dot += conditional.scalars[i] * unconditional.scalars[i]
                squared += unconditional.scalars[i] * unconditional.scalars[i]
            }
            let star = dot / (squared + 1e-8)
            for i in range {
                let u = star * unconditional.scalars[i]
                output.scalars[i] = u + w * (conditional.scalars[i] - u)
            }
        }
    }
}
