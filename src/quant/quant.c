/* Tensor formats: the traits table, the public type API, dispatch, and the
 * 32-element block formats (Q4_0 .. Q8_1). The k-quants are in quant_k.c.
 *
 * The quantizers reproduce ggml's quantize_row_*_ref operation for
 * operation, in the same order and the same float precision, because the
 * blocks they write must be bit-identical to llama-quantize's. Small
 * rewrites that look harmless (x/d for x*id, a fused multiply-add, rounding
 * with lrintf where ggml truncates) each change some blocks. */
/* No fused multiply-adds: ggml's reference code is built without them, and
 * with -march=native a contracted x*id + 8.5f or sum += w*x*l changes
 * thousands of the test files' blocks. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "quant/quant.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "ingot.h"

/* ------------------------------------------------------------------------ */
/* Traits                                                                   */
/* ------------------------------------------------------------------------ */

/* Names are gguf-py's spelling of ggml's types (ggml itself says "q4_K");
 * lookups by name are case-insensitive so both parse. */
#define T(id, nm, b, sz, dq, q) [id] = {nm, b, sz, dq, q}
static const ig_type_traits traits[IG_TYPE_COUNT] = {
    T(IG_TYPE_F32, "F32", 1, 4, true, true),
    T(IG_TYPE_F16, "F16", 1, 2, true, true),
    T(IG_TYPE_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), true, true),
    T(IG_TYPE_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), true, true),
    T(IG_TYPE_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), true, true),
    T(IG_TYPE_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), true, true),
    T(IG_TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), true, true),
    T(IG_TYPE_Q8_1, "Q8_1", QK8_1, sizeof(block_q8_1), true, true),
    T(IG_TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), true, true),
    T(IG_TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), true, true),
    T(IG_TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), true, true),
    T(IG_TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), true, true),
    T(IG_TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), true, true),
    T(IG_TYPE_Q8_K, "Q8_K", QK_K, sizeof(block_q8_K), true, true),
    /* Sizes of the formats ingot cannot decode yet, from ggml-common.h. */
    T(IG_TYPE_IQ2_XXS, "IQ2_XXS", QK_K, 2 + QK_K / 8 * 2, false, false),
    T(IG_TYPE_IQ2_XS, "IQ2_XS", QK_K, 2 + QK_K / 8 * 2 + QK_K / 32, false, false),
    T(IG_TYPE_IQ3_XXS, "IQ3_XXS", QK_K, 2 + 3 * (QK_K / 8), false, false),
    T(IG_TYPE_IQ1_S, "IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16, false, false),
    T(IG_TYPE_IQ4_NL, "IQ4_NL", 32, 2 + 32 / 2, false, false),
    T(IG_TYPE_IQ3_S, "IQ3_S", QK_K, 2 + 13 * (QK_K / 32) + QK_K / 64, false, false),
    T(IG_TYPE_IQ2_S, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16, false, false),
    T(IG_TYPE_IQ4_XS, "IQ4_XS", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2, false, false),
    T(IG_TYPE_I8, "I8", 1, 1, false, false),
    T(IG_TYPE_I16, "I16", 1, 2, false, false),
    T(IG_TYPE_I32, "I32", 1, 4, false, false),
    T(IG_TYPE_I64, "I64", 1, 8, false, false),
    T(IG_TYPE_F64, "F64", 1, 8, false, false),
    T(IG_TYPE_IQ1_M, "IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, false, false),
    T(IG_TYPE_BF16, "BF16", 1, 2, true, true),
    T(IG_TYPE_TQ1_0, "TQ1_0", QK_K, (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2, false, false),
    T(IG_TYPE_TQ2_0, "TQ2_0", QK_K, QK_K / 4 + 2, false, false),
    T(IG_TYPE_MXFP4, "MXFP4", 32, 1 + 32 / 2, false, false),
};
#undef T

const ig_type_traits *ig_type_traits_get(uint32_t type) {
    if (type >= IG_TYPE_COUNT || !traits[type].name) return NULL;
    return &traits[type];
}

size_t ig_row_size(uint32_t type, int64_t n) {
    const ig_type_traits *t = ig_type_traits_get(type);
    if (!t || n < 0 || n % t->blck) return 0;
    uint64_t r;
    if (!ig_mul_ok((uint64_t)(n / t->blck), t->type_size, &r) || r > SIZE_MAX) return 0;
    return (size_t)r;
}

const char *ingot_type_name(uint32_t type) {
    const ig_type_traits *t = ig_type_traits_get(type);
    return t ? t->name : NULL;
}

bool ingot_type_can_dequant(uint32_t type) {
    const ig_type_traits *t = ig_type_traits_get(type);
    return t && t->can_dequant;
}

bool ingot_type_can_quant(uint32_t type) {
    const ig_type_traits *t = ig_type_traits_get(type);
    return t && t->can_quant;
}

size_t ingot_type_row_size(uint32_t type, int64_t n) { return ig_row_size(type, n); }

/* 0 for an unknown type: no count of elements is a whole number of its blocks. */
int64_t ingot_type_block_size(uint32_t type) {
    const ig_type_traits *t = ig_type_traits_get(type);
    return t ? t->blck : 0;
}

int ingot_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < IG_TYPE_COUNT; i++)
        if (traits[i].name && strcasecmp(traits[i].name, name) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* 32-element blocks                                                        */
/* ------------------------------------------------------------------------ */

/* ggml converts with C casts ((int8_t)v, (uint8_t)v), i.e. truncation; for
 * in-range values this is the same. Out-of-range values (only from Inf/NaN
 * input) would be undefined behaviour in C, so they are pinned instead. */
static inline int trunc_sat(float v) {
    if (!(v > -128.0f)) return v != v ? 0 : -128; /* NaN also lands here */
    if (v >= 256.0f) return 255;
    return (int)v;
}

static inline int8_t round_i8(float v) {
    float r = roundf(v);
    if (!(r >= -128.0f)) return r != r ? 0 : -128;
    if (r > 127.0f) return 127;
    return (int8_t)r;
}

/* The value of largest magnitude, keeping its sign (the first one on ties). */
static inline float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

void ig_quant_row_q4_0(const float *x, block_q4_0 *y, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t i = 0; i < nb; i++, x += QK4_0) {
        /* The extreme value maps to -8 exactly, using the asymmetric end of
         * the 4-bit range for the largest magnitude. */
        const float d = signed_absmax(x, QK4_0) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ig_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = trunc_sat(x[j] * id + 8.5f);
            int q1 = trunc_sat(x[j + QK4_0 / 2] * id + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void ig_dequant_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t i = 0; i < nb; i++, y += QK4_0) {
        const float d = ig_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static inline void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

void ig_quant_row_q4_1(const float *x, block_q4_1 *y, int64_t n) {
    const int64_t nb = n / QK4_1;
    for (int64_t i = 0; i < nb; i++, x += QK4_1) {
        float min, max;
        min_max(x, QK4_1, &min, &max);
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ig_f32_to_f16(d);
        y[i].m = ig_f32_to_f16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = trunc_sat((x[j] - min) * id + 0.5f);
            int q1 = trunc_sat((x[j + QK4_1 / 2] - min) * id + 0.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void ig_dequant_row_q4_1(const block_q4_1 *x, float *y, int64_t n) {
    const int64_t nb = n / QK4_1;
    for (int64_t i = 0; i < nb; i++, y += QK4_1) {
        const float d = ig_f16_to_f32(x[i].d);
        const float m = ig_f16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Q5: qh bit j is the fifth bit of element j (elements 16..31 in bits 16..31). */
static inline uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_qh(uint8_t qh[4], uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

void ig_quant_row_q5_0(const float *x, block_q5_0 *y, int64_t n) {
    const int64_t nb = n / QK5_0;
    for (int64_t i = 0; i < nb; i++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ig_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = trunc_sat(x[j] * id + 16.5f);
            int q1 = trunc_sat(x[j + QK5_0 / 2] * id + 16.5f);
            if (q0 > 31) q0 = 31;
            if (q1 > 31) q1 = 31;
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + QK5_0 / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

void ig_dequant_row_q5_0(const block_q5_0 *x, float *y, int64_t n) {
    const int64_t nb = n / QK5_0;
    for (int64_t i = 0; i < nb; i++, y += QK5_0) {
        const float d = ig_f16_to_f32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + QK5_0 / 2)) & 1;
            y[j] = (float)(((x[i].qs[j] & 0x0F) | h0 << 4) - 16) * d;
            y[j + QK5_0 / 2] = (float)(((x[i].qs[j] >> 4) | h1 << 4) - 16) * d;
        }
    }
}

void ig_quant_row_q5_1(const float *x, block_q5_1 *y, int64_t n) {
    const int64_t nb = n / QK5_1;
    for (int64_t i = 0; i < nb; i++, x += QK5_1) {
        float min, max;
        min_max(x, QK5_1, &min, &max);
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ig_f32_to_f16(d);
        y[i].m = ig_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            /* ggml does not clamp: (max-min)*id + 0.5 stays below 32 up to
             * rounding, and only the low five bits are stored anyway. */
            const int q0 = trunc_sat((x[j] - min) * id + 0.5f) & 31;
            const int q1 = trunc_sat((x[j + QK5_1 / 2] - min) * id + 0.5f) & 31;
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + QK5_1 / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

void ig_dequant_row_q5_1(const block_q5_1 *x, float *y, int64_t n) {
    const int64_t nb = n / QK5_1;
    for (int64_t i = 0; i < nb; i++, y += QK5_1) {
        const float d = ig_f16_to_f32(x[i].d);
        const float m = ig_f16_to_f32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + QK5_1 / 2)) & 1;
            y[j] = (float)((x[i].qs[j] & 0x0F) | h0 << 4) * d + m;
            y[j + QK5_1 / 2] = (float)((x[i].qs[j] >> 4) | h1 << 4) * d + m;
        }
    }
}

static inline float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    return amax;
}

void ig_quant_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        const float d = absmax(x, QK8_0) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ig_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = round_i8(x[j] * id);
    }
}

void ig_dequant_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t i = 0; i < nb; i++, y += QK8_0) {
        const float d = ig_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void ig_quant_row_q8_1(const float *x, block_q8_1 *y, int64_t n) {
    const int64_t nb = n / QK8_1;
    for (int64_t i = 0; i < nb; i++, x += QK8_1) {
        const float d = absmax(x, QK8_1) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ig_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = round_i8(x[j] * id);
            sum += y[i].qs[j];
        }
        /* s lets a dot product with a Q4_1/Q5_1 block apply the min once:
         * sum_j (q_j*d_w + m) * (p_j*d_a) = ... + m * s. */
        y[i].s = ig_f32_to_f16((float)sum * d);
    }
}

void ig_dequant_row_q8_1(const block_q8_1 *x, float *y, int64_t n) {
    const int64_t nb = n / QK8_1;
    for (int64_t i = 0; i < nb; i++, y += QK8_1) {
        const float d = ig_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */
/* ------------------------------------------------------------------------ */

static bool row_ok(uint32_t type, int64_t n, bool quant) {
    const ig_type_traits *t = ig_type_traits_get(type);
    return t && (quant ? t->can_quant : t->can_dequant) && n >= 0 && n % t->blck == 0;
}

void ig_dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
    if (!row_ok(type, n, false)) return;
    switch (type) {
    case IG_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case IG_TYPE_F16: {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2); /* GGUF data is only 32-byte aligned per tensor */
            dst[i] = ig_f16_to_f32(h);
        }
        break;
    }
    case IG_TYPE_BF16: {
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = ig_bf16_to_f32(h);
        }
        break;
    }
    case IG_TYPE_Q4_0: ig_dequant_row_q4_0(src, dst, n); break;
    case IG_TYPE_Q4_1: ig_dequant_row_q4_1(src, dst, n); break;
    case IG_TYPE_Q5_0: ig_dequant_row_q5_0(src, dst, n); break;
    case IG_TYPE_Q5_1: ig_dequant_row_q5_1(src, dst, n); break;
    case IG_TYPE_Q8_0: ig_dequant_row_q8_0(src, dst, n); break;
    case IG_TYPE_Q8_1: ig_dequant_row_q8_1(src, dst, n); break;
    case IG_TYPE_Q2_K: ig_dequant_row_q2_K(src, dst, n); break;
    case IG_TYPE_Q3_K: ig_dequant_row_q3_K(src, dst, n); break;
    case IG_TYPE_Q4_K: ig_dequant_row_q4_K(src, dst, n); break;
    case IG_TYPE_Q5_K: ig_dequant_row_q5_K(src, dst, n); break;
    case IG_TYPE_Q6_K: ig_dequant_row_q6_K(src, dst, n); break;
    case IG_TYPE_Q8_K: ig_dequant_row_q8_K(src, dst, n); break;
    default: break;
    }
}

void ig_quant_row(uint32_t type, const float *src, void *dst, int64_t n) {
    if (!row_ok(type, n, true)) return;
    switch (type) {
    case IG_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case IG_TYPE_F16: {
        uint8_t *d = dst;
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = ig_f32_to_f16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        break;
    }
    case IG_TYPE_BF16: {
        uint8_t *d = dst;
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = ig_f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        break;
    }
    case IG_TYPE_Q4_0: ig_quant_row_q4_0(src, dst, n); break;
    case IG_TYPE_Q4_1: ig_quant_row_q4_1(src, dst, n); break;
    case IG_TYPE_Q5_0: ig_quant_row_q5_0(src, dst, n); break;
    case IG_TYPE_Q5_1: ig_quant_row_q5_1(src, dst, n); break;
    case IG_TYPE_Q8_0: ig_quant_row_q8_0(src, dst, n); break;
    case IG_TYPE_Q8_1: ig_quant_row_q8_1(src, dst, n); break;
    case IG_TYPE_Q2_K: ig_quant_row_q2_K(src, dst, n); break;
    case IG_TYPE_Q3_K: ig_quant_row_q3_K(src, dst, n); break;
    case IG_TYPE_Q4_K: ig_quant_row_q4_K(src, dst, n); break;
    case IG_TYPE_Q5_K: ig_quant_row_q5_K(src, dst, n); break;
    case IG_TYPE_Q6_K: ig_quant_row_q6_K(src, dst, n); break;
    case IG_TYPE_Q8_K: ig_quant_row_q8_K(src, dst, n); break;
    default: break;
    }
}

size_t ig_quantize(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t ncols) {
    if (nrows < 0 || !row_ok(type, ncols, true)) return 0;
    const size_t row = ig_row_size(type, ncols);
    uint64_t total;
    if (!ig_mul_ok((uint64_t)nrows, row, &total) || total > SIZE_MAX) return 0;
    for (int64_t r = 0; r < nrows; r++)
        ig_quant_row(type, src + r * ncols, (uint8_t *)dst + (size_t)r * row, ncols);
    return (size_t)total;
}
