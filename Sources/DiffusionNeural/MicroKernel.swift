import CDiffusionKernels

/// The register micro-kernel of ``MatrixMultiply``, chosen at run time for the widest vector unit the
/// CPU has.
///
/// The package builds for the baseline of its platform (4-wide SSE without fused multiply-add on
/// x86-64) and cannot set a target CPU for its users, so the wider kernels live in the
/// `CDiffusionKernels` C target, each function compiled for its unit with a `target` attribute, and
/// are called only when the CPU reports that unit (the way BLAS libraries and PyTorch dispatch). On
/// arm64, NEON is the baseline and its kernel is always used. All of them read the same packed `A`
/// panels (`B` panels with each value four times for the portable kernel, once for the others; the
/// AVX2 kernel broadcasts `A` instead, reading `B` in 24-column panels) and sum each element of `C`
/// in increasing `k`, one depth block of ``MatrixMultiply`` at a time:
/// ```
/// portable:              acc ← round(acc + round(a·b))     (SIMD4, separate multiply and add)
/// avx2FMA, avx512, neon: acc ← round(acc + a·b)            (fused multiply-add)
/// ```
/// so the fused kernels give the same bits, and the portable one differs from them by float32
/// rounding alone, below `4(k+1)·2⁻²⁴·Σ|terms|` per element (`terms`: the products, the bias and the
/// accumulated `C`). Which kernel a machine uses never depends on the thread count or the tiling.
package enum MicroKernel: String, CaseIterable, Sendable {
    /// The Swift 8×6 kernel on `SIMD4<Float>`: every platform.
    case portable
    /// 4×24 in 8-wide AVX2 registers with fused multiply-adds, lanes along the rows of `C` (`B`
    /// packed in 24-column panels, the tile stored with vector loads and stores; ``MatrixMultiply``'s
    /// `rowMajorTile`). The AVX2 16×6 and 8×6 kernels of the column layout finish the AVX-512
    /// kernel's last panels.
    case avx2FMA = "avx2-fma"
    /// 8×32 in 16-wide AVX-512 registers with fused multiply-adds, lanes along the rows of `C`, as
    /// the AVX2 kernel (`dk_rows_8x32_avx512`, `B` in 32-column panels); 32×6 (four panels, column
    /// layout) for products of fewer than 8 rows (``MatrixMultiply``'s `wideMinimumRows(for:)`).
    case avx512
    /// 16×6 (two panels) in 4-wide NEON registers with fused multiply-adds: arm64 only.
    case neon

    private static let supportedBits = Int(dk_supported_kernels())

    /// Whether this CPU can run the kernel.
    package var isSupported: Bool {
        switch self {
        case .portable: true
        case .avx2FMA: Self.supportedBits & Int(DK_KERNEL_AVX2_FMA) != 0
        case .avx512: Self.supportedBits & Int(DK_KERNEL_AVX512) != 0
        case .neon: Self.supportedBits & Int(DK_KERNEL_NEON) != 0
        }
    }

    /// How many times the packed `B` panels hold each value: the portable kernel reads them as
    /// ready-made `SIMD4` vectors (baseline x86-64 has no broadcast load), the others broadcast.
    var lanes: Int { self == .portable ? 4 : 1 }

    /// The kernels this CPU can run, portable first.
    package static var supported: [MicroKernel] { allCases.filter(\.isSupported) }

    /// The widest kernel this CPU can run: what every product uses unless told otherwise.
    package static let best: MicroKernel = supported.last!

    /// Flops per round of ``peakChains(_:)``: twelve fused multiply-adds on full registers (nil for
    /// the portable kernel, whose peak the benchmarks measure in Swift).
    package var chainFlopsPerRound: Double? {
        switch self {
        case .portable, .neon: nil
        case .avx2FMA: 12 * 8 * 2
        case .avx512: 12 * 16 * 2
        }
    }

    /// Runs `iterations` rounds of independent fused multiply-add chains in this kernel's registers,
    /// for measuring the unit's peak (nothing for the portable and NEON kernels).
    package func peakChains(_ iterations: Int) {
        switch self {
        case .portable, .neon: break
        case .avx2FMA: _ = dk_fma_chains_avx2(iterations)
        case .avx512: _ = dk_fma_chains_avx512(iterations)
        }
    }

    /// Accumulates the 8×6 tiles of up to four consecutive `A` panels against one `B` panel (the
    /// fused kernels only): panel `t` starts at `a + t·panelStride`, its tile goes to `tiles + 48·t` as
    /// `tile[j·8 + i]`. Returns how many panels it took (at most `available`).
    @inline(__always)
    func tiles(depth: Int, a: UnsafePointer<Float>, panelStride: Int, available: Int, b: InPlaceB,
               into tiles: UnsafeMutablePointer<Float>) -> Int {
        let (a1, a2, a3) = (a + panelStride, a + 2 * panelStride, a + 3 * panelStride), origin = b.origin
        if let rows = b.rows, let columns = b.columns {
            switch (self, available) {
            case (.neon, 2...): dk_gather_16x6_neon(depth, a, a1, origin, rows, columns, tiles, tiles + 48); return 2
            case (.neon, _): dk_gather_8x6_neon(depth, a, origin, rows, columns, tiles); return 1
            case (.avx512, 4...):
                dk_gather_32x6_avx512(depth, a, a1, a2, a3, origin, rows, columns, tiles, tiles + 48, tiles + 96, tiles + 144)
                return 4
            case (_, 2...): dk_gather_16x6_avx2(depth, a, a1, origin, rows, columns, tiles, tiles + 48); return 2
            default: dk_gather_8x6_avx2(depth, a, origin, rows, columns, tiles); return 1
            }
        }
        switch (self, available) {
        case (.neon, 2...): dk_gemm_16x6_neon(depth, a, a1, origin, tiles, tiles + 48); return 2
        case (.neon, _): dk_gemm_8x6_neon(depth, a, origin, tiles); return 1
        case (.avx512, 4...): dk_gemm_32x6_avx512(depth, a, a1, a2, a3, origin, tiles, tiles + 48, tiles + 96, tiles + 144); return 4
        case (_, 2...): dk_gemm_16x6_avx2(depth, a, a1, origin, tiles, tiles + 48); return 2
        default: dk_gemm_8x6_avx2(depth, a, origin, tiles); return 1
        }
    }
}

/// Where a fused kernel reads its `B` panel: a packed panel (`[k][6]` from `origin`), or values in
/// place, `B[k, j] = origin[rows[k] + columns[j]]` (``MatrixPanelSource/inPlace(rows:count:columns:width:rowOffsets:columnOffsets:)``).
struct InPlaceB {
    let origin: UnsafePointer<Float>
    var rows: UnsafePointer<Int>? = nil
    var columns: UnsafePointer<Int>? = nil
}
