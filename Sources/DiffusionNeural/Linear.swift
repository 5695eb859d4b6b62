/// A fully connected layer (`torch.nn.Linear`) on feature-major vectors, one column per sample:
/// ```
/// y[o, b] = bias[o] + Σᵢ W[o, i] · x[i, b]
/// ```
/// diffusers' `TimestepEmbedding.linear_1/linear_2` and `ResnetBlock2D.time_emb_proj`. (The attention
/// projections are the same product with the pixels as columns; see ``Attention``.)
struct Linear: Sendable {
    let inFeatures: Int
    let outFeatures: Int
    let weight: PackedMatrix
    let bias: [Float]

    /// Reads `<prefix>.weight` `[out, in]` and `<prefix>.bias` `[out]`.
    init(_ weights: inout WeightReader, _ prefix: String, inFeatures: Int, outFeatures: Int) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = PackedMatrix(try weights.tensor(prefix + ".weight", shape: [outFeatures, inFeatures]),
                              rows: outFeatures, columns: inFeatures)
        bias = try weights.tensor(prefix + ".bias", shape: [outFeatures])
    }

    /// `out[0..<outFeatures, 0..<B] = W·x + bias` for `x` of `inFeatures` rows and `B` columns.
    func apply(_ x: StridedMatrix, into out: UnsafeMutablePointer<Float>, outRowStride: Int, workspace: NeuralWorkspace) {
        precondition(x.rows == inFeatures, "Linear: \(x.rows) inputs, expected \(inFeatures)")
        LayerProfile.measure(.linear) { bias.withUnsafeBufferPointer { bias in
            MatrixMultiply.multiply(weight.panels, x, into: MatrixDestination(out, rowStride: outRowStride, bias: bias.baseAddress),
                                    scratch: workspace.panels)
        } }
    }
}
