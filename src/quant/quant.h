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

/* NULL for ids ggml never defined or retired (3..5, 31..33, 36..38, >= 40). */
const ig_type_traits *ig_type_traits_get(uint32_t type);
/* Bytes of n elements; 0 if the type is unknown or n is not a multiple of blck. */
size_t ig_row_size(uint32_t type, int64_t n);

/* Decode n values (n a multiple of the block size). */
void ig_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Encode n values with ggml's reference algorithm (bit-identical blocks to
 * ggml's quantize_row_*_ref, so llama.cpp reads what we write). */
void ig_quant_row(uint32_t type, const float *src, void *dst, int64_t n);
/* Quantize a matrix of nrows x ncols, returning bytes written. */
size_t ig_quantize(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t ncols);

#endif
