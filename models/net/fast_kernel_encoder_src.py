"""C source of the native single-layer (bi)LSTM encoder kernel: the end of
``models.net.fast_kernel_src.C_SOURCE`` (it uses that file's block products and gate maths)."""

ENCODER_SOURCE = r"""/* ---- encoder: one LSTM direction per thread, no synchronisation between them ---- */
typedef struct {
    int batch, steps, hid, wtype, ndir, nthreads;
    const void *const *w;      /* per direction (H/UB, H, CB) recurrent weights; low rank: U (H/UB, R, CB) */
    const float *const *sc;    /* per direction (4H) packed column scales (int8 weights), or NULL */
    const float *const *xp;    /* per direction (B, T, 4H) packed input projections + biases */
    float *h_out;              /* (B, ndir, H) final h */
    int rank;                  /* 0: full W_hh; else W_hh = U V, R = rank (a multiple of CB) */
    const void *const *v;      /* low rank: per direction V as (R/CB, H, CB) blocks (p = V h) */
    const float *const *vsc;   /* low rank, int8: V's scales */
} EncCtx;

typedef struct { EncCtx *ctx; int tid, failed; } EncArg;

static void *encode_run(void *argp) {
    EncArg *a = (EncArg *)argp;
    EncCtx *c = a->ctx;
    int H = c->hid, G = 4 * H, nblk = H / UB, T = c->steps;
    size_t bsz = (size_t)(c->wtype == W_I8 ? PAD4(H) : H) * CB;
    int R = c->rank, nin = R ? R : H; /* the recurrent product's inputs: p (low rank) or h */
    size_t vsz = (size_t)(c->wtype == W_I8 ? PAD4(H) : H) * CB;
    if (R) bsz = (size_t)(c->wtype == W_I8 ? PAD4(R) : R) * CB;
    float g[CB], zero[CB] = {0};
    float *buf = (float *)malloc(sizeof(float) * (3 * (size_t)H + (size_t)R));
    int8_t *hq = (int8_t *)malloc((size_t)PAD4(H) + (size_t)PAD4(R));
    if (!buf || !hq || ALLOC_FAILS(a->tid)) { free(buf); free(hq); a->failed = 1; return NULL; }
    float *p = buf + 3 * (size_t)H;
    int8_t *pq = hq + PAD4(H);
    for (int d = a->tid; d < c->ndir; d += c->nthreads) {
        for (int bi = 0; bi < c->batch; bi++) {
            memset(buf, 0, sizeof(float) * 3 * (size_t)H);
            float *cell = buf + 2 * (size_t)H;
            for (int t = 0; t < T; t++) {
                float *hprev = buf + (size_t)(t & 1) * H, *hnext = buf + (size_t)(1 - (t & 1)) * H;
                const float *xpt = c->xp[d] + ((size_t)bi * T + t) * G;
                float sh = c->wtype == W_I8 ? quantize_x(hprev, H, hq) : 0.0f; /* once a step */
                const float *xin = hprev;
                const int8_t *xinq = hq;
                if (R) { /* p = V h (R outputs in blocks of CB), then the gates read p */
                    for (int k = 0; k < R / CB; k++) {
                        const void *Vk = weight_block(c->v[d], c->wtype, (size_t)k, vsz);
                        if (c->wtype == W_I8)
                            block_dot_i8((const int8_t *)Vk, c->vsc[d] + (size_t)k * NCHUNKS(H) * CB, zero, NULL, 0,
                                         0.0f, hq, H, sh, p + (size_t)k * CB);
                        else
                            block_mv(Vk, c->wtype, zero, NULL, 0, hprev, H, p + (size_t)k * CB);
                    }
                    sh = c->wtype == W_I8 ? quantize_x(p, R, pq) : 0.0f;
                    xin = p;
                    xinq = pq;
                }
                for (int kk = 0; kk < nblk; kk++) {
                    int k = (t & 1) ? nblk - 1 - kk : kk; /* serpentine: reuse what is still cached */
                    const void *Wk = weight_block(c->w[d], c->wtype, (size_t)k, bsz);
                    const float *sck = c->sc ? c->sc[d] + (size_t)k * NCHUNKS(nin) * CB : NULL;
                    if (c->wtype == W_I8)
                        block_dot_i8((const int8_t *)Wk, sck, xpt + (size_t)k * CB, NULL, 0, 0.0f, xinq, nin, sh, g);
                    else
                        block_mv(Wk, c->wtype, xpt + (size_t)k * CB, NULL, 0, xin, nin, g);
                    block_gates(g, cell + (size_t)k * UB, hnext + (size_t)k * UB);
                }
            }
            memcpy(c->h_out + ((size_t)bi * c->ndir + d) * H, buf + (size_t)(T & 1) * H, sizeof(float) * H);
        }
    }
    free(buf);
    free(hq);
    return NULL;
}

/* rank 0: W_hh full (w, sc); rank R > 0 (a multiple of CB): W_hh = U V, w/sc = U, v/vsc = V */
int gb_encode(int ndir, int batch, int steps, int hid, int nthreads, int wtype, const void *const *w,
              const float *const *sc, const float *const *xp, float *h_out, int rank, const void *const *v,
              const float *const *vsc) {
    if (ndir < 1 || ndir > 64 || nthreads < 1 || hid % UB) return -1;
    if (wtype < W_F32 || wtype > W_I8 || (wtype == W_I8 && !sc)) return -1;
    if (rank < 0 || rank % CB || (rank && (!v || (wtype == W_I8 && !vsc)))) return -1;
    if (nthreads > ndir) nthreads = ndir;
    EncCtx c = {batch, steps, hid, wtype, ndir, nthreads, w, wtype == W_I8 ? sc : NULL, xp, h_out,
                rank, v, wtype == W_I8 ? vsc : NULL};
    EncArg args[64];
    for (int i = 0; i < nthreads; i++) { args[i].ctx = &c; args[i].tid = i; args[i].failed = 0; }
    int rc = run_threads(nthreads, encode_run, args, sizeof(EncArg));
    for (int i = 0; rc == 0 && i < nthreads; i++)
        if (args[i].failed) rc = -3; /* its directions' h_out was never written */
    return rc;
}
"""
