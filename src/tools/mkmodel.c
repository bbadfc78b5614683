/* `ingot mkmodel`: synthetic models with random weights, shaped like real
 * ones and carrying a real tokenizer, for benchmarks and tests.
 *
 * Every row of every tensor has its own random stream, seeded from (seed,
 * tensor, row), so the file does not depend on the thread count. Rows are
 * generated and quantized straight into the writer's buffer by the thread
 * pool, one tensor at a time; nothing larger than one tensor is held. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/threadpool.h"
#include "core/util.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "tools/tools.h"

typedef struct preset {
    const char *name, *arch;
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base;
    const char *desc;
} preset;

static const preset presets[] = {
    {"tiny", "llama", 256, 2, 4, 2, 512, 512, 10000.0f, "test-sized llama: 256 wide, 2 layers"},
    {"llama-1b", "llama", 2048, 16, 32, 8, 8192, 4096, 500000.0f, "Llama 3.2 1B shape (32000-token vocab)"},
    {"llama2-7b", "llama", 4096, 32, 32, 32, 11008, 4096, 10000.0f, "Llama 2 7B shape"},
    {"llama3-8b", "llama", 4096, 32, 32, 8, 14336, 8192, 500000.0f,
     "Llama 3 8B shape, with the 32000-token llama-spm vocab (no Llama 3 vocab is bundled)"},
    {"gpt2-tiny", "gpt2", 256, 2, 4, 4, 1024, 512, 0, "test-sized gpt2: 256 wide, 2 layers"},
    {"gpt2-124m", "gpt2", 768, 12, 12, 12, 3072, 1024, 0, "GPT-2 small"},
    {"gpt2-1.5b", "gpt2", 1600, 48, 25, 25, 6400, 1024, 0, "GPT-2 XL"},
};

const char *ingot_mkmodel_preset(int i, const char **arch, const char **desc) {
    if (i < 0 || (size_t)i >= sizeof presets / sizeof presets[0]) return NULL;
    if (arch) *arch = presets[i].arch;
    if (desc) *desc = presets[i].desc;
    return presets[i].name;
}

ingot_mkmodel_params ingot_mkmodel_default_params(void) {
    ingot_mkmodel_params p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.seed = 1234;
    return p;
}

/* ---- random numbers ------------------------------------------------------ */

typedef struct { uint64_t s[4]; } rng;

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t tensor, uint64_t row) {
    uint64_t x = seed ^ (tensor << 40) ^ (row * 0x2545f4914f6cdd1dull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256+ */
static inline uint64_t rng_next(rng *r) {
    uint64_t *s = r->s;
    const uint64_t res = s[0] + s[3], t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

/* n roughly standard normal values: the sum of four 16-bit uniforms
 * (Irwin-Hall), centred and scaled to unit variance. Tails stop at 3.5
 * sigma, which is plenty for synthetic weights, and it is several times
 * cheaper than Box-Muller's log and sincos. */
static void normals(rng *r, float *out, int64_t n) {
    const float scale = 1.7320508f / 65536.0f; /* sqrt(3) / 2^16 */
    for (int64_t i = 0; i < n; i++) {
        const uint64_t v = rng_next(r);
        const uint32_t s = (uint32_t)(v & 0xffff) + (uint32_t)((v >> 16) & 0xffff) +
                           (uint32_t)((v >> 32) & 0xffff) + (uint32_t)(v >> 48);
        out[i] = ((float)s - 131070.0f) * scale;
    }
}

/* ---- tensors --------------------------------------------------------------- */

typedef enum { GEN_MATRIX, GEN_NORM, GEN_BIAS, GEN_POS } gen_kind;

typedef struct {
    char name[64];
    uint32_t n_dims, type;
    int64_t ne[2];
    gen_kind kind;
} mtensor;

typedef struct {
    mtensor *t;
    int n, cap;
    uint64_t seed;
    ig_pool *pool;
    uint64_t done, total;
    const ingot_mkmodel_params *p;
    bool oom;
} mstate;

static void add(mstate *m, const char *name, int64_t cols, int64_t rows, gen_kind kind) {
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 64;
        mtensor *nt = realloc(m->t, (size_t)cap * sizeof *nt);
        if (!nt) {
            m->oom = true;
            return;
        }
        m->t = nt;
        m->cap = cap;
    }
    mtensor *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = rows > 1 ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->kind = kind;
    t->type = IG_TYPE_F32;
}

typedef struct {
    mstate *m;
    int idx;
    void *dst;
} gen_job;

static void gen_worker(void *arg, int ith, int nth) {
    gen_job *j = arg;
    const mtensor *t = &j->m->t[j->idx];
    const int64_t rows = t->ne[1], cols = t->ne[0];
    const int64_t per = (rows + nth - 1) / nth;
    const int64_t lo = per * ith, hi = lo + per < rows ? lo + per : rows;
    if (hi <= lo) return;
    float *buf = malloc((size_t)(cols + 1) * sizeof(float));
    if (!buf) {
        j->m->oom = true;
        return;
    }
    const size_t rb = ig_row_size(t->type, cols);
    rng r;
    for (int64_t row = lo; row < hi; row++) {
        rng_seed(&r, j->m->seed, (uint64_t)j->idx + 1, (uint64_t)row);
        normals(&r, buf, cols);
        float sd = 0.02f, mean = 0.0f;
        switch (t->kind) {
        case GEN_MATRIX: break;
        case GEN_NORM: sd = 0.02f, mean = 1.0f; break;
        case GEN_BIAS: sd = 0.01f; break;
        case GEN_POS: sd = 0.01f; break;
        }
        for (int64_t c = 0; c < cols; c++) buf[c] = mean + sd * buf[c];
        ig_quant_row(t->type, buf, (char *)j->dst + (size_t)row * rb, cols);
    }
    free(buf);
}

static ingot_status fill(void *user, int64_t idx, void *dst, uint64_t nbytes) {
    mstate *m = user;
    gen_job j = {m, (int)idx, dst};
    ig_pool_run(m->pool, gen_worker, &j);
    if (m->oom) return ig_err(INGOT_ERR_NOMEM, "mkmodel: out of memory");
    m->done += nbytes;
    if (m->p->progress && m->total &&
        !m->p->progress((float)((double)m->done / (double)m->total), m->p->progress_user))
        return ig_err(INGOT_ERR_CANCELLED, "mkmodel: cancelled");
    return INGOT_OK;
}

static void set_arch_u32(gguf_writer *w, const char *arch, const char *key, uint32_t v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_writer_set_u32(w, k, v);
}

static void set_arch_f32(gguf_writer *w, const char *arch, const char *key, float v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_writer_set_f32(w, k, v);
}

ingot_status ingot_mkmodel(const char *out_path, const ingot_mkmodel_params *params) {
    ig_clear_err();
    if (!out_path || !params || !params->preset || !params->vocab)
        return ig_err(INGOT_ERR_INVALID_ARG, "mkmodel: output path, preset and vocabulary are required");
    const ingot_mkmodel_params p = *params;
    const preset *ps = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, p.preset)) ps = &presets[i];
    if (!ps) return ig_err(INGOT_ERR_INVALID_ARG, "mkmodel: unknown preset '%s'", p.preset);
    preset P = *ps;
    if (p.arch && strcmp(p.arch, P.arch)) {
        if (strcmp(P.name, "tiny"))
            return ig_err(INGOT_ERR_INVALID_ARG, "mkmodel: preset '%s' is a %s model, not %s", P.name, P.arch, p.arch);
        if (strcmp(p.arch, "gpt2") && strcmp(p.arch, "llama"))
            return ig_err(INGOT_ERR_INVALID_ARG, "mkmodel: unknown architecture '%s' (llama or gpt2)", p.arch);
        if (!strcmp(p.arch, "gpt2")) P = presets[4]; /* tiny gpt2 */
    }
    const char *arch = P.arch;
    const bool gpt2 = !strcmp(arch, "gpt2");
    const ig_ftype *ft = ig_ftype_find(p.ftype ? p.ftype : "F16");
    if (!ft) return ig_err(INGOT_ERR_INVALID_ARG, "unknown file type '%s' (one of: %s)", p.ftype, ingot_ftype_names());

    gguf *voc = NULL;
    ingot_status s = gguf_open(p.vocab, &voc);
    if (s) return s;
    uint32_t et;
    uint64_t n_vocab = 0;
    if (!gguf_get_arr(voc, "tokenizer.ggml.tokens", &et, &n_vocab) || n_vocab == 0) {
        gguf_close(voc);
        return ig_err(INGOT_ERR_FORMAT, "%s: no tokenizer.ggml.tokens: not a vocabulary file", p.vocab);
    }

    mstate m = {.seed = p.seed, .p = &p};
    gguf_writer *w = gguf_writer_new();
    m.pool = ig_pool_new(p.n_threads > 0 ? p.n_threads : ig_physical_cores());
    if (!w || !m.pool) {
        s = ig_err(INGOT_ERR_NOMEM, "mkmodel: out of memory");
        goto done;
    }

    /* ---- metadata ---- */
    char name[128];
    snprintf(name, sizeof name, "ingot synthetic %s %s", P.name, ft->name);
    gguf_writer_set_str(w, "general.architecture", arch);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "general.file_type", ft->id);
    set_arch_u32(w, arch, "context_length", P.n_ctx);
    set_arch_u32(w, arch, "embedding_length", P.n_embd);
    set_arch_u32(w, arch, "block_count", P.n_layer);
    set_arch_u32(w, arch, "feed_forward_length", P.n_ff);
    set_arch_u32(w, arch, "attention.head_count", P.n_head);
    if (gpt2) {
        set_arch_f32(w, arch, "attention.layer_norm_epsilon", 1e-5f);
    } else {
        set_arch_u32(w, arch, "attention.head_count_kv", P.n_head_kv);
        set_arch_f32(w, arch, "rope.freq_base", P.rope_base);
        set_arch_f32(w, arch, "attention.layer_norm_rms_epsilon", 1e-5f);
        set_arch_u32(w, arch, "rope.dimension_count", P.n_embd / P.n_head);
        set_arch_u32(w, arch, "vocab_size", (uint32_t)n_vocab);
    }
    for (int64_t i = 0; i < voc->n_kv; i++)
        if (!strncmp(voc->kv[i].key.s, "tokenizer.", 10)) gguf_writer_copy_kv(w, &voc->kv[i]);

    /* ---- tensors, in llama.cpp's converter order ---- */
    const int64_t E = P.n_embd, F = P.n_ff, V = (int64_t)n_vocab;
    const int64_t KV = (int64_t)P.n_head_kv * (P.n_embd / P.n_head);
    char tn[64];
    add(&m, "token_embd.weight", E, V, GEN_MATRIX);
    if (gpt2) add(&m, "position_embd.weight", E, P.n_ctx, GEN_POS);
    add(&m, "output_norm.weight", E, 1, GEN_NORM);
    if (gpt2) add(&m, "output_norm.bias", E, 1, GEN_BIAS);
    add(&m, "output.weight", E, V, GEN_MATRIX);
    for (uint32_t l = 0; l < P.n_layer; l++) {
#define T(suffix, c, r, k) snprintf(tn, sizeof tn, "blk.%u.%s", l, suffix), add(&m, tn, c, r, k)
        T("attn_norm.weight", E, 1, GEN_NORM);
        if (gpt2) {
            T("attn_norm.bias", E, 1, GEN_BIAS);
            T("attn_qkv.weight", E, 3 * E, GEN_MATRIX);
            T("attn_qkv.bias", 3 * E, 1, GEN_BIAS);
            T("attn_output.weight", E, E, GEN_MATRIX);
            T("attn_output.bias", E, 1, GEN_BIAS);
            T("ffn_norm.weight", E, 1, GEN_NORM);
            T("ffn_norm.bias", E, 1, GEN_BIAS);
            T("ffn_up.weight", E, F, GEN_MATRIX);
            T("ffn_up.bias", F, 1, GEN_BIAS);
            T("ffn_down.weight", F, E, GEN_MATRIX);
            T("ffn_down.bias", E, 1, GEN_BIAS);
        } else {
            T("attn_q.weight", E, E, GEN_MATRIX);
            T("attn_k.weight", E, KV, GEN_MATRIX);
            T("attn_v.weight", E, KV, GEN_MATRIX);
            T("attn_output.weight", E, E, GEN_MATRIX);
            T("ffn_norm.weight", E, 1, GEN_NORM);
            T("ffn_gate.weight", E, F, GEN_MATRIX);
            T("ffn_up.weight", E, F, GEN_MATRIX);
            T("ffn_down.weight", F, E, GEN_MATRIX);
        }
#undef T
    }
    if (m.oom) {
        s = ig_err(INGOT_ERR_NOMEM, "mkmodel: out of memory");
        goto done;
    }
    ig_mix mx = {.ft = ft, .tied = false, .n_layer = (int)P.n_layer, .n_gqa = (int)(P.n_head / P.n_head_kv)};
    for (int i = 0; i < m.n; i++) {
        mtensor *t = &m.t[i];
        t->type = ig_mix_type(&mx, t->name, t->n_dims, t->ne, IG_TYPE_F32);
        m.total += ig_row_size(t->type, t->ne[0]) * (uint64_t)t->ne[1];
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, NULL, fill, &m);
    }
    s = gguf_writer_write(w, out_path);
done:
    gguf_writer_free(w);
    ig_pool_free(m.pool);
    free(m.t);
    gguf_close(voc);
    return s;
}
