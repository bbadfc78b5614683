/* Tensor formats: traits of every ggml type, reference (plain C)
 * dequantization and quantization. Fast kernels live in the backends; these
 * are the definitions they are tested against. */
#ifndef INGOT_QUANT_H
#define INGOT_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quant_blocks.h"

typedef struct ig_type_traits {
    const char *name;   /* "Q4_K" */
    int64_t blck;       /* elements per block */
    size_t type_size;   /* bytes per block */
    bool can_dequant;   /* ig_dequant_row works */
    bool can_quant;     /* ig_quant_row works */
} ig_type_traits;

/* NULL for ids ggml never defined or retired (4, 5, 31..33, 36..38, >= 40). */
const ig_type_traits *ig_type_traits_get(uint32_t type);
/* Bytes of n elements; 0 if the type is unknown or n is not a multiple of blck. */
size_t ig_row_size(uint32_t type, int64_t n);

/* Decode n values (n a multiple of the block size). Does nothing for a type
 * that cannot be dequantized (check traits->can_dequant first). */
void ig_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Encode n values with ggml's reference algorithm (bit-identical blocks to
 * ggml's quantize_row_*_ref, so llama.cpp reads what we write). */
void ig_quant_row(uint32_t type, const float *src, void *dst, int64_t n);
/* Quantize a matrix of nrows x ncols, returning bytes written (0 if the type
 * cannot be quantized or ncols is not a multiple of the block size). */
size_t ig_quantize(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t ncols);

/* Per-type entry points, for callers that know the type statically (the CPU
 * kernels quantize activations to Q8_K / Q8_1 with these). n is a multiple of
 * the block size. */
void ig_dequant_row_q4_0(const block_q4_0 *x, float *y, int64_t n);
void ig_dequant_row_q4_1(const block_q4_1 *x, float *y, int64_t n);
void ig_dequant_row_q5_0(const block_q5_0 *x, float *y, int64_t n);
void ig_dequant_row_q5_1(const block_q5_1 *x, float *y, int64_t n);
void ig_dequant_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void ig_dequant_row_q8_1(const block_q8_1 *x, float *y, int64_t n);
void ig_dequant_row_q2_K(const block_q2_K *x, float *y, int64_t n);
void ig_dequant_row_q3_K(const block_q3_K *x, float *y, int64_t n);
void ig_dequant_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void ig_dequant_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void ig_dequant_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void ig_dequant_row_q8_K(const block_q8_K *x, float *y, int64_t n);

void ig_quant_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void ig_quant_row_q4_1(const float *x, block_q4_1 *y, int64_t n);
void ig_quant_row_q5_0(const float *x, block_q5_0 *y, int64_t n);
void ig_quant_row_q5_1(const float *x, block_q5_1 *y, int64_t n);
void ig_quant_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void ig_quant_row_q8_1(const float *x, block_q8_1 *y, int64_t n);
void ig_quant_row_q2_K(const float *x, block_q2_K *y, int64_t n);
void ig_quant_row_q3_K(const float *x, block_q3_K *y, int64_t n);
void ig_quant_row_q4_K(const float *x, block_q4_K *y, int64_t n);
void ig_quant_row_q5_K(const float *x, block_q5_K *y, int64_t n);
void ig_quant_row_q6_K(const float *x, block_q6_K *y, int64_t n);
void ig_quant_row_q8_K(const float *x, block_q8_K *y, int64_t n);

/* The 6-bit scale/min pair j (0..7) of a Q4_K / Q5_K super-block. */
static inline void ig_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
