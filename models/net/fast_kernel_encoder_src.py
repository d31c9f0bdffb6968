"""C source of the native single-layer (bi)LSTM encoder kernel: the end of
``models.net.fast_kernel_src.C_SOURCE`` (it uses that file's block products and gate maths)."""

ENCODER_SOURCE = r"""/* ---- encoder: one LSTM direction per thread, no synchronisation between them ---- */
typedef struct {
    int batch, steps, hid, wtype, ndir, nthreads;
    const void *const *w;      /* per direction (H/UB, H, CB) recurrent weights */
    const float *const *sc;    /* per direction (4H) packed column scales (int8 weights), or NULL */
    const float *const *xp;    /* per direction (B, T, 4H) packed input projections + biases */
    float *h_out;              /* (B, ndir, H) final h */
} EncCtx;

typedef struct { EncCtx *ctx; int tid, failed; } EncArg;

static void *encode_run(void *argp) {
    EncArg *a = (EncArg *)argp;
    EncCtx *c = a->ctx;
    int H = c->hid, G = 4 * H, nblk = H / UB, T = c->steps;
    size_t bsz = (size_t)(c->wtype == W_I8 ? PAD4(H) : H) * CB;
    float g[CB];
    float *buf = (float *)malloc(sizeof(float) * 3 * (size_t)H);
    int8_t *hq = (int8_t *)malloc((size_t)PAD4(H));
    if (!buf || !hq || ALLOC_FAILS(a->tid)) { free(buf); free(hq); a->failed = 1; return NULL; }
    for (int d = a->tid; d < c->ndir; d += c->nthreads) {
        for (int bi = 0; bi < c->batch; bi++) {
            memset(buf, 0, sizeof(float) * 3 * (size_t)H);
            float *cell = buf + 2 * (size_t)H;
            for (int t = 0; t < T; t++) {
                float *hprev = buf + (size_t)(t & 1) * H, *hnext = buf + (size_t)(1 - (t & 1)) * H;
                const float *xpt = c->xp[d] + ((size_t)bi * T + t) * G;
                float sh = c->wtype == W_I8 ? quantize_x(hprev, H, hq) : 0.0f; /* once a step */
                for (int kk = 0; kk < nblk; kk++) {
                    int k = (t & 1) ? nblk - 1 - kk : kk; /* serpentine: reuse what is still cached */
                    const void *Wk = weight_block(c->w[d], c->wtype, (size_t)k, bsz);
                    const float *sck = c->sc ? c->sc[d] + (size_t)k * NCHUNKS(H) * CB : NULL;
                    if (c->wtype == W_I8)
                        block_dot_i8((const int8_t *)Wk, sck, xpt + (size_t)k * CB, NULL, 0, 0.0f, hq, H, sh, g);
                    else
                        block_mv(Wk, c->wtype, xpt + (size_t)k * CB, NULL, 0, hprev, H, g);
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

int gb_encode(int ndir, int batch, int steps, int hid, int nthreads, int wtype, const void *const *w,
              const float *const *sc, const float *const *xp, float *h_out) {
    if (ndir < 1 || ndir > 64 || nthreads < 1 || hid % UB) return -1;
    if (wtype < W_F32 || wtype > W_I8 || (wtype == W_I8 && !sc)) return -1;
    if (nthreads > ndir) nthreads = ndir;
    EncCtx c = {batch, steps, hid, wtype, ndir, nthreads, w, wtype == W_I8 ? sc : NULL, xp, h_out};
    EncArg args[64];
    for (int i = 0; i < nthreads; i++) { args[i].ctx = &c; args[i].tid = i; args[i].failed = 0; }
    int rc = run_threads(nthreads, encode_run, args, sizeof(EncArg));
    for (int i = 0; rc == 0 && i < nthreads; i++)
        if (args[i].failed) rc = -3; /* its directions' h_out was never written */
    return rc;
}
"""
