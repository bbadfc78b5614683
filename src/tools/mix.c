/* File types and per-tensor type mixes, as llama.cpp's llama-quantize
 * chooses them (src/llama-quant.cpp: llama_tensor_get_type and
 * tensor_type_fallback), for the architectures ingot runs. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "quant/quant.h"
#include "tools/tools.h"

/* llama.cpp's LLAMA_FTYPE_* ids */
enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
    FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_BF16 = 32,
};

static const ig_ftype ftypes[] = {
    {"Q4_0", FT_Q4_0, IG_TYPE_Q4_0},     {"Q4_1", FT_Q4_1, IG_TYPE_Q4_1},
    {"Q5_0", FT_Q5_0, IG_TYPE_Q5_0},     {"Q5_1", FT_Q5_1, IG_TYPE_Q5_1},
    {"Q8_0", FT_Q8_0, IG_TYPE_Q8_0},     {"Q2_K", FT_Q2_K, IG_TYPE_Q2_K},
    {"Q3_K_S", FT_Q3_K_S, IG_TYPE_Q3_K}, {"Q3_K_M", FT_Q3_K_M, IG_TYPE_Q3_K},
    {"Q3_K_L", FT_Q3_K_L, IG_TYPE_Q3_K}, {"Q4_K_S", FT_Q4_K_S, IG_TYPE_Q4_K},
    {"Q4_K_M", FT_Q4_K_M, IG_TYPE_Q4_K}, {"Q5_K_S", FT_Q5_K_S, IG_TYPE_Q5_K},
    {"Q5_K_M", FT_Q5_K_M, IG_TYPE_Q5_K}, {"Q6_K", FT_Q6_K, IG_TYPE_Q6_K},
    {"F16", FT_F16, IG_TYPE_F16},        {"BF16", FT_BF16, IG_TYPE_BF16},
    {"F32", FT_F32, IG_TYPE_F32},
};

const ig_ftype *ig_ftype_at(int i) {
    return i >= 0 && (size_t)i < sizeof ftypes / sizeof ftypes[0] ? &ftypes[i] : NULL;
}

const ig_ftype *ig_ftype_find(const char *name) {
    if (!name) return NULL;
    static const struct { const char *alias, *name; } aliases[] = {
        {"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcasecmp(name, aliases[i].alias)) name = aliases[i].name;
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (!strcasecmp(name, ftypes[i].name)) return &ftypes[i];
    return NULL;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* llama-quantize leaves alone: 1-D tensors, anything not a weight, norms,
 * position embeddings. */
static bool quantizable(const char *name, uint32_t n_dims) {
    if (n_dims < 2) return false;
    if (!ends_with(name, "weight")) return false;
    if (strstr(name, "_norm.weight")) return false;
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight")) return false;
    return true;
}

static bool is_quantized(uint32_t t) {
    return t != IG_TYPE_F32 && t != IG_TYPE_F16 && t != IG_TYPE_BF16;
}

static int layer_of(const char *name) {
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1) return -1;
    return l;
}

/* first and last eighth of the layers, and every third one in between */
static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static uint32_t fallback(uint32_t t, int64_t ncols) {
    const int64_t blk = ig_type_traits_get(t)->blck;
    if (ncols % blk == 0) return t;
    switch (t) {
    case IG_TYPE_Q2_K:
    case IG_TYPE_Q3_K: t = IG_TYPE_Q4_0; break;
    case IG_TYPE_Q4_K: t = IG_TYPE_Q5_0; break;
    case IG_TYPE_Q5_K: t = IG_TYPE_Q5_1; break;
    case IG_TYPE_Q6_K: t = IG_TYPE_Q8_0; break;
    default: t = IG_TYPE_F16; break; /* llama.cpp gives up here; F16 always fits */
    }
    if (ncols % ig_type_traits_get(t)->blck) t = IG_TYPE_F16;
    return t;
}

uint32_t ig_mix_type(const ig_mix *mx, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t cur) {
    if (!quantizable(name, n_dims)) return cur;
    const uint32_t def = mx->ft->type;
    if (!is_quantized(def)) return def;
    const uint32_t ft = mx->ft->id;
    const int64_t nx = ne[0];
    uint32_t t = def;
    if (!mx->pure) {
        const bool output = !strcmp(name, "output.weight");
        const bool embd = !strcmp(name, "token_embd.weight");
        const bool attn_v = strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight");
        const int il = layer_of(name), n = mx->n_layer;
        if (output || (mx->tied && embd)) {
            if (nx % ig_type_traits_get(t)->blck) t = IG_TYPE_Q8_0;
            else if (t != IG_TYPE_Q8_0) t = IG_TYPE_Q6_K;
        } else if (embd) {
            /* the default type */
        } else if (attn_v) {
            if (ft == FT_Q2_K) t = mx->n_gqa >= 4 ? IG_TYPE_Q4_K : IG_TYPE_Q3_K;
            else if (ft == FT_Q3_K_M) t = il < 2 ? IG_TYPE_Q5_K : IG_TYPE_Q4_K;
            else if (ft == FT_Q3_K_L) t = IG_TYPE_Q5_K;
            else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && more_bits(il, n)) t = IG_TYPE_Q6_K;
            else if (ft == FT_Q4_K_S && il < 4) t = IG_TYPE_Q5_K;
        } else if (strstr(name, "ffn_down")) {
            if (ft == FT_Q2_K) t = IG_TYPE_Q3_K;
            else if (ft == FT_Q3_K_M) t = il < n / 16 ? IG_TYPE_Q5_K : IG_TYPE_Q4_K;
            else if (ft == FT_Q3_K_L) t = IG_TYPE_Q5_K;
            else if (ft == FT_Q4_K_M && more_bits(il, n)) t = IG_TYPE_Q6_K;
            else if (ft == FT_Q5_K_M && more_bits(il, n)) t = IG_TYPE_Q6_K;
            else if (ft == FT_Q4_K_S && il < n / 8) t = IG_TYPE_Q5_K;
        } else if (strstr(name, "attn_output.weight")) {
            if (ft == FT_Q2_K) t = IG_TYPE_Q3_K;
            else if (ft == FT_Q3_K_M) t = IG_TYPE_Q4_K;
            else if (ft == FT_Q3_K_L) t = IG_TYPE_Q5_K;
        }
    }
    return fallback(t, nx);
}
