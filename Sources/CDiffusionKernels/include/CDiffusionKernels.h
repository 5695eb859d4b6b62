#ifndef C_DIFFUSION_KERNELS_H
#define C_DIFFUSION_KERNELS_H

#include <stddef.h>

/// Vector units the matrix-multiply micro-kernels can use, as bits of `dk_supported_kernels()`.
enum {
    /// AVX2 with fused multiply-add (x86-64, Haswell and later).
    DK_KERNEL_AVX2_FMA = 1,
    /// AVX-512 Foundation and DQ (x86-64, Skylake-SP and later).
    DK_KERNEL_AVX512 = 2,
    /// NEON with fused multiply-add (arm64's baseline: always there).
    DK_KERNEL_NEON = 4,
};

/// The kernels this CPU and operating system can run (`DK_KERNEL_NEON` on arm64, 0 elsewhere off
/// x86-64: only the portable Swift kernel).
int dk_supported_kernels(void);

/// The 8×6 micro-kernel with AVX2 fused multiply-adds, in the packing of `MatrixMultiply`:
/// `tile[j·8 + i] = Σₖ a[k·8 + i] · b[k·6 + j]` for `k` in `0..<depth`, summed in increasing `k`
/// with one rounding per step (`fma`). Call only when `dk_supported_kernels()` has `DK_KERNEL_AVX2_FMA`.
void dk_gemm_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, float *tile);

/// Two 8×6 tiles that share `b` (rows of two `A` panels), the same sums as two `dk_gemm_8x6_avx2` calls.
void dk_gemm_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, float *tile0, float *tile1);

/// Four 8×6 tiles that share `b`, in AVX-512 registers (two panels per register); the same sums as four
/// `dk_gemm_8x6_avx2` calls. Call only when `dk_supported_kernels()` has `DK_KERNEL_AVX512`.
void dk_gemm_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                         const float *b, float *tile0, float *tile1, float *tile2, float *tile3);

/// The same kernels reading `B[k, j]` at `b[rows[k] + columns[j]]` instead of a packed panel (a
/// convolution's zero-padded input read in place, ``PaddedImageSource`` in Swift): the same products
/// in the same order, so the same bits as packing those values first.
void dk_gather_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                        float *tile);
void dk_gather_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                         const ptrdiff_t *columns, float *tile0, float *tile1);
void dk_gather_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                           const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                           float *tile0, float *tile1, float *tile2, float *tile3);

/// How `dk_rows_4x24_avx2` writes its tile: `C = acc (+ bias)`, `C = C + (acc (+ bias))`, or `C = C + acc`
/// (a later depth block: the bias is not added again).
enum {
    DK_STORE_SET = 0,
    DK_STORE_ACCUMULATE = 1,
    DK_STORE_ADD = 2,
};

/// Columns `dk_pack_rows_24` packs at most per call.
enum { DK_PACK_COLUMNS = 192 };

/// The 4×24 micro-kernel with AVX2 fused multiply-adds, lanes along the rows of `C` (row-major, so
/// the tile is stored with vector loads and stores): `acc[i][j] = Σₖ a[k·8 + i] · b[k·24 + j]` for
/// `k` in `0..<depth`, summed in increasing `k` with one rounding per step from zero, then written to
/// the `rows × columns` corner of `C` (`c[i·rowStride + j]`) as `mode` says, `bias[i]` added when
/// `bias` is given and `mode` is not `DK_STORE_ADD`. `a` is half of an 8-row `A` panel (rows 0–3 or
/// 4–7 of `[k][8]`), `b` a `[k][24]` panel of `dk_pack_rows_24`. Same sums, same bits, as the 8×6
/// kernels. Call only when `dk_supported_kernels()` has `DK_KERNEL_AVX2_FMA`.
void dk_rows_4x24_avx2(ptrdiff_t depth, const float *a, const float *b, float *c, ptrdiff_t rowStride,
                       ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode);

/// The 8×32 micro-kernel with AVX-512 fused multiply-adds, lanes along the rows of `C`: the sums of
/// `dk_rows_4x24_avx2` for a whole 8-row `A` panel (`[k][8]`) and a `[k][32]` panel of `dk_pack_rows_32`,
/// written to the `rows × columns` corner of `C` in the same way (masked loads and stores past
/// `columns`). Same sums, same bits, as the other fused kernels. Call only when
/// `dk_supported_kernels()` has `DK_KERNEL_AVX512`.
void dk_rows_8x32_avx512(ptrdiff_t depth, const float *a, const float *b, float *c, ptrdiff_t rowStride,
                         ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode);

/// The same kernel on a full 32-column panel read in place, as two runs of 16 consecutive source
/// values: `B[k, j] = low[rowOffsets[k] + j]` and `B[k, 16 + j] = high[rowOffsets[k] + j]` for
/// `j < 16` (a convolution's zero-padded input along one output row of 32, or two of 16). The same
/// products in the same order as packing them first, so the same bits.
void dk_rows_gather_8x32_avx512(ptrdiff_t depth, const float *a, const float *low, const float *high, const ptrdiff_t *rowOffsets,
                                float *c, ptrdiff_t rowStride, ptrdiff_t rows, const float *bias, int mode);

/// Packs `B[r, t] = origin[rowOffsets[r] + columnOffsets[t]]` (`r < count`, `t < width ≤ DK_PACK_COLUMNS`)
/// into `⌈width/24⌉` panels of `count × 24`: `panels[(q·count + r)·24 + j] = B[r, 24q + j]`, zeros past
/// `width`. Runs of eight consecutive offsets are copied as blocks. Any CPU.
void dk_pack_rows_24(ptrdiff_t count, const float *origin, const ptrdiff_t *rowOffsets, const ptrdiff_t *columnOffsets,
                     ptrdiff_t width, float *panels);

/// The same packing in panels of `count × 32` (`panels[(q·count + r)·32 + j] = B[r, 32q + j]`), for
/// `dk_rows_8x32_avx512`. Any CPU.
void dk_pack_rows_32(ptrdiff_t count, const float *origin, const ptrdiff_t *rowOffsets, const ptrdiff_t *columnOffsets,
                     ptrdiff_t width, float *panels);

/// One full 8-row panel of a left operand: `panel[k·8 + r] = source[r·rowStride + k]` for `r < 8`,
/// `k < count` (`PackedPanels` in Swift). Any CPU (4×4 transposes in SSE registers on x86-64).
void dk_pack_panel_8(const float *source, ptrdiff_t rowStride, ptrdiff_t count, float *panel);

/// `Attention.softmaxColumns` (Swift) with 8-wide AVX arithmetic, the same operations in the same
/// order (no fused multiply-add), so the same bits: the softmax over each column of the `rows ×
/// columns` row-major `scores`, scaled by `scale`, with the column maximum subtracted and the sum in
/// double. `largest` and `sums` are `columns` values of scratch. Call only when
/// `dk_supported_kernels()` has `DK_KERNEL_AVX2_FMA`.
void dk_softmax_columns_avx2(float *scores, ptrdiff_t rows, ptrdiff_t columns, float scale, float *largest, double *sums);

/// The group norm's statistics lane by lane, as Swift's `GroupNorm.sums` keeps them: `lanes[l]` is the
/// Double sum of `values[i]` over `i ≡ l (mod 8)` (the last partial group of eight padded with zeros),
/// `lanes[8 + l]` the sum of their squares, each accumulated in increasing `i`. AVX2 only.
void dk_lane_sums_avx2(const float *values, ptrdiff_t count, double *lanes);

/// `out[i] = x[i]·scale + shift`, then SiLU (`y / (1 + e^(−y))`, the exponential of
/// `dk_softmax_columns_avx2`) when `silu` is nonzero: Swift's `GroupNorm.affine` on eight AVX lanes,
/// the same operations (no fused multiply-add), so the same bits. `out` may be `x`. AVX2 only.
void dk_affine_avx2(const float *x, float *out, ptrdiff_t count, float scale, float shift, int silu);

/// The same on sixteen AVX-512 lanes, the same operations lane by lane, so the same bits. Call only
/// when `dk_supported_kernels()` has `DK_KERNEL_AVX512`.
void dk_affine_avx512(const float *x, float *out, ptrdiff_t count, float scale, float shift, int silu);

/// `iterations` rounds of `x ← x·m + d` (fused) on twelve independent AVX2 registers, 192 flops a round:
/// the peak the AVX2 kernels can approach. Returns a sum of the chains so they are not optimized away.
float dk_fma_chains_avx2(ptrdiff_t iterations);

/// The same on twelve AVX-512 registers, 384 flops a round.
float dk_fma_chains_avx512(ptrdiff_t iterations);

/// The same two tiles as `dk_gemm_16x6_avx2` with NEON fused multiply-adds (same bits). arm64 only:
/// call only when `dk_supported_kernels()` has `DK_KERNEL_NEON`.
void dk_gemm_16x6_neon(ptrdiff_t depth, const float *a0, const float *a1, const float *b, float *tile0, float *tile1);

/// One tile, as `dk_gemm_8x6_avx2`, with NEON.
void dk_gemm_8x6_neon(ptrdiff_t depth, const float *a, const float *b, float *tile);

/// The NEON kernels reading `B` in place, as `dk_gather_16x6_avx2` and `dk_gather_8x6_avx2`.
void dk_gather_16x6_neon(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                         const ptrdiff_t *columns, float *tile0, float *tile1);
void dk_gather_8x6_neon(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                        float *tile);

#endif
