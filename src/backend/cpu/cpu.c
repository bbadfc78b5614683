/* The CPU backend: every op of the table, on the kernel set chosen for this
 * CPU (kernels.h). Numerics follow ggml's CPU backend where they differ
 * from the textbook formula (sums of squares in double, f16 rounding of
 * attention operands with an f16 cache, GELU through f16), so ingot's
 * logits can be compared with llama.cpp's to the last few bits. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "cpu.h"
#include "quant/quant.h"

#define CTX(be) ((cpu_ctx *)(be)->ctx)

/* Per-backend state of the ops that is not in cpu.h: errors, scratch. */
typedef struct cpu_ops {
    cpu_ctx c;
    /* attention scratch: per thread, scores of up to n_ctx rows + 2 head rows */
    float *att_scratch;
    size_t att_cap; /* floats per thread */
    /* rope: cos/sin per (token, pair) for the positions of the last call */
    float *rope_cs;
    int32_t *rope_pos;
    int rope_n, rope_cap, rope_half;
    float rope_base, rope_scale;
} cpu_ops;

#define OPS(be) ((cpu_ops *)(be)->ctx)

void cpu_fail(cpu_ctx *c, ingot_status s, const char *msg) {
    if (c->err) return;
    c->err = s;
    snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
}

static void fail(ig_backend *be, ingot_status s, const char *msg) { cpu_fail(CTX(be), s, msg); }

/* ---- memory -------------------------------------------------------- */

static void *cpu_alloc(ig_backend *be, size_t bytes) {
    (void)be;
    size_t sz = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (!p) ig_err(INGOT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    return p;
}

static void cpu_dealloc(ig_backend *be, void *p) {
    cpu_invalidate(CTX(be));
    free(p);
}

static ingot_status cpu_weight_upload(ig_backend *be, ig_weight *w, const void *host) {
    (void)be;
    w->data = (void *)host; /* weights stay in the mmapped file: no copy */
    w->extra = NULL;        /* a packed copy is made on first use (matmul.c) */
    return INGOT_OK;
}

static void cpu_weight_free(ig_backend *be, ig_weight *w) {
    (void)be;
    w->data = NULL;
    w->extra = NULL; /* packed copies are owned by the backend's list */
}

static ingot_status cpu_copy(ig_backend *be, void *dst, const void *src, size_t n) {
    cpu_invalidate(CTX(be));
    memcpy(dst, src, n);
    return INGOT_OK;
}

static ingot_status cpu_sync(ig_backend *be) {
    cpu_ctx *c = CTX(be);
    ingot_status s = c->err;
    if (s) ig_err(s, "cpu backend: %s", c->errmsg);
    c->err = INGOT_OK;
    return s;
}

/* ---- ops ----------------------------------------------------------- */

/* Element-wise work big enough (a prompt batch) is split over the pool;
 * a single token's is not worth waking the other threads for. */
#define PAR_MIN 32768

typedef enum { EW_ADD, EW_SWIGLU, EW_GELU } ew_op;

typedef struct {
    const cpu_kernels *k;
    ew_op op;
    float *out;
    const float *a, *b;
    size_t count;
} ew_job;

static void gelu_range(float *x, size_t count);

static void ew_worker(void *arg, int ith, int nth) {
    ew_job *j = arg;
    int64_t lo, hi;
    cpu_split((int64_t)(j->count + 63) / 64, ith, nth, &lo, &hi);
    size_t b = (size_t)lo * 64, e = (size_t)hi * 64;
    if (e > j->count) e = j->count;
    if (b >= e) return;
    switch (j->op) {
    case EW_ADD: j->k->add(j->out + b, j->a + b, j->b + b, e - b); break;
    case EW_SWIGLU: j->k->swiglu(j->out + b, j->a + b, j->b + b, e - b); break;
    case EW_GELU: gelu_range(j->out + b, e - b); break;
    }
}

static void ew_run(cpu_ctx *c, ew_op op, float *out, const float *a, const float *b, size_t count) {
    ew_job j = {c->k, op, out, a, b, count};
    if (count >= PAR_MIN && c->n_threads > 1) ig_pool_run(c->pool, ew_worker, &j);
    else ew_worker(&j, 0, 1);
}

static void cpu_embed(ig_backend *be, float *out, const ig_weight *t, const int32_t *ids, int n) {
    cpu_invalidate(CTX(be));
    size_t rb = ig_row_size(t->type, t->cols);
    for (int i = 0; i < n; i++)
        ig_dequant_row(t->type, (const char *)t->data + (size_t)ids[i] * rb, out + (size_t)i * t->cols,
                       t->cols);
}

typedef struct {
    const cpu_kernels *k;
    float *out;
    const float *x, *g;
    int n, d;
    float eps;
} rms_job;

static void rms_worker(void *arg, int ith, int nth) {
    rms_job *j = arg;
    int64_t lo, hi;
    cpu_split(j->n, ith, nth, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        const float *xi = j->x + (size_t)i * j->d;
        const double sum = j->k->sum_sq(xi, j->d);
        const float scale = 1.0f / sqrtf((float)(sum / j->d) + j->eps);
        j->k->scale_mul(j->out + (size_t)i * j->d, xi, scale, j->g, j->d);
    }
}

static void cpu_rms_norm(ig_backend *be, float *out, const float *x, const ig_weight *w, int n,
                         int d, float eps) {
    cpu_ctx *c = CTX(be);
    cpu_invalidate(c);
    rms_job j = {c->k, out, x, w->data, n, d, eps};
    if ((size_t)n * (size_t)d >= PAR_MIN && n >= c->n_threads && c->n_threads > 1) ig_pool_run(c->pool, rms_worker, &j);
    else rms_worker(&j, 0, 1);
}

static void cpu_layer_norm(ig_backend *be, float *out, const float *x, const ig_weight *w,
                           const ig_weight *b, int n, int d, float eps) {
    cpu_ctx *c = CTX(be);
    cpu_invalidate(c);
    const cpu_kernels *k = c->k;
    const float *g = w->data, *bb = b ? b->data : NULL;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *oi = out + (size_t)i * d;
        const float mean = (float)(k->sum(xi, d) / d);
        k->center(oi, xi, mean, d); /* out may equal x: x is not read again */
        const float scale = 1.0f / sqrtf((float)(k->sum_sq(oi, d) / d) + eps);
        k->scale_mul(oi, oi, scale, g, d);
        if (bb) k->add(oi, oi, bb, (size_t)d);
    }
}

static void cpu_matmul_op(ig_backend *be, float *out, const ig_weight *w, const ig_weight *bias,
                          const float *x, int n) {
    cpu_matmul(CTX(be), out, w, bias, x, n);
}

static void cpu_add(ig_backend *be, float *out, const float *a, const float *b, size_t count) {
    cpu_ctx *c = CTX(be);
    cpu_invalidate(c);
    ew_run(c, EW_ADD, out, a, b, count);
}

/* cos/sin of every (token, pair) for these positions; the forward pass
 * rotates Q and K of every layer at the same positions, so this is
 * computed once per batch. */
static const float *rope_table(cpu_ops *o, int n, const int32_t *pos, const ig_rope *r, int half) {
    if (o->rope_cs && o->rope_n == n && o->rope_half == half && o->rope_base == r->freq_base &&
        o->rope_scale == r->freq_scale && !memcmp(o->rope_pos, pos, (size_t)n * sizeof *pos))
        return o->rope_cs;
    if (n > o->rope_cap || half > o->rope_half) {
        int cap = n > o->rope_cap ? n : o->rope_cap;
        int hmax = half > o->rope_half ? half : o->rope_half;
        free(o->rope_cs);
        free(o->rope_pos);
        o->rope_cs = malloc((size_t)cap * (size_t)hmax * 2 * sizeof(float));
        o->rope_pos = malloc((size_t)cap * sizeof(int32_t));
        o->rope_cap = cap;
        if (!o->rope_cs || !o->rope_pos) {
            free(o->rope_cs);
            free(o->rope_pos);
            o->rope_cs = NULL;
            o->rope_pos = NULL;
            o->rope_cap = 0;
            return NULL;
        }
    }
    /* theta advances by a constant factor per pair, as ggml computes it */
    const float theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    for (int i = 0; i < n; i++) {
        float theta = (float)pos[i];
        float *cs = o->rope_cs + (size_t)i * half * 2;
        for (int p = 0; p < half; p++) {
            const float t = theta * r->freq_scale;
            cs[2 * p] = cosf(t);
            cs[2 * p + 1] = sinf(t);
            theta *= theta_scale;
        }
    }
    memcpy(o->rope_pos, pos, (size_t)n * sizeof *pos);
    o->rope_n = n;
    o->rope_half = half;
    o->rope_base = r->freq_base;
    o->rope_scale = r->freq_scale;
    return o->rope_cs;
}

typedef struct {
    const cpu_kernels *k;
    float *x;
    const float *cs;
    int ld, n, n_head, head_dim, half;
    bool neox;
} rope_job;

static void rope_worker(void *arg, int ith, int nth) {
    rope_job *j = arg;
    int64_t lo, hi;
    cpu_split(j->n, ith, nth, &lo, &hi);
    const int half = j->half;
    for (int64_t i = lo; i < hi; i++) {
        const float *cs = j->cs + (size_t)i * half * 2;
        for (int h = 0; h < j->n_head; h++) {
            float *v = j->x + (size_t)i * j->ld + (size_t)h * j->head_dim;
            if (j->neox) {
                for (int p = 0; p < half; p++) {
                    const float c = cs[2 * p], s = cs[2 * p + 1], x0 = v[p], x1 = v[p + half];
                    v[p] = x0 * c - x1 * s;
                    v[p + half] = x0 * s + x1 * c;
                }
            } else {
                j->k->rope_pairs(v, cs, half);
            }
        }
    }
}

static void cpu_rope(ig_backend *be, float *x, int ld, int n, int n_head, int head_dim,
                     const int32_t *pos, const ig_rope *r) {
    cpu_ops *o = OPS(be);
    cpu_invalidate(&o->c);
    const int half = r->n_rot / 2;
    const float *cst = rope_table(o, n, pos, r, half);
    if (!cst) {
        fail(be, INGOT_ERR_NOMEM, "rope: out of memory");
        return;
    }
    rope_job j = {o->c.k, x, cst, ld, n, n_head, head_dim, half, r->mode == IG_ROPE_NEOX};
    if ((size_t)n * (size_t)n_head * (size_t)head_dim >= PAR_MIN && n >= o->c.n_threads && o->c.n_threads > 1)
        ig_pool_run(o->c.pool, rope_worker, &j);
    else
        rope_worker(&j, 0, 1);
}

static void cpu_kv_store(ig_backend *be, void *kc, void *vc, const float *k, const float *v, int ld,
                         int n, int kv_dim, const int32_t *pos, const ig_attn *a) {
    cpu_ctx *c = CTX(be);
    cpu_invalidate(c);
    for (int i = 0; i < n; i++) {
        const float *ki = k + (size_t)i * ld, *vi = v + (size_t)i * ld;
        size_t row = (size_t)pos[i] * kv_dim;
        if (a->kv_type == INGOT_KV_F16) {
            c->k->to_f16((uint16_t *)kc + row, ki, kv_dim);
            c->k->to_f16((uint16_t *)vc + row, vi, kv_dim);
        } else {
            memcpy((float *)kc + row, ki, (size_t)kv_dim * sizeof(float));
            memcpy((float *)vc + row, vi, (size_t)kv_dim * sizeof(float));
        }
    }
}

typedef struct {
    cpu_ops *o;
    float *out;
    const float *q;
    int ld_q;
    const void *kc, *vc;
    int n;
    const int32_t *pos;
    const ig_attn *a;
} attn_job;

/* One (token, head) pair per work item. With an f16 cache ggml rounds the
 * query and the softmax weights to f16 before the two products; doing the
 * same keeps ingot within rounding of llama.cpp. */
static void attn_worker(void *arg, int ith, int nth) {
    attn_job *j = arg;
    const cpu_kernels *K = j->o->c.k;
    const ig_attn *a = j->a;
    const int hd = a->head_dim, kv_dim = a->n_head_kv * hd, group = a->n_head / a->n_head_kv;
    const bool f16 = a->kv_type == INGOT_KV_F16;
    const size_t esz = f16 ? 2 : 4;
    int64_t lo, hi;
    cpu_split((int64_t)j->n * a->n_head, ith, nth, &lo, &hi);
    float *sc = j->o->att_scratch + (size_t)ith * j->o->att_cap;
    float *qv = sc + a->n_ctx, *acc = qv + hd;
    for (int64_t it = lo; it < hi; it++) {
        const int i = (int)(it / a->n_head), h = (int)(it % a->n_head), kvh = h / group;
        const int len = j->pos[i] + 1;
        const float *q = j->q + (size_t)i * j->ld_q + (size_t)h * hd;
        if (f16) K->round_f16(qv, q, hd);
        else memcpy(qv, q, (size_t)hd * sizeof(float));
        const char *kb = (const char *)j->kc + (size_t)kvh * hd * esz;
        const char *vb = (const char *)j->vc + (size_t)kvh * hd * esz;
        const size_t stride = (size_t)kv_dim * esz;
        float mx = -INFINITY;
        for (int t = 0; t < len; t++) {
            const float s = K->dot_kv(qv, kb + (size_t)t * stride, f16, hd) * a->scale;
            sc[t] = s;
            if (s > mx) mx = s;
        }
        const double sum = K->exp_sum(sc, len, mx);
        const float inv = (float)(1.0 / sum);
        memset(acc, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t < len; t++) {
            float p = sc[t] * inv;
            if (f16) p = ig_f16_to_f32(ig_f32_to_f16(p));
            K->axpy_kv(acc, p, vb + (size_t)t * stride, f16, hd);
        }
        memcpy(j->out + (size_t)i * a->n_head * hd + (size_t)h * hd, acc, (size_t)hd * sizeof(float));
    }
}

static void cpu_attention(ig_backend *be, float *out, const float *q, int ld_q, const void *kc,
                          const void *vc, int n, const int32_t *pos, const ig_attn *a) {
    cpu_ops *o = OPS(be);
    cpu_invalidate(&o->c);
    const size_t per = (size_t)a->n_ctx + 2 * (size_t)a->head_dim + 16;
    if (per > o->att_cap) {
        free(o->att_scratch);
        o->att_scratch = malloc(per * (size_t)o->c.n_threads * sizeof(float));
        o->att_cap = o->att_scratch ? per : 0;
        if (!o->att_scratch) {
            fail(be, INGOT_ERR_NOMEM, "attention: out of memory");
            return;
        }
    }
    attn_job j = {o, out, q, ld_q, kc, vc, n, pos, a};
    ig_pool_run(o->c.pool, attn_worker, &j);
}

static void cpu_swiglu(ig_backend *be, float *out, const float *g, const float *u, size_t count) {
    cpu_ctx *c = CTX(be);
    cpu_invalidate(c);
    ew_run(c, EW_SWIGLU, out, g, u, count);
}

/* ggml evaluates GELU through a table indexed by the f16 value of x and
 * stores f16 results; matching that keeps GPT-2 logits close to llama.cpp. */
static uint16_t gelu_table[1 << 16];
static void gelu_init(void) {
    for (uint32_t i = 0; i < (1u << 16); i++) {
        float x = ig_f16_to_f32((uint16_t)i);
        float y = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * x * (1.0f + 0.044715f * x * x)));
        gelu_table[i] = ig_f32_to_f16(y);
    }
}

float cpu_gelu_f16(float v) {
    if (v <= -10.0f) return 0.0f;
    if (v < 10.0f) return ig_f16_to_f32(gelu_table[ig_f32_to_f16(v)]);
    return v;
}

static void gelu_range(float *x, size_t count) {
    for (size_t i = 0; i < count; i++) x[i] = cpu_gelu_f16(x[i]);
}

static void cpu_gelu(ig_backend *be, float *x, size_t count) {
    cpu_ctx *c = CTX(be);
    cpu_invalidate(c);
    ew_run(c, EW_GELU, x, NULL, NULL, count);
}

static void cpu_argmax(ig_backend *be, int32_t *out, const float *x, int n) {
    cpu_invalidate(CTX(be));
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    *out = best;
}

static const char *cpu_device_name(ig_backend *be) { return CTX(be)->device_name; }

static void cpu_memory(ig_backend *be, size_t *f, size_t *t) {
    (void)be;
    *f = *t = 0;
}

/* ---- memory bandwidth ----------------------------------------------- */

typedef struct {
    const uint64_t *p;
    size_t words;
    uint64_t sink[64];
} bw_job;

static void bw_worker(void *arg, int ith, int nth) {
    bw_job *j = arg;
    int64_t lo, hi;
    cpu_split((int64_t)(j->words / 512), ith, nth, &lo, &hi);
    const uint64_t *p = j->p + (size_t)lo * 512;
    const size_t n = (size_t)(hi - lo) * 512;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 8) {
        __builtin_prefetch(p + i + 256);
        s += p[i] ^ p[i + 1] ^ p[i + 2] ^ p[i + 3] ^ p[i + 4] ^ p[i + 5] ^ p[i + 6] ^ p[i + 7];
    }
    j->sink[ith % 64] = s;
}

/* What a decode step does with the weights: stream through memory far
 * larger than the caches, reading, on every thread of the pool. The best
 * of a few passes, in bytes read per second. */
static double cpu_bandwidth(ig_backend *be) {
    cpu_ctx *c = CTX(be);
    cpu_invalidate(c);
    const size_t bytes = (size_t)512 << 20;
    size_t ab = 0;
    uint64_t *buf = cpu_big_alloc(bytes, &ab);
    if (!buf) return 0;
    memset(buf, 1, bytes);
    bw_job j = {buf, bytes / 8, {0}};
    double best = 0;
    for (int pass = 0; pass < 4; pass++) {
        const double t0 = ig_time();
        ig_pool_run(c->pool, bw_worker, &j);
        const double bw = (double)bytes / (ig_time() - t0);
        if (bw > best) best = bw;
    }
    cpu_big_free(buf, ab);
    return best;
}

static void cpu_destroy(ig_backend *be) {
    if (!be) return;
    cpu_ops *o = OPS(be);
    ig_pool_free(o->c.pool);
    cpu_matmul_free(&o->c);
    free(o->c.slots);
    pthread_mutex_destroy(&o->c.pack_mu);
    free(o->att_scratch);
    free(o->rope_cs);
    free(o->rope_pos);
    free(o);
    free(be);
}

static const ig_backend_iface cpu_iface = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .device_name = cpu_device_name,
    .memory = cpu_memory,
    .alloc = cpu_alloc,
    .dealloc = cpu_dealloc,
    .weight_upload = cpu_weight_upload,
    .weight_free = cpu_weight_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .sync = cpu_sync,
    .embed = cpu_embed,
    .rms_norm = cpu_rms_norm,
    .layer_norm = cpu_layer_norm,
    .matmul = cpu_matmul_op,
    .add = cpu_add,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .swiglu = cpu_swiglu,
    .gelu = cpu_gelu,
    .argmax = cpu_argmax,
    .bandwidth = cpu_bandwidth,
};

static void cpu_model_name(char *buf, size_t cap) {
    snprintf(buf, cap, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ') c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(buf, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

ingot_status ig_backend_cpu_new(int n_threads, ig_backend **out) {
    static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;
    pthread_once(&gelu_once, gelu_init);
    *out = NULL;
    if (n_threads <= 0) n_threads = ig_physical_cores();
    ig_backend *be = calloc(1, sizeof *be);
    cpu_ops *o = calloc(1, sizeof *o);
    if (!be || !o) {
        free(be);
        free(o);
        return ig_err(INGOT_ERR_NOMEM, "cannot allocate the CPU backend");
    }
    cpu_ctx *c = &o->c;
    c->pool = ig_pool_new(n_threads);
    if (!c->pool) {
        free(be);
        free(o);
        return ig_err(INGOT_ERR_NOMEM, "cannot start %d threads", n_threads);
    }
    c->n_threads = ig_pool_size(c->pool);
    c->slots = aligned_alloc(64, sizeof(cpu_slot) * (size_t)c->n_threads);
    if (!c->slots) {
        ig_pool_free(c->pool);
        free(be);
        free(o);
        return ig_err(INGOT_ERR_NOMEM, "cannot allocate the CPU backend");
    }
    c->k = cpu_kernels_best();
    c->act_fmt = -1;
    const char *np = getenv("INGOT_CPU_NOPACK");
    c->no_pack = np && *np && strcmp(np, "0");
    pthread_mutex_init(&c->pack_mu, NULL);
    char model[96];
    cpu_model_name(model, sizeof model);
    snprintf(c->device_name, sizeof c->device_name, "%s (%s, %d threads)", model, c->k->name, c->n_threads);
    be->iface = &cpu_iface;
    be->ctx = o;
    *out = be;
    return INGOT_OK;
}
