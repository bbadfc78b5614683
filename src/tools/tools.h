/* Internals shared by the library side of `ingot quantize`, `ingot mkmodel`
 * and `ingot bench`: file types and llama.cpp's per-tensor type mixes. */
#ifndef INGOT_TOOLS_H
#define INGOT_TOOLS_H

#include <stdbool.h>
#include <stdint.h>

/* A file type ("Q4_K_M"): llama.cpp's LLAMA_FTYPE id, written to
 * general.file_type, and the tensor type most weights get. */
typedef struct ig_ftype {
    const char *name;
    uint32_t id;
    uint32_t type;
} ig_ftype;

/* Case-insensitive; accepts llama-quantize's aliases (Q4_K = Q4_K_M).
 * NULL if unknown. */
const ig_ftype *ig_ftype_find(const char *name);
/* The i-th file type (for help texts), NULL past the end. */
const ig_ftype *ig_ftype_at(int i);

/* What the mix needs to know about the model. */
typedef struct ig_mix {
    const ig_ftype *ft;
    bool pure;       /* every quantizable tensor gets ft->type (still with fallbacks) */
    bool tied;       /* no output.weight: token_embd is also the output */
    int n_layer;
    int n_gqa;       /* n_head / n_head_kv */
} ig_mix;

/* The type llama.cpp's llama-quantize gives a tensor (llama_tensor_get_type
 * without an importance matrix): 1-D tensors, norms, biases and position
 * embeddings keep `cur`; output.weight goes to Q6_K; some attn_v /
 * ffn_down layers get more bits in the _M/_L mixes; a row length that is
 * not a multiple of the block falls back to a 32-block type or F16. */
uint32_t ig_mix_type(const ig_mix *mx, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t cur);

#endif
