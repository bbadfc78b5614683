/* A context: one sequence's KV cache and the scratch buffers of the forward
 * pass, all on the model's backend. */
#ifndef INGOT_CONTEXT_H
#define INGOT_CONTEXT_H

#include "model.h"

typedef enum ig_out_mode {
    IG_OUT_LAST,   /* logits of the last token */
    IG_OUT_ALL,    /* logits of every token */
    IG_OUT_ARGMAX, /* only the argmax id of the last token */
    IG_OUT_KEEP,   /* logits of the last token, left in logits_dev (decode only) */
} ig_out_mode;

struct ingot_context {
    ingot_model *m;
    ingot_context_params p;
    uint32_t n_ctx, n_batch, pos;
    int graph_id; /* distinguishes this context's recorded steps from others' */
    /* backend buffers */
    void **k_cache, **v_cache; /* per layer [n_ctx][kv_dim] */
    void *arena; /* one backend allocation holding the KV cache and the buffers below (but logits_dev) */
    float *x, *h, *q, *k, *v, *qkv, *att, *ffa, *ffb, *logits_dev;
    int32_t *ids_dev, *pos_dev, *argmax_dev;
    /* host side */
    float *logits;       /* [n_logits][n_vocab] */
    int32_t n_logits;    /* rows valid in `logits` from the last decode */
    int32_t logits_first; /* index in the batch of logits row 0 */
    int32_t logits_cap;
    int32_t *pos_host;
    uint32_t logits_dev_rows; /* rows logits_dev holds: 1 until a decode wants all */
    /* A greedy step queued ahead (greedy_next): it runs at position `pos`
     * with the id the last ingot_decode_greedy returned as its input. */
    bool ahead;
    int32_t ahead_in;
    /* ingot_decode_sample on the device: the top-k pairs and penalty ids */
    int32_t *topk_dev, *topk_host, *pen_dev, *pen_host;
    int32_t pen_cap;
};

/* Run the transformer on n (<= n_batch) tokens whose ids and positions are
 * already in ids_dev / pos_dev; writes logits_dev (or argmax_dev). */
void ig_forward(ingot_context *c, int n, ig_out_mode mode);

#endif
