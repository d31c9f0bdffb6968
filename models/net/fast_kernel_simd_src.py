"""C source of the native kernels' vector layer: the start of ``models.net.fast_kernel_src.C_SOURCE``.

One vector type per build (AVX-512, AVX2 + F16C + FMA, or scalar ``float``), loads of fp32 and
IEEE fp16 weights (widened to fp32), and vectorised sigmoid / tanh for
the LSTM gates (Cephes expf; on AVX2 since the int8 weights, before only on AVX-512: the
scalar ``expf`` / ``tanhf`` of 5 gate functions x 512 units took ~20 % of an encoder step).
"""

SIMD_SOURCE = r"""
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__F16C__) && defined(__FMA__))
#include <immintrin.h>
#endif

/* weight storage (the kernels' "wtype" argument) */
#define W_F32 0
#define W_F16 1
#define W_I8 2

#if defined(__AVX512F__)
#define VW 16
#define SIMD_LEVEL 2
typedef __m512 vf;
#define VLOAD(p) _mm512_loadu_ps(p)
#define VLOADH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VSET1(x) _mm512_set1_ps(x)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define PAUSE() _mm_pause()
#elif defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define VW 8
#define SIMD_LEVEL 1
typedef __m256 vf;
#define VLOAD(p) _mm256_loadu_ps(p)
#define VLOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VSET1(x) _mm256_set1_ps(x)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define PAUSE() _mm_pause()
#else
#define VW 1
#define SIMD_LEVEL 0
typedef float vf;
static inline float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    if (e == 0) {
        float f = (float)m * 5.9604644775390625e-8f; /* subnormal: m * 2^-24 */
        return s ? -f : f;
    }
    bits = (e == 31) ? (s | 0x7f800000u | (m << 13)) : (s | ((e + 112u) << 23) | (m << 13));
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
#define VLOAD(p) (*(p))
#define VLOADH(p) half_to_float(*(p))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VSET1(x) (x)
#define VSTORE(p, v) (*(p) = (v))
#define PAUSE() ((void)0)
#endif
#define NV 8
#define CB (NV * VW)
#define UB (CB / 4)

int gb_block_units(void) { return UB; }
int gb_simd_level(void) { return SIMD_LEVEL; }

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Cephes expf: n = round(x log2 e), polynomial on r = x - n ln 2 in [-ln2/2, ln2/2], times 2^n */
#define CEPHES_POLY(FNMADD, FMADD, MUL, ADD, SET1)                                                \
    r = FNMADD(n, SET1(0.693359375f), x);                                                         \
    r = FNMADD(n, SET1(-2.12194440e-4f), r);                                                      \
    p = SET1(1.9875691500e-4f);                                                                   \
    p = FMADD(p, r, SET1(1.3981999507e-3f));                                                      \
    p = FMADD(p, r, SET1(8.3334519073e-3f));                                                      \
    p = FMADD(p, r, SET1(4.1665795894e-2f));                                                      \
    p = FMADD(p, r, SET1(1.6666665459e-1f));                                                      \
    p = FMADD(p, r, SET1(5.0000001201e-1f));                                                      \
    p = FMADD(p, MUL(r, r), ADD(r, SET1(1.0f)));
#if SIMD_LEVEL == 2
static inline __m512 vexp(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r, p;
    CEPHES_POLY(_mm512_fnmadd_ps, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_set1_ps)
    return _mm512_scalef_ps(p, n);
}
static inline __m512 vsigm(__m512 x) {
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, vexp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}
static inline __m512 vtanh(__m512 x) { /* 2 sigmoid(2x) - 1 (absolute error ~1e-7) */
    __m512 two = _mm512_set1_ps(2.0f);
    return _mm512_fmsub_ps(two, vsigm(_mm512_mul_ps(two, x)), _mm512_set1_ps(1.0f));
}
#define VG_LOAD _mm512_loadu_ps
#define VG_STORE _mm512_storeu_ps
#define VG_FMADD _mm512_fmadd_ps
#define VG_MUL _mm512_mul_ps
#elif SIMD_LEVEL == 1
static inline __m256 vexp(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r, p;
    CEPHES_POLY(_mm256_fnmadd_ps, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_set1_ps)
    /* 2^n for n in [-127, 127]: the exponent field (n = -127 gives 0, as exp(-88) ~ 0) */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
static inline __m256 vsigm(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, vexp(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
static inline __m256 vtanh(__m256 x) {
    __m256 two = _mm256_set1_ps(2.0f);
    return _mm256_fmsub_ps(two, vsigm(_mm256_mul_ps(two, x)), _mm256_set1_ps(1.0f));
}
#define VG_LOAD _mm256_loadu_ps
#define VG_STORE _mm256_storeu_ps
#define VG_FMADD _mm256_fmadd_ps
#define VG_MUL _mm256_mul_ps
#endif

/* gate sums g (CB: i, f, o, g blocks of UB) -> cell and h of UB units */
static inline void block_gates(const float *g, float *cell, float *h) {
#if SIMD_LEVEL > 0
    for (int v = 0; v < UB; v += VW) {
        vf ig = vsigm(VG_LOAD(g + v)), fg = vsigm(VG_LOAD(g + UB + v));
        vf og = vsigm(VG_LOAD(g + 2 * UB + v)), gg = vtanh(VG_LOAD(g + 3 * UB + v));
        vf c = VG_FMADD(fg, VG_LOAD(cell + v), VG_MUL(ig, gg));
        VG_STORE(cell + v, c);
        VG_STORE(h + v, VG_MUL(og, vtanh(c)));
    }
#else
    for (int u = 0; u < UB; u++) {
        float c = sigm(g[UB + u]) * cell[u] + sigm(g[u]) * tanhf(g[3 * UB + u]);
        cell[u] = c;
        h[u] = sigm(g[2 * UB + u]) * tanhf(c);
    }
#endif
}
"""
