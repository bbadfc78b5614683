/* The CPU backend: the reference implementation of every op in the table.
 * Numerics follow ggml's CPU backend where they differ from the textbook
 * formula (sums in double, f16 rounding of attention operands with an f16
 * cache, GELU through f16), so ingot's logits can be compared with
 * llama.cpp's to the last few bits. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "cpu.h"
#include "quant/quant.h"

#define CTX(be) ((cpu_ctx *)(be)->ctx)

/* ---- memory -------------------------------------------------------- */

static void *cpu_alloc(ig_backend *be, size_t bytes) {
    (void)be;
    size_t sz = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (!p) ig_err(INGOT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    return p;
}

static void cpu_dealloc(ig_backend *be, void *p) {
    (void)be;
    free(p);
}

static ingot_status cpu_weight_upload(ig_backend *be, ig_weight *w, const void *host) {
    (void)be;
    w->data = (void *)host; /* weights stay in the mmapped file: no copy */
    return INGOT_OK;
}

static void cpu_weight_free(ig_backend *be, ig_weight *w) {
    (void)be;
    w->data = NULL;
}

static ingot_status cpu_copy(ig_backend *be, void *dst, const void *src, size_t n) {
    (void)be;
    memcpy(dst, src, n);
    return INGOT_OK;
}

static ingot_status cpu_sync(ig_backend *be) {
    (void)be;
    return INGOT_OK;
}

/* ---- ops ----------------------------------------------------------- */

static void cpu_embed(ig_backend *be, float *out, const ig_weight *t, const int32_t *ids, int n) {
    (void)be;
    size_t rb = ig_row_size(t->type, t->cols);
    for (int i = 0; i < n; i++)
        ig_dequant_row(t->type, (const char *)t->data + (size_t)ids[i] * rb, out + (size_t)i * t->cols,
                       t->cols);
}

static void cpu_rms_norm(ig_backend *be, float *out, const float *x, const ig_weight *w, int n,
                         int d, float eps) {
    (void)be;
    const float *g = w->data;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *oi = out + (size_t)i * d;
        double sum = 0;
        for (int k = 0; k < d; k++) sum += (double)(xi[k] * xi[k]);
        float scale = 1.0f / sqrtf((float)(sum / d) + eps);
        for (int k = 0; k < d; k++) oi[k] = (xi[k] * scale) * g[k];
    }
}

static void cpu_layer_norm(ig_backend *be, float *out, const float *x, const ig_weight *w,
                           const ig_weight *b, int n, int d, float eps) {
    (void)be;
    const float *g = w->data, *bb = b ? b->data : NULL;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *oi = out + (size_t)i * d;
        double sum = 0;
        for (int k = 0; k < d; k++) sum += xi[k];
        float mean = (float)(sum / d);
        double var = 0;
        for (int k = 0; k < d; k++) {
            float v = xi[k] - mean;
            var += (double)(v * v);
        }
        float scale = 1.0f / sqrtf((float)(var / d) + eps);
        for (int k = 0; k < d; k++) {
            float v = (xi[k] - mean) * scale * g[k];
            oi[k] = bb ? v + bb[k] : v;
        }
    }
}

static void cpu_matmul_op(ig_backend *be, float *out, const ig_weight *w, const ig_weight *bias,
                          const float *x, int n) {
    cpu_matmul(CTX(be), out, w, bias, x, n);
}

static void cpu_add(ig_backend *be, float *out, const float *a, const float *b, size_t count) {
    (void)be;
    for (size_t i = 0; i < count; i++) out[i] = a[i] + b[i];
}

static void cpu_rope(ig_backend *be, float *x, int ld, int n, int n_head, int head_dim,
                     const int32_t *pos, const ig_rope *r) {
    (void)be;
    /* theta advances by a constant factor per pair, as ggml computes it. */
    const float theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    float cs[1024];
    int half = r->n_rot / 2;
    if (half > 512) half = 512;
    for (int i = 0; i < n; i++) {
        float theta = (float)pos[i];
        for (int p = 0; p < half; p++) {
            float t = theta * r->freq_scale;
            cs[2 * p] = cosf(t);
            cs[2 * p + 1] = sinf(t);
            theta *= theta_scale;
        }
        for (int h = 0; h < n_head; h++) {
            float *v = x + (size_t)i * ld + (size_t)h * head_dim;
            for (int p = 0; p < half; p++) {
                int a = r->mode == IG_ROPE_NEOX ? p : 2 * p;
                int b = r->mode == IG_ROPE_NEOX ? p + half : 2 * p + 1;
                float c = cs[2 * p], s = cs[2 * p + 1];
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
        }
    }
}

static void cpu_kv_store(ig_backend *be, void *kc, void *vc, const float *k, const float *v, int ld,
                         int n, int kv_dim, const int32_t *pos, const ig_attn *a) {
    (void)be;
    for (int i = 0; i < n; i++) {
        const float *ki = k + (size_t)i * ld, *vi = v + (size_t)i * ld;
        size_t row = (size_t)pos[i] * kv_dim;
        if (a->kv_type == INGOT_KV_F16) {
            uint16_t *kd = (uint16_t *)kc + row, *vd = (uint16_t *)vc + row;
            for (int e = 0; e < kv_dim; e++) {
                kd[e] = ig_f32_to_f16(ki[e]);
                vd[e] = ig_f32_to_f16(vi[e]);
            }
        } else {
            memcpy((float *)kc + row, ki, (size_t)kv_dim * sizeof(float));
            memcpy((float *)vc + row, vi, (size_t)kv_dim * sizeof(float));
        }
    }
}

typedef struct {
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
    const ig_attn *a = j->a;
    int hd = a->head_dim, kv_dim = a->n_head_kv * hd, group = a->n_head / a->n_head_kv;
    bool f16 = a->kv_type == INGOT_KV_F16;
    int64_t lo, hi;
    cpu_split((int64_t)j->n * a->n_head, ith, nth, &lo, &hi);
    float *sc = NULL, *qv = malloc((size_t)hd * sizeof(float)), *acc = malloc((size_t)hd * sizeof(float));
    int cap = 0;
    for (int64_t it = lo; it < hi; it++) {
        int i = (int)(it / a->n_head), h = (int)(it % a->n_head), kvh = h / group;
        int len = j->pos[i] + 1;
        if (len > cap) {
            free(sc);
            cap = len;
            sc = malloc((size_t)cap * sizeof(float));
        }
        if (!sc || !qv || !acc) break;
        const float *q = j->q + (size_t)i * j->ld_q + (size_t)h * hd;
        for (int e = 0; e < hd; e++) qv[e] = f16 ? ig_f16_to_f32(ig_f32_to_f16(q[e])) : q[e];
        float mx = -INFINITY;
        for (int t = 0; t < len; t++) {
            float s = 0;
            if (f16) {
                const uint16_t *kr = (const uint16_t *)j->kc + (size_t)t * kv_dim + (size_t)kvh * hd;
                for (int e = 0; e < hd; e++) s += qv[e] * ig_f16_to_f32(kr[e]);
            } else {
                const float *kr = (const float *)j->kc + (size_t)t * kv_dim + (size_t)kvh * hd;
                for (int e = 0; e < hd; e++) s += qv[e] * kr[e];
            }
            s *= a->scale;
            sc[t] = s;
            if (s > mx) mx = s;
        }
        double sum = 0;
        for (int t = 0; t < len; t++) {
            float e = expf(sc[t] - mx);
            sc[t] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int e = 0; e < hd; e++) acc[e] = 0;
        for (int t = 0; t < len; t++) {
            float p = sc[t] * inv;
            if (f16) {
                p = ig_f16_to_f32(ig_f32_to_f16(p));
                const uint16_t *vr = (const uint16_t *)j->vc + (size_t)t * kv_dim + (size_t)kvh * hd;
                for (int e = 0; e < hd; e++) acc[e] += p * ig_f16_to_f32(vr[e]);
            } else {
                const float *vr = (const float *)j->vc + (size_t)t * kv_dim + (size_t)kvh * hd;
                for (int e = 0; e < hd; e++) acc[e] += p * vr[e];
            }
        }
        memcpy(j->out + (size_t)i * a->n_head * hd + (size_t)h * hd, acc, (size_t)hd * sizeof(float));
    }
    free(sc);
    free(qv);
    free(acc);
}

static void cpu_attention(ig_backend *be, float *out, const float *q, int ld_q, const void *kc,
                          const void *vc, int n, const int32_t *pos, const ig_attn *a) {
    attn_job j = {out, q, ld_q, kc, vc, n, pos, a};
    ig_pool_run(CTX(be)->pool, attn_worker, &j);
}

static void cpu_swiglu(ig_backend *be, float *out, const float *g, const float *u, size_t count) {
    (void)be;
    for (size_t i = 0; i < count; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
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

static void cpu_gelu(ig_backend *be, float *x, size_t count) {
    (void)be;
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        if (v <= -10.0f) x[i] = 0.0f;
        else if (v < 10.0f) x[i] = ig_f16_to_f32(gelu_table[ig_f32_to_f16(v)]);
    }
}

static void cpu_argmax(ig_backend *be, int32_t *out, const float *x, int n) {
    (void)be;
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

static void cpu_destroy(ig_backend *be) {
    if (!be) return;
    ig_pool_free(CTX(be)->pool);
    free(be->ctx);
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
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return ig_err(INGOT_ERR_NOMEM, "cannot allocate the CPU backend");
    }
    c->pool = ig_pool_new(n_threads);
    if (!c->pool) {
        free(be);
        free(c);
        return ig_err(INGOT_ERR_NOMEM, "cannot start %d threads", n_threads);
    }
    c->n_threads = ig_pool_size(c->pool);
    cpu_model_name(c->device_name, sizeof c->device_name);
    be->iface = &cpu_iface;
    be->ctx = c;
    *out = be;
    return INGOT_OK;
}
