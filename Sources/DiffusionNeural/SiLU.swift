import Foundation

/// The sigmoid linear unit (`torch.nn.SiLU`, diffusers' `act_fn="silu"`):
/// ```
/// silu(x) = x · σ(x) = x / (1 + e^(−x))
/// ```
/// For very negative `x`, `e^(−x)` overflows to infinity and the result is `−0`, as in torch.
@inline(__always)
package func silu(_ x: Float) -> Float { x / (1 + exp(-x)) }

/// SiLU on eight lanes with ``vectorExp(_:)``: the same formula, within a few float32 ulps of ``silu(_:)``.
@inline(__always)
package func silu(_ x: SIMD8<Float>) -> SIMD8<Float> { x / (1 + vectorExp(-x)) }

/// `eˣ` on eight lanes, within 2 ulps for finite results (Cephes `expf`, Moshier 1989): with
/// `n = round(x·log₂e)` and `r = x − n·ln 2` (ln 2 split in two so `r` is exact), `eʳ` is a degree-7
/// polynomial on `|r| ≤ ln 2 / 2` and `2ⁿ` is built from its exponent bits, so `x` is clamped to
/// the normal range: above 88.38 gives `+∞`, below −87.34 gives `0` (no denormals). Vectorized
/// PyTorch evaluates SiLU with the same kind of polynomial (Sleef).
@inline(__always)
package func vectorExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let low = SIMD8<Float>(repeating: -87.33654), high = SIMD8<Float>(repeating: 88.37626)
    let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
    // Rounding to nearest by adding and subtracting 1.5·2²³; the low bits of the sum are n.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = clamped * 1.442_695_04 + magic
    let n = shifted - magic
    let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * (r * r) + r + 1
    let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
    let result = p * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    return result.replacing(with: .infinity, where: x .> high).replacing(with: 0, where: x .< low)
}
