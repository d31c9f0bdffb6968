"""C source of the native GrooVAE kernels (compiled and loaded by ``models.net.fast_kernel``).

Kept apart from the Python wrapper so each file stays readable; see models/net/fast_kernel.py for
the weight layout, the threading and the build.
"""

from models.net.fast_kernel_encoder_src import ENCODER_SOURCE

C_SOURCE = r"""
/* GrooveBridge native LSTM kernels: autoregressive GrooVAE decode and single-layer (bi)LSTM
   encode. Weights are packed in blocks of CB columns = UB units x 4 gates (i, f, o, g), each
   block stored row after row ([rows][CB]); a block's CB gate sums stay in NV vector registers
   while its rows stream in (fp32 or IEEE fp16 converted to fp32 on load; fp32 accumulation). */
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

/* out[0..CB) = init + sum_r x1[r] W[r] (r < n1) + sum_r x2[r] W[n1 + r]; W: (n1 + n2, CB) */
#define ROW_FMA(LOADW, xs)                                                                    \
    {                                                                                         \
        vf x = VSET1(xs);                                                                     \
        a0 = VFMA(x, LOADW(W), a0); a1 = VFMA(x, LOADW(W + VW), a1);                          \
        a2 = VFMA(x, LOADW(W + 2 * VW), a2); a3 = VFMA(x, LOADW(W + 3 * VW), a3);             \
        a4 = VFMA(x, LOADW(W + 4 * VW), a4); a5 = VFMA(x, LOADW(W + 5 * VW), a5);             \
        a6 = VFMA(x, LOADW(W + 6 * VW), a6); a7 = VFMA(x, LOADW(W + 7 * VW), a7);             \
    }
#define BLOCK_MV(NAME, T, LOADW)                                                              \
    static void NAME(const T *W, const float *init, const float *x1, int n1, const float *x2, \
                     int n2, float *out) {                                                    \
        vf a0 = VLOAD(init), a1 = VLOAD(init + VW), a2 = VLOAD(init + 2 * VW),               \
           a3 = VLOAD(init + 3 * VW), a4 = VLOAD(init + 4 * VW), a5 = VLOAD(init + 5 * VW),  \
           a6 = VLOAD(init + 6 * VW), a7 = VLOAD(init + 7 * VW);                              \
        for (int r = 0; r < n1; r++, W += CB) {                                               \
            if (x1[r] == 0.0f) continue; /* sparse hits in the decoder's input */             \
            ROW_FMA(LOADW, x1[r])                                                             \
        }                                                                                     \
        for (int r = 0; r < n2; r++, W += CB) ROW_FMA(LOADW, x2[r])                           \
        VSTORE(out, a0); VSTORE(out + VW, a1); VSTORE(out + 2 * VW, a2);                      \
        VSTORE(out + 3 * VW, a3); VSTORE(out + 4 * VW, a4); VSTORE(out + 5 * VW, a5);         \
        VSTORE(out + 6 * VW, a6); VSTORE(out + 7 * VW, a7);                                   \
    }
BLOCK_MV(block_mv_f32, float, VLOAD)
BLOCK_MV(block_mv_f16, uint16_t, VLOADH)

/* the same for two sequences at once (rows p and q): each weight is loaded and widened once
   for both, 16 accumulators */
#define ROW_FMA2(LOADW, xp, xq)                                                               \
    {                                                                                         \
        vf u = VSET1(xp), v = VSET1(xq), w;                                                   \
        w = LOADW(W); a0 = VFMA(u, w, a0); b0 = VFMA(v, w, b0);                               \
        w = LOADW(W + VW); a1 = VFMA(u, w, a1); b1 = VFMA(v, w, b1);                          \
        w = LOADW(W + 2 * VW); a2 = VFMA(u, w, a2); b2 = VFMA(v, w, b2);                      \
        w = LOADW(W + 3 * VW); a3 = VFMA(u, w, a3); b3 = VFMA(v, w, b3);                      \
        w = LOADW(W + 4 * VW); a4 = VFMA(u, w, a4); b4 = VFMA(v, w, b4);                      \
        w = LOADW(W + 5 * VW); a5 = VFMA(u, w, a5); b5 = VFMA(v, w, b5);                      \
        w = LOADW(W + 6 * VW); a6 = VFMA(u, w, a6); b6 = VFMA(v, w, b6);                      \
        w = LOADW(W + 7 * VW); a7 = VFMA(u, w, a7); b7 = VFMA(v, w, b7);                      \
    }
#define BLOCK_MV2(NAME, T, LOADW)                                                             \
    static void NAME(const T *W, const float *ip, const float *iq, const float *x1p,          \
                     const float *x1q, int n1, const float *x2p, const float *x2q, int n2,    \
                     float *op, float *oq) {                                                  \
        vf a0 = VLOAD(ip), a1 = VLOAD(ip + VW), a2 = VLOAD(ip + 2 * VW),                     \
           a3 = VLOAD(ip + 3 * VW), a4 = VLOAD(ip + 4 * VW), a5 = VLOAD(ip + 5 * VW),        \
           a6 = VLOAD(ip + 6 * VW), a7 = VLOAD(ip + 7 * VW);                                  \
        vf b0 = VLOAD(iq), b1 = VLOAD(iq + VW), b2 = VLOAD(iq + 2 * VW),                     \
           b3 = VLOAD(iq + 3 * VW), b4 = VLOAD(iq + 4 * VW), b5 = VLOAD(iq + 5 * VW),        \
           b6 = VLOAD(iq + 6 * VW), b7 = VLOAD(iq + 7 * VW);                                  \
        for (int r = 0; r < n1; r++, W += CB) {                                               \
            if (x1p[r] == 0.0f && x1q[r] == 0.0f) continue;                                   \
            ROW_FMA2(LOADW, x1p[r], x1q[r])                                                   \
        }                                                                                     \
        for (int r = 0; r < n2; r++, W += CB) ROW_FMA2(LOADW, x2p[r], x2q[r])                 \
        VSTORE(op, a0); VSTORE(op + VW, a1); VSTORE(op + 2 * VW, a2); VSTORE(op + 3 * VW, a3); \
        VSTORE(op + 4 * VW, a4); VSTORE(op + 5 * VW, a5); VSTORE(op + 6 * VW, a6);            \
        VSTORE(op + 7 * VW, a7);                                                              \
        VSTORE(oq, b0); VSTORE(oq + VW, b1); VSTORE(oq + 2 * VW, b2); VSTORE(oq + 3 * VW, b3); \
        VSTORE(oq + 4 * VW, b4); VSTORE(oq + 5 * VW, b5); VSTORE(oq + 6 * VW, b6);            \
        VSTORE(oq + 7 * VW, b7);                                                              \
    }
BLOCK_MV2(block_mv2_f32, float, VLOAD)
BLOCK_MV2(block_mv2_f16, uint16_t, VLOADH)

static inline void block_mv(const void *W, int f16, const float *init, const float *x1, int n1,
                            const float *x2, int n2, float *out) {
    if (f16) block_mv_f16((const uint16_t *)W, init, x1, n1, x2, n2, out);
    else block_mv_f32((const float *)W, init, x1, n1, x2, n2, out);
}

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

#if SIMD_LEVEL == 2
static inline __m512 vexp(__m512 x) { /* Cephes expf: polynomial on [-ln2/2, ln2/2], scalef */
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
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
#endif

/* gate sums g (CB: i, f, o, g blocks of UB) -> cell and h of UB units */
static inline void block_gates(const float *g, float *cell, float *h) {
#if SIMD_LEVEL == 2
    for (int v = 0; v < UB; v += VW) {
        __m512 ig = vsigm(_mm512_loadu_ps(g + v)), fg = vsigm(_mm512_loadu_ps(g + UB + v));
        __m512 og = vsigm(_mm512_loadu_ps(g + 2 * UB + v)), gg = vtanh(_mm512_loadu_ps(g + 3 * UB + v));
        __m512 c = _mm512_fmadd_ps(fg, _mm512_loadu_ps(cell + v), _mm512_mul_ps(ig, gg));
        _mm512_storeu_ps(cell + v, c);
        _mm512_storeu_ps(h + v, _mm512_mul_ps(og, vtanh(c)));
    }
#else
    for (int u = 0; u < UB; u++) {
        float c = sigm(g[UB + u]) * cell[u] + sigm(g[u]) * tanhf(g[3 * UB + u]);
        cell[u] = c;
        h[u] = sigm(g[2 * UB + u]) * tanhf(c);
    }
#endif
}

typedef struct {
    int num_layers, batch, steps, nthreads, in0, f16;
    float vfloor, ofloor;      /* written velocity / offset = raw / max(p_hit, floor); 1 = raw */
    const int *hid;            /* (L,) hidden sizes, multiples of UB */
    const void *const *w;      /* per layer: (H/UB blocks, in + H, CB) */
    const float *const *b;     /* per layer packed biases (4H); layer 0 unused (in zp) */
    float *pre;                /* (B, P): per row [h, c of each layer | zp (4H0)]; h, c updated */
    float *hb;                 /* (B, sum H): second h buffer of each layer */
    int pre_size, hb_size;     /* P, sum H */
    const float *cp;           /* (T, B, 4H0) packed controls share, or NULL */
    const float *w_out;        /* (H_last, 32) zero-padded columns */
    const float *b_out;        /* (32) */
    const float *th;           /* (T, B, 9) hit thresholds on logits */
    float *out;                /* (B, T, 27) */
    atomic_int count;
    atomic_int sense;
} Ctx;

typedef struct { Ctx *ctx; int tid; } Arg;

static void barrier(Ctx *c, int *local_sense) {
    if (c->nthreads == 1) return;
    int s = !*local_sense;
    *local_sense = s;
    if (atomic_fetch_add_explicit(&c->count, 1, memory_order_acq_rel) == c->nthreads - 1) {
        atomic_store_explicit(&c->count, 0, memory_order_relaxed);
        atomic_store_explicit(&c->sense, s, memory_order_release);
    } else {
        int spins = 0;
        while (atomic_load_explicit(&c->sense, memory_order_acquire) != s) {
            PAUSE();
            if (++spins > 256) { sched_yield(); spins = 0; }
        }
    }
}

static void *decode_run(void *argp) {
    Arg *a = (Arg *)argp;
    Ctx *c = a->ctx;
    int tid = a->tid, L = c->num_layers, B = c->batch, P = c->pre_size;
    int local_sense = 0;
    size_t off[16], offh[16];  /* layer l: h at pre + off[l], c at pre + off[l] + H; hb + offh[l] */
    size_t o = 0, oh = 0;
    for (int l = 0; l < L; l++) { off[l] = o; offh[l] = oh; o += (size_t)2 * c->hid[l]; oh += c->hid[l]; }
#define HBUF(bi, l, which) ((which) ? c->hb + (size_t)(bi) * c->hb_size + offh[l] : c->pre + (size_t)(bi) * P + off[l])
    float g[2][CB], init[2][CB], yl[32];
    float *y = (float *)calloc((size_t)B * 32, sizeof(float)); /* every thread keeps its own copy */
    if (!y) return NULL;
    int Hl = c->hid[L - 1];
    for (int t = 0; t < c->steps; t++) {
        int cur = t & 1;  /* h buffer holding the previous step's h */
        for (int l = 0; l < L; l++) {
            int H = c->hid[l], G = 4 * H, nblk = H / UB;
            int in = (l == 0) ? c->in0 : c->hid[l - 1];
            int k0 = nblk * tid / c->nthreads, k1 = nblk * (tid + 1) / c->nthreads;
            size_t bsz = (size_t)(in + H) * CB;
            for (int kk = k0; kk < k1; kk++) {
                /* serpentine order over steps: the blocks used last are still in cache */
                int k = (t & 1) ? k0 + k1 - 1 - kk : kk;
                const void *Wk = c->f16 ? (const void *)((const uint16_t *)c->w[l] + k * bsz)
                                        : (const void *)((const float *)c->w[l] + k * bsz);
                for (int bi = 0; bi < B; bi += 2) {
                    int pair = bi + 1 < B; /* two sequences share each weight load */
                    const float *ini[2], *x[2];
                    for (int e = 0; e <= pair; e++) {
                        int bj = bi + e;
                        x[e] = (l == 0) ? y + (size_t)bj * 32 : HBUF(bj, l - 1, 1 - cur);
                        if (l == 0) {
                            ini[e] = c->pre + (size_t)bj * P + o + (size_t)k * CB;
                            if (c->cp) {
                                const float *cpt = c->cp + ((size_t)t * B + bj) * G + (size_t)k * CB;
                                for (int j = 0; j < CB; j++) init[e][j] = ini[e][j] + cpt[j];
                                ini[e] = init[e];
                            }
                        } else {
                            ini[e] = c->b[l] + (size_t)k * CB;
                        }
                    }
                    if (pair) {
                        const float *hp = HBUF(bi, l, cur), *hq = HBUF(bi + 1, l, cur);
                        if (c->f16)
                            block_mv2_f16((const uint16_t *)Wk, ini[0], ini[1], x[0], x[1], in, hp, hq, H, g[0], g[1]);
                        else
                            block_mv2_f32((const float *)Wk, ini[0], ini[1], x[0], x[1], in, hp, hq, H, g[0], g[1]);
                    } else {
                        block_mv(Wk, c->f16, ini[0], x[0], in, HBUF(bi, l, cur), H, g[0]);
                    }
                    for (int e = 0; e <= pair; e++) {
                        float *cell = c->pre + (size_t)(bi + e) * P + off[l] + H;
                        block_gates(g[e], cell + (size_t)k * UB, HBUF(bi + e, l, 1 - cur) + (size_t)k * UB);
                    }
                }
            }
            barrier(c, &local_sense);
        }
        /* output projection (small): every thread computes y itself, so no barrier is needed */
        for (int bi = 0; bi < B; bi++) {
            const float *hl = HBUF(bi, L - 1, 1 - cur);
            for (int k = 0; k < 32; k++) yl[k] = c->b_out[k];
            for (int r = 0; r < Hl; r++) {
                float xv = hl[r];
                const float *wr = c->w_out + (size_t)r * 32;
                for (int k = 0; k < 32; k++) yl[k] += xv * wr[k];
            }
            const float *th = c->th + ((size_t)t * B + bi) * 9;
            float *yb = y + (size_t)bi * 32;
            for (int k = 0; k < 9; k++) yb[k] = yl[k] > th[k] ? 1.0f : 0.0f;
            for (int k = 9; k < 18; k++) yb[k] = sigm(yl[k]);
            for (int k = 18; k < 27; k++) yb[k] = tanhf(yl[k]);
            if (tid == 0) {
                float *ob = c->out + ((size_t)bi * c->steps + t) * 27;
                memcpy(ob, yb, sizeof(float) * 27);
                if (c->vfloor < 1.0f || c->ofloor < 1.0f) /* the fed-back y stays raw */
                    for (int k = 0; k < 9; k++) {
                        float p = sigm(yl[k]);
                        ob[9 + k] = fminf(yb[9 + k] / fmaxf(p, c->vfloor), 1.0f);
                        ob[18 + k] = fmaxf(fminf(yb[18 + k] / fmaxf(p, c->ofloor), 1.0f), -1.0f);
                    }
            }
        }
    }
    free(y);
    return NULL;
}

static int run_threads(int nthreads, void *(*fn)(void *), void *args, size_t arg_size) {
    /* fn(args[0]) on this thread, fn(args[i]) on nthreads - 1 new ones; args: arg_size apart */
    pthread_t tids[64];
    char *a = (char *)args;
    for (int i = 1; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, fn, a + i * arg_size) != 0) {
            for (int j = 1; j < i; j++) pthread_join(tids[j], NULL);
            return -2;
        }
    fn(a);
    for (int i = 1; i < nthreads; i++) pthread_join(tids[i], NULL);
    return 0;
}

/* pre: (B, 2 sum H + 4 H0) rows [h_1, c_1, h_2, c_2, ... | zp]: initial states (updated in
   place) and layer 0's z share + biases; out: (B, T, 27) */
int gb_decode(int num_layers, int batch, int steps, int nthreads, int f16, float vfloor, float ofloor,
              const int *hid,
              const void *const *w, const float *const *b, float *pre, const float *cp,
              const float *w_out, const float *b_out, const float *th, float *out) {
    if (num_layers < 1 || num_layers > 16 || nthreads < 1 || nthreads > 64) return -1;
    Ctx c;
    c.num_layers = num_layers; c.batch = batch; c.steps = steps; c.nthreads = nthreads; c.in0 = 27;
    c.f16 = f16; c.vfloor = vfloor; c.ofloor = ofloor; c.hid = hid; c.w = w; c.b = b; c.pre = pre; c.cp = cp; c.w_out = w_out;
    c.b_out = b_out; c.th = th; c.out = out;
    c.hb_size = 0;
    for (int l = 0; l < num_layers; l++) {
        if (hid[l] % UB) return -1;
        c.hb_size += hid[l];
    }
    c.pre_size = 2 * c.hb_size + 4 * hid[0];
    c.hb = (float *)calloc((size_t)batch * c.hb_size + 1, sizeof(float));
    if (!c.hb) return -3;
    atomic_init(&c.count, 0);
    atomic_init(&c.sense, 0);
    Arg args[64];
    for (int i = 0; i < nthreads; i++) { args[i].ctx = &c; args[i].tid = i; }
    int rc = run_threads(nthreads, decode_run, args, sizeof(Arg));
    free(c.hb);
    return rc;
}

""" + ENCODER_SOURCE

