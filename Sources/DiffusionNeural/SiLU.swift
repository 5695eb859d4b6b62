import Foundation

/// The sigmoid linear unit (`torch.nn.SiLU`, diffusers' `act_fn="silu"`):
/// ```
/// silu(x) = x · σ(x) = x / (1 + e^(−x))
/// ```
/// For very negative `x`, `e^(−x)` overflows to infinity and the result is `−0`, as in torch.
@inline(__always)
package func silu(_ x: Float) -> Float { x / (1 + exp(-x)) }
