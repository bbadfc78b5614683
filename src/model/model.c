/* Loading a model: hyperparameters from `<arch>.*` keys, the vocabulary,
 * and every weight made resident on the chosen backend (uploaded once, in
 * its file type). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "quant/quant.h"

ingot_model_params ingot_model_default_params(void) {
    ingot_model_params p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.backend = INGOT_BACKEND_AUTO;
    return p;
}

/* ---- hyperparameters ------------------------------------------------- */

static bool arch_u32(const gguf *g, const char *arch, const char *suffix, uint32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_u32(g, key, out);
}

static bool arch_f32(const gguf *g, const char *arch, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_f32(g, key, out);
}

static ingot_status load_hparams(ingot_model *m) {
    const gguf *g = m->g;
    ig_hparams *hp = &m->hp;
    const char *arch;
    if (!gguf_get_str(g, "general.architecture", &arch))
        return ig_err(INGOT_ERR_FORMAT, "%s: missing general.architecture", m->path);
    if (!strcmp(arch, "llama")) hp->arch = IG_ARCH_LLAMA;
    else if (!strcmp(arch, "gpt2")) hp->arch = IG_ARCH_GPT2;
    else {
        char shown[168];
        ig_show(shown, sizeof shown, arch, strlen(arch));
        return ig_err(INGOT_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (ingot runs llama and gpt2)",
                      m->path, shown);
    }
    hp->arch_name = arch;

    struct { const char *key; uint32_t *dst; } req[] = {
        {"embedding_length", &hp->n_embd},
        {"block_count", &hp->n_layer},
        {"feed_forward_length", &hp->n_ff},
        {"attention.head_count", &hp->n_head},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!arch_u32(g, arch, req[i].key, req[i].dst) || *req[i].dst == 0)
            return ig_err(INGOT_ERR_FORMAT, "%s: missing or zero %s.%s", m->path, arch, req[i].key);
    if (!arch_u32(g, arch, "context_length", &hp->n_ctx_train)) hp->n_ctx_train = 2048;
    if (!arch_u32(g, arch, "attention.head_count_kv", &hp->n_head_kv) || hp->n_head_kv == 0)
        hp->n_head_kv = hp->n_head;
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return ig_err(INGOT_ERR_FORMAT, "%s: %u heads / %u KV heads do not divide n_embd %u", m->path,
                      hp->n_head, hp->n_head_kv, hp->n_embd);
    if (hp->n_layer > 4096 || hp->n_embd > (1u << 20) || hp->n_ff > (1u << 22))
        return ig_err(INGOT_ERR_FORMAT, "%s: implausible model size (n_embd %u, %u layers)", m->path,
                      hp->n_embd, hp->n_layer);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (!arch_u32(g, arch, "rope.dimension_count", &hp->n_rot)) hp->n_rot = hp->head_dim;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return ig_err(INGOT_ERR_FORMAT, "%s: rope dimension %u does not fit head size %u", m->path,
                      hp->n_rot, hp->head_dim);
    if (hp->arch == IG_ARCH_LLAMA) {
        if (!arch_f32(g, arch, "attention.layer_norm_rms_epsilon", &hp->norm_eps)) hp->norm_eps = 1e-5f;
    } else {
        if (!arch_f32(g, arch, "attention.layer_norm_epsilon", &hp->norm_eps)) hp->norm_eps = 1e-5f;
    }
    if (!arch_f32(g, arch, "rope.freq_base", &hp->rope_freq_base)) hp->rope_freq_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    float factor;
    const char *stype = NULL;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    gguf_get_str(g, key, &stype);
    if (arch_f32(g, arch, "rope.scaling.factor", &factor) || arch_f32(g, arch, "rope.scale_linear", &factor)) {
        if (stype && strcmp(stype, "linear") && strcmp(stype, "none")) {
            char shown[168];
            ig_show(shown, sizeof shown, stype, strlen(stype));
            return ig_err(INGOT_ERR_UNSUPPORTED, "%s: rope scaling '%s' is not supported", m->path, shown);
        }
        if (factor > 0 && (!stype || strcmp(stype, "none"))) hp->rope_freq_scale = 1.0f / factor;
    }
    return INGOT_OK;
}

/* ---- weights ---------------------------------------------------------- */

typedef struct {
    ingot_model *m;
    uint64_t done, total;
} load_state;

static ingot_status bind(load_state *ls, ig_weight *w, const char *name, int64_t cols, int64_t rows,
                         bool optional) {
    ingot_model *m = ls->m;
    const gguf_tensor *t = gguf_find_tensor(m->g, name);
    if (!t) {
        if (optional) return INGOT_OK;
        return ig_err(INGOT_ERR_FORMAT, "%s: missing tensor '%s'", m->path, name);
    }
    int64_t r = t->n_dims >= 2 ? t->ne[1] : 1;
    if (t->ne[0] != cols || r != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return ig_err(INGOT_ERR_FORMAT,
                      "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", m->path,
                      name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)t->ne[3], (long long)cols, (long long)rows);
    const ig_type_traits *tt = ig_type_traits_get(t->type);
    if (!tt || !tt->can_dequant)
        return ig_err(INGOT_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which ingot cannot decode",
                      m->path, name, tt ? tt->name : "unknown");
    /* Norm weights and biases are read as plain floats by every backend. */
    if (rows == 1 && t->type != IG_TYPE_F32)
        return ig_err(INGOT_ERR_UNSUPPORTED, "%s: vector tensor '%s' has type %s (only F32 is supported)",
                      m->path, name, tt->name);
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->nbytes = t->nbytes;
    ingot_status s = m->be->iface->weight_upload(m->be, w, t->data);
    if (s != INGOT_OK) return s;
    m->weight_bytes += t->nbytes;
    m->n_params += (uint64_t)(rows * cols);
    ls->done += t->nbytes;
    if (m->params.progress && ls->total &&
        !m->params.progress((float)((double)ls->done / (double)ls->total), m->params.progress_user))
        return ig_err(INGOT_ERR_CANCELLED, "%s: loading cancelled", m->path);
    return INGOT_OK;
}

static ingot_status load_weights(ingot_model *m) {
    const ig_hparams *hp = &m->hp;
    load_state ls = {m, 0, 0};
    for (int64_t i = 0; i < m->g->n_tensors; i++) ls.total += m->g->tensors[i].nbytes;
    if (m->be->iface->weights_reserve && m->g->n_tensors > 0 && m->g->n_tensors < (1 << 20)) {
        ig_weight *ws = calloc((size_t)m->g->n_tensors, sizeof *ws);
        int nw = 0;
        for (int64_t i = 0; ws && i < m->g->n_tensors; i++) {
            const gguf_tensor *t = &m->g->tensors[i];
            ws[nw].type = t->type;
            ws[nw].cols = t->ne[0];
            ws[nw].rows = t->ne[1] * t->ne[2] * t->ne[3];
            ws[nw].nbytes = t->nbytes;
            nw++;
        }
        if (ws && m->be->iface->weights_reserve(m->be, ws, nw) != INGOT_OK) ig_clear_err();
        free(ws);
    }
    int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff;
    int64_t KV = (int64_t)hp->n_head_kv * hp->head_dim;
    bool gpt2 = hp->arch == IG_ARCH_GPT2;
    ingot_status s;
#define BIND(w, name, c, r, opt) \
    if ((s = bind(&ls, (w), (name), (c), (r), (opt))) != INGOT_OK) return s
    BIND(&m->tok_embd, "token_embd.weight", E, V, false);
    if (gpt2) {
        BIND(&m->pos_embd, "position_embd.weight", E, hp->n_ctx_train, false);
        BIND(&m->output_norm_b, "output_norm.bias", E, 1, false);
    }
    BIND(&m->output_norm, "output_norm.weight", E, 1, false);
    BIND(&m->output, "output.weight", E, V, true);
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) return ig_err(INGOT_ERR_NOMEM, "%s: out of memory", m->path);
    char n[96];
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        ig_layer *L = &m->layers[l];
#define LB(w, suffix, c, r) \
    snprintf(n, sizeof n, "blk.%u.%s", l, suffix); BIND(w, n, c, r, false)
        LB(&L->attn_norm, "attn_norm.weight", E, 1);
        LB(&L->ffn_norm, "ffn_norm.weight", E, 1);
        LB(&L->ffn_up, "ffn_up.weight", E, F);
        LB(&L->ffn_down, "ffn_down.weight", F, E);
        if (gpt2) {
            LB(&L->attn_norm_b, "attn_norm.bias", E, 1);
            LB(&L->wqkv, "attn_qkv.weight", E, 3 * E);
            LB(&L->bqkv, "attn_qkv.bias", 3 * E, 1);
            LB(&L->wo, "attn_output.weight", E, E);
            LB(&L->bo, "attn_output.bias", E, 1);
            LB(&L->ffn_norm_b, "ffn_norm.bias", E, 1);
            LB(&L->b_up, "ffn_up.bias", F, 1);
            LB(&L->b_down, "ffn_down.bias", E, 1);
        } else {
            LB(&L->wq, "attn_q.weight", E, E);
            LB(&L->wk, "attn_k.weight", E, KV);
            LB(&L->wv, "attn_v.weight", E, KV);
            LB(&L->wo, "attn_output.weight", E, E);
            LB(&L->ffn_gate, "ffn_gate.weight", E, F);
        }
#undef LB
    }
#undef BIND
    if (m->params.progress) m->params.progress(1.0f, m->params.progress_user);
    return m->be->iface->sync(m->be);
}

/* ---- backend choice ------------------------------------------------------ */

static ingot_status pick_backend(ingot_model *m) {
    ingot_backend_kind want = m->params.backend;
    if (want == INGOT_BACKEND_METAL) /* same contract as CUDA: say so, run on the CPU */
        ig_log(INGOT_LOG_WARN, "Metal unavailable (this build has no Metal backend); running on CPU");
    if (want == INGOT_BACKEND_AUTO || want == INGOT_BACKEND_CUDA) {
        ig_backend *be = NULL;
        ingot_status s = ig_backend_cuda_new(m->params.device, &be);
        if (s == INGOT_OK) {
            /* Refuse a device that cannot hold the weights plus a margin for
             * KV and scratch, rather than failing halfway through upload. */
            size_t fr = 0, tot = 0;
            be->iface->memory(be, &fr, &tot);
            uint64_t need = 0;
            for (int64_t i = 0; i < m->g->n_tensors; i++) need += m->g->tensors[i].nbytes;
            need += need / 20 + (64u << 20);
            if (fr && need > fr) {
                ig_log(INGOT_LOG_WARN,
                       "CUDA unavailable (model needs %.1f MiB, %.1f MiB free on the device); running on CPU",
                       need / 1048576.0, fr / 1048576.0);
                be->iface->destroy(be);
            } else {
                m->be = be;
                return INGOT_OK;
            }
        } else if (want == INGOT_BACKEND_AUTO && ig_backend_cuda_compiled()) {
            ig_log(INGOT_LOG_WARN, "CUDA unavailable (%s); running on CPU", ingot_last_error());
        } else if (want == INGOT_BACKEND_CUDA) {
            ig_log(INGOT_LOG_WARN, "CUDA unavailable (%s); running on CPU", ingot_last_error());
        }
    }
    return ig_backend_cpu_new(m->params.n_threads, &m->be);
}

/* ---- file type names ------------------------------------------------------ */

const char *ingot_file_type_name(uint32_t ft) {
    /* llama.cpp's LLAMA_FTYPE_* ids and its names for them. */
    switch (ft) {
    case 0: return "all F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 4: return "Q4_1, some F16";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K - Medium";
    case 11: return "Q3_K - Small";
    case 12: return "Q3_K - Medium";
    case 13: return "Q3_K - Large";
    case 14: return "Q4_K - Small";
    case 15: return "Q4_K - Medium";
    case 16: return "Q5_K - Small";
    case 17: return "Q5_K - Medium";
    case 18: return "Q6_K";
    case 19: return "IQ2_XXS - 2.0625 bpw";
    case 20: return "IQ2_XS - 2.3125 bpw";
    case 21: return "Q2_K - Small";
    case 22: return "IQ3_XS - 3.3 bpw";
    case 23: return "IQ3_XXS - 3.0625 bpw";
    case 24: return "IQ1_S - 1.5625 bpw";
    case 25: return "IQ4_NL - 4.5 bpw";
    case 26: return "IQ3_S - 3.4375 bpw";
    case 27: return "IQ3_S mix - 3.66 bpw";
    case 28: return "IQ2_S - 2.5 bpw";
    case 29: return "IQ2_M - 2.7 bpw";
    case 30: return "IQ4_XS - 4.25 bpw";
    case 31: return "IQ1_M - 1.75 bpw";
    case 32: return "BF16";
    case 36: return "TQ1_0 - 1.69 bpw ternary";
    case 37: return "TQ2_0 - 2.06 bpw ternary";
    case 38: return "MXFP4 MoE";
    default: return NULL;
    }
}

/* ---- public --------------------------------------------------------------- */

ingot_status ingot_model_load(const char *path, const ingot_model_params *params, ingot_model **out) {
    ig_clear_err();
    if (!out) return ig_err(INGOT_ERR_INVALID_ARG, "ingot_model_load: out is NULL");
    *out = NULL;
    if (!path) return ig_err(INGOT_ERR_INVALID_ARG, "ingot_model_load: path is NULL");
    ingot_model *m = calloc(1, sizeof *m);
    if (!m) return ig_err(INGOT_ERR_NOMEM, "%s: out of memory", path);
    m->params = params ? *params : ingot_model_default_params();
    m->path = strdup(path);
    ingot_status s = m->path ? gguf_open(path, &m->g) : ig_err(INGOT_ERR_NOMEM, "out of memory");
    if (s == INGOT_OK) s = ig_vocab_load(m->g, &m->vocab);
    if (s == INGOT_OK && !m->params.vocab_only) {
        s = load_hparams(m);
        if (s == INGOT_OK) {
            m->hp.n_vocab = (uint32_t)ig_vocab_n(m->vocab);
            const gguf_tensor *te = gguf_find_tensor(m->g, "token_embd.weight");
            if (te && te->ne[1] != (int64_t)m->hp.n_vocab)
                s = ig_err(INGOT_ERR_FORMAT, "%s: token_embd.weight has %lld rows but the vocabulary has %u tokens",
                           path, (long long)te->ne[1], m->hp.n_vocab);
        }
        if (s == INGOT_OK) s = pick_backend(m);
        if (s == INGOT_OK) s = load_weights(m);
    }
    if (s != INGOT_OK) {
        ingot_model_free(m);
        return s;
    }
    uint32_t ft;
    const char *fn = gguf_get_u32(m->g, "general.file_type", &ft) ? ingot_file_type_name(ft) : NULL;
    if (fn) snprintf(m->file_type, sizeof m->file_type, "%s", fn);
    else if (gguf_get_u32(m->g, "general.file_type", &ft)) snprintf(m->file_type, sizeof m->file_type, "unknown (%u)", ft);
    else snprintf(m->file_type, sizeof m->file_type, "unknown");
    *out = m;
    return INGOT_OK;
}

static void free_weight(ingot_model *m, ig_weight *w) {
    if (w->data && m->be) m->be->iface->weight_free(m->be, w);
    w->data = NULL;
}

void ingot_model_free(ingot_model *m) {
    if (!m) return;
    if (m->be) {
        if (m->output.data == m->tok_embd.data) m->output.data = NULL;
        ig_weight *top[] = {&m->tok_embd, &m->pos_embd, &m->output_norm, &m->output_norm_b, &m->output};
        for (size_t i = 0; i < 5; i++) free_weight(m, top[i]);
        for (uint32_t l = 0; m->layers && l < m->hp.n_layer; l++) {
            ig_weight *w = (ig_weight *)&m->layers[l];
            for (size_t i = 0; i < sizeof(ig_layer) / sizeof(ig_weight); i++) free_weight(m, &w[i]);
        }
        m->be->iface->destroy(m->be);
    }
    free(m->layers);
    ig_vocab_free(m->vocab);
    gguf_close(m->g);
    free(m->path);
    free(m);
}

void ingot_model_get_info(const ingot_model *m, ingot_model_info *o) {
    memset(o, 0, sizeof *o);
    const char *s = "";
    o->arch = m->hp.arch_name ? m->hp.arch_name : (gguf_get_str(m->g, "general.architecture", &s) ? s : "");
    o->name = gguf_get_str(m->g, "general.name", &s) ? s : "";
    o->file_type = m->file_type;
    o->n_params = m->n_params;
    o->weight_bytes = m->weight_bytes;
    o->n_ctx_train = m->hp.n_ctx_train;
    o->n_embd = m->hp.n_embd;
    o->n_layer = m->hp.n_layer;
    o->n_head = m->hp.n_head;
    o->n_head_kv = m->hp.n_head_kv;
    o->n_ff = m->hp.n_ff;
    o->n_vocab = (uint32_t)ig_vocab_n(m->vocab);
    o->n_rot = m->hp.n_rot;
    o->rope_freq_base = m->hp.rope_freq_base;
    o->rope_freq_scale = m->hp.rope_freq_scale;
    o->norm_eps = m->hp.norm_eps;
    o->tokenizer_model = ig_vocab_model(m->vocab);
    o->tokenizer_pre = ig_vocab_pre(m->vocab);
    o->chat_template = gguf_get_str(m->g, "tokenizer.chat_template", &s) ? s : NULL;
    o->backend = m->be ? m->be->iface->name : "none";
    o->device_name = m->be ? m->be->iface->device_name(m->be) : "";
}
