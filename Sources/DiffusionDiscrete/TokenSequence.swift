/// A sequence of `length` tokens over a vocabulary of `vocabularySize` ids `0..<V`, in which the
/// id `V` (``maskID``) marks a masked position: the state of a masked (absorbing-state) diffusion
/// model (Austin et al. 2021, D3PM; Sahoo et al. 2024, MDLM). Sampling starts from all masks and
/// ends with none.
public struct TokenSequence: Sendable, Equatable {
    /// The token ids, one per position; ``maskID`` where masked.
    public var tokens: [Int32]
    /// `V`, the number of real tokens.
    public let vocabularySize: Int

    /// The fully masked sequence of `length` positions.
    public init(masked length: Int, vocabularySize: Int) {
        self.tokens = Array(repeating: Int32(vocabularySize), count: length)
        self.vocabularySize = vocabularySize
    }

    public init(tokens: [Int32], vocabularySize: Int) {
        self.tokens = tokens
        self.vocabularySize = vocabularySize
    }

    /// The mask id, `V`.
    public var maskID: Int32 { Int32(vocabularySize) }
    public var length: Int { tokens.count }
    public func isMasked(_ position: Int) -> Bool { tokens[position] == maskID }
    /// The masked positions, in increasing order.
    public var maskedPositions: [Int] { tokens.indices.filter { tokens[$0] == maskID } }
}
