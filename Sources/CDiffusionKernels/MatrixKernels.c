// Matrix-multiply micro-kernels for wider vector units than the package's baseline, compiled per
// function with `target` attributes (x86-64) or for the platform's own baseline (NEON on arm64) and
// chosen at run time, so the default build needs no flags.
#include "CDiffusionKernels.h"

// Each kernel reads B[k, j] at `b[k·6 + j]` (packed panels) or, when `rows` is given, at
// `b[rows[k] + columns[j]]` (a convolution's input read in place); one body serves both, inlined
// with `rows` constant so each entry point keeps only its own addressing.
#define DK_B_OFFSETS(columns) \
    const ptrdiff_t o0 = columns ? columns[0] : 0, o1 = columns ? columns[1] : 1, o2 = columns ? columns[2] : 2, \
                    o3 = columns ? columns[3] : 3, o4 = columns ? columns[4] : 4, o5 = columns ? columns[5] : 5
#define DK_B_ROW(b, rows, k) ((rows) ? (b) + (rows)[k] : (b) + 6 * (k))

/// Rows ahead that `dk_pack_rows_24` prefetches.
enum { DK_PACK_AHEAD = 4 };

/// `dk_pack_rows_24` and `dk_pack_rows_32` for panels of `panel` columns (a multiple of 8), inlined
/// with it constant.
static inline __attribute__((always_inline))
void dk_pack_rows(ptrdiff_t count, const float *origin, const ptrdiff_t *rowOffsets, const ptrdiff_t *columnOffsets,
                  ptrdiff_t width, float *panels, const ptrdiff_t panel) {
    // A group of eight columns is copied as a block when its offsets are consecutive.
    enum { groups = DK_PACK_COLUMNS / 8 };
    unsigned char block[groups];
    const ptrdiff_t groupCount = (width + 7) / 8, groupsPerPanel = panel / 8;
    for (ptrdiff_t g = 0; g < groupCount; g++) {
        int consecutive = (g + 1) * 8 <= width;
        for (int t = 1; t < 8 && consecutive; t++) consecutive = columnOffsets[g * 8 + t] == columnOffsets[g * 8] + t;
        block[g] = (unsigned char)consecutive;
    }
    const ptrdiff_t panelCount = (width + panel - 1) / panel;
    for (ptrdiff_t r = 0; r < count; r++) {
        const float *source = origin + rowOffsets[r];
        if (r + DK_PACK_AHEAD < count) {
            // The rows of `B` are often far apart (a row stride of kilobytes): fetch a later row's lines now.
            const float *later = origin + rowOffsets[r + DK_PACK_AHEAD];
            for (ptrdiff_t j = 0; j < width; j += 16) __builtin_prefetch(later + columnOffsets[j]);
            __builtin_prefetch(later + columnOffsets[width - 1]);
        }
        for (ptrdiff_t q = 0; q < panelCount; q++) {
            float *out = panels + (q * count + r) * panel;
            for (ptrdiff_t h = 0; h < groupsPerPanel; h++) {
                const ptrdiff_t g = q * groupsPerPanel + h, j0 = g * 8;
                if (g < groupCount && block[g]) {
                    __builtin_memcpy(out + h * 8, source + columnOffsets[j0], 8 * sizeof(float));
                } else {
                    for (ptrdiff_t t = 0; t < 8; t++) out[h * 8 + t] = j0 + t < width ? source[columnOffsets[j0 + t]] : 0;
                }
            }
        }
    }
}

void dk_pack_rows_24(ptrdiff_t count, const float *origin, const ptrdiff_t *rowOffsets, const ptrdiff_t *columnOffsets,
                     ptrdiff_t width, float *panels) {
    dk_pack_rows(count, origin, rowOffsets, columnOffsets, width, panels, 24);
}

void dk_pack_rows_32(ptrdiff_t count, const float *origin, const ptrdiff_t *rowOffsets, const ptrdiff_t *columnOffsets,
                     ptrdiff_t width, float *panels) {
    dk_pack_rows(count, origin, rowOffsets, columnOffsets, width, panels, 32);
}

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

void dk_pack_panel_8(const float *source, ptrdiff_t rowStride, ptrdiff_t count, float *panel) {
    ptrdiff_t k = 0;
#if defined(__SSE__)
    // Four `k` at a time: two 4×4 blocks (rows 0–3 and 4–7) transposed in registers.
    for (; k + 4 <= count; k += 4) {
        for (int h = 0; h < 2; h++) {
            const float *s = source + 4 * h * rowStride + k;
            __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + rowStride), r2 = _mm_loadu_ps(s + 2 * rowStride),
                   r3 = _mm_loadu_ps(s + 3 * rowStride);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float *out = panel + k * 8 + 4 * h;
            _mm_storeu_ps(out, r0); _mm_storeu_ps(out + 8, r1); _mm_storeu_ps(out + 16, r2); _mm_storeu_ps(out + 24, r3);
        }
    }
#endif
    for (; k < count; k++) {
        for (int r = 0; r < 8; r++) panel[k * 8 + r] = source[r * rowStride + k];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

int dk_supported_kernels(void) {
    __builtin_cpu_init();
    int kernels = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) kernels |= DK_KERNEL_AVX2_FMA;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && (kernels & DK_KERNEL_AVX2_FMA)) kernels |= DK_KERNEL_AVX512;
    return kernels;
}


__attribute__((target("avx2,fma"), always_inline))
static inline void dk_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                               float *tile) {
    DK_B_OFFSETS(columns);
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    for (ptrdiff_t k = 0; k < depth; k++, a += 8) {
        const float *bk = DK_B_ROW(b, rows, k);
        __m256 x = _mm256_loadu_ps(a);
        c0 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(bk + o0), c0);
        c1 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(bk + o1), c1);
        c2 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(bk + o2), c2);
        c3 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(bk + o3), c3);
        c4 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(bk + o4), c4);
        c5 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(bk + o5), c5);
    }
    _mm256_storeu_ps(tile, c0); _mm256_storeu_ps(tile + 8, c1); _mm256_storeu_ps(tile + 16, c2);
    _mm256_storeu_ps(tile + 24, c3); _mm256_storeu_ps(tile + 32, c4); _mm256_storeu_ps(tile + 40, c5);
}

__attribute__((target("avx2,fma"), always_inline))
static inline void dk_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                                const ptrdiff_t *columns, float *tile0, float *tile1) {
    DK_B_OFFSETS(columns);
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
    __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    for (ptrdiff_t k = 0; k < depth; k++, a0 += 8, a1 += 8) {
        const float *bk = DK_B_ROW(b, rows, k);
        __m256 x0 = _mm256_loadu_ps(a0), x1 = _mm256_loadu_ps(a1), y;
        y = _mm256_broadcast_ss(bk + o0); c00 = _mm256_fmadd_ps(x0, y, c00); c10 = _mm256_fmadd_ps(x1, y, c10);
        y = _mm256_broadcast_ss(bk + o1); c01 = _mm256_fmadd_ps(x0, y, c01); c11 = _mm256_fmadd_ps(x1, y, c11);
        y = _mm256_broadcast_ss(bk + o2); c02 = _mm256_fmadd_ps(x0, y, c02); c12 = _mm256_fmadd_ps(x1, y, c12);
        y = _mm256_broadcast_ss(bk + o3); c03 = _mm256_fmadd_ps(x0, y, c03); c13 = _mm256_fmadd_ps(x1, y, c13);
        y = _mm256_broadcast_ss(bk + o4); c04 = _mm256_fmadd_ps(x0, y, c04); c14 = _mm256_fmadd_ps(x1, y, c14);
        y = _mm256_broadcast_ss(bk + o5); c05 = _mm256_fmadd_ps(x0, y, c05); c15 = _mm256_fmadd_ps(x1, y, c15);
    }
    _mm256_storeu_ps(tile0, c00); _mm256_storeu_ps(tile0 + 8, c01); _mm256_storeu_ps(tile0 + 16, c02);
    _mm256_storeu_ps(tile0 + 24, c03); _mm256_storeu_ps(tile0 + 32, c04); _mm256_storeu_ps(tile0 + 40, c05);
    _mm256_storeu_ps(tile1, c10); _mm256_storeu_ps(tile1 + 8, c11); _mm256_storeu_ps(tile1 + 16, c12);
    _mm256_storeu_ps(tile1 + 24, c13); _mm256_storeu_ps(tile1 + 32, c14); _mm256_storeu_ps(tile1 + 40, c15);
}

/// Rows of two panels in one register: panel `p` in the low half, `q` in the high half.
__attribute__((target("avx512f,avx512dq")))
static inline __m512 dk_pair(const float *p, const float *q) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(q), 1);
}

__attribute__((target("avx512f,avx512dq")))
static inline void dk_split(__m512 c, float *low, float *high) {
    _mm256_storeu_ps(low, _mm512_castps512_ps256(c));
    _mm256_storeu_ps(high, _mm512_extractf32x8_ps(c, 1));
}

__attribute__((target("avx512f,avx512dq"), always_inline))
static inline void dk_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                                  const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                                  float *tile0, float *tile1, float *tile2, float *tile3) {
    DK_B_OFFSETS(columns);
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    for (ptrdiff_t k = 0; k < depth; k++, a0 += 8, a1 += 8, a2 += 8, a3 += 8) {
        const float *bk = DK_B_ROW(b, rows, k);
        __m512 x0 = dk_pair(a0, a1), x1 = dk_pair(a2, a3), y;
        y = _mm512_set1_ps(bk[o0]); c00 = _mm512_fmadd_ps(x0, y, c00); c10 = _mm512_fmadd_ps(x1, y, c10);
        y = _mm512_set1_ps(bk[o1]); c01 = _mm512_fmadd_ps(x0, y, c01); c11 = _mm512_fmadd_ps(x1, y, c11);
        y = _mm512_set1_ps(bk[o2]); c02 = _mm512_fmadd_ps(x0, y, c02); c12 = _mm512_fmadd_ps(x1, y, c12);
        y = _mm512_set1_ps(bk[o3]); c03 = _mm512_fmadd_ps(x0, y, c03); c13 = _mm512_fmadd_ps(x1, y, c13);
        y = _mm512_set1_ps(bk[o4]); c04 = _mm512_fmadd_ps(x0, y, c04); c14 = _mm512_fmadd_ps(x1, y, c14);
        y = _mm512_set1_ps(bk[o5]); c05 = _mm512_fmadd_ps(x0, y, c05); c15 = _mm512_fmadd_ps(x1, y, c15);
    }
    dk_split(c00, tile0, tile1); dk_split(c01, tile0 + 8, tile1 + 8); dk_split(c02, tile0 + 16, tile1 + 16);
    dk_split(c03, tile0 + 24, tile1 + 24); dk_split(c04, tile0 + 32, tile1 + 32); dk_split(c05, tile0 + 40, tile1 + 40);
    dk_split(c10, tile2, tile3); dk_split(c11, tile2 + 8, tile3 + 8); dk_split(c12, tile2 + 16, tile3 + 16);
    dk_split(c13, tile2 + 24, tile3 + 24); dk_split(c14, tile2 + 32, tile3 + 32); dk_split(c15, tile2 + 40, tile3 + 40);
}

__attribute__((target("avx2,fma")))
void dk_gemm_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, float *tile) {
    dk_8x6_avx2(depth, a, b, NULL, NULL, tile);
}
__attribute__((target("avx2,fma")))
void dk_gemm_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, float *tile0, float *tile1) {
    dk_16x6_avx2(depth, a0, a1, b, NULL, NULL, tile0, tile1);
}
__attribute__((target("avx512f,avx512dq")))
void dk_gemm_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                         const float *b, float *tile0, float *tile1, float *tile2, float *tile3) {
    dk_32x6_avx512(depth, a0, a1, a2, a3, b, NULL, NULL, tile0, tile1, tile2, tile3);
}
__attribute__((target("avx2,fma")))
void dk_gather_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                        float *tile) {
    dk_8x6_avx2(depth, a, b, rows, columns, tile);
}
__attribute__((target("avx2,fma")))
void dk_gather_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                         const ptrdiff_t *columns, float *tile0, float *tile1) {
    dk_16x6_avx2(depth, a0, a1, b, rows, columns, tile0, tile1);
}
__attribute__((target("avx512f,avx512dq")))
void dk_gather_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                           const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                           float *tile0, float *tile1, float *tile2, float *tile3) {
    dk_32x6_avx512(depth, a0, a1, a2, a3, b, rows, columns, tile0, tile1, tile2, tile3);
}

/// `C ← acc`, `C ← acc + bias`, `C ← C + acc` or `C ← C + (acc + bias)` on eight floats (`DK_STORE_*`).
__attribute__((target("avx2,fma"), always_inline))
static inline void dk_store8(float *c, __m256 acc, const float *bias, int mode) {
    if (bias && mode != DK_STORE_ADD) acc = _mm256_add_ps(acc, _mm256_broadcast_ss(bias));
    if (mode != DK_STORE_SET) acc = _mm256_add_ps(_mm256_loadu_ps(c), acc);
    _mm256_storeu_ps(c, acc);
}

/// `dk_store8` on the first `lanes` of the eight floats only (masked loads and stores).
__attribute__((target("avx2,fma"), always_inline))
static inline void dk_store_partial8(float *c, __m256 acc, const float *bias, int mode, ptrdiff_t lanes) {
    if (lanes >= 8) {
        dk_store8(c, acc, bias, mode);
        return;
    }
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    if (bias && mode != DK_STORE_ADD) acc = _mm256_add_ps(acc, _mm256_broadcast_ss(bias));
    if (mode != DK_STORE_SET) acc = _mm256_add_ps(_mm256_maskload_ps(c, mask), acc);
    _mm256_maskstore_ps(c, mask, acc);
}

/// Writes the `rows × columns` corner of a 4×24 tile (`tile[i][v]`: row `i`, columns `8v ..< 8v+8`) to `C`.
__attribute__((target("avx2,fma"), always_inline))
static inline void dk_store_rows(float *c, ptrdiff_t rowStride, ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode,
                                 const __m256 tile[4][3]) {
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = c + i * rowStride;
        const float *shift = bias ? bias + i : NULL;
        for (ptrdiff_t v = 0; v < 3 && 8 * v < columns; v++) dk_store_partial8(row + 8 * v, tile[i][v], shift, mode, columns - 8 * v);
    }
}

/// The 4×24 kernel's sums for the first 8 (`vectors` 1) or 16 (2) columns of its panel only, for
/// the last panel of a product: the same steps as the full kernel's on those columns, so the same bits.
__attribute__((target("avx2,fma"), always_inline))
static inline void dk_rows_4xv_avx2(ptrdiff_t depth, const float *a, const float *b, float *c, ptrdiff_t rowStride,
                                    ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode, const int vectors) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (ptrdiff_t k = 0; k < depth; k++, a += 8, b += 24) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = vectors > 1 ? _mm256_loadu_ps(b + 8) : b0;
        __m256 x = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(b0, x, c00); if (vectors > 1) c01 = _mm256_fmadd_ps(b1, x, c01);
        x = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(b0, x, c10); if (vectors > 1) c11 = _mm256_fmadd_ps(b1, x, c11);
        x = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(b0, x, c20); if (vectors > 1) c21 = _mm256_fmadd_ps(b1, x, c21);
        x = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(b0, x, c30); if (vectors > 1) c31 = _mm256_fmadd_ps(b1, x, c31);
    }
    const __m256 zero = _mm256_setzero_ps();
    const __m256 tile[4][3] = {{c00, c01, zero}, {c10, c11, zero}, {c20, c21, zero}, {c30, c31, zero}};
    dk_store_rows(c, rowStride, rows, columns, bias, mode, tile);
}

/// Row `n` of the 4×24 kernel's step: `c_n0..c_n2 += a[n]·(ymm12, ymm13, ymm14)`, fused.
#define DK_ROW_4X24(n, offset) \
    "vbroadcastss " #offset "(%[a]), %%ymm15\n\t" \
    "vfmadd231ps %%ymm12, %%ymm15, %[c" #n "0]\n\t" \
    "vfmadd231ps %%ymm13, %%ymm15, %[c" #n "1]\n\t" \
    "vfmadd231ps %%ymm14, %%ymm15, %[c" #n "2]\n\t"

__attribute__((target("avx2,fma")))
void dk_rows_4x24_avx2(ptrdiff_t depth, const float *a, const float *b, float *c, ptrdiff_t rowStride,
                       ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode) {
    for (ptrdiff_t i = 0; i < rows; i++) {
        _mm_prefetch((const char *)(c + i * rowStride), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * rowStride + 23), _MM_HINT_T0);
    }
    // A last panel of at most 16 columns: only the vectors it needs.
    if (columns <= 8) {
        dk_rows_4xv_avx2(depth, a, b, c, rowStride, rows, columns, bias, mode, 1);
        return;
    }
    if (columns <= 16) {
        dk_rows_4xv_avx2(depth, a, b, c, rowStride, rows, columns, bias, mode, 2);
        return;
    }
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    // One step in fixed registers (B in ymm12–14, the broadcast in ymm15, the twelve accumulators in
    // the rest): with sixteen registers live, the compiler's allocation otherwise spills one.
    for (ptrdiff_t k = 0; k < depth; k++, a += 8, b += 24) {
        __asm__("vmovups (%[b]), %%ymm12\n\t"
                "vmovups 32(%[b]), %%ymm13\n\t"
                "vmovups 64(%[b]), %%ymm14\n\t"
                DK_ROW_4X24(0, 0) DK_ROW_4X24(1, 4) DK_ROW_4X24(2, 8) DK_ROW_4X24(3, 12)
                : [c00] "+x"(c00), [c01] "+x"(c01), [c02] "+x"(c02), [c10] "+x"(c10), [c11] "+x"(c11), [c12] "+x"(c12),
                  [c20] "+x"(c20), [c21] "+x"(c21), [c22] "+x"(c22), [c30] "+x"(c30), [c31] "+x"(c31), [c32] "+x"(c32)
                : [a] "r"(a), [b] "r"(b)
                : "xmm12", "xmm13", "xmm14", "xmm15", "memory");
    }
    if (rows == 4 && columns == 24) {
        float *r0 = c, *r1 = c + rowStride, *r2 = r1 + rowStride, *r3 = r2 + rowStride;
        const float *b0 = bias, *b1 = bias ? bias + 1 : NULL, *b2 = bias ? bias + 2 : NULL, *b3 = bias ? bias + 3 : NULL;
        dk_store8(r0, c00, b0, mode); dk_store8(r0 + 8, c01, b0, mode); dk_store8(r0 + 16, c02, b0, mode);
        dk_store8(r1, c10, b1, mode); dk_store8(r1 + 8, c11, b1, mode); dk_store8(r1 + 16, c12, b1, mode);
        dk_store8(r2, c20, b2, mode); dk_store8(r2 + 8, c21, b2, mode); dk_store8(r2 + 16, c22, b2, mode);
        dk_store8(r3, c30, b3, mode); dk_store8(r3 + 8, c31, b3, mode); dk_store8(r3 + 16, c32, b3, mode);
        return;
    }
    const __m256 tile[4][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
    dk_store_rows(c, rowStride, rows, columns, bias, mode, tile);
}

/// `C ← acc (+ bias)`, `C ← C + (acc (+ bias))` or `C ← C + acc` on the lanes of `mask` (`DK_STORE_*`).
__attribute__((target("avx512f,avx512dq"), always_inline))
static inline void dk_store16(float *c, __m512 acc, __mmask16 mask, const float *bias, int mode) {
    if (bias && mode != DK_STORE_ADD) acc = _mm512_add_ps(acc, _mm512_set1_ps(*bias));
    if (mode != DK_STORE_SET) acc = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, c), acc);
    _mm512_mask_storeu_ps(c, mask, acc);
}

/// One step of the 8×32 kernel for row `i`: `c_i0, c_i1 += a[i]·(b0, b1)`, fused.
#define DK_ROW_8X32(i) \
    x = _mm512_set1_ps(a[i]); c##i##0 = _mm512_fmadd_ps(x, b0, c##i##0); c##i##1 = _mm512_fmadd_ps(x, b1, c##i##1);

/// The 8×32 kernel reading row `k` of `B` at `b + 32k` (a packed panel) or, when `rowOffsets` is
/// given, its two halves at `b + rowOffsets[k]` and `upper + rowOffsets[k]` (16 consecutive values of
/// the source each, in place); inlined with `rowOffsets` constant in each entry point.
__attribute__((target("avx512f,avx512dq"), always_inline))
static inline void dk_8x32_avx512(ptrdiff_t depth, const float *a, const float *b, const float *upper, const ptrdiff_t *rowOffsets,
                                  float *c, ptrdiff_t rowStride, ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (ptrdiff_t i = 0; i < rows; i++) {
        _mm_prefetch((const char *)(c + i * rowStride), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * rowStride + 31), _MM_HINT_T0);
    }
    // Sixteen accumulators, two `B` vectors and a broadcast: the 32 registers leave the compiler room.
    for (ptrdiff_t k = 0; k < depth; k++, a += 8) {
        const __m512 b0 = _mm512_loadu_ps(rowOffsets ? b + rowOffsets[k] : b + 32 * k);
        const __m512 b1 = _mm512_loadu_ps(rowOffsets ? upper + rowOffsets[k] : b + 32 * k + 16);
        __m512 x;
        DK_ROW_8X32(0) DK_ROW_8X32(1) DK_ROW_8X32(2) DK_ROW_8X32(3)
        DK_ROW_8X32(4) DK_ROW_8X32(5) DK_ROW_8X32(6) DK_ROW_8X32(7)
    }
    const __m512 tile[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    const __mmask16 low = columns >= 16 ? 0xFFFF : (__mmask16)((1u << columns) - 1);
    const __mmask16 high = columns >= 32 ? 0xFFFF : columns <= 16 ? 0 : (__mmask16)((1u << (columns - 16)) - 1);
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = c + i * rowStride;
        const float *shift = bias ? bias + i : NULL;
        dk_store16(row, tile[i][0], low, shift, mode);
        if (high) dk_store16(row + 16, tile[i][1], high, shift, mode);
    }
}

__attribute__((target("avx512f,avx512dq")))
void dk_rows_8x32_avx512(ptrdiff_t depth, const float *a, const float *b, float *c, ptrdiff_t rowStride,
                         ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode) {
    dk_8x32_avx512(depth, a, b, NULL, NULL, c, rowStride, rows, columns, bias, mode);
}

__attribute__((target("avx512f,avx512dq")))
void dk_rows_gather_8x32_avx512(ptrdiff_t depth, const float *a, const float *low, const float *high, const ptrdiff_t *rowOffsets,
                                float *c, ptrdiff_t rowStride, ptrdiff_t rows, const float *bias, int mode) {
    dk_8x32_avx512(depth, a, low, high, rowOffsets, c, rowStride, rows, 32, bias, mode);
}

/// Swift's `vectorExp` (SiLU.swift) on eight AVX lanes, operation for operation: separate multiplies
/// and adds (no `fma` in the target, so none is contracted), the same clamps and exponent bits.
__attribute__((target("avx2"), always_inline))
static inline __m256 dk_exp8(__m256 x) {
    const __m256 low = _mm256_set1_ps(-87.33654f), high = _mm256_set1_ps(88.37626f), magic = _mm256_set1_ps(12582912.0f);
    __m256 clamped = _mm256_blendv_ps(x, low, _mm256_cmp_ps(x, low, _CMP_LT_OQ));
    clamped = _mm256_blendv_ps(clamped, high, _mm256_cmp_ps(clamped, high, _CMP_GT_OQ));
    const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(clamped, _mm256_set1_ps(1.44269504f)), magic);
    const __m256 n = _mm256_sub_ps(shifted, magic);
    const __m256 r = _mm256_add_ps(_mm256_sub_ps(clamped, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f))),
                                   _mm256_mul_ps(n, _mm256_set1_ps(2.1219444e-4f)));
    __m256 p = _mm256_set1_ps(1.98756915e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.39819995e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.16657959e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.66666655e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.00000012e-1f));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
    const __m256i exponent = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic)), _mm256_set1_epi32(127)), 23);
    __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, high, _CMP_GT_OQ));
    return _mm256_blendv_ps(result, _mm256_setzero_ps(), _mm256_cmp_ps(x, low, _CMP_LT_OQ));
}

/// One row of the exponential pass: `row[i] ← e^((row[i] − largest[i])·scale)`, `sums[i] += row[i]` in Double.
__attribute__((target("avx2"), always_inline))
static inline void dk_softmax_step8(float *row, const float *largest, double *sums, __m256 scale) {
    const __m256 e = dk_exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(row), _mm256_loadu_ps(largest)), scale));
    _mm256_storeu_ps(row, e);
    _mm256_storeu_pd(sums, _mm256_add_pd(_mm256_loadu_pd(sums), _mm256_cvtps_pd(_mm256_castps256_ps128(e))));
    _mm256_storeu_pd(sums + 4, _mm256_add_pd(_mm256_loadu_pd(sums + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1))));
}

__attribute__((target("avx2")))
void dk_softmax_columns_avx2(float *scores, ptrdiff_t rows, ptrdiff_t columns, float scale, float *largest, double *sums) {
    for (ptrdiff_t i = 0; i < columns; i++) { largest[i] = -__builtin_inff(); sums[i] = 0; }
    for (ptrdiff_t j = 0; j < rows; j++) {
        const float *row = scores + j * columns;
        for (ptrdiff_t i = 0; i < columns; i++) largest[i] = row[i] >= largest[i] ? row[i] : largest[i];  // Swift.max
    }
    const __m256 factor = _mm256_set1_ps(scale);
    const ptrdiff_t full = columns / 8 * 8;
    for (ptrdiff_t j = 0; j < rows; j++) {
        float *row = scores + j * columns;
        for (ptrdiff_t i = 0; i < full; i += 8) dk_softmax_step8(row + i, largest + i, sums + i, factor);
        if (full < columns) {
            // The last lanes through the same code, padded with zeros.
            float values[8] = {0}, maxima[8] = {0};
            double partial[8] = {0};
            for (ptrdiff_t t = 0; t < columns - full; t++) { values[t] = row[full + t]; maxima[t] = largest[full + t]; partial[t] = sums[full + t]; }
            dk_softmax_step8(values, maxima, partial, factor);
            for (ptrdiff_t t = 0; t < columns - full; t++) { row[full + t] = values[t]; sums[full + t] = partial[t]; }
        }
    }
    for (ptrdiff_t i = 0; i < columns; i++) largest[i] = (float)(1 / sums[i]);
    for (ptrdiff_t j = 0; j < rows; j++) {
        float *row = scores + j * columns;
        for (ptrdiff_t i = 0; i < columns; i++) row[i] *= largest[i];
    }
}

__attribute__((target("avx2")))
void dk_lane_sums_avx2(const float *values, ptrdiff_t count, double *lanes) {
    __m256d sum0 = _mm256_setzero_pd(), sum1 = sum0, squares0 = sum0, squares1 = sum0;
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 v = _mm256_loadu_ps(values + i);
        const __m256d low = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), high = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        sum0 = _mm256_add_pd(sum0, low); sum1 = _mm256_add_pd(sum1, high);
        squares0 = _mm256_add_pd(squares0, _mm256_mul_pd(low, low)); squares1 = _mm256_add_pd(squares1, _mm256_mul_pd(high, high));
    }
    double tail[8] = {0};
    for (ptrdiff_t t = i; t < count; t++) tail[t - i] = (double)values[t];
    const __m256d low = _mm256_loadu_pd(tail), high = _mm256_loadu_pd(tail + 4);
    sum0 = _mm256_add_pd(sum0, low); sum1 = _mm256_add_pd(sum1, high);
    squares0 = _mm256_add_pd(squares0, _mm256_mul_pd(low, low)); squares1 = _mm256_add_pd(squares1, _mm256_mul_pd(high, high));
    _mm256_storeu_pd(lanes, sum0); _mm256_storeu_pd(lanes + 4, sum1);
    _mm256_storeu_pd(lanes + 8, squares0); _mm256_storeu_pd(lanes + 12, squares1);
}

/// `x·scale + shift`, then `y / (1 + e^(−y))` if `silu`: Swift's `GroupNorm.affine` lane for lane.
__attribute__((target("avx2"), always_inline))
static inline __m256 dk_affine8(__m256 v, __m256 scale, __m256 shift, int silu) {
    const __m256 y = _mm256_add_ps(_mm256_mul_ps(v, scale), shift);
    if (!silu) return y;
    const __m256 e = dk_exp8(_mm256_xor_ps(y, _mm256_set1_ps(-0.0f)));
    return _mm256_div_ps(y, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__attribute__((target("avx2")))
void dk_affine_avx2(const float *x, float *out, ptrdiff_t count, float scale, float shift, int silu) {
    const __m256 a = _mm256_set1_ps(scale), b = _mm256_set1_ps(shift);
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, dk_affine8(_mm256_loadu_ps(x + i), a, b, silu));
    if (i == count) return;
    float tail[8] = {0};
    for (ptrdiff_t t = i; t < count; t++) tail[t - i] = x[t];
    _mm256_storeu_ps(tail, dk_affine8(_mm256_loadu_ps(tail), a, b, silu));
    for (ptrdiff_t t = i; t < count; t++) out[t] = tail[t - i];
}

/// `dk_exp8` on sixteen AVX-512 lanes, operation for operation (masks for the blends): the same bits
/// lane by lane. Compiled with contraction off, since the AVX-512 target includes FMA.
__attribute__((target("avx512f,avx512dq"), always_inline))
static inline __m512 dk_exp16(__m512 x) {
#pragma clang fp contract(off)
    const __m512 low = _mm512_set1_ps(-87.33654f), high = _mm512_set1_ps(88.37626f), magic = _mm512_set1_ps(12582912.0f);
    __m512 clamped = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, low, _CMP_LT_OQ), x, low);
    clamped = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(clamped, high, _CMP_GT_OQ), clamped, high);
    const __m512 shifted = _mm512_add_ps(_mm512_mul_ps(clamped, _mm512_set1_ps(1.44269504f)), magic);
    const __m512 n = _mm512_sub_ps(shifted, magic);
    const __m512 r = _mm512_add_ps(_mm512_sub_ps(clamped, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f))),
                                   _mm512_mul_ps(n, _mm512_set1_ps(2.1219444e-4f)));
    __m512 p = _mm512_set1_ps(1.98756915e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.39819995e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.16657959e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.66666655e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.00000012e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
    const __m512i exponent = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_castps_si512(magic)), _mm512_set1_epi32(127)), 23);
    __m512 result = _mm512_mul_ps(p, _mm512_castsi512_ps(exponent));
    result = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, high, _CMP_GT_OQ), result, _mm512_set1_ps(__builtin_inff()));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, low, _CMP_LT_OQ), result, _mm512_setzero_ps());
}

/// `dk_affine8` on sixteen lanes.
__attribute__((target("avx512f,avx512dq"), always_inline))
static inline __m512 dk_affine16(__m512 v, __m512 scale, __m512 shift, int silu) {
#pragma clang fp contract(off)
    const __m512 y = _mm512_add_ps(_mm512_mul_ps(v, scale), shift);
    if (!silu) return y;
    const __m512 e = dk_exp16(_mm512_xor_ps(y, _mm512_set1_ps(-0.0f)));
    return _mm512_div_ps(y, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

__attribute__((target("avx512f,avx512dq")))
void dk_affine_avx512(const float *x, float *out, ptrdiff_t count, float scale, float shift, int silu) {
    const __m512 a = _mm512_set1_ps(scale), b = _mm512_set1_ps(shift);
    ptrdiff_t i = 0;
    for (; i + 16 <= count; i += 16) _mm512_storeu_ps(out + i, dk_affine16(_mm512_loadu_ps(x + i), a, b, silu));
    if (i == count) return;
    // The last lanes through the same code, zeros in the lanes past the end (masked, so never read or written).
    const __mmask16 mask = (__mmask16)((1u << (count - i)) - 1);
    _mm512_mask_storeu_ps(out + i, mask, dk_affine16(_mm512_maskz_loadu_ps(mask, x + i), a, b, silu));
}

__attribute__((target("avx2,fma")))
float dk_fma_chains_avx2(ptrdiff_t iterations) {
    const __m256 m = _mm256_set1_ps(0.999999f), d = _mm256_set1_ps(1e-7f);
    __m256 x[12];
    for (int i = 0; i < 12; i++) x[i] = _mm256_set1_ps(0.5f + 0.01f * (float)i);
    for (ptrdiff_t r = 0; r < iterations; r++) {
        for (int i = 0; i < 12; i++) x[i] = _mm256_fmadd_ps(x[i], m, d);
    }
    __m256 sum = x[0];
    for (int i = 1; i < 12; i++) sum = _mm256_add_ps(sum, x[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[7];
}

__attribute__((target("avx512f")))
float dk_fma_chains_avx512(ptrdiff_t iterations) {
    const __m512 m = _mm512_set1_ps(0.999999f), d = _mm512_set1_ps(1e-7f);
    __m512 x[12];
    for (int i = 0; i < 12; i++) x[i] = _mm512_set1_ps(0.5f + 0.01f * (float)i);
    for (ptrdiff_t r = 0; r < iterations; r++) {
        for (int i = 0; i < 12; i++) x[i] = _mm512_fmadd_ps(x[i], m, d);
    }
    __m512 sum = x[0];
    for (int i = 1; i < 12; i++) sum = _mm512_add_ps(sum, x[i]);
    return _mm512_reduce_add_ps(sum);
}

#else

// Never called off x86-64 (`dk_supported_kernels()` has no x86 bit); defined so every platform links the same symbols.
void dk_gemm_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, float *tile) {
    (void)depth; (void)a; (void)b; (void)tile;
}
void dk_gemm_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, float *tile0, float *tile1) {
    (void)depth; (void)a0; (void)a1; (void)b; (void)tile0; (void)tile1;
}
void dk_gemm_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                         const float *b, float *tile0, float *tile1, float *tile2, float *tile3) {
    (void)depth; (void)a0; (void)a1; (void)a2; (void)a3; (void)b; (void)tile0; (void)tile1; (void)tile2; (void)tile3;
}
float dk_fma_chains_avx2(ptrdiff_t iterations) { (void)iterations; return 0; }
void dk_lane_sums_avx2(const float *values, ptrdiff_t count, double *lanes) { (void)values; (void)count; (void)lanes; }
void dk_affine_avx2(const float *x, float *out, ptrdiff_t count, float scale, float shift, int silu) {
    (void)x; (void)out; (void)count; (void)scale; (void)shift; (void)silu;
}
void dk_affine_avx512(const float *x, float *out, ptrdiff_t count, float scale, float shift, int silu) {
    (void)x; (void)out; (void)count; (void)scale; (void)shift; (void)silu;
}
void dk_softmax_columns_avx2(float *scores, ptrdiff_t rows, ptrdiff_t columns, float scale, float *largest, double *sums) {
    (void)scores; (void)rows; (void)columns; (void)scale; (void)largest; (void)sums;
}
void dk_rows_4x24_avx2(ptrdiff_t depth, const float *a, const float *b, float *c, ptrdiff_t rowStride,
                       ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode) {
    (void)depth; (void)a; (void)b; (void)c; (void)rowStride; (void)rows; (void)columns; (void)bias; (void)mode;
}

float dk_fma_chains_avx512(ptrdiff_t iterations) { (void)iterations; return 0; }
void dk_rows_8x32_avx512(ptrdiff_t depth, const float *a, const float *b, float *c, ptrdiff_t rowStride,
                         ptrdiff_t rows, ptrdiff_t columns, const float *bias, int mode) {
    (void)depth; (void)a; (void)b; (void)c; (void)rowStride; (void)rows; (void)columns; (void)bias; (void)mode;
}
void dk_rows_gather_8x32_avx512(ptrdiff_t depth, const float *a, const float *low, const float *high, const ptrdiff_t *rowOffsets,
                                float *c, ptrdiff_t rowStride, ptrdiff_t rows, const float *bias, int mode) {
    (void)depth; (void)a; (void)low; (void)high; (void)rowOffsets; (void)c; (void)rowStride; (void)rows; (void)bias; (void)mode;
}
void dk_gather_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                        float *tile) {
    (void)depth; (void)a; (void)b; (void)rows; (void)columns; (void)tile;
}
void dk_gather_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                         const ptrdiff_t *columns, float *tile0, float *tile1) {
    (void)depth; (void)a0; (void)a1; (void)b; (void)rows; (void)columns; (void)tile0; (void)tile1;
}
void dk_gather_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                           const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                           float *tile0, float *tile1, float *tile2, float *tile3) {
    (void)depth; (void)a0; (void)a1; (void)a2; (void)a3; (void)b; (void)rows; (void)columns;
    (void)tile0; (void)tile1; (void)tile2; (void)tile3;
}

#endif

#if defined(__aarch64__)
#include <arm_neon.h>

#if !defined(__x86_64__)
int dk_supported_kernels(void) { return DK_KERNEL_NEON; }
#endif

// NEON is the arm64 baseline: no attribute and no check needed. `vfmaq_n_f32` is a fused multiply-add,
// so these sums round as the x86 fused kernels' do.
static inline void dk_16x6_neon(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                                const ptrdiff_t *columns, float *tile0, float *tile1) {
    DK_B_OFFSETS(columns);
    const ptrdiff_t o[6] = {o0, o1, o2, o3, o4, o5};
    float32x4_t c[2][6][2];
    for (int t = 0; t < 2; t++) for (int j = 0; j < 6; j++) c[t][j][0] = c[t][j][1] = vdupq_n_f32(0);
    for (ptrdiff_t k = 0; k < depth; k++, a0 += 8, a1 += 8) {
        const float *bk = DK_B_ROW(b, rows, k);
        const float32x4_t x00 = vld1q_f32(a0), x01 = vld1q_f32(a0 + 4), x10 = vld1q_f32(a1), x11 = vld1q_f32(a1 + 4);
        for (int j = 0; j < 6; j++) {
            const float y = bk[o[j]];
            c[0][j][0] = vfmaq_n_f32(c[0][j][0], x00, y); c[0][j][1] = vfmaq_n_f32(c[0][j][1], x01, y);
            c[1][j][0] = vfmaq_n_f32(c[1][j][0], x10, y); c[1][j][1] = vfmaq_n_f32(c[1][j][1], x11, y);
        }
    }
    for (int j = 0; j < 6; j++) {
        vst1q_f32(tile0 + 8 * j, c[0][j][0]); vst1q_f32(tile0 + 8 * j + 4, c[0][j][1]);
        vst1q_f32(tile1 + 8 * j, c[1][j][0]); vst1q_f32(tile1 + 8 * j + 4, c[1][j][1]);
    }
}

static inline void dk_8x6_neon(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                               float *tile) {
    DK_B_OFFSETS(columns);
    const ptrdiff_t o[6] = {o0, o1, o2, o3, o4, o5};
    float32x4_t c[6][2];
    for (int j = 0; j < 6; j++) c[j][0] = c[j][1] = vdupq_n_f32(0);
    for (ptrdiff_t k = 0; k < depth; k++, a += 8) {
        const float *bk = DK_B_ROW(b, rows, k);
        const float32x4_t x0 = vld1q_f32(a), x1 = vld1q_f32(a + 4);
        for (int j = 0; j < 6; j++) {
            c[j][0] = vfmaq_n_f32(c[j][0], x0, bk[o[j]]);
            c[j][1] = vfmaq_n_f32(c[j][1], x1, bk[o[j]]);
        }
    }
    for (int j = 0; j < 6; j++) { vst1q_f32(tile + 8 * j, c[j][0]); vst1q_f32(tile + 8 * j + 4, c[j][1]); }
}

void dk_gemm_16x6_neon(ptrdiff_t depth, const float *a0, const float *a1, const float *b, float *tile0, float *tile1) {
    dk_16x6_neon(depth, a0, a1, b, NULL, NULL, tile0, tile1);
}
void dk_gemm_8x6_neon(ptrdiff_t depth, const float *a, const float *b, float *tile) {
    dk_8x6_neon(depth, a, b, NULL, NULL, tile);
}
void dk_gather_16x6_neon(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                         const ptrdiff_t *columns, float *tile0, float *tile1) {
    dk_16x6_neon(depth, a0, a1, b, rows, columns, tile0, tile1);
}
void dk_gather_8x6_neon(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                        float *tile) {
    dk_8x6_neon(depth, a, b, rows, columns, tile);
}

#else

void dk_gemm_16x6_neon(ptrdiff_t depth, const float *a0, const float *a1, const float *b, float *tile0, float *tile1) {
    (void)depth; (void)a0; (void)a1; (void)b; (void)tile0; (void)tile1;
}
void dk_gemm_8x6_neon(ptrdiff_t depth, const float *a, const float *b, float *tile) {
    (void)depth; (void)a; (void)b; (void)tile;
}
void dk_gather_16x6_neon(ptrdiff_t depth, const float *a0, const float *a1, const float *b, const ptrdiff_t *rows,
                         const ptrdiff_t *columns, float *tile0, float *tile1) {
    (void)depth; (void)a0; (void)a1; (void)b; (void)rows; (void)columns; (void)tile0; (void)tile1;
}
void dk_gather_8x6_neon(ptrdiff_t depth, const float *a, const float *b, const ptrdiff_t *rows, const ptrdiff_t *columns,
                        float *tile) {
    (void)depth; (void)a; (void)b; (void)rows; (void)columns; (void)tile;
}
#if !defined(__x86_64__)
int dk_supported_kernels(void) { return 0; }
#endif

#endif
