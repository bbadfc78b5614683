/* The transformer, written once for every backend.
 *
 * Each line below is one op of the backend table (src/backend/backend.h);
 * nothing here touches tensor memory, which may live on a GPU. One call
 * processes n tokens of one sequence: the prompt as a batch, or a single
 * token per generation step. Shapes in comments are [rows][cols], one row
 * per token; E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim,
 * F = n_ff, V = n_vocab.
 */
#include <math.h>

#include "context.h"

void ig_forward(ingot_context *c, int n, ig_out_mode mode) {
    const ingot_model *m = c->m;
    const ig_hparams *hp = &m->hp;
    ig_backend *be = m->be;
    const ig_backend_iface *B = be->iface;
    const int E = (int)hp->n_embd, F = (int)hp->n_ff, V = (int)hp->n_vocab;
    const int KV = (int)(hp->n_head_kv * hp->head_dim);
    const bool gpt2 = hp->arch == IG_ARCH_GPT2;

    /* A decode step (n == 1) always issues the same ops on the same
     * buffers, so a backend that can record it (CUDA graphs) replays it,
     * once per length phase (kernels chosen for short sequences). */
    int bound = 0;
    const int phase = B->len_phase ? B->len_phase(be, (int)c->pos + n, &bound) & 3 : 0;
    const int graph_key = n == 1 ? (c->graph_id * 4 + phase) * 4 + (int)mode + 1 : 0;
    if (graph_key && B->graph_replay && B->graph_replay(be, graph_key)) return;
    if (graph_key && B->capture_begin) B->capture_begin(be, graph_key);

    ig_attn at = {
        .n_head = (int)hp->n_head, .n_head_kv = (int)hp->n_head_kv, .head_dim = (int)hp->head_dim,
        .scale = 1.0f / sqrtf((float)hp->head_dim), .kv_type = (int)c->p.kv_type, .n_ctx = (int)c->n_ctx,
        .max_len = bound,
    };
    ig_rope rope = {.n_rot = (int)hp->n_rot, .freq_base = hp->rope_freq_base,
                    .freq_scale = hp->rope_freq_scale, .mode = IG_ROPE_NORMAL};

    float *x = c->x;                                   /* [n][E] residual stream */
    B->embed(be, x, &m->tok_embd, c->ids_dev, n);
    if (gpt2) {                                        /* learned positions */
        B->embed(be, c->h, &m->pos_embd, c->pos_dev, n);
        B->add(be, x, x, c->h, (size_t)n * E);
    }

    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const ig_layer *L = &m->layers[l];

        /* --- attention --- */
        const float *q, *k, *v;
        int ld;
        if (gpt2) {
            B->layer_norm(be, c->h, x, &L->attn_norm, &L->attn_norm_b, n, E, hp->norm_eps);
            B->matmul(be, c->qkv, &L->wqkv, &L->bqkv, c->h, n);  /* [n][3E] */
            q = c->qkv, k = c->qkv + E, v = c->qkv + 2 * E, ld = 3 * E;
        } else {
            B->rms_norm(be, c->h, x, &L->attn_norm, n, E, hp->norm_eps);
            B->matmul(be, c->q, &L->wq, NULL, c->h, n);          /* [n][H*D]   */
            B->matmul(be, c->k, &L->wk, NULL, c->h, n);          /* [n][Hkv*D] */
            B->matmul(be, c->v, &L->wv, NULL, c->h, n);          /* [n][Hkv*D] */
            B->rope(be, c->q, E, n, at.n_head, at.head_dim, c->pos_dev, &rope);
            B->rope(be, c->k, KV, n, at.n_head_kv, at.head_dim, c->pos_dev, &rope);
            q = c->q, k = c->k, v = c->v, ld = -1;
        }
        B->kv_store(be, c->k_cache[l], c->v_cache[l], k, v, ld > 0 ? ld : KV, n, KV, c->pos_dev, &at);
        B->attention(be, c->att, q, ld > 0 ? ld : E, c->k_cache[l], c->v_cache[l], n, c->pos_dev, &at);
        B->matmul(be, c->h, &L->wo, gpt2 ? &L->bo : NULL, c->att, n);  /* [n][E] */
        B->add(be, x, x, c->h, (size_t)n * E);

        /* --- feed-forward --- */
        if (gpt2) {
            B->layer_norm(be, c->h, x, &L->ffn_norm, &L->ffn_norm_b, n, E, hp->norm_eps);
            B->matmul(be, c->ffa, &L->ffn_up, &L->b_up, c->h, n);        /* [n][F] */
            B->gelu(be, c->ffa, (size_t)n * F);
            B->matmul(be, c->h, &L->ffn_down, &L->b_down, c->ffa, n);    /* [n][E] */
        } else {
            B->rms_norm(be, c->h, x, &L->ffn_norm, n, E, hp->norm_eps);
            B->matmul(be, c->ffa, &L->ffn_gate, NULL, c->h, n);          /* [n][F] */
            B->matmul(be, c->ffb, &L->ffn_up, NULL, c->h, n);            /* [n][F] */
            B->swiglu(be, c->ffa, c->ffa, c->ffb, (size_t)n * F);
            B->matmul(be, c->h, &L->ffn_down, NULL, c->ffa, n);          /* [n][E] */
        }
        B->add(be, x, x, c->h, (size_t)n * E);
    }

    /* --- output: only the rows whose logits are wanted --- */
    int first = mode == IG_OUT_ALL ? 0 : n - 1, rows = n - first;
    const float *xo = x + (size_t)first * E;
    if (gpt2) B->layer_norm(be, c->h, xo, &m->output_norm, &m->output_norm_b, rows, E, hp->norm_eps);
    else B->rms_norm(be, c->h, xo, &m->output_norm, rows, E, hp->norm_eps);
    B->matmul(be, c->logits_dev, &m->output, NULL, c->h, rows);         /* [rows][V] */
    if (mode == IG_OUT_ARGMAX) B->argmax(be, c->argmax_dev, c->logits_dev, V);

    if (graph_key && B->capture_end) B->capture_end(be, graph_key);
}
