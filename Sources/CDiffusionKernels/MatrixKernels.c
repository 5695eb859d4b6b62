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
float dk_fma_chains_avx512(ptrdiff_t iterations) { (void)iterations; return 0; }
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
