/* Kernel sets of the CPU backend.
 *
 * A kernel set is a table of functions for one instruction set: plain C
 * (generic.c, the reference every other set is tested against), AVX2 + FMA
 * + F16C (x86_avx2.c), NEON (arm_neon.c). The best set the running CPU
 * supports is chosen once at start-up, so one binary runs anywhere.
 *
 * Matrix products follow ggml: the activations are first converted to the
 * "activation format" of the weight type (8-bit blocks for quantized
 * weights, f16 for f16 weights, ...), then every output is an integer dot
 * product per block scaled by the two block scales. Each output value is
 * computed by one kernel call in an order that depends only on the row and
 * the token, never on how rows and tokens were grouped into tiles or
 * threads, so the thread count never changes a logit. */
#ifndef INGOT_CPU_KERNELS_H
#define INGOT_CPU_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quant/quant.h"

/* Activation formats. */
typedef enum cpu_act {
    CPU_ACT_F32 = 0,
    CPU_ACT_F16,
    CPU_ACT_BF16,
    CPU_ACT_Q8A, /* cpu_q8a blocks of 32: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 weights */
    CPU_ACT_Q8K, /* cpu_q8k blocks of 256: the k-quants */
    CPU_ACT_COUNT,
} cpu_act;

/* An activation block of 32 values: ggml's block_q8_0 and block_q8_1 in
 * one, with the scale already widened to f32 and the integer sum of the
 * quants (which lets a kernel multiply unsigned weight nibbles and correct
 * for their offset once per block). */
typedef struct cpu_q8a {
    float d;       /* f16-rounded scale (ggml's block_q8_0.d) */
    float s;       /* f16-rounded d * sum (ggml's block_q8_1.s) */
    int32_t sum;   /* sum of qs */
    int8_t qs[32];
} cpu_q8a;

/* An activation block of 256 values for the k-quants: ggml's block_q8_K
 * (same d, quants and sums of 16) plus the sums of 32, which the packed
 * kernels broadcast in pairs. */
typedef struct cpu_q8k {
    float d;
    int16_t bsums[16];   /* sums of 16 quants */
    int16_t bsums32[8];  /* sums of 32 quants */
    int8_t qs[QK_K];
} cpu_q8k;

/* Bytes of one activation row of k values (k a multiple of the block). */
size_t cpu_act_row_size(cpu_act a, int64_t k);

/* Convert k floats to an activation row. */
typedef void (*cpu_quant_fn)(const float *x, void *y, int64_t k);

/* out[c*ldo + r] = dot(weight row r, activation row c) for r < nr, c < nc.
 * Plain layout: row r at w + r*ws. Packed layout: w is the first group of
 * CPU_PACK_ROWS interleaved rows, groups ws bytes apart, nr a multiple of
 * CPU_PACK_ROWS. Activation row c is at a + c*as. */
typedef void (*cpu_gemm_fn)(int64_t k, const void *w, size_t ws, int nr, const void *a, size_t as,
                            int nc, float *out, size_t ldo);

#define CPU_PACK_ROWS 8

typedef struct cpu_mm_kernels {
    cpu_act act;      /* activation format for this weight type */
    cpu_gemm_fn gemm; /* NULL: the type has no matrix product */
    /* Optional interleaved layout that lets one instruction serve
     * CPU_PACK_ROWS rows. pack() converts rows (a multiple of
     * CPU_PACK_ROWS) from the file layout; the packed size is the same as
     * the file's. NULL: no packed layout. */
    void (*pack)(const void *src, void *dst, int64_t rows, int64_t cols);
    cpu_gemm_fn gemm_packed;
} cpu_mm_kernels;

typedef struct cpu_kernels {
    const char *name; /* "generic", "avx2", "neon" */
    cpu_mm_kernels mm[IG_TYPE_COUNT];
    cpu_quant_fn quant[CPU_ACT_COUNT];

    /* ---- element-wise ops (numerics as described in cpu.c) ---- */
    /* sum of x[i]^2, the products rounded to float, summed in double */
    double (*sum_sq)(const float *x, int n);
    /* sum of x[i], summed in double */
    double (*sum)(const float *x, int n);
    /* y[i] = x[i] - m */
    void (*center)(float *y, const float *x, float m, int n);
    /* y[i] = (x[i] * s) * g[i] */
    void (*scale_mul)(float *y, const float *x, float s, const float *g, int n);
    /* y[i] = a[i] + b[i] */
    void (*add)(float *y, const float *a, const float *b, size_t n);
    /* x[i] = exp(x[i] - mx); returns the sum of the results in double */
    double (*exp_sum)(float *x, int n, float mx);
    /* y[i] = silu(g[i]) * u[i] */
    void (*swiglu)(float *y, const float *g, const float *u, size_t n);
    /* dot of a float vector (already f16-rounded when the cache is f16)
     * with a cache row of f16 (f16 = true) or f32 values */
    float (*dot_kv)(const float *q, const void *k, bool f16, int n);
    /* acc[i] += p * v[i] for an f16 or f32 cache row */
    void (*axpy_kv)(float *acc, float p, const void *v, bool f16, int n);
    /* x[i] = f32(f16(x[i])) */
    void (*round_f16)(float *y, const float *x, int n);
    /* f32 -> f16 rows of the KV cache */
    void (*to_f16)(uint16_t *y, const float *x, int n);
    /* RoPE, normal pairing: rotate (v[2p], v[2p+1]) by cs[2p] = cos,
     * cs[2p+1] = sin for p < half; each output is one multiply and one
     * fused multiply-add in every set, so all sets agree bit for bit */
    void (*rope_pairs)(float *v, const float *cs, int half);
} cpu_kernels;

extern const cpu_kernels cpu_kernels_generic;
/* Plain C kernels that other sets use as they are (generic.c). */
double cpu_ref_sum(const float *x, int n);
void cpu_ref_center(float *y, const float *x, float m, int n);
void cpu_ref_rope_pairs(float *v, const float *cs, int half);
#if defined(__x86_64__)
extern const cpu_kernels cpu_kernels_avx2;
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
extern const cpu_kernels cpu_kernels_neon;
#endif

/* The best set for this CPU (INGOT_CPU_KERNELS=generic|avx2|neon in the
 * environment forces one when the CPU supports it). Never NULL. */
const cpu_kernels *cpu_kernels_best(void);
/* A set by name if compiled in and supported here, else NULL. */
const cpu_kernels *cpu_kernels_by_name(const char *name);

/* Reference helpers shared by the kernel sets (generic.c). */
void cpu_quant_q8a_ref(const float *x, void *y, int64_t k);
void cpu_quant_q8k_ref(const float *x, void *y, int64_t k);
/* GELU through ggml's f16 table (cpu.c). */
float cpu_gelu_f16(float x);

#endif
