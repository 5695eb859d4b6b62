import Foundation

// Reproduction of PyTorch's CPU `torch.manual_seed(s); torch.randn(...)` (float32, default generator).
// Everything below follows ATen (checked against torch 2.15.0, see tools/fixtures_torch_randn.py):
//   ATen/core/MT19937RNGEngine.h        at::mt19937 (engine of CPUGeneratorImpl)
//   ATen/CPUGeneratorImpl.cpp           random() / random64() / next_double_normal_sample_
//   ATen/core/TransformationHelper.h    at::transformation::uniform_real
//   ATen/core/DistributionsHelper.h     at::uniform_real_distribution, at::normal_distribution
//   ATen/native/cpu/DistributionTemplates.h   normal_kernel, normal_fill, NormalFill16
//   ATen/native/cpu/avx_mathfun.h       log256_ps, sincos256_ps (the AVX2 NormalFill16)

/// The 32-bit Mersenne Twister exactly as ATen's `at::mt19937` (`MT19937RNGEngine.h`), the
/// engine of PyTorch's `CPUGeneratorImpl`.
///
/// Seeding is `init_with_uint32`: only the low 32 bits of the 64-bit seed enter the state
/// (`state[0] = seed & 0xffffffff`, `state[j] = 1812433253 · (state[j−1] ⊕ state[j−1] >> 30) + j`),
/// so `torch.manual_seed(2**63 + 5)` and `torch.manual_seed(5)` give the same stream. The output
/// is the standard MT19937 sequence (twist with `0x9908b0df`, the usual tempering), the same as
/// `std::mt19937` seeded with the low 32 bits.
public struct MersenneTwister19937: Sendable, Equatable {
    /// `MERSENNE_STATE_N`.
    public static let stateSize = 624
    private static let shift = 397            // MERSENNE_STATE_M
    private var state: [UInt32]
    private var index: Int

    /// The engine of `at::mt19937(seed)`.
    public init(seed: UInt64) {
        var s = [UInt32](repeating: 0, count: Self.stateSize)
        s[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.stateSize {
            s[j] = 1_812_433_253 &* (s[j - 1] ^ (s[j - 1] >> 30)) &+ UInt32(j)
        }
        state = s
        index = Self.stateSize            // ATen: left_ = 1, so the first draw regenerates the state
    }

    /// The next 32-bit output (`at::mt19937::operator()`, `CPUGeneratorImpl::random()`).
    public mutating func next() -> UInt32 {
        if index >= Self.stateSize { regenerate() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `CPUGeneratorImpl::random64()`: two draws, the first one is the high word.
    public mutating func next64() -> UInt64 {
        let high = next()
        let low = next()
        return UInt64(high) << 32 | UInt64(low)
    }

    /// ATen's `next_state()`: the whole state is twisted at once.
    private mutating func regenerate() {
        let n = Self.stateSize, m = Self.shift
        state.withUnsafeMutableBufferPointer { p in
            for k in 0..<n {
                let v = p[k + 1 < n ? k + 1 : 0]
                let mixed = (p[k] & 0x8000_0000) | (v & 0x7FFF_FFFF)
                p[k] = p[k + m < n ? k + m : k + m - n] ^ (mixed >> 1) ^ ((v & 1) != 0 ? 0x9908_B0DF : 0)
            }
        }
        index = 0
    }
}

/// PyTorch's default CPU generator and its `randn`, reproduced bit for bit:
/// `TorchGenerator(seed: s).randn(count: n)` equals `torch.manual_seed(s); torch.randn(n)` (float32,
/// CPU, default generator) for every seed in `0...UInt64.max` and every size, and consecutive calls
/// continue the stream as consecutive `torch.randn` calls after one `manual_seed` do. A tensor's
/// shape does not matter, only its element count (`torch.randn` fills a fresh contiguous tensor).
///
/// ## Algorithm (ATen `normal_kernel`, `ATen/native/cpu/DistributionTemplates.h`)
/// The engine is ``MersenneTwister19937`` (`at::mt19937`). Two paths, chosen by the element count `n`:
///
/// - **n < 16** — element by element through `at::normal_distribution<double>` (the serial
///   `TensorIterator` loop), each value cast to `Float`. A new pair costs two
///   `uniform_real_distribution<double>` draws, each from `random64()` (two 32-bit outputs, the
///   first is the high word) as `(r & (2⁵³−1)) · 2⁻⁵³`: `u1` then `u2`,
///   `r = sqrt(−2 · log1p(−u2))`, `θ = 2π · u1`; it returns `r · cos θ` and keeps `r · sin θ` in the
///   generator (`next_double_normal_sample_`), which the next value drawn on this path uses first,
///   even in a later call and even if a `normal_fill` call comes in between (that path does not
///   touch the cache). Reseeding clears it. `log1p`, `sin` and `cos` are the C library's double
///   functions, as in ATen.
/// - **n ≥ 16** — `normal_fill`: first one `uniform_real_distribution<float>` value per element,
///   in order, each from one 32-bit output as `(r & (2²⁴−1)) · 2⁻²⁴`. Then `NormalFill16`
///   transforms each whole block of 16 in place: for `j` in `0..<8`, `u1 = 1 − d[j]`, `u2 = d[j+8]`,
///   `radius = sqrt(−2 · log u1)`, `θ = 2π · u2`, `d[j] = radius · cos θ`, `d[j+8] = radius · sin θ`.
///   If `n % 16 ≠ 0`, 16 *new* uniforms overwrite the last 16 elements (they overlap the last whole
///   block) and those 16 are transformed again, so the stream advances by `n + 16` outputs.
///
/// How `NormalFill16` computes `log`, `cos` and `sin` depends on the ATen CPU kernel, see ``Kernel``:
/// torch on any x86-64 CPU with AVX2 (including AVX-512 CPUs, whose dispatch falls back to the AVX2
/// kernel for this operator) uses the Cephes-style `log256_ps` / `sincos256_ps` of `avx_mathfun.h`;
/// torch's `DEFAULT` kernel (no AVX2, or `ATEN_CPU_CAPABILITY=default`) uses `std::log`, `std::cos`,
/// `std::sin` in `float`. The two differ in the last bit for about 40 % of the values, so pick the
/// kernel that matches the torch run to be reproduced. ``Kernel/avx2`` is emulated lane by lane
/// with the same single-precision operations and the same fused multiply-adds as the compiled torch
/// 2.15.0 binary, so it is exact on every platform. ``Kernel/scalar`` and the n < 16 path call the C
/// library (`logf`, `cosf`, `sinf`, `log1p`, `sin`, `cos`), so they match torch when both use the
/// same libm (as on Linux with glibc).
///
/// As a ``NoiseSource`` it reproduces a sampler that calls `torch.randn` (or `randn_like`) once per
/// stochastic step: ``fill(_:step:)`` is one `torch.randn` of the tensor's full shape. The `step`
/// argument is not used; the draws depend only on the call order, as in torch.
///
/// The generator is not thread-safe (a class with mutable state, like torch's generator behind
/// its mutex); use one per sampling run.
public final class TorchGenerator: NoiseSource {
    /// Which ATen `NormalFill16` to reproduce for calls of 16 or more elements.
    public enum Kernel: Sendable, Equatable {
        /// `NormalFill16<float, true>` of the `AVX2` kernel (`log256_ps`, `sincos256_ps`): what torch
        /// runs on x86-64 CPUs with AVX2 or AVX-512.
        case avx2
        /// The generic `NormalFill16` (`std::log`, `std::cos`, `std::sin` in float) of the `DEFAULT`
        /// kernel: x86-64 CPUs without AVX2, or `ATEN_CPU_CAPABILITY=default`.
        case scalar
    }

    /// The kernel used for calls of 16 or more elements.
    public let kernel: Kernel
    /// The seed of the last ``manualSeed(_:)`` (or of `init`), as `torch.initial_seed()`.
    public private(set) var seed: UInt64
    private var engine: MersenneTwister19937
    /// ATen's `next_double_normal_sample_`.
    private var cachedNormal: Double?

    /// The state right after `torch.manual_seed(seed)`.
    public init(seed: UInt64, kernel: Kernel = .avx2) {
        self.kernel = kernel
        self.seed = seed
        self.engine = MersenneTwister19937(seed: seed)
        self.cachedNormal = nil
    }

    /// `torch.manual_seed(seed)`: a fresh engine, and the cached normal value is dropped.
    public func manualSeed(_ seed: UInt64) {
        self.seed = seed
        engine = MersenneTwister19937(seed: seed)
        cachedNormal = nil
    }

    /// `torch.randn(count)`: the next `count` standard-normal values. A count of zero or less draws
    /// nothing and returns `[]`.
    public func randn(count: Int) -> [Float] {
        guard count > 0 else { return [] }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { fillNormal($0) }
        return values
    }

    /// `torch.randn(shape)`: the same values as `randn(count:)` with the product of `shape`, in
    /// row-major order. An empty shape is torch's 0-d tensor (one value), returned with shape `[1]`.
    /// A shape with a negative extent, or whose element count overflows `Int`, is not a tensor:
    /// it draws nothing and gives an empty tensor of shape `[0]`.
    public func randn(shape: [Int]) -> SampleTensor {
        guard !shape.isEmpty else { return SampleTensor(shape: [1], scalars: randn(count: 1)) }
        var count = 1
        for extent in shape {
            guard extent >= 0 else { return SampleTensor(shape: [0], scalars: []) }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else { return SampleTensor(shape: [0], scalars: []) }
            count = product
        }
        return SampleTensor(shape: shape, scalars: randn(count: count))
    }

    /// Fills `buffer` as one `torch.randn` call of `buffer.count` elements.
    public func randn(into buffer: UnsafeMutableBufferPointer<Float>) {
        fillNormal(buffer)
    }

    /// One `torch.randn` call of `noise`'s full shape (the `step` index is not used).
    public func fill(_ noise: inout SampleTensor, step: Int) throws {
        noise.scalars.withUnsafeMutableBufferPointer { fillNormal($0) }
    }

    // MARK: - ATen normal_kernel

    private func fillNormal(_ out: UnsafeMutableBufferPointer<Float>) {
        let n = out.count
        guard n > 0 else { return }
        guard n >= 16 else {
            // The TensorIterator path: at::normal_distribution<double>(0, 1) per element.
            // transformation::normal is `value * std + mean`; `+ 0` keeps its sign of zero.
            for i in 0..<n { out[i] = Float(normalDouble() + 0) }
            return
        }
        // normal_fill
        for i in 0..<n { out[i] = uniformFloat() }
        var start = 0
        while n - start >= 16 {
            normalFill16(out, start)
            start += 16
        }
        if n % 16 != 0 {
            // "Recompute the last 16 values."
            for i in (n - 16)..<n { out[i] = uniformFloat() }
            normalFill16(out, n - 16)
        }
    }

    /// `uniform_real_distribution<float>(0, 1)`: the low 24 bits of one 32-bit output, times 2⁻²⁴.
    @inline(__always)
    private func uniformFloat() -> Float {
        Float(engine.next() & 0xFF_FFFF) * 0x1p-24
    }

    /// `uniform_real_distribution<double>(0, 1)`: the low 53 bits of `random64()`, times 2⁻⁵³.
    @inline(__always)
    private func uniformDouble() -> Double {
        Double(engine.next64() & 0x1F_FFFF_FFFF_FFFF) * 0x1p-53
    }

    /// `at::normal_distribution<double>(0, 1)` with the generator's cached second value.
    private func normalDouble() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = uniformDouble()
        let u2 = uniformDouble()
        let r = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = r * sin(theta)
        return r * cos(theta)
    }

    @inline(__always)
    private func normalFill16(_ d: UnsafeMutableBufferPointer<Float>, _ start: Int) {
        switch kernel {
        case .avx2: Self.normalFill16AVX2(d, start)
        case .scalar: Self.normalFill16Scalar(d, start)
        }
    }

    /// The generic `NormalFill16::operator()` in float. `theta` is `2.0f * c10::pi<double> * u2`,
    /// evaluated in double and rounded to float; the output `std::fma(radius * cos, 1, 0)` is
    /// `radius * cos + 0`.
    static func normalFill16Scalar(_ d: UnsafeMutableBufferPointer<Float>, _ start: Int) {
        for j in start..<(start + 8) {
            let u1: Float = 1 - d[j]
            let u2 = d[j + 8]
            let radius = (-2 * logf(u1)).squareRoot()
            let theta = Float(2.0 * Double.pi * Double(u2))
            d[j] = radius * cosf(theta) + 0
            d[j + 8] = radius * sinf(theta) + 0
        }
    }

    /// `NormalFill16<float, true>` (AVX2) one lane at a time: `radius = sqrt(−2 · log256_ps(1 − d[j]))`,
    /// `θ = (float)2π · d[j+8]` in float, `sincos256_ps(θ)`, outputs `_mm256_fmadd_ps(radius · c, 1, 0)`.
    static func normalFill16AVX2(_ d: UnsafeMutableBufferPointer<Float>, _ start: Int) {
        for j in start..<(start + 8) {
            let u1: Float = 1 - d[j]
            let u2 = d[j + 8]
            let radius = (-2 * AVXMath.log(u1)).squareRoot()
            let (s, c) = AVXMath.sinCos(AVXMath.twoPi * u2)
            d[j] = radius * c + 0
            d[j + 8] = radius * s + 0
        }
    }
}

/// One lane of `log256_ps` and `sincos256_ps` from ATen's `avx_mathfun.h` (Cephes polynomials, after
/// Julien Pommier's sse_mathfun), as compiled into torch 2.15.0's AVX2 kernel: the constants are
/// the single-precision values in the binary, and every multiply-add that GCC contracted into an
/// FMA instruction there is a fused `fma` here (and only those).
enum AVXMath {
    @inline(__always)
    static func fma(_ a: Float, _ b: Float, _ c: Float) -> Float { c.addingProduct(a, b) }

    /// `_mm256_set1_ps(2.0f * c10::pi<double>)`.
    static let twoPi = Float(bitPattern: 0x40C9_0FDB)

    static let minNormPos = Float(bitPattern: 0x0080_0000)
    static let sqrtHalf = Float(bitPattern: 0x3F35_04F3)           // cephes_SQRTHF
    static let logP: [Float] = [                                     // cephes_log_p0 ... p8
        Float(bitPattern: 0x3D90_21BB), Float(bitPattern: 0xBDEB_D1B8), Float(bitPattern: 0x3DEF_251A),
        Float(bitPattern: 0xBDFE_5D4F), Float(bitPattern: 0x3E11_E9BF), Float(bitPattern: 0xBE2A_AE50),
        Float(bitPattern: 0x3E4C_CEAC), Float(bitPattern: 0xBE7F_FFFC), Float(bitPattern: 0x3EAA_AAAA),
    ]
    static let logQ1 = Float(bitPattern: 0xB95E_8083)               // cephes_log_q1 = -2.12194440e-4
    static let logQ2 = Float(bitPattern: 0x3F31_8000)               // cephes_log_q2 = 0.693359375

    /// `log256_ps` for one lane; NaN for `x ≤ 0` (the invalid mask sets all bits).
    static func log(_ input: Float) -> Float {
        guard input > 0 else { return Float(bitPattern: 0xFFFF_FFFF) }
        var x = input > minNormPos ? input : minNormPos                 // _mm256_max_ps
        let bits = x.bitPattern
        let exponent = Int32(bitPattern: bits >> 23) &- 0x7F
        x = Float(bitPattern: (bits & 0x807F_FFFF) | 0x3F00_0000)       // mantissa in [0.5, 1)
        var e = Float(exponent) + 1
        let below = x < sqrtHalf
        let tmp: Float = below ? x : 0
        x = x + -1
        e = e - (below ? 1 : 0)
        x = x + tmp
        let z = x * x
        var y = logP[0]
        for k in 1..<logP.count { y = fma(y, x, logP[k]) }
        y = fma(y * x, z, e * logQ1)            // (y·x)·z + e·q1, one rounding
        y = fma(-z, 0.5, y)                     // y − z/2
        x = x + y
        return fma(e, logQ2, x)                 // x + e·q2, one rounding
    }

    static let fourOverPi = Float(bitPattern: 0x3FA2_F983)          // cephes_FOPI
    static let dp1 = Float(bitPattern: 0xBF49_0000)                 // minus_cephes_DP1
    static let dp2 = Float(bitPattern: 0xB97D_A000)                 // minus_cephes_DP2
    static let dp3 = Float(bitPattern: 0xB322_2169)                 // minus_cephes_DP3
    static let cosP0 = Float(bitPattern: 0x37CC_F5CE)               // coscof_p0
    static let cosP1 = Float(bitPattern: 0xBAB6_061A)               // coscof_p1
    static let cosP2 = Float(bitPattern: 0x3D2A_AAA5)               // coscof_p2
    static let sinP0 = Float(bitPattern: 0xB94C_A1F9)               // sincof_p0
    static let sinP1 = Float(bitPattern: 0x3C08_839E)               // sincof_p1
    static let sinP2 = Float(bitPattern: 0xBE2A_AAA3)               // sincof_p2

    /// `_mm256_cvttps_epi32` for one lane: truncation, `Int32.min` when out of range or NaN.
    @inline(__always)
    static func truncateToInt32(_ v: Float) -> Int32 {
        guard v.isFinite, v > -2_147_483_904, v < 2_147_483_648 else { return Int32.min }
        return Int32(v)
    }

    /// `sincos256_ps` for one lane: `(sin x, cos x)`.
    static func sinCos(_ input: Float) -> (sin: Float, cos: Float) {
        var signSin = input.bitPattern & 0x8000_0000
        var x = Float(bitPattern: input.bitPattern & 0x7FFF_FFFF)
        var j = truncateToInt32(x * fourOverPi)
        j = (j &+ 1) & ~1
        let y = Float(j)
        let swapSignSin = UInt32(bitPattern: j & 4) << 29
        let polyIsCos = (j & 2) == 0                                  // the poly_mask lanes
        x = fma(y, dp1, x)
        x = fma(y, dp2, x)
        x = fma(y, dp3, x)
        let signCos = UInt32(bitPattern: ~(j &- 2) & 4) << 29
        signSin ^= swapSignSin
        let z = x * x
        let halfZ = z * 0.5
        var yc = fma(cosP0, z, cosP1)
        yc = fma(yc, z, cosP2)
        yc = z * yc
        yc = fma(z, yc, -halfZ)                 // z·(yc·z) − z/2, one rounding
        yc = yc + 1
        var ys = fma(sinP0, z, sinP1)
        ys = fma(ys, z, sinP2)
        ys = fma(x, z * ys, x)
        let sin2: Float = polyIsCos ? ys : 0    // _mm256_and_ps(poly_mask, y2)
        let sin1: Float = polyIsCos ? 0 : yc    // _mm256_andnot_ps(poly_mask, y)
        let cosPart = yc - sin1
        let sinPart = ys - sin2
        let s = sin1 + sin2
        let c = sinPart + cosPart
        return (Float(bitPattern: s.bitPattern ^ signSin), Float(bitPattern: c.bitPattern ^ signCos))
    }
}
