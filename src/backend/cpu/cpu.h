/* Internals of the CPU backend shared between its files. */
#ifndef INGOT_CPU_H
#define INGOT_CPU_H

#include "backend/backend.h"
#include "threadpool.h"

typedef struct cpu_ctx {
    ig_pool *pool;
    int n_threads;
    char device_name[128];
} cpu_ctx;

/* out[i][r] = dot(W[r], x[i]) (+ bias[r]); the hot loop of the CPU backend
 * (src/backend/cpu/matmul.c). */
void cpu_matmul(cpu_ctx *c, float *out, const ig_weight *w, const ig_weight *bias, const float *x,
                int n);

/* Split [0, n) into nth near-equal chunks; chunk ith is [*lo, *hi). */
static inline void cpu_split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nth - 1) / nth;
    *lo = per * ith;
    *hi = *lo + per;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

#endif
