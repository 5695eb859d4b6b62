// Matrix-multiply micro-kernels for wider vector units than the package's baseline, compiled per
// function with `target` attributes and chosen at run time, so the default build needs no flags.
#include "CDiffusionKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

int dk_supported_kernels(void) {
    __builtin_cpu_init();
    int kernels = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) kernels |= DK_KERNEL_AVX2_FMA;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && (kernels & DK_KERNEL_AVX2_FMA)) kernels |= DK_KERNEL_AVX512;
    return kernels;
}

__attribute__((target("avx2,fma")))
void dk_gemm_8x6_avx2(ptrdiff_t depth, const float *a, const float *b, float *tile) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    for (ptrdiff_t k = 0; k < depth; k++, a += 8, b += 24) {
        __m256 x = _mm256_loadu_ps(a);
        c0 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(b), c0);
        c1 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(b + 4), c1);
        c2 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(b + 8), c2);
        c3 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(b + 12), c3);
        c4 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(b + 16), c4);
        c5 = _mm256_fmadd_ps(x, _mm256_broadcast_ss(b + 20), c5);
    }
    _mm256_storeu_ps(tile, c0); _mm256_storeu_ps(tile + 8, c1); _mm256_storeu_ps(tile + 16, c2);
    _mm256_storeu_ps(tile + 24, c3); _mm256_storeu_ps(tile + 32, c4); _mm256_storeu_ps(tile + 40, c5);
}

__attribute__((target("avx2,fma")))
void dk_gemm_16x6_avx2(ptrdiff_t depth, const float *a0, const float *a1, const float *b, float *tile0, float *tile1) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
    __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    for (ptrdiff_t k = 0; k < depth; k++, a0 += 8, a1 += 8, b += 24) {
        __m256 x0 = _mm256_loadu_ps(a0), x1 = _mm256_loadu_ps(a1), y;
        y = _mm256_broadcast_ss(b);      c00 = _mm256_fmadd_ps(x0, y, c00); c10 = _mm256_fmadd_ps(x1, y, c10);
        y = _mm256_broadcast_ss(b + 4);  c01 = _mm256_fmadd_ps(x0, y, c01); c11 = _mm256_fmadd_ps(x1, y, c11);
        y = _mm256_broadcast_ss(b + 8);  c02 = _mm256_fmadd_ps(x0, y, c02); c12 = _mm256_fmadd_ps(x1, y, c12);
        y = _mm256_broadcast_ss(b + 12); c03 = _mm256_fmadd_ps(x0, y, c03); c13 = _mm256_fmadd_ps(x1, y, c13);
        y = _mm256_broadcast_ss(b + 16); c04 = _mm256_fmadd_ps(x0, y, c04); c14 = _mm256_fmadd_ps(x1, y, c14);
        y = _mm256_broadcast_ss(b + 20); c05 = _mm256_fmadd_ps(x0, y, c05); c15 = _mm256_fmadd_ps(x1, y, c15);
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

__attribute__((target("avx512f,avx512dq")))
void dk_gemm_32x6_avx512(ptrdiff_t depth, const float *a0, const float *a1, const float *a2, const float *a3,
                         const float *b, float *tile0, float *tile1, float *tile2, float *tile3) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    for (ptrdiff_t k = 0; k < depth; k++, a0 += 8, a1 += 8, a2 += 8, a3 += 8, b += 24) {
        __m512 x0 = dk_pair(a0, a1), x1 = dk_pair(a2, a3), y;
        y = _mm512_set1_ps(b[0]);  c00 = _mm512_fmadd_ps(x0, y, c00); c10 = _mm512_fmadd_ps(x1, y, c10);
        y = _mm512_set1_ps(b[4]);  c01 = _mm512_fmadd_ps(x0, y, c01); c11 = _mm512_fmadd_ps(x1, y, c11);
        y = _mm512_set1_ps(b[8]);  c02 = _mm512_fmadd_ps(x0, y, c02); c12 = _mm512_fmadd_ps(x1, y, c12);
        y = _mm512_set1_ps(b[12]); c03 = _mm512_fmadd_ps(x0, y, c03); c13 = _mm512_fmadd_ps(x1, y, c13);
        y = _mm512_set1_ps(b[16]); c04 = _mm512_fmadd_ps(x0, y, c04); c14 = _mm512_fmadd_ps(x1, y, c14);
        y = _mm512_set1_ps(b[20]); c05 = _mm512_fmadd_ps(x0, y, c05); c15 = _mm512_fmadd_ps(x1, y, c15);
    }
    dk_split(c00, tile0, tile1); dk_split(c01, tile0 + 8, tile1 + 8); dk_split(c02, tile0 + 16, tile1 + 16);
    dk_split(c03, tile0 + 24, tile1 + 24); dk_split(c04, tile0 + 32, tile1 + 32); dk_split(c05, tile0 + 40, tile1 + 40);
    dk_split(c10, tile2, tile3); dk_split(c11, tile2 + 8, tile3 + 8); dk_split(c12, tile2 + 16, tile3 + 16);
    dk_split(c13, tile2 + 24, tile3 + 24); dk_split(c14, tile2 + 32, tile3 + 32); dk_split(c15, tile2 + 40, tile3 + 40);
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

int dk_supported_kernels(void) { return 0; }

// Never called off x86-64 (`dk_supported_kernels()` is 0); defined so every platform links the same symbols.
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

#endif
