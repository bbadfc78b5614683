/* The decode megakernel experiment (bench/cuda/mega.cu): one launch for a
 * decode step's layers, weights streamed by a producer warp through a ring
 * of shared-memory stages (bulk copies), consumer warps computing, grid
 * barriers between dependent phases. Not used by the engine: slower than
 * the per-product kernels on H100 (bench/cuda/NOTES.md, v9); kept with
 * its instrumentation for the next attempt. bench_cuda_ops runs it with
 * BENCH_MEGA=1 on the 7B-shaped model. */
#ifndef INGOT_BENCH_MEGA_H
#define INGOT_BENCH_MEGA_H

#include "backend/cuda/common.cuh"

enum { MG_MV = 1, MG_ATT = 2 };
/* how a product phase's input (q8_1 in shared memory) is made */
enum { MG_IN_NORM = 1, MG_IN_F32 = 2, MG_IN_GLU = 3 };
#define MG_MAXM 3
typedef struct mg_mat {
    const uint8_t *q, *s;
    float *out;            /* [rows] */
    const float *res;      /* out2 = res + out (or NULL) */
    float *out2;
    int rows, cols, qrow, srow, rs; /* rs: rows per ring stage */
    int qs, ss;            /* Q and S row strides in a stage: qrow, srow, or each + 16 (mma tiles: no bank conflicts) */
    uint32_t type;
} mg_mat;
typedef struct mg_att {
    const float *q, *k, *v; /* this token's rows, unrotated */
    float *out, *part;      /* [n_head*hd]; partials [n_head][nsplit][hd+4]: M, L, -, -, O */
    void *kc, *vc;          /* f16 cache of the layer */
    const int32_t *pos;
    unsigned *cnt;          /* n_head zeroed arrival counters (the merge) */
    int n_head, group, hd, nsplit, single, n_rot;
    float scale, theta_scale, freq_scale;
} mg_att;
typedef struct __align__(16) mg_phase { /* a multiple of 16 bytes: copied with cp.async */
    int kind, in, cols, nm, split;
    const float *x, *x2, *nw; /* NORM: x, weight; F32: x; GLU: gate, up */
    float eps;
    mg_mat m[MG_MAXM];
    mg_att a;               /* MG_ATT */
} mg_phase;
typedef struct cu_mega cu_mega;
bool cu_mega_supported(cuda_ctx *c);
const char *cu_mega_unsupported(cuda_ctx *c);
cu_mega *cu_mega_new(cuda_ctx *c);
void cu_mega_free(cu_mega *m);
mg_mat mg_weight(const ig_weight *w, float *out, const float *res, float *out2);
/* false (and the program unusable) when the kernel cannot run it */
bool cu_mega_mv(cu_mega *m, int in, const float *x, const float *x2, const float *nw, float eps, int nm,
                const mg_mat *mats);
bool cu_mega_att(cu_mega *m, const mg_att *a);
int cu_mega_nsplit(const cu_mega *m, int n_head);
float *cu_mega_part(cuda_ctx *c, cu_mega *m, size_t floats);
unsigned *cu_mega_counters(cuda_ctx *c, cu_mega *m);
bool cu_mega_finish(cuda_ctx *c, cu_mega *m);
void cu_mega_launch(cuda_ctx *c, const cu_mega *m);

/* INGOT_MEGA_STATS=1: per-CTA stall counters, printed by cu_mega_stats;
 * INGOT_MEGA_DBG: 1 no dot products, 2 no grid barriers (timing only). */
void cu_mega_stats(cu_mega *m);
/* One grid barrier alone, microseconds (n back to back). */
double cu_mega_barrier_us(cuda_ctx *c, cu_mega *m, int n);
#endif
