/* Block layouts of ggml's quantized tensor types, defined once for the C,
 * CUDA and Metal code. They must match ggml byte for byte: GGUF files store
 * these blocks verbatim. Halves are stored as raw uint16_t bits so the
 * header has no dependency on a half-precision type. */
#ifndef INGOT_QUANT_BLOCKS_H
#define INGOT_QUANT_BLOCKS_H

#include <stdint.h>

/* ggml type ids, as stored in GGUF tensor infos. Gaps are ids ggml retired. */
enum ig_type {
    IG_TYPE_F32 = 0,
    IG_TYPE_F16 = 1,
    IG_TYPE_Q4_0 = 2,
    IG_TYPE_Q4_1 = 3,
    IG_TYPE_Q5_0 = 6,
    IG_TYPE_Q5_1 = 7,
    IG_TYPE_Q8_0 = 8,
    IG_TYPE_Q8_1 = 9,
    IG_TYPE_Q2_K = 10,
    IG_TYPE_Q3_K = 11,
    IG_TYPE_Q4_K = 12,
    IG_TYPE_Q5_K = 13,
    IG_TYPE_Q6_K = 14,
    IG_TYPE_Q8_K = 15,
    IG_TYPE_IQ2_XXS = 16,
    IG_TYPE_IQ2_XS = 17,
    IG_TYPE_IQ3_XXS = 18,
    IG_TYPE_IQ1_S = 19,
    IG_TYPE_IQ4_NL = 20,
    IG_TYPE_IQ3_S = 21,
    IG_TYPE_IQ2_S = 22,
    IG_TYPE_IQ4_XS = 23,
    IG_TYPE_I8 = 24,
    IG_TYPE_I16 = 25,
    IG_TYPE_I32 = 26,
    IG_TYPE_I64 = 27,
    IG_TYPE_F64 = 28,
    IG_TYPE_IQ1_M = 29,
    IG_TYPE_BF16 = 30,
    IG_TYPE_TQ1_0 = 34,
    IG_TYPE_TQ2_0 = 35,
    IG_TYPE_MXFP4 = 39,
    IG_TYPE_COUNT = 40,
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { uint16_t d, s; int8_t qs[QK8_1]; } block_q8_1;

/* k-quants: super-blocks of 256 values with 16 or 8 sub-block scales. */
typedef struct {
    uint8_t scales[QK_K / 16]; /* 4-bit scale | 4-bit min per 16 values */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    uint16_t d, dmin;
} block_q2_K;
typedef struct {
    uint8_t hmask[QK_K / 8]; /* high bit of the 3-bit quants */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* 16 6-bit scales */
    uint16_t d;
} block_q3_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales and mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16]; /* sums of groups of 16 quants */
} block_q8_K;

#ifndef __cplusplus
_Static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K layout");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K layout");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K layout");
#else
static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(block_q6_K) == 210, "q6_K layout");
#endif

#endif
