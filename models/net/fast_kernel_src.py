"""C source of the native GrooVAE kernels (compiled and loaded by ``models.net.fast_kernel``).

Kept apart from the Python wrapper so each file stays readable; see models/net/fast_kernel.py for
the weight layout, the threading and the build.
"""

from models.net.fast_kernel_encoder_src import ENCODER_SOURCE
from models.net.fast_kernel_simd_src import SIMD_SOURCE

C_SOURCE = SIMD_SOURCE + r"""
/* GrooveBridge native LSTM kernels: autoregressive GrooVAE decode and single-layer (bi)LSTM
   encode. Weights are packed in blocks of CB columns = UB units x 4 gates (i, f, o, g).
   fp32 / fp16: each block stored row after row ([rows][CB]); a block's CB gate sums stay in NV
   vector registers while its rows stream in (fp16 widened to fp32 on load; fp32 sums).
   int8: see block_dot_i8. */
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

static inline void block_mv(const void *W, int wtype, const float *init, const float *x1, int n1,
                            const float *x2, int n2, float *out) {
    if (wtype == W_F16) block_mv_f16((const uint16_t *)W, init, x1, n1, x2, n2, out);
    else block_mv_f32((const float *)W, init, x1, n1, x2, n2, out);
}

#define PAD4(n) (((n) + 3) & ~3)

/* int8 activations: xq = round(x / s), s = max |x| / 127 (0 for an all-zero x); n..PAD4(n) zeroed */
static float quantize_x(const float *x, int n, int8_t *xq) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    memset(xq, 0, (size_t)PAD4(n));
    if (m == 0.0f) return 0.0f;
    float inv = 127.0f / m;
    for (int i = 0; i < n; i++) xq[i] = (int8_t)lrintf(x[i] * inv);
    return m / 127.0f;
}

/* int8 weights x int8 activations, exact int32 sums: a block is stored in groups of 4 rows,
   [rows/4][CB][4] (a column's 4 weights adjacent), x1's rows (PAD4(n1)) then x2's (PAD4(n2)).
   Each part's rows are cut in chunks of QG rows with one scale per column and chunk (sc: per
   chunk CB floats, x1's chunks first): out = init + sum_chunks s_part * sc_chunk * int32 sum.
   AVX2: vpmaddubsw on |x| and sign(w, x) (pairs of products <= 2 * 127 * 127: no int16
   saturation), vpmaddwd by 1 (4 rows), one int32 add: 4 instructions per 32 weights, against
   3 per 8 for widened fp16. Every build sums the same integers. */
#define QG 64
#define NCHUNKS(n) ((PAD4(n) + QG - 1) / QG)
int gb_quant_rows(void) { return QG; }

static void block_dot_i8(const int8_t *W, const float *sc, const float *init, const int8_t *x1q, int n1,
                         float s1, const int8_t *x2q, int n2, float s2, float *out) {
    const int8_t *xs[2] = {x1q, x2q};
    int ns[2] = {PAD4(n1), PAD4(n2)};
    float ss[2] = {s1, s2}, f[CB];
    for (int j = 0; j < CB; j++) f[j] = init[j];
    for (int part = 0; part < 2; part++) {
        for (int c0 = 0; c0 < ns[part]; c0 += QG, sc += CB) {
            const int8_t *xq = xs[part];
            int c1 = c0 + QG < ns[part] ? c0 + QG : ns[part];
#if SIMD_LEVEL > 0
            __m256i acc[CB / 8];
            const __m256i ones = _mm256_set1_epi16(1);
            for (int j = 0; j < CB / 8; j++) acc[j] = _mm256_setzero_si256();
            for (int r = c0; r < c1; r += 4, W += 4 * CB) {
                int32_t x4;
                memcpy(&x4, xq + r, 4);
                if (x4 == 0) continue; /* four silent inputs (sparse hits) */
                __m256i xv = _mm256_set1_epi32(x4), ax = _mm256_abs_epi8(xv);
#pragma GCC unroll 16
                for (int j = 0; j < CB / 8; j++) {
                    __m256i w = _mm256_loadu_si256((const __m256i *)(W + 32 * j));
                    __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, xv));
                    acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(p, ones));
                }
            }
            __m256 sp = _mm256_set1_ps(ss[part]);
            for (int j = 0; j < CB / 8; j++) {
                __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[j]), sp);
                _mm256_storeu_ps(f + 8 * j, _mm256_fmadd_ps(v, _mm256_loadu_ps(sc + 8 * j), _mm256_loadu_ps(f + 8 * j)));
            }
#else
            int32_t acc[CB];
            for (int j = 0; j < CB; j++) acc[j] = 0;
            for (int r = c0; r < c1; r += 4, W += 4 * CB)
                for (int j = 0; j < CB; j++)
                    for (int e = 0; e < 4; e++) acc[j] += (int32_t)xq[r + e] * (int32_t)W[4 * j + e];
            for (int j = 0; j < CB; j++) f[j] += ((float)acc[j] * ss[part]) * sc[j];
#endif
        }
    }
    memcpy(out, f, sizeof(float) * CB);
}

/* block k of a weight array of the given storage, bsz weights a block */
static inline const void *weight_block(const void *w, int wtype, size_t k, size_t bsz) {
    if (wtype == W_F16) return (const uint16_t *)w + k * bsz;
    if (wtype == W_I8) return (const int8_t *)w + k * bsz;
    return (const float *)w + k * bsz;
}

typedef struct {
    int num_layers, batch, steps, nthreads, in0, wtype;
    float vfloor, ofloor;      /* written velocity / offset = raw / max(p_hit, floor); 1 = raw */
    const int *hid;            /* (L,) hidden sizes, multiples of UB */
    const void *const *w;      /* per layer: (H/UB blocks, in + H, CB) */
    const float *const *sc;    /* per layer (4H) packed column scales (int8 weights), or NULL */
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
    atomic_int failed;         /* a thread could not get its buffers: every thread returns */
} Ctx;

#ifdef GB_FAIL_ALLOC           /* fault injection (tests): thread GB_FAIL_ALLOC - 1 gets no buffers */
#define ALLOC_FAILS(tid) ((tid) == GB_FAIL_ALLOC - 1)
#else
#define ALLOC_FAILS(tid) 0
#endif

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
    /* int8: each thread quantizes every sequence's [x | h] itself (no barrier for it) */
    int qstride = PAD4(c->in0);
    for (int l = 0; l < L; l++) qstride = PAD4(c->hid[l]) > qstride ? PAD4(c->hid[l]) : qstride;
    qstride *= 2;
    int8_t *xq = c->wtype == W_I8 ? (int8_t *)malloc((size_t)B * qstride) : NULL;
    float *sq = (float *)malloc(sizeof(float) * 2 * (size_t)B);
    if (!y || !sq || (c->wtype == W_I8 && !xq) || ALLOC_FAILS(tid))
        atomic_store_explicit(&c->failed, 1, memory_order_relaxed);
    barrier(c, &local_sense); /* roll call: one thread without buffers must not leave the others
                                 spinning at the first layer barrier */
    if (atomic_load_explicit(&c->failed, memory_order_relaxed)) { free(y); free(xq); free(sq); return NULL; }
    int Hl = c->hid[L - 1];
    for (int t = 0; t < c->steps; t++) {
        int cur = t & 1;  /* h buffer holding the previous step's h */
        for (int l = 0; l < L; l++) {
            int H = c->hid[l], G = 4 * H, nblk = H / UB;
            int in = (l == 0) ? c->in0 : c->hid[l - 1];
            int k0 = nblk * tid / c->nthreads, k1 = nblk * (tid + 1) / c->nthreads;
            size_t bsz = (size_t)(c->wtype == W_I8 ? PAD4(in) + PAD4(H) : in + H) * CB;
            if (c->wtype == W_I8)
                for (int bi = 0; bi < B; bi++) {
                    int8_t *q = xq + (size_t)bi * qstride;
                    sq[2 * bi] = quantize_x((l == 0) ? y + (size_t)bi * 32 : HBUF(bi, l - 1, 1 - cur), in, q);
                    sq[2 * bi + 1] = quantize_x(HBUF(bi, l, cur), H, q + PAD4(in));
                }
            for (int kk = k0; kk < k1; kk++) {
                /* serpentine order over steps: the blocks used last are still in cache */
                int k = (t & 1) ? k0 + k1 - 1 - kk : kk;
                const void *Wk = weight_block(c->w[l], c->wtype, (size_t)k, bsz);
                const float *sck = c->sc ? c->sc[l] + (size_t)k * (NCHUNKS(in) + NCHUNKS(H)) * CB : NULL;
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
                    if (c->wtype == W_I8) {
                        for (int e = 0; e <= pair; e++) {
                            const int8_t *q = xq + (size_t)(bi + e) * qstride;
                            block_dot_i8((const int8_t *)Wk, sck, ini[e], q, in, sq[2 * (bi + e)], q + PAD4(in), H,
                                         sq[2 * (bi + e) + 1], g[e]);
                        }
                    } else if (pair) {
                        const float *hp = HBUF(bi, l, cur), *hq = HBUF(bi + 1, l, cur);
                        if (c->wtype == W_F16)
                            block_mv2_f16((const uint16_t *)Wk, ini[0], ini[1], x[0], x[1], in, hp, hq, H, g[0], g[1]);
                        else
                            block_mv2_f32((const float *)Wk, ini[0], ini[1], x[0], x[1], in, hp, hq, H, g[0], g[1]);
                    } else {
                        block_mv(Wk, c->wtype, ini[0], x[0], in, HBUF(bi, l, cur), H, g[0]);
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
    free(xq);
    free(sq);
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
int gb_decode(int num_layers, int batch, int steps, int nthreads, int wtype, float vfloor, float ofloor,
              const int *hid,
              const void *const *w, const float *const *sc, const float *const *b, float *pre, const float *cp,
              const float *w_out, const float *b_out, const float *th, float *out) {
    if (num_layers < 1 || num_layers > 16 || nthreads < 1 || nthreads > 64) return -1;
    Ctx c;
    c.num_layers = num_layers; c.batch = batch; c.steps = steps; c.nthreads = nthreads; c.in0 = 27;
    if (wtype < W_F32 || wtype > W_I8 || (wtype == W_I8 && !sc)) return -1;
    c.wtype = wtype; c.sc = wtype == W_I8 ? sc : NULL;
    c.vfloor = vfloor; c.ofloor = ofloor; c.hid = hid; c.w = w; c.b = b; c.pre = pre; c.cp = cp; c.w_out = w_out;
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
    atomic_init(&c.failed, 0);
    Arg args[64];
    for (int i = 0; i < nthreads; i++) { args[i].ctx = &c; args[i].tid = i; }
    int rc = run_threads(nthreads, decode_run, args, sizeof(Arg));
    free(c.hb);
    return rc == 0 && atomic_load(&c.failed) ? -3 : rc;
}

""" + ENCODER_SOURCE

