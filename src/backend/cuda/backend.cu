/* The CUDA backend: device selection, memory, weight upload, the op table
 * and CUDA graphs. Every op only queues work on the context's one stream;
 * the first failure is kept (file:line: reason) and reported by sync().
 *
 * Small fusions happen here, invisible to the caller: consecutive matmuls
 * of decode size that read the same input are held back and launched as
 * one kernel (Q/K/V, gate/up; for one token also two weight types, q4_K or
 * q5_K then q6_K, as Q/K/V of a Q4_K_M file), and an add() that consumes
 * the output of a single held-back matmul becomes that kernel's epilogue
 * (the residual adds). Across ops (INGOT_CUDA_FUSE, a mask of FUSE_*,
 * default all; INGOT_CUDA_NO_FUSE=1: none), for one token:
 *   FUSE_ATTN     decode attention merges its chunks in the kernel and
 *                 writes the q8_1 input of wo;
 *   FUSE_ROPE_ATT rope(q), rope(k), kv_store are held until the attention,
 *                 which rotates q and k and stores the KV row (attention.cu);
 *   FUSE_BLK      residual-add products run one CTA per 32 rows, which
 *                 makes the RMSNorm after them their epilogue and its 1/rms
 *                 a scale in the products that read it, and SwiGLU waits
 *                 for the down projection's prologue (common.cuh).
 * A llama layer is then five kernels. (v5's epilogues with arrival
 * counters -- RMSNorm, SwiGLU, RoPE in the matvec -- measured slower than
 * separate PDL-chained kernels and are gone: bench/cuda/NOTES.md.)
 * Anything not fused first launches what is held back, so the stream order
 * is always the call order.
 *
 * L2 prefetch (Hopper): each matmul call records which weight came after
 * the previous one (the order is the same every forward), and the short
 * decode attention (one CTA per head) prefetches the first 4 MiB of the
 * weight read next (wo) while 100 of 132 SMs wait for it
 * (INGOT_CUDA_PF_ATT_MB; the split kernel, larger sizes, and
 * prefetching in other kernels, measured slower: bench/cuda/NOTES.md v5,
 * v7, v11).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.cuh"

extern "C" {
#include "quant/quant.h"
}

#define CTX(be) ((cuda_ctx *)(be)->ctx)

/* ---- errors ------------------------------------------------------------ */

void cu_fail(cuda_ctx *c, ingot_status s, const char *file, int line, const char *what) {
    if (c->err != INGOT_OK) return;
    const char *f = strrchr(file, '/');
    c->err = s;
    snprintf(c->errmsg, sizeof c->errmsg, "cuda: %s:%d: %s", f ? f + 1 : file, line, what);
}

/* Report (and clear) the sticky error as the thread's error. */
static ingot_status take_err(cuda_ctx *c) {
    ingot_status s = c->err;
    if (s != INGOT_OK) {
        ig_err(s, "%s", c->errmsg);
        c->err = INGOT_OK;
    }
    return s;
}

/* ---- kernel attributes ---------------------------------------------------- */

void cu_carveout(cuda_ctx *c, const void *k) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static const void *fn[1024];
    static int val[1024], n;
    pthread_mutex_lock(&mu);
    int i = 0;
    while (i < n && fn[i] != k) i++;
    if (i == n || val[i] != c->carveout_now) {
        if (cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, c->carveout_now) != cudaSuccess)
            cudaGetLastError(); /* a preference: the launch works without it */
        if (i == n && n < 1024) fn[n++] = k;
        if (i < n) val[i] = c->carveout_now;
    }
    pthread_mutex_unlock(&mu);
}

/* ---- scratch ------------------------------------------------------------ */

static void drop_graphs(cuda_ctx *c);

/* exact: no growth headroom (slots sized once from the model) */
void *cu_scratch_ex(cuda_ctx *c, int slot, size_t bytes, bool exact) {
    if (c->scr[slot].cap >= bytes && c->scr[slot].p) return c->scr[slot].p;
    size_t cap = exact ? bytes : bytes + bytes / 4;
    cap = (cap + 255) & ~(size_t)255;
    void *old = c->scr[slot].p;
    if (old && !c->capturing) {
        /* Recorded graphs may point at the old buffer: forget them (they are
         * recorded again on the next step) and free it before growing, so
         * the peak is the new size alone. */
        CU_CHECK(c, cudaStreamSynchronize(c->stream));
        drop_graphs(c);
        cudaFree(old);
        old = NULL;
        c->scr[slot].p = NULL;
        c->scr[slot].cap = 0;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, cap);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cu_fail(c, INGOT_ERR_NOMEM, __FILE__, __LINE__, cudaGetErrorString(e));
        return NULL;
    }
    if (old) {
        /* Growing inside a capture: the graphs recorded before may still use
         * the old buffer; keep it until destroy. */
        if (c->n_retired < MAX_RETIRED) c->retired[c->n_retired++] = old;
    }
    c->scr[slot].p = p;
    c->scr[slot].cap = cap;
    ig_log(INGOT_LOG_DEBUG, "cuda: scratch slot %d: %.1f MiB (device memory taken so far %.1f MiB)", slot,
           cap / 1048576.0, cu_taken(c) / 1048576.0);
    return p;
}

void *cu_scratch(cuda_ctx *c, int slot, size_t bytes) { return cu_scratch_ex(c, slot, bytes, false); }

size_t cu_taken(cuda_ctx *c) {
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) != cudaSuccess || f > c->free_at_start) return 0;
    return c->free_at_start - f;
}

/* ---- caches of converted activations -------------------------------------- */

static void inval_all(cuda_ctx *c) {
    q8_set(c, NULL, 0, NULL, 0);
    c->f16x_src = NULL;
}

void *cu_q8_other(cuda_ctx *c, const void *in) {
    void *a = c->scr[SCR_Q8].p, *b = c->scr[SCR_Q8B].p;
    return in == b ? a : b;
}

/* Both q8 buffers hold [n][cols] (neither is grown by a fused epilogue). */
static bool q8_fits(cuda_ctx *c, int n, int cols) {
    size_t need = q8_bytes(n, cols);
    return c->scr[SCR_Q8].p && c->scr[SCR_Q8B].p && c->scr[SCR_Q8].cap >= need && c->scr[SCR_Q8B].cap >= need;
}

/* ---- successor map (L2 prefetch) ---------------------------------------- */

static unsigned succ_slot(const void *key) {
    return (unsigned)((((uintptr_t)key >> 8) * 0x9E3779B97F4A7C15ull) >> 40) % SUCC_SLOTS;
}

const wsucc *cu_succ(cuda_ctx *c, const void *key) {
    if (!key) return NULL;
    for (unsigned i = succ_slot(key), k = 0; k < SUCC_SLOTS; k++, i = (i + 1) % SUCC_SLOTS) {
        if (c->succ[i].key == key) return c->succ[i].q ? &c->succ[i] : NULL;
        if (!c->succ[i].key) return NULL;
    }
    return NULL;
}

/* true: `key` is new (graphs recorded before miss its prefetch) */
static bool succ_put(cuda_ctx *c, const void *key, const ig_weight *w) {
    for (unsigned i = succ_slot(key), k = 0; k < SUCC_SLOTS; k++, i = (i + 1) % SUCC_SLOTS) {
        if (c->succ[i].key && c->succ[i].key != key) continue;
        bool fresh = !c->succ[i].key;
        qlayout L = ql_get(w->type);
        size_t nblk = (size_t)w->rows * (size_t)(w->cols / L.qk);
        wsucc *e = &c->succ[i];
        e->key = key;
        cu_weight_parts(w, &e->q, &e->s);
        e->qn = nblk * L.qn;
        e->sn = (size_t)w->rows * ql_srow(L, w->cols);
        return fresh;
    }
    return false;
}

/* Any free may unmap what a recorded successor points at. */
static void succ_clear(cuda_ctx *c) {
    memset(c->succ, 0, sizeof c->succ);
    c->last_w = NULL;
}

/* Memory [p, p+bytes) was (or will be) rewritten. */
static void wrote(cuda_ctx *c, const void *p, size_t bytes) {
    if (c->q8_src && cu_overlap(p, bytes, c->q8_src, c->q8_count * 4)) c->q8_src = NULL;
    if (c->f16x_src && cu_overlap(p, bytes, c->f16x_src, (size_t)c->f16x_n * c->f16x_cols * 4)) c->f16x_src = NULL;
}

/* ---- held-back matrix-vector products ---------------------------------------- */

static void flush_ropes(cuda_ctx *c) {
    for (int i = 0; i < c->n_rope_pend; i++) {
        const cuda_ctx::rope_op *r = &c->rope_pend[i];
        cu_rope(c, r->x, r->ld, r->n, r->n_head, r->head_dim, r->pos, &r->r);
    }
    c->n_rope_pend = 0;
}

static void flush_mv(cuda_ctx *c) {
    if (!c->pend_active) return;
    c->pend_active = false;
    mv_batch *b = &c->pend;
    cu_mv_launch(c, b);
    for (int i = 0; i < b->nd; i++) {
        const mv_desc *d = &b->d[i];
        wrote(c, d->out, (size_t)b->n * d->rows * 4);
        if (d->out2) wrote(c, d->out2, (size_t)b->n * d->rows * 4);
    }
}

/* The held rope + KV store, as its own kernel (the attention did not follow). */
static void flush_ra(cuda_ctx *c) {
    cu_rope_att *r = &c->ra;
    if (!r->on) return;
    r->on = false;
    cu_rope_kv(c, r->q, r->ld_q, r->n_head, (float *)r->k, r->v, r->ld_kv, 1, r->n_head_kv, r->hd, r->pos, &r->r, r->kc,
               r->vc, r->kv_type);
}

/* Held-back matmuls were issued before held-back ropes: launch in that
 * order. A held rope + KV store never coexists with held ropes (it took
 * them), and with held matmuls only when they are its Q/K/V (FUSE_QKVA:
 * the attention may still join their launch), which go first. */
static void flush(cuda_ctx *c) {
    if (c->emb.on) { /* the held embed: no RMSNorm of it followed */
        c->emb.on = false;
        cu_embed(c, c->emb.out, c->emb.t, c->emb.ids, 1);
    }
    /* pending (FUSE_BLK) norm / SwiGLU: nothing took them, run them */
    cu_pending_run(c, &c->dn, &c->dg);
    flush_mv(c);
    flush_ra(c);
    flush_ropes(c);
}

/* FUSE_QKVA: are the held matmuls (one token, reading a pending norm) the
 * Q/K/V whose output x is rotated now? Then they stay held: the attention
 * that follows may run in their launch. */
static bool qkv_held(cuda_ctx *c, const float *x) {
    const mv_batch *p = &c->pend;
    return (c->fuse & FUSE_QKVA) && c->pend_active && p->n == 1 && p->nd == 3 && p->nrm.on &&
           (x == p->d[0].out || x == p->d[1].out);
}

/* Every op that is not a matmul starts here. */
static cuda_ctx *op_begin(ig_backend *be) {
    cuda_ctx *c = CTX(be);
    flush(c);
    return c;
}

/* ---- device info ---------------------------------------------------------- */

static const char *cuda_device_name(ig_backend *be) { return CTX(be)->name; }

static size_t cuda_allocated(ig_backend *be) { return cu_taken((cuda_ctx *)be->ctx); }

static void cuda_memory(ig_backend *be, size_t *free_b, size_t *total_b) {
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) != cudaSuccess) f = t = 0;
    (void)be;
    *free_b = f;
    *total_b = t;
}

/* ---- memory ------------------------------------------------------------- */

static void *cuda_alloc(ig_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* out-of-memory is not sticky: clear it */
        ig_err(INGOT_ERR_NOMEM, "cuda: cannot allocate %zu bytes: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

static void drop_graphs(cuda_ctx *c) {
    for (int i = 0; i < c->n_graphs; i++) cudaGraphExecDestroy(c->graphs[i].exec);
    c->n_graphs = 0;
}

/* Freed memory may be what a recorded step points at (a context freed,
 * another made): forget every graph rather than replay into freed memory. */
static void cuda_dealloc(ig_backend *be, void *p) {
    cuda_ctx *c = op_begin(be);
    if (!p) return;
    inval_all(c);
    drop_graphs(c);
    succ_clear(c);
    CU_CHECK(c, cudaStreamSynchronize(c->stream));
    CU_CHECK(c, cudaFree(p));
}

/* The q8_1 activations go in k order (common.cuh xk_pos), which the
 * k-quant products read at their best, while every quantized weight
 * resident is a k-quant; the other types' products read the natural
 * order. d: +1 a weight of type t uploaded, -1 freed. */
static void xk_count(cuda_ctx *c, uint32_t t, int d) {
    const int qk = ql_get(t).qk; /* 1: a float type; 256: the k-quants */
    if (qk == 1) return;
    (qk == 256 ? c->n_wk : c->n_wq) += d;
    const bool xk = !c->xk_off && c->n_wk > 0 && c->n_wq == 0;
    if (xk == c->xk) return;
    c->xk = xk; /* what was quantized or recorded in the other order is stale */
    inval_all(c);
    drop_graphs(c);
}

static bool in_arena(cuda_ctx *c, const void *p) {
    return c->warena && (const uint8_t *)p >= c->warena && (const uint8_t *)p < c->warena + c->warena_cap;
}

/* A weight's memory: its own allocation, or one share of the arena. */
static void release_weight(cuda_ctx *c, void *p) {
    if (!in_arena(c, p)) {
        cudaFree(p);
        return;
    }
    if (--c->warena_live > 0) return;
    cudaFree(c->warena);
    c->warena = NULL;
    c->warena_cap = c->warena_used = 0;
}

static ingot_status cuda_weights_reserve(ig_backend *be, const ig_weight *ws, int n) {
    cuda_ctx *c = op_begin(be);
    if (c->warena) return INGOT_OK; /* one model per arena */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        qlayout L = ql_get(ws[i].type);
        if (!L.qk || ws[i].cols % L.qk || ws[i].rows <= 0) continue; /* upload will say why */
        total += (ql_bytes(L, ws[i].rows, ws[i].cols) + 255) & ~(size_t)255;
    }
    if (!total) return INGOT_OK;
    void *p = NULL;
    if (cudaMalloc(&p, total) != cudaSuccess) {
        cudaGetLastError();
        return ig_err(INGOT_ERR_NOMEM, "cuda: cannot reserve %.1f MiB for the weights", total / 1048576.0);
    }
    c->warena = (uint8_t *)p;
    c->warena_cap = total;
    c->warena_used = 0;
    c->warena_live = 0;
    return INGOT_OK;
}

static ingot_status cuda_weight_upload(ig_backend *be, ig_weight *w, const void *host) {
    cuda_ctx *c = op_begin(be);
    if ((size_t)w->rows * (size_t)w->cols > c->max_w_elems) c->max_w_elems = (size_t)w->rows * (size_t)w->cols;
    qlayout L = ql_get(w->type);
    if (!L.qk) {
        const char *tn = ingot_type_name(w->type);
        return ig_err(INGOT_ERR_UNSUPPORTED, "cuda: tensor type %s not supported", tn ? tn : "?");
    }
    if (w->cols % L.qk) return ig_err(INGOT_ERR_INVALID_ARG, "cuda: row of %lld values is not whole blocks",
                                      (long long)w->cols);
    size_t nblk = (size_t)w->rows * (size_t)(w->cols / L.qk), bytes = nblk * L.bs;
    if (w->nbytes && w->nbytes != bytes)
        return ig_err(INGOT_ERR_INVALID_ARG, "cuda: weight of %zu bytes, expected %zu", w->nbytes, bytes);
    const size_t dev_bytes = ql_bytes(L, w->rows, w->cols), taken = (dev_bytes + 255) & ~(size_t)255;
    uint8_t *d = NULL;
    if (c->warena && c->warena_used + taken <= c->warena_cap) {
        d = c->warena + c->warena_used;
        c->warena_used += taken;
        c->warena_live++;
    } else {
        d = (uint8_t *)cuda_alloc(be, dev_bytes);
    }
    if (!d) return INGOT_ERR_NOMEM;
    if (L.qn == L.bs) {
        CU_CHECK(c, cudaMemcpyAsync(d, host, bytes, cudaMemcpyHostToDevice, c->stream));
    } else {
        /* Stage whole rows (q4_0's reorder takes two blocks of a row for
         * each), at least one, then split them into the Q and S arrays. */
        const size_t nbr = (size_t)(w->cols / L.qk), stage_rows = nbr ? ((size_t)32 << 20) / L.bs / nbr : 1;
        size_t sblk = (stage_rows ? stage_rows : 1) * nbr;
        if (sblk > nblk) sblk = nblk;
        uint8_t *st = (uint8_t *)cuda_alloc(be, sblk * L.bs);
        if (!st) {
            release_weight(c, d);
            return INGOT_ERR_NOMEM;
        }
        CU_CHECK(c, cudaMemsetAsync(d + nblk * L.qn, 0, (size_t)w->rows * ql_srow(L, w->cols), c->stream));
        for (size_t b0 = 0; b0 < nblk && c->err == INGOT_OK; b0 += sblk) {
            size_t nb = nblk - b0 < sblk ? nblk - b0 : sblk;
            CU_CHECK(c, cudaMemcpyAsync(st, (const uint8_t *)host + b0 * L.bs, nb * L.bs, cudaMemcpyHostToDevice,
                                        c->stream));
            cu_repack(c, d, d + nblk * L.qn, st, b0, nb, L, (int)(w->cols / L.qk), w->type);
            CU_CHECK(c, cudaStreamSynchronize(c->stream));
        }
        cudaFree(st);
    }
    CU_CHECK(c, cudaStreamSynchronize(c->stream));
    ingot_status s = take_err(c);
    if (s != INGOT_OK) {
        release_weight(c, d);
        return s;
    }
    w->data = d;
    w->extra = NULL;
    xk_count(c, w->type, 1);
    return INGOT_OK;
}

static void cuda_weight_free(ig_backend *be, ig_weight *w) {
    if (!w->data) return;
    cuda_ctx *c = op_begin(be);
    xk_count(c, w->type, -1);
    if (in_arena(c, w->data)) {
        /* as cuda_dealloc: graphs and caches may refer to it */
        inval_all(c);
        drop_graphs(c);
        succ_clear(c);
        CU_CHECK(c, cudaStreamSynchronize(c->stream));
        release_weight(c, w->data);
    } else {
        cuda_dealloc(be, w->data);
    }
    w->data = NULL;
}

/* Small uploads (a step's token ids and positions) are copied into pinned
 * memory and queued without waiting: the stream orders them before the
 * step that reads them, and the host does not stall twice per token
 * (stories260K tg256 on H100: ~9,400 -> ~10,700 t/s; a 7B step is long
 * enough that it does not show). The staging area is reused from its
 * start after each synchronization. */
#define STAGE_BYTES 65536
#define STAGE_MAX 4096

/* Wait for the stream; everything staged has been copied by then. */
static void stream_sync(cuda_ctx *c) {
    CU_CHECK(c, cudaStreamSynchronize(c->stream));
    c->stage_used = 0;
}

static ingot_status cuda_upload(ig_backend *be, void *dst, const void *src, size_t n) {
    cuda_ctx *c = op_begin(be);
    wrote(c, dst, n);
    if (c->stage_on && !c->capturing && n <= STAGE_MAX) {
        if (!c->stage && cudaMallocHost((void **)&c->stage, STAGE_BYTES) != cudaSuccess) {
            cudaGetLastError();
            c->stage = NULL;
            c->stage_on = false; /* pageable copies below, as before */
        }
        if (c->stage) {
            if (c->stage_used + n > STAGE_BYTES) stream_sync(c);
            uint8_t *p = c->stage + c->stage_used;
            memcpy(p, src, n);
            CU_CHECK(c, cudaMemcpyAsync(dst, p, n, cudaMemcpyHostToDevice, c->stream));
            c->stage_used += (n + 15) & ~(size_t)15;
            return take_err(c);
        }
    }
    CU_CHECK(c, cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c->stream));
    stream_sync(c); /* src is the caller's to reuse on return */
    return take_err(c);
}

static ingot_status cuda_download(ig_backend *be, void *dst, const void *src, size_t n) {
    cuda_ctx *c = op_begin(be);
    CU_CHECK(c, cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, c->stream));
    stream_sync(c);
    return take_err(c);
}

/* The next greedy step's input from this one's argmax, on the device; the
 * id also goes straight into mapped host memory (no copy in the stream). */
static __global__ void k_greedy_next(int32_t *ids, int32_t *pos, const int32_t *amax, int32_t next,
                                     volatile int32_t *host) {
    const int32_t v = *amax;
    ids[0] = v;
    pos[0] = next;
    *host = v;
}

static bool cuda_greedy_next(ig_backend *be, int32_t *ids, int32_t *pos, const int32_t *argmax, int32_t next_pos) {
    cuda_ctx *c = op_begin(be);
    if (c->capturing || c->err != INGOT_OK) return false;
    if (!c->gid) {
        if (cudaHostAlloc((void **)&c->gid, 64, cudaHostAllocMapped) != cudaSuccess) c->gid = NULL;
        if (c->gid && cudaEventCreateWithFlags(&c->gev, cudaEventDisableTiming) != cudaSuccess) {
            cudaFreeHost(c->gid);
            c->gid = NULL, c->gev = NULL;
        }
        if (!c->gid) {
            cudaGetLastError();
            return false;
        }
    }
    int32_t *dgid = NULL;
    if (cudaHostGetDevicePointer((void **)&dgid, c->gid, 0) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    wrote(c, ids, 4);
    wrote(c, pos, 4);
    k_greedy_next<<<1, 1, 0, c->stream>>>(ids, pos, argmax, next_pos, dgid);
    CU_LAUNCHED(c);
    CU_CHECK(c, cudaEventRecord(c->gev, c->stream));
    return true;
}

static ingot_status cuda_greedy_wait(ig_backend *be, int32_t *id) {
    cuda_ctx *c = op_begin(be);
    CU_CHECK(c, cudaEventSynchronize(c->gev));
    *id = *(volatile int32_t *)c->gid;
    return take_err(c);
}

static ingot_status cuda_sync(ig_backend *be) {
    cuda_ctx *c = op_begin(be);
    if (!c->capturing) stream_sync(c);
    return take_err(c);
}

/* ---- ops --------------------------------------------------------------------- */

static bool f32_vec(cuda_ctx *c, const ig_weight *w, const char *what) {
    if (w && w->type != IG_TYPE_F32) {
        cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, what);
        return false;
    }
    return true;
}

static void cuda_embed(ig_backend *be, float *out, const ig_weight *t, const int32_t *ids, int n) {
    cuda_ctx *c = op_begin(be);
    inval_all(c);
    /* a forward starts here: decode steps and prefill get their own split */
    c->carveout_now = n <= MV_MAXN ? c->carveout_dec : c->carveout;
    if (n == 1 && c->emb_norm) {
        c->emb.on = true, c->emb.out = out, c->emb.t = t, c->emb.ids = ids;
        return;
    }
    cu_embed(c, out, t, ids, n);
}

static void cuda_rms_norm(ig_backend *be, float *out, const float *x, const ig_weight *w, int n, int d,
                          float eps) {
    cuda_ctx *c = CTX(be);
    mv_batch *p = &c->pend;
    /* FUSE_BLK: the held residual launch (one CTA per 32 rows) writes
     * q8_1(sum * w) and the sums of squares; the norm stays pending for
     * the matmuls that read `out` */
    if ((c->fuse & FUSE_BLK) && c->pend_active && p->nd == 1 && p->d[0].out2 == x && p->epi.kind == EPI_NONE &&
        n == 1 && p->n == 1 && p->d[0].rows == d && w && w->type == IG_TYPE_F32 && q8_fits(c, 1, d) &&
        cu_mv_blk_ok(c, p)) {
        p->epi.kind = EPI_NQ;
        p->epi.w = (const float *)w->data;
        flush(c);
        inval_all(c);
        cu_dnorm *dn = &c->dn;
        dn->on = true;
        dn->out = out, dn->x = x, dn->w = (const float *)w->data, dn->eps = eps, dn->d = d;
        dn->q8 = cu_q8_other(c, c->pend_in_q8);
        dn->write = true;
        return;
    }
    if (c->emb.on && c->emb.out == x && n == 1 && w && w->type == IG_TYPE_F32) {
        /* the held embed and this norm as one kernel */
        c->emb.on = false;
        op_begin(be);
        inval_all(c);
        if (cu_embed_norm(c, (float *)x, out, c->emb.t, c->emb.ids, (const float *)w->data, d, eps)) return;
        cu_embed(c, (float *)x, c->emb.t, c->emb.ids, 1);
    }
    op_begin(be);
    inval_all(c);
    if (!f32_vec(c, w, "rms_norm: weight must be F32")) return;
    cu_rms_norm(c, out, x, (const float *)w->data, NULL, n, d, eps, false, true);
}

static void cuda_layer_norm(ig_backend *be, float *out, const float *x, const ig_weight *w, const ig_weight *b,
                            int n, int d, float eps) {
    cuda_ctx *c = op_begin(be);
    inval_all(c);
    if (!f32_vec(c, w, "layer_norm: weight must be F32") || !f32_vec(c, b, "layer_norm: bias must be F32")) return;
    cu_rms_norm(c, out, x, (const float *)w->data, b ? (const float *)b->data : NULL, n, d, eps, true, true);
}

static void cuda_matmul(ig_backend *be, float *out, const ig_weight *w, const ig_weight *bias, const float *x,
                        int n) {
    cuda_ctx *c = CTX(be);
    if (n <= 0 || w->rows <= 0) return;
    qlayout L = ql_get(w->type);
    if (!L.qk || w->cols % L.qk) {
        flush(c);
        cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, "matmul: weight type or shape");
        return;
    }
    if (!f32_vec(c, bias, "matmul: bias must be F32")) return;
    const int rows = (int)w->rows, cols = (int)w->cols;
    const float *bp = bias ? (const float *)bias->data : NULL;
    /* only the (optional) attention prefetch reads the successors; graphs are
     * re-recorded for a new one only then */
    if (c->last_w && c->last_w != w->data && succ_put(c, c->last_w, w) && c->pf_att) c->succ_dirty = true;
    c->last_w = w->data;
    /* quantized activations need whole 32-blocks */
    bool mv_ok = L.qk == 1 || cols % 32 == 0;
    if (n > MV_MAXN) {
        flush(c);
        if (cu_mm_launch(c, out, w, bias, x, n)) {
            wrote(c, out, (size_t)n * rows * 4);
            return;
        }
    }
    if (!mv_ok) {
        flush(c);
        cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, "matmul: row length");
        return;
    }
    const uint8_t *Q, *S;
    cu_weight_parts(w, &Q, &S);
    if (n > MV_MAXN) {
        /* no tensor-core path: columns of MV_MAXN tokens at a time */
        for (int i0 = 0; i0 < n; i0 += MV_MAXN) {
            int ni = n - i0 < MV_MAXN ? n - i0 : MV_MAXN;
            mv_batch b;
            memset(&b, 0, sizeof b);
            b.nd = 1;
            b.type = w->type;
            b.cols = cols;
            b.n = ni;
            b.x = x + (size_t)i0 * cols;
            b.d[0].q = Q;
            b.d[0].s = S;
            b.d[0].bias = bp;
            b.d[0].out = out + (size_t)i0 * rows;
            b.d[0].rows = rows;
            cu_mv_launch(c, &b);
        }
        wrote(c, out, (size_t)n * rows * 4);
        return;
    }
    mv_batch *p = &c->pend;
    /* one token: a second weight type may follow the first in one launch */
    bool mix = n == 1 && c->mv_mix && c->pend_active && !p->type2 &&
               p->type != w->type && cu_mv_pair_ok(p->type, w->type);
    bool same = p->type2 ? p->type2 == w->type : p->type == w->type;
    bool join = c->pend_active && !p->closed && p->x == x && p->n == n && (same || mix) && p->cols == cols &&
                p->nd < MV_MAXDESC && !cu_overlap(out, (size_t)n * rows * 4, x, (size_t)n * cols * 4);
    if (join && mix) {
        p->type2 = w->type;
        p->nd1 = p->nd;
    }
    if (!join) {
        /* a pending norm / SwiGLU whose output this reads goes with it */
        cu_dnorm dn = c->dn;
        cu_dglu dg = c->dg;
        const bool qt = L.qk > 1;
        dn.on = dn.on && x == dn.out && n == 1 && qt;
        dg.on = dg.on && x == dg.out && n == 1 && qt;
        if (dn.on) c->dn.on = false;
        if (dg.on) c->dg.on = false;
        flush(c);
        /* or the q8_1 the products of a norm left (mixed types: Q/K/V of
         * a Q4_K_M file are q4_K, q4_K, q6_K) */
        if (!dn.on && c->q8_sc.on && x == c->q8_src && n == 1 && qt && cols == c->q8_sc.d) dn = c->q8_sc;
        memset(p, 0, sizeof *p);
        p->nrm = dn;
        p->glu = dg;
        p->type = w->type;
        p->cols = cols;
        p->n = n;
        p->x = x;
        c->pend_active = true;
    }
    mv_desc *d = &p->d[p->nd++];
    d->q = Q;
    d->s = S;
    d->bias = bp;
    d->out = out;
    d->rows = rows;
}

static void cuda_add(ig_backend *be, float *out, const float *a, const float *b, size_t count) {
    cuda_ctx *c = CTX(be);
    mv_batch *p = &c->pend;
    if (c->pend_active && p->nd == 1 && !p->closed && !p->d[0].out2 && count == (size_t)p->n * p->d[0].rows) {
        mv_desc *d = &p->d[0];
        const float *res = b == d->out ? a : (a == d->out ? b : NULL);
        /* the epilogue may not write what the kernel still reads as input */
        if (res && res != d->out && !cu_overlap(out, count * 4, p->x, (size_t)p->n * p->cols * 4)) {
            d->res = res;
            d->out2 = out;
            /* held: an rms_norm of the sum may still join the launch */
            if (c->fuse & FUSE_BLK) p->closed = true;
            else flush(c);
            return;
        }
    }
    flush(c);
    wrote(c, out, count * 4);
    cu_add(c, out, a, b, count);
}

/* rope(q), rope(k) are held back: the kv_store that usually follows does
 * all three in one launch. */
static void cuda_rope(ig_backend *be, float *x, int ld, int n, int n_head, int head_dim, const int32_t *pos,
                      const ig_rope *r) {
    cuda_ctx *c = CTX(be);
    if (c->dn.on || c->dg.on) flush(c); /* a pending norm / SwiGLU runs first */
    flush_ra(c);
    if (c->pend_active && !qkv_held(c, x)) flush(c); /* matmuls first: they produce x */
    inval_all(c);
    bool ok = r->n_rot % 2 == 0 && r->n_rot <= head_dim && head_dim % 2 == 0;
    if (c->n_rope_pend == 2 || !ok ||
        (c->n_rope_pend == 1 && (c->rope_pend[0].n != n || c->rope_pend[0].head_dim != head_dim ||
                                 c->rope_pend[0].pos != pos || memcmp(&c->rope_pend[0].r, r, sizeof *r))))
        flush(c);
    if (!ok) {
        cu_rope(c, x, ld, n, n_head, head_dim, pos, r);
        return;
    }
    cuda_ctx::rope_op *o = &c->rope_pend[c->n_rope_pend++];
    o->x = x, o->ld = ld, o->n = n, o->n_head = n_head, o->head_dim = head_dim, o->pos = pos, o->r = *r;
}

static void cuda_kv_store(ig_backend *be, void *kc, void *vc, const float *k, const float *v, int ld, int n,
                          int kv_dim, const int32_t *pos, const ig_attn *a) {
    cuda_ctx *c = CTX(be);
    if (c->dn.on || c->dg.on) flush(c); /* a pending norm / SwiGLU runs first */
    /* matmuls first (unless they are Q/K/V the attention may join); held
     * ropes stay for the rope + KV store kernel */
    flush_ra(c);
    if (c->pend_active && !qkv_held(c, k)) flush_mv(c);
    /* the last held-back rope must be this k's, the one before (if any) q's */
    int nr = c->n_rope_pend;
    if (nr > 0) {
        const cuda_ctx::rope_op *rk = &c->rope_pend[nr - 1];
        const cuda_ctx::rope_op *rq = nr == 2 ? &c->rope_pend[0] : NULL;
        if (rk->x == k && rk->ld == ld && rk->n == n && rk->pos == pos && rk->n_head * rk->head_dim == kv_dim &&
            rk->head_dim == a->head_dim && v && !cu_overlap(v, (size_t)n * ld * 4, k, (size_t)n * ld * 4)) {
            c->n_rope_pend = 0;
            const int hd = rk->head_dim;
            /* one token, q's rotation alike: hold all of it for the attention */
            if ((c->fuse & FUSE_ROPE_ATT) && n == 1 && rq && rq->n == 1 && rq->pos == pos && rq->head_dim == hd &&
                !memcmp(&rq->r, &rk->r, sizeof rk->r) && rk->r.mode == IG_ROPE_NORMAL && rk->r.n_rot % 2 == 0 &&
                rk->r.n_rot <= hd && (hd == 64 || hd == 128 || hd == 256) && ld % 4 == 0 && rq->ld % 4 == 0 &&
                ((uintptr_t)rq->x | (uintptr_t)rk->x | (uintptr_t)v) % 16 == 0 && /* vector loads */
                (a->kv_type == INGOT_KV_F16 || a->kv_type == INGOT_KV_F32)) {
                cu_rope_att *r = &c->ra;
                r->on = true;
                r->q = rq->x, r->ld_q = rq->ld, r->n_head = rq->n_head;
                r->k = rk->x, r->v = v, r->ld_kv = ld, r->n_head_kv = rk->n_head, r->hd = hd;
                r->pos = pos, r->kc = kc, r->vc = vc, r->kv_type = a->kv_type;
                r->r = rk->r, r->n_rot = rk->r.n_rot;
                r->theta_scale = powf(rk->r.freq_base, -2.0f / (float)rk->r.n_rot);
                r->freq_scale = rk->r.freq_scale;
                return;
            }
            flush_mv(c);
            cu_rope_kv(c, rq ? rq->x : NULL, rq ? rq->ld : 0, rq ? rq->n_head : 0, rk->x, v, ld, n, rk->n_head,
                       rk->head_dim, pos, &rk->r, kc, vc, a->kv_type);
            return;
        }
    }
    flush(c);
    cu_kv_store(c, kc, vc, k, v, ld, n, kv_dim, pos, a->kv_type);
}

/* FUSE_QKVA: the held Q/K/V launch takes the attention (held rope + KV
 * store r) when they are its q, k, v, the step is in the short length
 * phase and the cache is f16 (attn_qkv.cuh). False: nothing changed. */
static bool qkv_att(cuda_ctx *c, float *out, const ig_attn *a, const cu_rope_att *r) {
    mv_batch *p = &c->pend;
    const int hd = a->head_dim, cols = a->n_head * hd, kvd = a->n_head_kv * hd;
    if (!(c->fuse & FUSE_QKVA) || !c->aq_tag || !c->pend_active || p->n != 1 || p->nd != 3 || p->d[0].out != r->q ||
        p->d[1].out != r->k || p->d[2].out != r->v || a->kv_type != INGOT_KV_F16 || a->max_len <= 0 ||
        a->max_len > c->att_single || a->n_head_kv > AQ_NCNT || cols + 2 * kvd > AQ_TAGMAX || !p->nrm.on ||
        a->n_head > 4 * c->n_sm) /* the attention CTAs wait for products: most slots stay free for those */
        return false;
    att_fuse *f = &p->att;
    memset(f, 0, sizeof *f);
    f->pos = r->pos, f->kc = r->kc, f->vc = r->vc, f->out = out, f->vout = (float *)r->v, f->tag = c->aq_tag;
    f->n_head = a->n_head, f->nkv = a->n_head_kv, f->group = a->n_head / a->n_head_kv, f->hd = hd;
    f->cph_sh = hd == 64 ? 4 : hd == 128 ? 5 : 6, f->nq = cols / 4;
    f->npoll = a->n_head;
    f->n_rot = r->n_rot, f->theta_scale = r->theta_scale, f->freq_scale = r->freq_scale, f->scale = a->scale;
    f->cnt = c->cnt + NCNT - AQ_NCNT;
    f->pf = c->aq_pf;
    if (!cu_mv_att_ok(p)) return false;
    f->scr = (float *)cu_scratch(c, SCR_ATTN, (size_t)a->n_head * aq_stride(hd) * sizeof(float));
    if (!f->scr) return false;
    void *qb = NULL;
    if ((c->fuse & FUSE_ATTN) && q8_fits(c, 1, cols)) {
        qb = cu_q8_other(c, p->nrm.q8); /* not the one Q/K/V read */
        f->xq = (int8_t *)qb, f->ds = q8_ds(qb, 1, cols), f->xc = cu_xc(c, cols);
    }
    /* the products write where the attention CTAs poll; v reaches its
     * buffer through them */
    p->d[0].out = c->aq_tag, p->d[1].out = c->aq_tag + cols, p->d[2].out = c->aq_tag + cols + kvd;
    f->on = true;
    flush(c);
    inval_all(c);
    wrote(c, r->v, (size_t)kvd * 4);
    if (qb) q8_set(c, out, (size_t)cols, qb, f->xc);
    return true;
}

static void cuda_attention(ig_backend *be, float *out, const float *q, int ld_q, const void *kc, const void *vc,
                           int n, const int32_t *pos, const ig_attn *a) {
    cuda_ctx *c = CTX(be);
    cu_rope_att *r = &c->ra;
    if (r->on && n == 1 && q == r->q && ld_q == r->ld_q && kc == r->kc && vc == r->vc && pos == r->pos &&
        a->head_dim == r->hd && a->n_head == r->n_head && a->n_head_kv == r->n_head_kv && a->kv_type == r->kv_type) {
        r->on = false;
        if (qkv_att(c, out, a, r)) return;
        op_begin(be);
        inval_all(c);
        cu_attention(c, out, q, ld_q, kc, vc, n, pos, a, r);
        return;
    }
    op_begin(be);
    inval_all(c);
    cu_attention(c, out, q, ld_q, kc, vc, n, pos, a, NULL);
}

static void cuda_swiglu(ig_backend *be, float *out, const float *gate, const float *up, size_t count) {
    cuda_ctx *c = op_begin(be);
    inval_all(c);
    if (c->fuse & FUSE_BLK) { /* the down projection that reads out may take it */
        c->dg.on = true;
        c->dg.out = out, c->dg.g = gate, c->dg.u = up, c->dg.count = count;
        return;
    }
    cu_swiglu(c, out, gate, up, count, true);
}

static void cuda_gelu(ig_backend *be, float *x, size_t count) {
    cuda_ctx *c = op_begin(be);
    inval_all(c);
    cu_gelu(c, x, count);
}

static void cuda_argmax(ig_backend *be, int32_t *out, const float *x, int n) {
    cuda_ctx *c = op_begin(be);
    wrote(c, out, 4);
    cu_argmax(c, out, x, n);
}

static void cuda_penalize(ig_backend *be, float *x, int n_vocab, const int32_t *ids, int n, float penalty) {
    cuda_ctx *c = op_begin(be);
    wrote(c, x, (size_t)n_vocab * 4);
    cu_penalize(c, x, ids, n, n_vocab, penalty);
}

static void cuda_topk(ig_backend *be, int32_t *out, const float *x, int n, int k) {
    cuda_ctx *c = op_begin(be);
    wrote(c, out, (size_t)k * 8);
    cu_topk(c, out, x, n, k);
}

/* ---- CUDA graphs -------------------------------------------------------------- */

static int graph_find(cuda_ctx *c, int key) {
    for (int i = 0; i < c->n_graphs; i++)
        if (c->graphs[i].key == key) return i;
    return -1;
}

static bool cuda_graph_replay(ig_backend *be, int key) {
    cuda_ctx *c = op_begin(be);
    if (c->capturing || c->err != INGOT_OK) return false;
    if (c->succ_dirty) {
        /* steps recorded while the weight order was still being learned
         * lack their prefetches: record them again (once per new weight set) */
        c->succ_dirty = false;
        CU_CHECK(c, cudaStreamSynchronize(c->stream));
        drop_graphs(c);
        return false;
    }
    int i = graph_find(c, key);
    if (i < 0) return false;
    inval_all(c);
    CU_CHECK(c, cudaGraphLaunch(c->graphs[i].exec, c->stream));
    return true;
}

static void cuda_capture_begin(ig_backend *be, int key) {
    cuda_ctx *c = op_begin(be);
    if (c->capturing || c->err != INGOT_OK) return;
    inval_all(c);
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed);
    if (e != cudaSuccess) {
        /* run uncaptured rather than fail the step */
        cudaGetLastError();
        return;
    }
    c->capturing = true;
    c->capture_key = key;
}

static void cuda_capture_end(ig_backend *be, int key) {
    cuda_ctx *c = op_begin(be);
    if (!c->capturing) return;
    c->capturing = false;
    inval_all(c);
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (e != cudaSuccess || c->err != INGOT_OK || key != c->capture_key) {
        /* The recorded ops never ran; the step is lost and sync says why. */
        if (e != cudaSuccess) cu_fail(c, INGOT_ERR_BACKEND, __FILE__, __LINE__, cudaGetErrorString(e));
        if (g) cudaGraphDestroy(g);
        return;
    }
    cudaGraphExec_t ex = NULL;
    e = cudaGraphInstantiate(&ex, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        cu_fail(c, INGOT_ERR_BACKEND, __FILE__, __LINE__, cudaGetErrorString(e));
        return;
    }
    int i = graph_find(c, key);
    if (i < 0) {
        if (c->n_graphs == MAX_GRAPHS) {
            cudaGraphExecDestroy(c->graphs[0].exec);
            memmove(&c->graphs[0], &c->graphs[1], sizeof c->graphs[0] * (MAX_GRAPHS - 1));
            c->n_graphs--;
        }
        i = c->n_graphs++;
        c->graphs[i].key = key;
    } else {
        cudaGraphExecDestroy(c->graphs[i].exec);
    }
    c->graphs[i].exec = ex;
    ig_log(INGOT_LOG_DEBUG, "cuda: graph %d recorded, device memory taken %.1f MiB", key, cu_taken(c) / 1048576.0);
    /* capture only recorded the step: run it now */
    CU_CHECK(c, cudaGraphLaunch(ex, c->stream));
}

/* Decode attention takes a path of its own while every sequence is at most
 * att_single long (one CTA per head, keys staged in shared memory): two
 * phases, so a recorded step never meets a length it was not made for. */
static int cuda_len_phase(ig_backend *be, int len, int *bound) {
    cuda_ctx *c = CTX(be);
    if (c->att_single > 0 && len <= c->att_single) {
        *bound = c->att_single;
        return 1;
    }
    *bound = 0;
    return 0;
}

/* ---- measured bandwidth ------------------------------------------------------ */

/* Device-to-device copy of 512 MiB, bytes read plus written, the fastest
 * of 7 after three warm-up copies; measured once. The fastest, not the
 * median: the floor is what the memory can do, and in one run the median
 * came out 8% below what the same card measured a minute earlier (NOTES
 * v16). */
static double cuda_bandwidth(ig_backend *be) {
    cuda_ctx *c = op_begin(be);
    if (c->bw > 0) return c->bw;
    if (c->capturing) return 0;
    const size_t sz = (size_t)512 << 20;
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    double t[7];
    int nt = 0;
    if (cudaMalloc(&a, sz) == cudaSuccess && cudaMalloc(&b, sz) == cudaSuccess &&
        cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess) {
        cudaMemsetAsync(a, 1, sz, c->stream);
        for (int i = 0; i < 3; i++) cudaMemcpyAsync(b, a, sz, cudaMemcpyDeviceToDevice, c->stream);
        for (int i = 0; i < 7; i++) {
            cudaEventRecord(e0, c->stream);
            cudaMemcpyAsync(b, a, sz, cudaMemcpyDeviceToDevice, c->stream);
            cudaEventRecord(e1, c->stream);
            float ms = 0;
            if (cudaEventSynchronize(e1) != cudaSuccess || cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess) break;
            t[nt++] = ms;
        }
    }
    cudaGetLastError(); /* a failed allocation here is not the caller's error */
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    if (nt < 7) return 0;
    double best = t[0];
    for (int i = 1; i < nt; i++) best = t[i] < best ? t[i] : best;
    c->bw = 2.0 * (double)sz / (best * 1e-3);
    return c->bw;
}

/* ---- lifetime ------------------------------------------------------------------- */

static void cuda_destroy(ig_backend *be) {
    if (!be) return;
    cuda_ctx *c = CTX(be);
    if (c) {
        if (c->capturing) {
            cudaGraph_t g = NULL;
            cudaStreamEndCapture(c->stream, &g);
            if (g) cudaGraphDestroy(g);
        }
        flush(c);
        if (c->stream) cudaStreamSynchronize(c->stream);
        for (int i = 0; i < c->n_graphs; i++) cudaGraphExecDestroy(c->graphs[i].exec);
        cu_cublas_free(c->cublas);
        cudaFree(c->cnt);
        cudaFree(c->aq_tag);
        for (int i = 0; i < SCR_COUNT; i++) cudaFree(c->scr[i].p);
        for (int i = 0; i < c->n_retired; i++) cudaFree(c->retired[i]);
        cudaFree(c->warena);
        if (c->stage) cudaFreeHost(c->stage);
        if (c->gid) cudaFreeHost(c->gid);
        if (c->gev) cudaEventDestroy(c->gev);
        cudaFree(c->tk);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

/* Filled by name at first use, so fields appended to the table later
 * stay NULL ("not provided") instead of shifting. */
static ig_backend_iface cuda_iface;

static void iface_init(void) {
    ig_backend_iface *f = &cuda_iface;
    f->name = "cuda";
    f->destroy = cuda_destroy;
    f->device_name = cuda_device_name;
    f->memory = cuda_memory;
    f->allocated = cuda_allocated;
    f->alloc = cuda_alloc;
    f->dealloc = cuda_dealloc;
    f->weight_upload = cuda_weight_upload;
    f->weights_reserve = cuda_weights_reserve;
    f->weight_free = cuda_weight_free;
    f->upload = cuda_upload;
    f->download = cuda_download;
    f->sync = cuda_sync;
    f->embed = cuda_embed;
    f->rms_norm = cuda_rms_norm;
    f->layer_norm = cuda_layer_norm;
    f->matmul = cuda_matmul;
    f->add = cuda_add;
    f->rope = cuda_rope;
    f->kv_store = cuda_kv_store;
    f->attention = cuda_attention;
    f->swiglu = cuda_swiglu;
    f->gelu = cuda_gelu;
    f->argmax = cuda_argmax;
    f->bandwidth = cuda_bandwidth;
    f->graph_replay = cuda_graph_replay;
    f->len_phase = cuda_len_phase;
    f->capture_begin = cuda_capture_begin;
    f->capture_end = cuda_capture_end;
    f->greedy_next = getenv("INGOT_CUDA_NO_AHEAD") ? NULL : cuda_greedy_next; /* A/B: NOTES v16 */
    f->greedy_wait = cuda_greedy_wait;
    f->penalize = cuda_penalize;
    f->topk = getenv("INGOT_CUDA_NO_TOPK") ? NULL : cuda_topk; /* A/B: every logit back */
}

#ifdef INGOT_CUDA_TRACE
void cu_trace_set(void *p) {
    cu_trace_set_matvec(p);
    cu_trace_set_matmul(p);
    cu_trace_set_norm(p);
    cu_trace_set_attention(p);
}
#endif

static __global__ void k_probe(int *p) { *p = 42; }

extern "C" bool ig_backend_cuda_compiled(void) { return true; }

extern "C" ingot_status ig_backend_cuda_new(int device, ig_backend **out) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
        cudaGetLastError();
        return ig_err(INGOT_ERR_BACKEND, "cuda: no CUDA device");
    }
    if (e == cudaErrorInsufficientDriver) {
        cudaGetLastError();
        return ig_err(INGOT_ERR_BACKEND, "cuda: no driver, or driver too old for CUDA %d.%d",
                      CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        return ig_err(INGOT_ERR_BACKEND, "cuda: %s", cudaGetErrorString(e));
    }
    if (device < 0 || device >= n)
        return ig_err(INGOT_ERR_BACKEND, "cuda: device %d does not exist (%d device%s)", device, n, n == 1 ? "" : "s");
    cudaDeviceProp prop;
    if ((e = cudaSetDevice(device)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess)
        return ig_err(INGOT_ERR_BACKEND, "cuda: device %d: %s", device, cudaGetErrorString(e));
    if (prop.major * 10 + prop.minor < 61)
        return ig_err(INGOT_ERR_BACKEND, "cuda: %s has compute capability %d.%d, ingot needs 6.1", prop.name,
                      prop.major, prop.minor);

    ig_backend *be = (ig_backend *)calloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return ig_err(INGOT_ERR_NOMEM, "cuda: cannot allocate the backend");
    }
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, iface_init);
    be->iface = &cuda_iface;
    be->ctx = c;
    c->device = device;
    c->n_sm = prop.multiProcessorCount;
    /* INGOT_CUDA_NO_PDL: A/B switch for measurements */
    c->pdl = prop.major >= 9 && !getenv("INGOT_CUDA_NO_PDL");
    {
        const char *e2 = getenv("INGOT_CUDA_MV_SMEM");
        /* off by default: measured slower on H100 (bench/cuda/NOTES.md v6) */
        c->mv_smem = prop.major >= 8 && e2 && atoi(e2) == 1;
    }

    snprintf(c->name, sizeof c->name, "%s", prop.name);
    /* The driver's context exists from here on (cudaFree(0) forces it):
     * what is free now is the baseline for `allocated`. */
    cudaFree(0);
    size_t fr0 = 0, tot0 = 0;
    cudaMemGetInfo(&fr0, &tot0);
    c->free_at_start = fr0;
    {
        /* INGOT_CUDA_MM_CHUNK_MB: the f16 dequantization tile for prefill
         * (default 64 MiB; see matmul.cu) */
        const char *e2 = getenv("INGOT_CUDA_MM_CHUNK_MB");
        double mb = e2 ? atof(e2) : 64.0;
        if (!(mb >= 0.001)) mb = 0.001; /* tiny tiles: tests of the chunking */
        c->mm_chunk = (size_t)(mb * 1048576.0) / sizeof(__half);
    }
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        cuda_destroy(be);
        return ig_err(INGOT_ERR_BACKEND, "cuda: %s", cudaGetErrorString(e));
    }
    /* A kernel must actually run: catches binaries built for other GPUs. */
    int *probe = (int *)cu_scratch(c, SCR_Q8, q8_bytes(MV_MAXN, 32768));
    int got = 0;
    if (probe) {
        k_probe<<<1, 1, 0, c->stream>>>(probe);
        CU_LAUNCHED(c);
        CU_CHECK(c, cudaMemcpyAsync(&got, probe, sizeof got, cudaMemcpyDeviceToHost, c->stream));
        CU_CHECK(c, cudaStreamSynchronize(c->stream));
    }
    if (c->err == INGOT_OK && got != 42) cu_fail(c, INGOT_ERR_BACKEND, __FILE__, __LINE__, "probe kernel did not run");
    /* the second q8 buffer (fused epilogues) and the zeroed arrival counters */
    if (c->err == INGOT_OK) cu_scratch(c, SCR_Q8B, q8_bytes(MV_MAXN, 32768));
    if (c->err == INGOT_OK) {
        /* the counters, then the partial sums of squares (EPI_NQ) */
        const size_t cb = NCNT * sizeof(unsigned) + PSS_MAX * sizeof(float);
        CU_CHECK(c, cudaMalloc((void **)&c->cnt, cb));
        if (c->cnt) CU_CHECK(c, cudaMemsetAsync(c->cnt, 0, cb, c->stream));
        CU_CHECK(c, cudaStreamSynchronize(c->stream));
        c->pss = (float *)(c->cnt + NCNT);
        /* FUSE_QKVA's q, k, v: "not written" until a launch writes them, and
         * again once its attention has read them */
        if (cudaMalloc((void **)&c->aq_tag, AQ_TAGMAX * sizeof(float)) == cudaSuccess)
            CU_CHECK(c, cudaMemset(c->aq_tag, 0xFF, AQ_TAGMAX * sizeof(float)));
        else
            cudaGetLastError(), c->aq_tag = NULL; /* the attention keeps its own kernel */
        cu_mv_init(c);
    }
    {
        const char *f = getenv("INGOT_CUDA_FUSE");
        /* default: the attention merge, rope + KV store inside the
         * attention, the 32-row residual launches; the NORM/GLU/ROPE
         * epilogues measured slower than their own PDL-chained kernels on
         * H100 (v5), the attention inside the Q/K/V launch (FUSE_QKVA) too
         * (v14: 565 / 512 vs 579 / 529 tg128; v19, its attention CTAs
         * amid the products: 585 / 541 vs 582 / 545) */
        c->fuse = getenv("INGOT_CUDA_NO_FUSE") ? 0u
                  : f                          ? (unsigned)strtoul(f, NULL, 0) & FUSE_ALL
                                               : (unsigned)(FUSE_ATTN | FUSE_ROPE_ATT | FUSE_BLK);
    }
    {
        /* short sequences: serial steps in one CTA beat partials + merge
         * (H100, tg128, same run: 0 -> 64 +2.4%, 64 -> 128 +0.7%) */
        const char *e = getenv("INGOT_CUDA_ATT_SINGLE");
        c->att_single = e ? atoi(e) : 128;
        /* every kernel of a forward asks for the same L1 / shared memory
         * split, so an SM need not drain to switch between a product (no
         * shared memory), the attention (66 KB staged) and the down
         * projection (~100 KB of SwiGLU). 70% = the 164 KB configuration
         * on H100 (v8, tg128: 562 -> 570 Q4_0 over the driver's choice);
         * since v12 it serves prefill, and decode steps take
         * INGOT_CUDA_CARVEOUT_DEC (below; < 0: the same) */
        const char *cv = getenv("INGOT_CUDA_CARVEOUT");
        c->carveout = cv ? atoi(cv) : 70;
        if (c->carveout > 100) c->carveout = 100;
        /* decode steps (up to MV_MAXN tokens) want L1 for the activations
         * every warp reads: 36% (the 100 KB configuration on H100, 156 KB
         * of L1) measured `ingot bench` tg128 +1.2% / +1.3% Q4_0 / Q4_K_M
         * over 70% in one run (v12: 44-50% about the same as 36, 58% as
         * 70, 25% and less slower, 86% -5%); prefill lost 6% at 50, so it
         * keeps 70 */
        const char *cd = getenv("INGOT_CUDA_CARVEOUT_DEC");
        c->carveout_dec = cd ? atoi(cd) : c->carveout >= 0 ? 36 : -1;
        if (c->carveout_dec > 100) c->carveout_dec = 100;
        if (c->carveout_dec < 0) c->carveout_dec = c->carveout;
        c->carveout_now = c->carveout;
        c->stage_on = !getenv("INGOT_CUDA_NO_STAGE");
        c->xk_off = getenv("INGOT_CUDA_NO_XK") != NULL; /* A/B and tests: the k-quants on the natural order */
        c->emb_norm = !getenv("INGOT_CUDA_NO_EMBNORM"); /* A/B: NOTES v16 */
        const char *k = getenv("INGOT_CUDA_ATT_SK");
        c->att_sk = k ? atoi(k) : 128;
        if (c->att_sk < 0 || c->att_sk > 256) c->att_sk = 0;
    }
    {
        const char *e2 = getenv("INGOT_CUDA_PF_ATT_MB");
        /* Hopper has the bulk L2 prefetch. 4 MiB of wo while the short
         * attention runs on 32 SMs: +0.4% / +0.7% tg128 Q4_0 / Q4_K_M over
         * five same-run pairs on H100 (v11); 8 MiB and more lose (v5, v7) */
        double at = e2 ? atof(e2) : 4.0;
        c->pf_att = prop.major >= 9 && at > 0 ? (size_t)(at * 1048576.0) : 0;
        /* FUSE_QKVA: the cache rows the attention reads, into L2 before the
         * products (INGOT_CUDA_AQ_PF=0: not) */
        const char *e3 = getenv("INGOT_CUDA_AQ_PF");
        c->aq_pf = prop.major >= 9 && (!e3 || atoi(e3) != 0);
        /* where its attention CTAs sit among the products: after 55% of
         * them measured best of 0 (v14's), 39, 55, 75 and 100% (NOTES v19:
         * first, they hold slots through the whole launch; last, they
         * start when every product is done) */
        const char *e4 = getenv("INGOT_CUDA_AQ_AT");
        c->aq_at = e4 ? atoi(e4) : 55;
        if (c->aq_at < 0 || c->aq_at > 100) c->aq_at = 55;
    }
    if (c->err == INGOT_OK) c->cublas = cu_cublas_new(c);
    if (c->err != INGOT_OK) {
        ingot_status s = take_err(c);
        cuda_destroy(be);
        return s;
    }
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    ig_log(INGOT_LOG_INFO, "cuda: device %d: %s, %d SMs, %.1f/%.1f GiB free%s", device, c->name, c->n_sm,
           fr / 1073741824.0, tot / 1073741824.0, c->cublas ? ", cuBLAS" : "");
    *out = be;
    return INGOT_OK;
}
