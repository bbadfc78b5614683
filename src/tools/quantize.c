/* `ingot quantize`: convert a GGUF model to another file type the way
 * llama-quantize does (per-tensor mix, fallbacks, metadata), so llama.cpp
 * reads the result and, for the same input, gets the same blocks.
 *
 * Tensors stream through the GGUF writer one at a time: each is produced
 * by a fill callback that converts its rows on a thread pool, so memory
 * holds the input mapping plus one output tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/threadpool.h"
#include "core/util.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "tools/tools.h"

ingot_quantize_params ingot_quantize_default_params(void) {
    ingot_quantize_params p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    return p;
}

typedef struct {
    const gguf_tensor *src;
    uint32_t type;
} qtensor;

typedef struct {
    const gguf *g;
    qtensor *t;
    ig_pool *pool;
    uint64_t done, total;
    const ingot_quantize_params *p;
    bool cancelled;
} qstate;

typedef struct {
    const qtensor *t;
    void *dst;
    int64_t rows, cols;
    bool oom;
} conv_job;

static void conv_worker(void *arg, int ith, int nth) {
    conv_job *j = arg;
    int64_t lo, hi;
    const int64_t per = (j->rows + nth - 1) / nth;
    lo = per * ith;
    hi = lo + per < j->rows ? lo + per : j->rows;
    if (hi <= lo) return;
    float *tmp = malloc((size_t)j->cols * sizeof(float));
    if (!tmp) {
        j->oom = true;
        return;
    }
    const size_t ib = ig_row_size(j->t->src->type, j->cols), ob = ig_row_size(j->t->type, j->cols);
    for (int64_t r = lo; r < hi; r++) {
        ig_dequant_row(j->t->src->type, (const char *)j->t->src->data + (size_t)r * ib, tmp, j->cols);
        ig_quant_row(j->t->type, tmp, (char *)j->dst + (size_t)r * ob, j->cols);
    }
    free(tmp);
}

static ingot_status fill(void *user, int64_t idx, void *dst, uint64_t nbytes) {
    qstate *q = user;
    const qtensor *t = &q->t[idx];
    if (t->type == t->src->type) {
        memcpy(dst, t->src->data, (size_t)nbytes);
    } else {
        const int64_t cols = t->src->ne[0];
        conv_job j = {t, dst, (int64_t)(t->src->ne[1] * t->src->ne[2] * t->src->ne[3]), cols, false};
        ig_pool_run(q->pool, conv_worker, &j);
        if (j.oom) return ig_err(INGOT_ERR_NOMEM, "quantize: out of memory");
    }
    q->done += t->src->nbytes;
    if (q->p->progress && q->total &&
        !q->p->progress((float)((double)q->done / (double)q->total), q->p->progress_user))
        return ig_err(INGOT_ERR_CANCELLED, "quantize: cancelled");
    return INGOT_OK;
}

static uint32_t arch_u32(const gguf *g, const char *arch, const char *key, uint32_t def) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    uint32_t v;
    return gguf_get_u32(g, k, &v) ? v : def;
}

ingot_status ingot_quantize_file(const char *in_path, const char *out_path, const char *ftype,
                                 const ingot_quantize_params *params) {
    ig_clear_err();
    if (!in_path || !out_path || !ftype)
        return ig_err(INGOT_ERR_INVALID_ARG, "ingot_quantize_file: NULL argument");
    const ingot_quantize_params p = params ? *params : ingot_quantize_default_params();
    const ig_ftype *ft = ig_ftype_find(ftype);
    if (!ft)
        return ig_err(INGOT_ERR_INVALID_ARG, "unknown file type '%s' (one of: %s)", ftype, ingot_ftype_names());
    gguf *g = NULL;
    ingot_status s = gguf_open(in_path, &g);
    if (s) return s;

    const char *arch = "llama";
    gguf_get_str(g, "general.architecture", &arch);
    const uint32_t n_head = arch_u32(g, arch, "attention.head_count", 1);
    const uint32_t n_head_kv = arch_u32(g, arch, "attention.head_count_kv", n_head);
    ig_mix mx = {.ft = ft, .pure = p.pure, .tied = !gguf_find_tensor(g, "output.weight"),
                 .n_layer = (int)arch_u32(g, arch, "block_count", 0),
                 .n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 1};

    qstate q = {.g = g, .p = &p};
    q.t = calloc((size_t)g->n_tensors + 1, sizeof *q.t);
    gguf_writer *w = gguf_writer_new();
    q.pool = ig_pool_new(p.n_threads > 0 ? p.n_threads : ig_physical_cores());
    if (!q.t || !w || !q.pool) {
        s = ig_err(INGOT_ERR_NOMEM, "quantize: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        if (!strcmp(g->kv[i].key.s, "general.alignment")) {
            const gguf_value *v = &g->kv[i].val;
            gguf_writer_set_alignment(w, (uint32_t)(v->type == GGUF_I32 || v->type == GGUF_I64 ? (uint64_t)v->i64 : v->u64));
        }
        gguf_writer_copy_kv(w, &g->kv[i]);
    }
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "general.file_type", ft->id);

    int requant = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        q.t[i].src = t;
        uint32_t type = ig_mix_type(&mx, t->name.s, t->n_dims, t->ne, t->type);
        if (type != t->type) {
            const ig_type_traits *tr = ig_type_traits_get(t->type);
            if (!tr || !tr->can_dequant) {
                s = ig_err(INGOT_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which ingot cannot decode",
                           in_path, t->name.s, tr ? tr->name : "unknown");
                goto done;
            }
            if (t->type != IG_TYPE_F32 && t->type != IG_TYPE_F16 && t->type != IG_TYPE_BF16) requant++;
        }
        q.t[i].type = type;
        q.total += t->nbytes;
        gguf_writer_add_tensor(w, t->name.s, type, t->n_dims, t->ne, NULL, fill, &q);
    }
    if (requant)
        ig_log(INGOT_LOG_WARN,
               "%s: %d tensors are already quantized: they are dequantized and quantized again, "
               "which loses more precision than quantizing the original weights",
               in_path, requant);
    s = gguf_writer_write(w, out_path);
done:
    gguf_writer_free(w);
    ig_pool_free(q.pool);
    free(q.t);
    gguf_close(g);
    return s;
}
