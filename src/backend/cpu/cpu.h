/* Internals of the CPU backend shared between its files. */
#ifndef INGOT_CPU_H
#define INGOT_CPU_H

#include <pthread.h>
#include <stdbool.h>

#include "backend/backend.h"
#include "kernels.h"
#include "threadpool.h"

/* Repacked weights live in large chunks (one transparent huge page
 * allocation each, filled one weight after another) so that rounding each
 * weight up to a huge page does not inflate the resident size. */
typedef struct cpu_chunk {
    char *base;
    size_t size, used, alloc_bytes;
    struct cpu_chunk *next;
} cpu_chunk;

/* A thread's share of a matmul's rows: units [front, back) packed in one
 * word, so the owner can take from the front while idle threads take from
 * the back (see matmul.c). One cache line each. */
typedef struct cpu_slot {
    _Alignas(64) _Atomic unsigned long long fb;
} cpu_slot;

typedef struct cpu_ctx {
    ig_pool *pool;
    int n_threads;
    char device_name[128];
    const cpu_kernels *k;

    /* Activations converted for the last matmul, reused while the input
     * is unchanged (Q, K and V share one input; so do gate and up). Every
     * op other than a matmul writes somewhere and clears it. */
    void *act;
    size_t act_cap;
    const float *act_x;
    int act_n;
    int64_t act_cols;
    int act_fmt; /* cpu_act, -1: nothing cached */

    cpu_slot *slots;         /* n_threads shares of the current matmul */

    pthread_mutex_t pack_mu; /* guards lazy repacking of weights */
    cpu_chunk *chunks;       /* every repacked copy, freed with the backend */
    bool no_pack;            /* INGOT_CPU_NOPACK: keep the file layout */

    ingot_status err; /* first failure since the last sync */
    char errmsg[160];
} cpu_ctx;

/* Remember a failure inside an op; sync() reports it. */
void cpu_fail(cpu_ctx *c, ingot_status s, const char *msg);

/* out[i][r] = dot(W[r], x[i]) (+ bias[r]); the hot loop of the CPU backend
 * (src/backend/cpu/matmul.c). */
void cpu_matmul(cpu_ctx *c, float *out, const ig_weight *w, const ig_weight *bias, const float *x,
                int n);
/* Forget cached activations (any op that writes memory calls this). */
static inline void cpu_invalidate(cpu_ctx *c) { c->act_fmt = -1; }
void cpu_matmul_free(cpu_ctx *c);

/* Split [0, n) into nth near-equal chunks; chunk ith is [*lo, *hi). */
static inline void cpu_split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nth - 1) / nth;
    *lo = per * ith;
    *hi = *lo + per;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* Allocate `bytes` for large long-lived buffers: 2 MiB aligned and marked
 * for transparent huge pages (fewer TLB misses when streaming weights). */
void *cpu_big_alloc(size_t bytes, size_t *alloc_bytes);
void cpu_big_free(void *p, size_t alloc_bytes);

#endif
