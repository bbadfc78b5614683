/* Contexts: allocation of the KV cache and scratch buffers, and the decode
 * API that feeds the transformer in batches and brings logits back. */
#include "context.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sample/sampler.h"

ingot_context_params ingot_context_default_params(void) {
    ingot_context_params p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.kv_type = INGOT_KV_F16;
    return p;
}

static void *balloc(ingot_context *c, size_t bytes, ingot_status *s) {
    if (*s != INGOT_OK) return NULL;
    ig_backend *be = c->m->be;
    void *p = be->iface->alloc(be, bytes ? bytes : 16);
    if (!p) *s = ig_err(INGOT_ERR_NOMEM, "%s: cannot allocate %.1f MiB on the %s backend (%s)", c->m->path,
                        bytes / 1048576.0, be->iface->name, ingot_last_error());
    return p;
}

ingot_status ingot_context_new(ingot_model *m, const ingot_context_params *params, ingot_context **out) {
    ig_clear_err();
    if (!out || !m) return ig_err(INGOT_ERR_INVALID_ARG, "ingot_context_new: NULL argument");
    *out = NULL;
    if (!m->be) return ig_err(INGOT_ERR_INVALID_ARG, "%s: model was loaded vocab-only", m->path);
    ingot_context *c = calloc(1, sizeof *c);
    if (!c) return ig_err(INGOT_ERR_NOMEM, "out of memory");
    static _Atomic int next_graph_id;
    c->m = m;
    c->graph_id = ++next_graph_id;
    c->p = params ? *params : ingot_context_default_params();
    const ig_hparams *hp = &m->hp;
    if (c->p.kv_type != INGOT_KV_F16 && c->p.kv_type != INGOT_KV_F32) {
        int kt = (int)c->p.kv_type;
        free(c);
        return ig_err(INGOT_ERR_INVALID_ARG, "unknown KV cache type %d", kt);
    }
    c->n_ctx = c->p.n_ctx ? c->p.n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    /* GPT-2 has one learned embedding per position: no further. */
    if (hp->arch == IG_ARCH_GPT2 && c->n_ctx > hp->n_ctx_train) {
        uint32_t want = c->n_ctx;
        free(c);
        return ig_err(INGOT_ERR_INVALID_ARG, "%s: context %u exceeds the model's %u learned positions",
                      m->path, want, hp->n_ctx_train);
    }
    if (c->n_ctx > (1u << 20)) {
        uint32_t want = c->n_ctx;
        free(c);
        return ig_err(INGOT_ERR_INVALID_ARG, "context size %u is too large", want);
    }
    c->n_batch = c->p.n_batch ? c->p.n_batch : 512;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;
    size_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab, B = c->n_batch;
    size_t KV = (size_t)hp->n_head_kv * hp->head_dim;
    size_t esz = c->p.kv_type == INGOT_KV_F16 ? 2 : 4;
    ingot_status s = INGOT_OK;
    c->k_cache = calloc(hp->n_layer, sizeof(void *));
    c->v_cache = calloc(hp->n_layer, sizeof(void *));
    if (!c->k_cache || !c->v_cache) s = ig_err(INGOT_ERR_NOMEM, "out of memory");
    /* The KV cache and the activations in one allocation: on a GPU each
     * allocation is rounded up by the driver (to 2 MiB), hundreds of
     * megabytes over a 7B model's 64 cache tensors and activations. */
    const bool gpt2 = hp->arch == IG_ARCH_GPT2;
    struct part { void **p; size_t bytes; } *parts = calloc(2 * (size_t)hp->n_layer + 16, sizeof *parts);
    if (!parts && s == INGOT_OK) s = ig_err(INGOT_ERR_NOMEM, "out of memory");
    size_t np = 0;
#define PART(ptr, n) (parts[np].p = (void **)(ptr), parts[np++].bytes = (n))
    for (uint32_t l = 0; l < hp->n_layer && s == INGOT_OK; l++) {
        PART(&c->k_cache[l], c->n_ctx * KV * esz);
        PART(&c->v_cache[l], c->n_ctx * KV * esz);
    }
    if (s == INGOT_OK) {
        PART(&c->x, B * E * 4);
        PART(&c->h, B * E * 4);
        PART(&c->att, B * E * 4);
        if (gpt2) {
            PART(&c->qkv, B * 3 * E * 4);
        } else {
            PART(&c->q, B * E * 4);
            PART(&c->k, B * KV * 4);
            PART(&c->v, B * KV * 4);
            PART(&c->ffb, B * F * 4);
        }
        PART(&c->ffa, B * F * 4);
        PART(&c->ids_dev, B * 4);
        PART(&c->pos_dev, B * 4);
        PART(&c->argmax_dev, 4);
    }
#undef PART
    size_t total = 0;
    for (size_t i = 0; i < np; i++) total += (parts[i].bytes + 255) & ~(size_t)255;
    c->arena = balloc(c, total, &s);
    for (size_t i = 0, off = 0; i < np && c->arena; i++) {
        *parts[i].p = (char *)c->arena + off;
        off += (parts[i].bytes + 255) & ~(size_t)255;
    }
    free(parts);
    /* One row of logits until a decode asks for every position: a decode
     * step needs no more, and n_batch rows of a large vocab are not small. */
    c->logits_dev = balloc(c, V * 4, &s);
    c->logits_dev_rows = 1;
    c->pos_host = malloc(B * 4);
    if (s == INGOT_OK && !c->pos_host) s = ig_err(INGOT_ERR_NOMEM, "out of memory");
    if (s == INGOT_OK) s = m->be->iface->sync(m->be);
    if (s != INGOT_OK) {
        ingot_context_free(c);
        return s;
    }
    *out = c;
    return INGOT_OK;
}

/* Let a step queued ahead finish (its result is no longer wanted). */
static void drop_ahead(ingot_context *c) {
    if (!c->ahead) return;
    c->ahead = false;
    ig_backend *be = c->m->be;
    be->iface->sync(be); /* its error, if any, belongs to a step nobody asked for */
    ig_clear_err();
}

void ingot_context_free(ingot_context *c) {
    if (!c) return;
    drop_ahead(c);
    ig_backend *be = c->m->be;
    if (c->arena) be->iface->dealloc(be, c->arena);
    if (c->logits_dev) be->iface->dealloc(be, c->logits_dev);
    if (c->topk_dev) be->iface->dealloc(be, c->topk_dev);
    if (c->pen_dev) be->iface->dealloc(be, c->pen_dev);
    free(c->topk_host);
    free(c->pen_host);
    free(c->k_cache);
    free(c->v_cache);
    free(c->logits);
    free(c->pos_host);
    free(c);
}

uint32_t ingot_n_ctx(const ingot_context *c) { return c->n_ctx; }
uint32_t ingot_context_pos(const ingot_context *c) { return c->pos; }

ingot_status ingot_context_truncate(ingot_context *c, uint32_t pos) {
    if (pos > c->pos) return ig_err(INGOT_ERR_INVALID_ARG, "cannot truncate to %u: context holds %u tokens", pos, c->pos);
    /* Cache rows past pos are simply overwritten later: attention only
     * reads rows 0..pos of each query. */
    drop_ahead(c);
    c->pos = pos;
    c->n_logits = 0;
    return INGOT_OK;
}

/* Upload one chunk's ids and positions and run the transformer. */
static ingot_status run_chunk(ingot_context *c, const int32_t *ids, int n, ig_out_mode mode) {
    ig_backend *be = c->m->be;
    for (int i = 0; i < n; i++) c->pos_host[i] = (int32_t)(c->pos + (uint32_t)i);
    ingot_status s = be->iface->upload(be, c->ids_dev, ids, (size_t)n * 4);
    if (s == INGOT_OK) s = be->iface->upload(be, c->pos_dev, c->pos_host, (size_t)n * 4);
    if (s != INGOT_OK) return s;
    ig_forward(c, n, mode == IG_OUT_KEEP ? IG_OUT_LAST : mode);
    return INGOT_OK;
}

static ingot_status check_tokens(ingot_context *c, const int32_t *tokens, int32_t n) {
    if (!tokens || n <= 0) return ig_err(INGOT_ERR_INVALID_ARG, "decode: no tokens");
    int32_t nv = (int32_t)c->m->hp.n_vocab;
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= nv)
            return ig_err(INGOT_ERR_INVALID_ARG, "decode: token id %d out of range [0, %d)", tokens[i], nv);
    if ((uint64_t)c->pos + (uint64_t)n > c->n_ctx)
        return ig_err(INGOT_ERR_CONTEXT_FULL, "%u + %d tokens do not fit in the context of %u", c->pos, n, c->n_ctx);
    return INGOT_OK;
}

static ingot_status decode(ingot_context *c, const int32_t *tokens, int32_t n, ig_out_mode mode) {
    ig_clear_err();
    /* a step queued ahead at c->pos wrote only cache row c->pos, which this
     * decode overwrites before anything reads it; the stream keeps order */
    c->ahead = false;
    ingot_status s = check_tokens(c, tokens, n);
    if (s != INGOT_OK) return s;
    ig_backend *be = c->m->be;
    size_t V = c->m->hp.n_vocab;
    int32_t keep = mode == IG_OUT_ALL ? n : mode == IG_OUT_LAST ? 1 : 0;
    if (keep > c->logits_cap) {
        float *nl = realloc(c->logits, (size_t)keep * V * sizeof(float));
        if (!nl) return ig_err(INGOT_ERR_NOMEM, "out of memory for %d rows of logits", keep);
        c->logits = nl;
        c->logits_cap = keep;
    }
    if (!c->logits_dev) return ig_err(INGOT_ERR_NOMEM, "%s: the context lost its logits buffer", c->m->path);
    if (mode == IG_OUT_ALL && c->logits_dev_rows < c->n_batch) {
        ig_backend *b = c->m->be;
        b->iface->dealloc(b, c->logits_dev);
        c->logits_dev = b->iface->alloc(b, (size_t)c->n_batch * V * 4);
        if (!c->logits_dev) {
            c->logits_dev = b->iface->alloc(b, V * 4);
            c->logits_dev_rows = 1;
            return ig_err(INGOT_ERR_NOMEM, "%s: no memory for %u rows of logits", c->m->path, c->n_batch);
        }
        c->logits_dev_rows = c->n_batch;
    }
    c->n_logits = 0;
    uint32_t start = c->pos;
    for (int32_t done = 0; done < n && s == INGOT_OK;) {
        int chunk = n - done < (int32_t)c->n_batch ? n - done : (int)c->n_batch;
        bool last = done + chunk == n;
        ig_out_mode cm = mode == IG_OUT_ALL ? IG_OUT_ALL : last ? mode : IG_OUT_LAST;
        s = run_chunk(c, tokens + done, chunk, cm);
        if (s == INGOT_OK && mode == IG_OUT_ALL)
            s = be->iface->download(be, c->logits + (size_t)done * V, c->logits_dev, (size_t)chunk * V * 4);
        else if (s == INGOT_OK && last && mode == IG_OUT_LAST)
            s = be->iface->download(be, c->logits, c->logits_dev, V * 4);
        /* a greedy or sampled step's caller waits for its result: no need
         * to wait twice */
        if (s == INGOT_OK && cm != IG_OUT_ARGMAX && cm != IG_OUT_KEEP) s = be->iface->sync(be);
        c->pos += (uint32_t)chunk;
        done += chunk;
    }
    if (s != INGOT_OK) {
        c->pos = start; /* the cache rows written are harmless: they get overwritten */
        return s;
    }
    c->n_logits = keep;
    c->logits_first = mode == IG_OUT_ALL ? 0 : n - 1;
    return INGOT_OK;
}

ingot_status ingot_decode(ingot_context *c, const int32_t *tokens, int32_t n, bool all_logits) {
    if (!c) return ig_err(INGOT_ERR_INVALID_ARG, "decode: NULL context");
    return decode(c, tokens, n, all_logits ? IG_OUT_ALL : IG_OUT_LAST);
}

const float *ingot_get_logits(ingot_context *c, int32_t i) {
    if (!c || c->n_logits == 0) return NULL;
    int32_t n_batch_tokens = c->logits_first + c->n_logits;
    if (i < 0) i += n_batch_tokens;
    int32_t row = i - c->logits_first;
    if (row < 0 || row >= c->n_logits) return NULL;
    return c->logits + (size_t)row * c->m->hp.n_vocab;
}

/* Greedy decoding keeps the device busy: before it waits for this step's
 * id it queues the next step, whose input is that id taken on the device
 * (greedy_next). When the caller then passes that id, as a generation
 * loop does, its step is already running; any other call finds the queued
 * step harmless (it wrote only cache row c->pos, rewritten before it is
 * read). The host's round trip between steps leaves the critical path
 * (`ingot bench` tg128 of 7B Q4_0 / Q4_K_M on an H100: +1.4% / +1.1% in
 * one run); each generation runs one step more than it returns. */
ingot_status ingot_decode_greedy(ingot_context *c, const int32_t *tokens, int32_t n, int32_t *out_id) {
    if (!c || !out_id || !tokens) return ig_err(INGOT_ERR_INVALID_ARG, "decode_greedy: NULL argument");
    ig_backend *be = c->m->be;
    const ig_backend_iface *B = be->iface;
    const uint32_t start = c->pos;
    ingot_status s = INGOT_OK;
    if (c->ahead && n == 1 && tokens[0] == c->ahead_in) {
        ig_clear_err();
        c->ahead = false;
        c->n_logits = 0;
        c->pos++;
    } else {
        s = decode(c, tokens, n, IG_OUT_ARGMAX);
        if (s != INGOT_OK) return s;
    }
    if (B->greedy_next && B->greedy_wait &&
        B->greedy_next(be, c->ids_dev, c->pos_dev, c->argmax_dev, (int32_t)c->pos)) {
        if (c->pos < c->n_ctx) {
            ig_forward(c, 1, IG_OUT_ARGMAX);
            c->ahead = true;
        }
        s = B->greedy_wait(be, out_id);
        c->ahead_in = *out_id;
    } else {
        s = B->download(be, out_id, c->argmax_dev, 4);
        if (s == INGOT_OK) s = B->sync(be);
    }
    if (s != INGOT_OK) { /* the step's error surfaces only here */
        c->ahead = false;
        c->pos = start;
    }
    return s;
}

/* The most candidates the device hands back; a larger top-k gets every logit. */
#define TOPK_MAX 1024

/* Device buffers of ingot_decode_sample, made at first use. */
static bool sample_bufs(ingot_context *c, int32_t window) {
    ig_backend *be = c->m->be;
    if (!c->topk_host && !(c->topk_host = malloc(2 * TOPK_MAX * sizeof(int32_t)))) return false;
    if (!c->topk_dev && !(c->topk_dev = be->iface->alloc(be, 2 * TOPK_MAX * sizeof(int32_t)))) return false;
    if (window > c->pen_cap) {
        int32_t *h = realloc(c->pen_host, (size_t)window * sizeof(int32_t));
        if (!h) return false;
        c->pen_host = h;
        if (c->pen_dev) be->iface->dealloc(be, c->pen_dev);
        c->pen_dev = be->iface->alloc(be, (size_t)window * sizeof(int32_t));
        c->pen_cap = c->pen_dev ? window : 0;
        if (!c->pen_dev) return false;
    }
    return true;
}

ingot_status ingot_decode_sample(ingot_context *c, const int32_t *tokens, int32_t n, ingot_sampler *smp,
                                 int32_t *out_id) {
    if (!c || !tokens || !smp || !out_id) return ig_err(INGOT_ERR_INVALID_ARG, "decode_sample: NULL argument");
    ig_backend *be = c->m->be;
    const ig_backend_iface *B = be->iface;
    const int32_t V = (int32_t)c->m->hp.n_vocab, k = ig_sampler_need(smp, V);
    if (!B->topk || !B->penalize || k <= 0 || k > TOPK_MAX || !sample_bufs(c, ig_sampler_window(smp))) {
        ig_clear_err(); /* a failed buffer: every logit comes back instead */
        ingot_status s = decode(c, tokens, n, IG_OUT_LAST);
        if (s != INGOT_OK) return s;
        *out_id = ingot_sampler_sample(smp, ingot_get_logits(c, -1), V);
        return *out_id < 0 ? ig_err(INGOT_ERR_NOMEM, "sampler: out of memory") : INGOT_OK;
    }
    const uint32_t start = c->pos;
    ingot_status s = decode(c, tokens, n, IG_OUT_KEEP);
    if (s != INGOT_OK) return s;
    float penalty = 1.0f;
    const int32_t np = ig_sampler_penalty_ids(smp, V, c->pen_host, &penalty);
    if (np > 0) {
        s = B->upload(be, c->pen_dev, c->pen_host, (size_t)np * 4);
        if (s == INGOT_OK) B->penalize(be, c->logits_dev, V, c->pen_dev, np, penalty);
    }
    if (s == INGOT_OK) {
        B->topk(be, c->topk_dev, c->logits_dev, V, k);
        s = B->download(be, c->topk_host, c->topk_dev, (size_t)k * 8);
    }
    if (s == INGOT_OK) s = B->sync(be);
    if (s != INGOT_OK) {
        c->pos = start;
        return s;
    }
    /* pairs (id, logit bits) into two arrays, in place: ids first */
    int32_t *ids = c->topk_host;
    float lg[TOPK_MAX];
    for (int32_t i = 0; i < k; i++) {
        memcpy(&lg[i], &c->topk_host[2 * i + 1], 4);
        ids[i] = c->topk_host[2 * i];
    }
    *out_id = ig_sampler_pick(smp, ids, lg, k);
    return *out_id < 0 ? ig_err(INGOT_ERR_NOMEM, "sampler: out of memory") : INGOT_OK;
}
