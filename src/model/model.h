/* The loaded model: hyperparameters, vocabulary and weights on a backend. */
#ifndef INGOT_MODEL_H
#define INGOT_MODEL_H

#include "backend/backend.h"
#include "gguf/gguf.h"
#include "ingot.h"
#include "tokenizer/tokenizer.h"

typedef enum ig_arch { IG_ARCH_LLAMA, IG_ARCH_GPT2 } ig_arch;

typedef struct ig_hparams {
    ig_arch arch;
    const char *arch_name;
    uint32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot;
    uint32_t head_dim;
    float norm_eps, rope_freq_base, rope_freq_scale;
} ig_hparams;

typedef struct ig_layer {
    ig_weight attn_norm, attn_norm_b;
    ig_weight wq, wk, wv, wo;       /* llama: separate projections */
    ig_weight wqkv, bqkv, bo;       /* gpt2: fused QKV with bias; output bias */
    ig_weight ffn_norm, ffn_norm_b;
    ig_weight ffn_gate, ffn_up, ffn_down;
    ig_weight b_up, b_down;         /* gpt2 FFN biases */
} ig_layer;

struct ingot_model {
    char *path;
    gguf *g;
    ig_vocab *vocab;
    ingot_model_params params;
    ig_hparams hp;
    ig_backend *be;                 /* NULL for vocab-only models */
    const char *device_name;
    ig_weight tok_embd, pos_embd, output_norm, output_norm_b, output;
    ig_layer *layers;
    uint64_t n_params, weight_bytes;
    char file_type[32];
};

#endif
