/* Internals of the CUDA backend shared between its .cu files: the context,
 * the error macros, the device-side weight layout and dequantization.
 *
 * Weight layout on the device. A GGUF block such as q4_0 (18 bytes) cannot
 * be read with aligned 16-byte loads, so at upload each block is split in
 * two parts stored in two arrays: the "Q" part (the packed quants, a
 * multiple of 16 bytes per block, so every block's quants start 16-byte
 * aligned) and the "S" part (scales, mins, and whatever else remains, in
 * their original order). For weight W with R rows of NB blocks (sn =
 * bs - qn):
 *     Q region: R*NB*qn bytes at W.data, block (r,b) at (r*NB+b)*qn
 *     S region: R rows of SR = round16(NB*sn) bytes right after it,
 *               block (r,b) at r*SR + b*sn (padding zeroed)
 * Rows of both parts start 16-byte aligned, so the decode kernels copy a
 * row's bytes into shared memory with 16-byte asynchronous copies.
 * The values are the file's, only moved. Types whose blocks are already
 * multiples of 16 bytes (q5_K, f32, f16, bf16) keep the file layout.
 * q4_K's Q part is qs alone (the 16 header bytes are S, their scales
 * repacked: k4_pack) and q6_K's is ql and qh (scales and d are S). Both
 * are reordered inside each row so a decode task is one 64-value unit
 * whose 16-byte loads are contiguous across a warp (ku_pos);
 * q6_K's ql / qh bits are regrouped by unit on the way (k6_unit). q4_0's
 * Q parts are reordered inside each row (q40_reordered), so that a warp's
 * activation loads are contiguous too; the k-quants get the same from the
 * activations' k order (xk_pos).
 */
#ifndef INGOT_CUDA_COMMON_CUH
#define INGOT_CUDA_COMMON_CUH

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "backend/backend.h"
#include "core/util.h"
}
#include "quant/quant_blocks.h"

#ifdef INGOT_HAVE_CUBLAS
#include <cublas_v2.h>
#endif
#include <string.h>

/* ---- errors --------------------------------------------------------- */

struct cuda_ctx;
/* Remember the first failure (sticky until sync reports it). */
void cu_fail(cuda_ctx *c, ingot_status s, const char *file, int line, const char *what);

#define CU_CHECK(c, expr)                                                        \
    do {                                                                         \
        cudaError_t e_ = (expr);                                                 \
        if (e_ != cudaSuccess) cu_fail((c), INGOT_ERR_BACKEND, __FILE__, __LINE__, \
                                       cudaGetErrorString(e_));                  \
    } while (0)
/* After every kernel launch: launch-configuration errors show up here. */
#define CU_LAUNCHED(c) CU_CHECK(c, cudaGetLastError())

/* ---- context -------------------------------------------------------- */

/* SCR_Q8B: a fused epilogue writes its q8_1 output into the q8 buffer its
 * own kernel is not reading (other CTAs may still be reading the input). */
enum { SCR_Q8, SCR_Q8B, SCR_F16W, SCR_F16X, SCR_ATTN, SCR_CUBLAS, SCR_COUNT };

#define MV_MAXN 8      /* tokens handled by the matrix-vector kernels */
#define MV_MAXDESC 4   /* matmuls sharing one input fused into one launch */
#define MAX_GRAPHS 8
#define MAX_RETIRED 64

/* One output of a fused matrix-vector launch. */
typedef struct mv_desc {
    const uint8_t *q, *s;  /* Q and S regions of the weight */
    const float *bias;     /* [rows] or NULL */
    float *out;            /* [n][rows] */
    const float *res;      /* fused residual: out2 = res + out (or NULL) */
    float *out2;
    int rows;
    int blk_start;         /* first CTA of this descriptor */
} mv_desc;

/* What a one-token matrix-vector launch does besides its products:
 * EPI_NQ (k_mv_r): q8_1 of the residual sum * w and its sums of squares,
 *         for the RMSNorm that follows (FUSE_BLK below);
 * EPI_SC: the input is such a q8_1; the products are scaled by 1/rms;
 * EPI_SCA: EPI_SC for Q/K/V, and the decode attention after them in the
 *         same launch (FUSE_QKVA, attn_qkv.cuh). */
enum { EPI_NONE, EPI_NQ, EPI_SC, EPI_SCA };
enum { FUSE_ATTN = 8, FUSE_ROPE_ATT = 16, FUSE_BLK = 32, FUSE_QKVA = 64, FUSE_ALL = 120 };

/* FUSE_QKVA: what the Q/K/V launch needs for the attention (attn_qkv.cuh).
 * Q/K/V are the launch's descriptors 0, 1, 2 and write into `tag`. */
typedef struct att_fuse {
    bool on;
    const int32_t *pos;
    void *kc, *vc;         /* f16 cache of the layer */
    float *out;            /* [n_head * hd] */
    int8_t *xq;            /* q8_1 of out (for wo), or NULL */
    float2 *ds;
    int xc;                /* its layout (xk_pos) */
    float *vout;           /* v as the op table has it (f32) */
    float *tag;            /* q, k, v as the products write them: AQ_SENT until then */
    float *scr;            /* n_head * aq_stride(hd) floats */
    unsigned *cnt;         /* n_head_kv zeroed counters */
    int n_head, nkv, group, hd, nq; /* nq = Q CTAs */
    int cph_sh;            /* log2 of the CTAs per head's rows (hd / 4) */
    int npoll;             /* attention CTAs, one per query head */
    int at;                /* ... placed after this many product CTAs (set at launch) */
    int n_rot;
    float theta_scale, freq_scale, scale;
    bool pf;               /* the cache rows into L2 before the products */
} att_fuse;
#define AQ_WARPS 4 /* the Q/K/V launch's CTA: 4 warps, 4 rows */
/* Scratch floats per head: AQ_WARPS partials (attn_qkv.cuh). */
static inline __host__ __device__ int aq_stride(int hd) { return AQ_WARPS * (hd + 4); }
#define AQ_SENT 0xFFFFFFFFu /* "not written yet": a NaN no arithmetic produces */
#define AQ_TAGMAX 65536     /* floats of q, k and v the tag buffer holds */
typedef struct mv_epi {
    int kind;
    const float *w;        /* NQ: the norm's weight [rows] */
} mv_epi;

/* rope(q) + rope(k) + kv_store held back for the decode attention that
 * follows (FUSE_ROPE_ATT): the rotation and the cache store happen in the
 * attention kernel, one dependent launch fewer per layer. */
typedef struct cu_rope_att {
    bool on;
    float *q;              /* unrotated; attention's query */
    const float *k, *v;    /* unrotated k, v rows of the token (f32) */
    int ld_q, ld_kv, n_head, n_head_kv, hd;
    const int32_t *pos;
    void *kc, *vc;
    int kv_type, n_rot;
    float theta_scale, freq_scale;
    ig_rope r;             /* for the unfused fallback */
} cu_rope_att;

/* FUSE_BLK (one token): no RMSNorm or SwiGLU kernel of their own.
 * - A residual-add matvec whose rows are a multiple of 32 runs with one CTA
 *   per 32 rows (k_mv_r), so a CTA owns whole q8_1 blocks of its output. An
 *   rms_norm of the sum that follows becomes its epilogue EPI_NQ: each CTA
 *   writes q8_1(sum * w) for its 32 rows and their sum of squares (pss).
 *   The norm is then pending (cu_dnorm): the matvecs reading its output take
 *   the q8_1 and scale their dot products by rsqrt(sum(pss)/d + eps)
 *   (EPI_SC; CTA 0 also writes the f32 output). Anything else first runs
 *   the norm as its own kernel.
 * - swiglu() is pending too (cu_dglu): the matvec reading its output runs
 *   it in its prologue (k_mv_r, each CTA for the whole row, in shared
 *   memory). */
typedef struct cu_dnorm {
    bool on;
    float *out;
    const float *x, *w;
    float eps;
    int d;
    void *q8;           /* q8_1 of x * w, unnormalized */
    bool write;         /* the products also write out (the first ones do) */
} cu_dnorm;
typedef struct cu_dglu {
    bool on;
    float *out;
    const float *g, *u;
    size_t count;
} cu_dglu;

typedef struct mv_batch {
    cu_dnorm nrm;          /* the input is a pending norm's output */
    cu_dglu glu;           /* the input is a pending SwiGLU's output */
    mv_desc d[MV_MAXDESC];
    int nd;
    uint32_t type;
    uint32_t type2;        /* one token: d[nd1..] are of this type (0: none) */
    int nd1;
    int cols, n;
    const float *x;        /* f32 input [n][cols] (float weights read it) */
    bool closed;           /* an epilogue is attached: no more joins */
    mv_epi epi;
    att_fuse att;          /* FUSE_QKVA */
} mv_batch;

/* Successor of a weight in call order (learned from the previous forward):
 * the weight whose first bytes are worth prefetching into L2. */
typedef struct wsucc {
    const void *key;       /* Q pointer of the weight */
    const uint8_t *q, *s;  /* its successor's Q and S regions */
    size_t qn, sn;         /* their sizes */
} wsucc;
#define SUCC_SLOTS 1024
#define NCNT 65536         /* arrival counters (decode attention's merge) */
#define AQ_NCNT 1024       /* ... the last of them: the Q/K/V launch's attention */
#define PSS_MAX 4096       /* EPI_NQ: rows / 32 of the normed vector */

typedef struct cuda_ctx {
    int device;
    size_t free_at_start; /* device memory free once the context existed */
    size_t max_w_elems;   /* largest weight uploaded: sizes the f16 dequant chunk once */
    char name[256];
    cudaStream_t stream;
    int n_sm;
    ingot_status err;
    char errmsg[320];

    struct { void *p; size_t cap; } scr[SCR_COUNT];
    void *retired[MAX_RETIRED];
    int n_retired;
    /* all weights in one allocation (weights_reserve): bump-allocated,
     * freed when the last weight in it is */
    uint8_t *warena;
    size_t warena_cap, warena_used;
    int warena_live;
    size_t mm_chunk;      /* f16 dequantization chunk, elements */

    /* q8_1 copy of q8_count activations at q8_src, in buffer q8_buf (one
     * of SCR_Q8/SCR_Q8B), valid while nothing wrote them. Keyed by count
     * and q8_xc, not shape: in the natural order [n][cols] with cols % 32
     * == 0 is laid out as [1][n*cols]; in k order the rows are apart. */
    const float *q8_src;
    size_t q8_count;
    void *q8_buf;
    int q8_xc;            /* its layout: xk_pos's xc */
    /* q8_1 activations in k order (xk_pos) while every quantized weight is
     * a k-quant (live counts; INGOT_CUDA_NO_XK=1: never) */
    bool xk, xk_off;
    int n_wk, n_wq;
    /* FUSE_BLK: q8_buf holds q8_1(x * w) of the norm q8_src is the output
     * of, unnormalized (products scale by its sums of squares) */
    cu_dnorm q8_sc;
    /* f16 copy of an activation matrix for the tensor-core path. */
    const float *f16x_src;
    int f16x_n, f16x_cols;

    mv_batch pend;          /* matrix-vector products not launched yet */
    cu_rope_att ra;         /* rope + KV store held for the attention */
    bool pend_active;

    bool capturing;
    int capture_key;
    struct { int key; cudaGraphExec_t exec; } graphs[MAX_GRAPHS];
    int n_graphs;

    bool pdl;     /* launch with programmatic stream serialization */
    /* rope() calls held back to fuse with the kv_store that follows */
    struct rope_op { float *x; int ld, n, n_head, head_dim; const int32_t *pos; ig_rope r; } rope_pend[2];
    int n_rope_pend;
    double bw;    /* measured copy bandwidth, bytes/s (0: not yet) */
    /* fusions across ops, a mask of FUSE_* (INGOT_CUDA_FUSE, default all;
     * INGOT_CUDA_NO_FUSE=1: none) */
    unsigned fuse;
    bool mv_smem;           /* one-token matvec staged through shared memory */
    unsigned *cnt;          /* NCNT zeroed counters; each user re-zeroes its own */
    wsucc succ[SUCC_SLOTS];
    const void *last_w;     /* Q pointer of the last matmul's weight */
    bool succ_dirty;        /* a weight got its first successor since the last replay */
    void *pend_in_q8;       /* q8 buffer the last matrix-vector launch read */
    cu_dnorm dn;            /* FUSE_BLK: a norm not run yet */
    cu_dglu dg;             /* FUSE_BLK: a SwiGLU not run yet */
    float *pss;             /* PSS_MAX partial sums of squares (EPI_NQ) */
    int mvr_smem_max;       /* dynamic shared memory k_mv_r may take (GLU) */
    int mvr_nw;             /* warps of k_mv_r for the lighter types: 32 or 16 */
    int mvr_cl;             /* SwiGLU prologue shared by pairs of CTAs: 2 (1: not) */
    int mvr_cl_fit;         /* ... of which this many pairs are resident at once */
    bool mv_mix;            /* two weight types per launch (INGOT_CUDA_NO_MIX=1: off) */
    int att_single;         /* decode attention: one CTA per head up to this length */
    int att_sk;             /* ... staging chunks of up to this many keys in shared memory */
    int carveout;           /* every kernel's preferred smem carveout, % (INGOT_CUDA_CARVEOUT; -1: unset) */
    int carveout_dec;       /* ... in decode steps (INGOT_CUDA_CARVEOUT_DEC) */
    int carveout_now;       /* the one of the forward being issued (set by embed) */
    size_t pf_att;          /* L2 prefetch of the next weight by attention (bytes, 0: off) */
    bool aq_pf;             /* FUSE_QKVA: cache rows into L2 before the products */
    int aq_at;              /* FUSE_QKVA: % of the product CTAs before the attention CTAs */
    float *aq_tag;          /* FUSE_QKVA: AQ_TAGMAX floats, AQ_SENT between launches */
    uint8_t *stage;         /* pinned staging of small uploads (backend.cu) */
    int32_t *gid;           /* pinned, mapped: the last greedy id (greedy_next) */
    cudaEvent_t gev;        /* ... recorded when it was written */
    void *tk;               /* the top-k's counters and candidates (sample.cu) */
    struct { bool on; float *out; const ig_weight *t; const int32_t *ids; } emb; /* a held one-token embed */
    bool emb_norm;          /* hold it for the RMSNorm after it (INGOT_CUDA_NO_EMBNORM=1: not) */
    size_t stage_used;
    bool stage_on;          /* INGOT_CUDA_NO_STAGE=1: every upload waits for its copy */
    void *cublas; /* cublasHandle_t when built with cuBLAS, else NULL */
} cuda_ctx;

/* Do [a, a+na) and [b, b+nb) (bytes) share memory? */
static inline bool cu_overlap(const void *a, size_t na, const void *b, size_t nb) {
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y + nb && y < x + na;
}

/* The q8_1 copy of count activations at src is now in buf, laid out as
 * xk_pos(., xc) says. */
static inline void q8_set(cuda_ctx *c, const float *src, size_t count, void *buf, int xc) {
    c->q8_src = src;
    c->q8_count = count;
    c->q8_buf = buf;
    c->q8_xc = xc;
    c->q8_sc.on = false;
}
/* The layout of the q8_1 form of rows of `cols` activations (xk_pos). */
static inline int cu_xc(const cuda_ctx *c, int cols) { return c->xk && cols % 64 == 0 ? cols : 0; }

/* Kernel k's preferred shared-memory carveout, c->carveout_now (once per
 * kernel and value; < 0: the driver's choice). */
void cu_carveout(cuda_ctx *c, const void *k);

/* Launch a kernel on the context's stream (PDL where the device has it),
 * in clusters of cl CTAs along x where cl > 1 (sm_90). */
template <typename... KArgs, typename... Args>
static inline void cu_launch_cl(cuda_ctx *c, int cl, void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem,
                                Args... args) {
    if (c->carveout_now >= 0) cu_carveout(c, (const void *)k);
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = c->stream;
    cudaLaunchAttribute at[2];
    int na = 0;
    if (c->pdl) {
        at[na].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[na++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (cl > 1) {
        at[na].id = cudaLaunchAttributeClusterDimension;
        at[na].val.clusterDim.x = (unsigned)cl;
        at[na].val.clusterDim.y = 1;
        at[na++].val.clusterDim.z = 1;
    }
    cfg.attrs = at;
    cfg.numAttrs = (unsigned)na;
    CU_CHECK(c, cudaLaunchKernelEx(&cfg, k, ((KArgs)args)...));
}
template <typename... KArgs, typename... Args>
static inline void cu_launch(cuda_ctx *c, void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem,
                             Args... args) {
    cu_launch_cl(c, 1, k, grid, block, smem, args...);
}

/* Scratch buffer `slot` of at least `bytes`, grown with 25% headroom
 * (exact: none), never shrunk. Growing outside a capture frees the old
 * buffer and forgets the recorded graphs; inside one the old buffer stays
 * alive until destroy. */
void *cu_scratch(cuda_ctx *c, int slot, size_t bytes);
void *cu_scratch_ex(cuda_ctx *c, int slot, size_t bytes, bool exact);
/* Device memory taken since the backend started (cudaMemGetInfo). */
size_t cu_taken(cuda_ctx *c);

/* ---- type layout ---------------------------------------------------- */

typedef struct qlayout {
    int qk;   /* values per block */
    int bs;   /* bytes per block in the file */
    int qo;   /* offset of the Q part inside the file block */
    int qn;   /* bytes of the Q part (== bs: layout unchanged) */
} qlayout;

static inline __host__ __device__ qlayout ql_get(uint32_t t) {
    switch (t) {
    case IG_TYPE_F32: return {1, 4, 0, 4};
    case IG_TYPE_F16: return {1, 2, 0, 2};
    case IG_TYPE_BF16: return {1, 2, 0, 2};
    case IG_TYPE_Q4_0: return {32, 18, 2, 16};
    case IG_TYPE_Q4_1: return {32, 20, 4, 16};
    case IG_TYPE_Q5_0: return {32, 22, 6, 16};
    case IG_TYPE_Q5_1: return {32, 24, 8, 16};
    case IG_TYPE_Q8_0: return {32, 34, 2, 32};
    case IG_TYPE_Q2_K: return {256, 84, 16, 64};
    case IG_TYPE_Q3_K: return {256, 110, 0, 96};
    case IG_TYPE_Q4_K: return {256, 144, 16, 128};
    case IG_TYPE_Q5_K: return {256, 176, 0, 176};
    case IG_TYPE_Q6_K: return {256, 210, 0, 192};
    default: return {0, 0, 0, 0};
    }
}

static inline bool cu_type_supported(uint32_t t) { return ql_get(t).qk != 0; }

/* Bytes of one row's S part (padded to 16). */
static inline __host__ __device__ size_t ql_srow(qlayout L, int64_t cols) {
    if (!L.qk) return 0;
    return ((size_t)(cols / L.qk) * (size_t)(L.bs - L.qn) + 15) & ~(size_t)15;
}
/* Device bytes of a resident rows x cols weight. */
static inline size_t ql_bytes(qlayout L, int64_t rows, int64_t cols) {
    return (size_t)rows * ((size_t)(cols / L.qk) * (size_t)L.qn + ql_srow(L, cols));
}

/* Q and S base pointers of a resident weight. */
static inline void cu_weight_parts(const ig_weight *w, const uint8_t **q, const uint8_t **s) {
    qlayout L = ql_get(w->type);
    size_t nblk = (size_t)w->rows * (size_t)(w->cols / L.qk);
    *q = (const uint8_t *)w->data;
    *s = *q + nblk * (size_t)L.qn;
}

/* ---- programmatic dependent launch ------------------------------------
 * On Hopper a kernel may start (its CTAs resident, its weight loads in
 * flight) while the previous kernel finishes: every kernel calls
 * pdl_trigger() first, and pdl_wait() before it reads anything an earlier
 * kernel wrote or writes anything. Decode is a chain of hundreds of short
 * kernels, so this hides most of each launch's ramp-up and drain. */
/* Decode timeline for the benchmark (bench/cuda/bench_ops.cu), compiled in
 * only with -DINGOT_CUDA_TRACE=ON (cmake): when c_trace is set (per .cu
 * file, cu_trace_set), thread 0 of CTA 0 of every kernel records when its
 * dependency wait returned, i.e. when the kernel before it finished: t[0]
 * counts, then (time ns, grid << 32 | block) pairs. Off, it costs nothing;
 * on, the test sits on every kernel's critical path (~3% of decode).
 * Events with bit 63 set are per-CTA (trace_cta): which SM, when. */
#define TRACE_CAP 65535 /* events; the buffer is 2 + 2 * TRACE_CAP words */
/* trace_cta kinds: a residual product's CTA resident / done (wo, down), and
 * one of the last TRACE_TAIL CTAs of a multi-wave product done */
enum { TRC_WO_IN = 1, TRC_WO_OUT, TRC_DOWN_IN, TRC_DOWN_OUT, TRC_TAIL_OUT };
#define TRACE_TAIL 264 /* two per SM on H100 */
#ifdef INGOT_CUDA_TRACE
static __constant__ unsigned long long *c_trace;
/* One event with signature sig (any thread). */
static __device__ __forceinline__ void trace_stamp(unsigned long long sig) {
    unsigned long long *tb = c_trace;
    if (!tb) return;
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    unsigned long long i = atomicAdd(tb, 1ull);
    if (i < TRACE_CAP) tb[2 + 2 * i] = t, tb[3 + 2 * i] = sig;
}
/* A CTA-level event (thread 0 calls): kind, the SM it runs on, its index. */
static __device__ __forceinline__ void trace_cta(unsigned kind) {
    unsigned sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    trace_stamp((1ull << 63) | ((unsigned long long)kind << 48) | ((unsigned long long)sm << 32) | blockIdx.x);
}
static __device__ __forceinline__ void trace_point() {
    if (threadIdx.x | blockIdx.x | blockIdx.y | blockIdx.z) return;
    trace_stamp(((unsigned long long)gridDim.x << 32) | (gridDim.y << 16) | blockDim.x);
}
#define CU_TRACE_SETTER(name) \
    void cu_trace_set_##name(void *p) { cudaMemcpyToSymbol(c_trace, &p, sizeof p); }
void cu_trace_set_matvec(void *p);
void cu_trace_set_matmul(void *p);
void cu_trace_set_norm(void *p);
void cu_trace_set_attention(void *p);
/* All of them: p = device buffer of 2 + 2 * TRACE_CAP u64, zeroed (NULL: off). */
void cu_trace_set(void *p);
#else
static __device__ __forceinline__ void trace_point() {}
static __device__ __forceinline__ void trace_stamp(unsigned long long) {}
static __device__ __forceinline__ void trace_cta(unsigned) {}
#define CU_TRACE_SETTER(name)
#endif

static __device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    trace_point();
}
static __device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/* Ask the copy engine to bring [p, p+bytes) into L2 (p 16-byte aligned,
 * bytes a multiple of 16); one instruction, no registers held. A hint:
 * decode leaves DRAM idle in every gap between matrix-vector kernels, and
 * weights fetched then are L2 hits when the next kernel starts. */
static __device__ __forceinline__ void l2_prefetch(const void *p, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (bytes) asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#endif
}
/* Chunk k of nk of a [q, q+qn) + [s, s+sn) prefetch. */
static __device__ __forceinline__ void l2_prefetch_part(const uint8_t *q, size_t qn, const uint8_t *s, size_t sn,
                                                        unsigned k, unsigned nk) {
    size_t cq = ((qn + nk - 1) / nk + 15) & ~(size_t)15, cs = ((sn + nk - 1) / nk + 15) & ~(size_t)15;
    size_t a = (size_t)k * cq, b = (size_t)k * cs;
    if (q && a < qn) l2_prefetch(q + a, (unsigned)((qn - a < cq ? qn - a : cq) & ~(size_t)15));
    if (s && b < sn) l2_prefetch(s + b, (unsigned)((sn - b < cs ? sn - b : cs) & ~(size_t)15));
}

/* q8_1 as the CPU makes it (cpu_quant_q8a_ref): a block's values times
 * 127 / amax, rounded to even, so both backends quantize the activations
 * alike; one division per block instead of one per value. NaN gives 0. */
static __device__ __forceinline__ float q8_id(float amax) { return amax != 0.0f ? 127.0f / amax : 0.0f; }
static __device__ __forceinline__ int q8_q(float v, float id) { return __float2int_rn(v * id); }
/* silu(g) * u. A division, not g * __frcp_rn(..): the reciprocal kept a
 * slow-path call in the down projection's kernel, where the compiler drops
 * the division's (the divisor is >= 1), and measured slower (NOTES v15). */
static __device__ __forceinline__ float swiglu1(float g, float u) { return g / (1.0f + expf(-g)) * u; }

/* Where activation v of a row of xc values goes in a q8_1 row in k order
 * (xc = 0: at v, the natural order; v may then run on into later rows,
 * which k order's producers index row by row). A row's
 * 64-value units go in groups of 32 (2048 values; the last group of a row
 * may be shorter), and inside a group the units' first 16 values come
 * first, then their second 16, and so on. A decode lane of the k-quant
 * products takes one unit (mvq<Q4_K>: a sub-block pair), so each of its
 * four 16-byte activation loads is contiguous across the warp (4 L1
 * wavefronts instead of 16; bench/cuda/NOTES.md v21). The d, d*sum pairs
 * stay in block order. xc % 64 == 0. */
static __host__ __device__ __forceinline__ size_t xk_pos(size_t v, int xc) {
    if (!xc) return v;
    const unsigned u = (unsigned)v >> 6, g0 = u & ~31u, n64 = (unsigned)xc >> 6;
    const unsigned gs = n64 - g0 < 32 ? n64 - g0 : 32;
    return 64 * g0 + 16 * (u & 31) + 16 * gs * (((unsigned)v >> 4) & 3) + ((unsigned)v & 15);
}
/* The decode products' view of a layout: n = xc / 64 units in a row (0:
 * natural order), s = bytes from a unit to the next in a group (16 in k
 * order, 64 in the natural one). Both orders in one formula with no
 * selects: the k-quant dots run at 64 registers, where the compiler
 * recomputes whatever is not a kernel parameter. */
struct xkv { int n, s; };
static inline xkv xk_view(int xc) { return {xc / 64, xc ? 16 : 64}; }
/* Offset in a row of unit u's 16-value piece 0, and from one of its
 * pieces to the next (xk_pos). */
static __device__ __forceinline__ unsigned xk_unit(unsigned u, xkv x, unsigned *step) {
    const int lo = (int)(u & 31u), g0 = (int)u - lo;
    *step = 16 * min(max(x.n - g0, 1), 32);
    return 64 * (int)u - (48 * min(x.n, 1)) * lo;
}
/* Offset in a row of the 16-value piece that starts at value v. */
static __device__ __forceinline__ unsigned xk_off(unsigned v, xkv x) {
    unsigned st;
    const unsigned o = xk_unit(v >> 6, x, &st);
    return o + st * ((v >> 4) & 3);
}

/* q8_1 of one value per lane, a whole warp = one 32-block at index i
 * (i % 32 == lane) of the row at xq / ds (layout xc: xk_pos): the formula
 * of every q8_1 producer in this backend. */
static __device__ __forceinline__ void q8_put(float v, int8_t *xq, float2 *ds, size_t i, int xc) {
    float amax = fabsf(v);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    float d = amax / 127.0f;
    int q = q8_q(v, q8_id(amax));
    xq[xk_pos(i, xc)] = (int8_t)q;
    float qs = (float)q;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) qs += __shfl_xor_sync(0xffffffffu, qs, o);
    if ((threadIdx.x & 31) == 0) ds[i / 32] = make_float2(d, d * qs);
}

/* 16-byte global -> shared copies that hold no registers (cp.async). */
static __device__ __forceinline__ void cp16(void *smem, const void *g) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned a = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(a), "l"(g) : "memory");
#else
    *(int4 *)smem = *(const int4 *)g;
#endif
}
static __device__ __forceinline__ void cp_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
template <int N> static __device__ __forceinline__ void cp_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

/* Arrival counting for "the last CTA finishes the job". One thread per CTA
 * does an acq_rel atomic after a barrier (release: the CTA's stores, by
 * cumulativity; acquire: everything the earlier arrivals published), the
 * pattern of CUTLASS's semaphore; no per-thread __threadfence (a full SC
 * fence in every thread cost microseconds per CTA). The last arrival
 * re-zeroes the counter for the next launch and reads the others' data
 * through L2 (__ldcg). */
static __device__ __forceinline__ unsigned atom_add_acq_rel(unsigned *p, unsigned v) {
    unsigned old;
    asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
    return old;
}
/* Last of `expect` CTAs at *cnt? Every thread of the CTA calls. */
static __device__ __forceinline__ bool cta_arrive_last(unsigned *cnt, unsigned expect) {
    __shared__ unsigned s_last;
    __syncthreads();
    if (threadIdx.x == 0) {
        bool last = atom_add_acq_rel(cnt, 1u) == expect - 1;
        if (last) *cnt = 0;
        s_last = last;
    }
    __syncthreads();
    return s_last;
}

/* ---- device helpers ------------------------------------------------- */

static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
static __device__ __forceinline__ float h2f(uint16_t h) {
    return __half2float(__ushort_as_half(h));
}
static __device__ __forceinline__ float bf2f(uint16_t h) {
    return __uint_as_float((uint32_t)h << 16);
}
static __device__ __forceinline__ uint16_t ld16(const uint8_t *p) {
    return *(const uint16_t *)p;
}
static __device__ __forceinline__ uint32_t ld32(const uint8_t *p) {
    return *(const uint32_t *)p;
}
/* A 32-bit word from a 2-byte aligned address. */
static __device__ __forceinline__ uint32_t ld32_a2(const uint8_t *p) {
    const uint16_t *h = (const uint16_t *)p;
    return (uint32_t)h[0] | ((uint32_t)h[1] << 16);
}

/* q4_0 on the device, rows of an even number nb of blocks (every real
 * model's; odd rows keep the file's order and the kernel type CU_Q40F).
 * A row is 2 nb half-blocks of 16 values; the Q part of block b holds
 * half-blocks b (low nibbles) and nb + b (high nibbles), in value order.
 * Decode lane b then dots values 16b.. and 16(nb + b).., so across a warp
 * both of its activation loads are 512 contiguous bytes (4 L1 wavefronts)
 * instead of 1 KB at a 32-byte stride (8). Half-block h belongs to block
 * h / 2, so blocks 2j and 2j + 1 hold the halves of blocks j and nb/2 + j,
 * and the S part keeps those two scales adjacent (at 2j and 2j + 1): one
 * 4-byte load per task. */
static __host__ __device__ __forceinline__ bool q40_reordered(uint32_t t, int nb) {
    return t == IG_TYPE_Q4_0 && !(nb & 1);
}
/* Where block b's scale is, in 2-byte units. */
static __host__ __device__ __forceinline__ int q40_spos(int b, int nb) {
    return b < nb / 2 ? 2 * b : 2 * (b - nb / 2) + 1;
}
/* The kernels' name for q4_0 rows in the file's order (odd nb). */
#define CU_Q40F (IG_TYPE_COUNT + 1)

/* q4_K's and q6_K's Q parts on the device: a row of nb super-blocks is
 * 4 nb units of 64 values (q4_K: sub-block pair c of super-block b, the
 * 32 bytes qs[32c..32c+31]; q6_K: 48 bytes, k6_unit), a decode task each
 * (t = 4b + c), so a header and scale extraction serve 64 values. The
 * row's units go in groups of 32 (one per lane of a warp): the group's
 * first 16-byte parts, then its second parts, and so on, so each of a
 * warp's weight loads is one contiguous run of 16-byte pieces. Byte offset
 * in the row of part h of unit t, units of ub bytes: */
static __host__ __device__ __forceinline__ size_t ku_pos(int t, int h, int nb, int ub) {
    const int g0 = t & ~31, gs = 4 * nb - g0 < 32 ? 4 * nb - g0 : 32;
    return (size_t)ub * g0 + 16 * (size_t)((t & 31) + h * gs);
}

/* q4_K / q5_K 6-bit scale and min of sub-block j from the 12 scale bytes. */
static __host__ __device__ __forceinline__ void k4_scale_min(const uint8_t *q, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}
/* q4_K's 12 scale bytes as the GPU keeps them (repacked at upload): the
 * 24 bits of sub-block pair c (scale 2c, scale 2c+1, min 2c, min 2c+1, 6
 * bits each) are byte c of words 1, 2, 3 of the header. A decode lane
 * gathers its pair with two byte permutes whose selectors are linear in c,
 * instead of the file format's split fields (bench/cuda/NOTES.md v18). */
static __host__ __device__ __forceinline__ void k4_pack(const uint8_t *in, uint8_t *out) {
    for (int c = 0; c < 4; c++) {
        int f[4];
        for (int h = 0; h < 2; h++) k4_scale_min(in, 2 * c + h, &f[h], &f[2 + h]);
        const uint32_t v = (uint32_t)(f[0] | f[1] << 6 | f[2] << 12 | f[3] << 18);
        out[c] = (uint8_t)v, out[4 + c] = (uint8_t)(v >> 8), out[8 + c] = (uint8_t)(v >> 16);
    }
}
/* Byte permute (PTX prmt: __byte_perm masks the selector first). */
static __device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t s) {
    uint32_t d;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(s));
    return d;
}
/* Pair c's 24 bits from the packed words y, z, w (bits 24..31: garbage). */
static __device__ __forceinline__ uint32_t k4_pair(uint32_t y, uint32_t z, uint32_t w, int c) {
    return prmt(prmt(y, z, 0x40u + 0x11u * c), w, 0x410u + 0x100u * c);
}
/* q6_K's units (ku_pos): a super-block's ql and qh (192 bytes) rewritten
 * as four units of 48 bytes: 32 nibble bytes (byte i: value i low, i + 32
 * high), then 16 bytes of high bits (byte i: values i, i + 16, i + 32,
 * i + 48 at bits 0, 2, 4, 6). The S part is the file's (scales in value
 * order, d). */
/* The 6-bit value i (0..63) of unit j of a file super-block (ql, qh). */
static __host__ __device__ __forceinline__ int k6_file(const uint8_t *ql, const uint8_t *qh, int j, int i) {
    const int m = 64 * (j & 1) + i, g = m >> 5, l = m & 31, h = j >> 1;
    return ((ql[64 * h + 32 * (g & 1) + l] >> (4 * (g >> 1))) & 0xF) | (((qh[32 * h + l] >> (2 * g)) & 3) << 4);
}
/* Unit j's 48 bytes from a file super-block. */
static __host__ __device__ __forceinline__ void k6_unit(const uint8_t *blk, int j, uint8_t *u) {
    const uint8_t *ql = blk, *qh = blk + 128;
    for (int i = 0; i < 32; i++) u[i] = (uint8_t)((k6_file(ql, qh, j, i) & 0xF) | (k6_file(ql, qh, j, i + 32) & 0xF) << 4);
    for (int i = 0; i < 16; i++) {
        int b = 0;
        for (int k = 0; k < 4; k++) b |= (k6_file(ql, qh, j, 16 * k + i) >> 4) << (2 * k);
        u[32 + i] = (uint8_t)b;
    }
}
/* q3_K signed 6-bit scale k (0..15) from its 12 scale bytes. */
static __device__ __forceinline__ int k3_scale(const uint8_t *s, int k) {
    int lo = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
    int hi = (s[8 + (k & 3)] >> (2 * (k >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Eight consecutive values k0..k0+7 (k0 % 8 == 0) of one block. q/s are the
 * block's Q and S parts. Used by embedding rows and the f16 dequantization
 * for the tensor-core path. */
static __device__ __forceinline__ void deq8(uint32_t t, const uint8_t *q, const uint8_t *s, int k0,
                                            float *y, const uint8_t *hq = NULL) {
    switch (t) {
    case IG_TYPE_Q4_0: {
        float d = h2f(ld16(s));
        int sh = k0 < 16 ? 0 : 4, b = k0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = (float)(((q[b + i] >> sh) & 0xF) - 8) * d;
    } break;
    case IG_TYPE_Q4_1: {
        float d = h2f(ld16(s)), m = h2f(ld16(s + 2));
        int sh = k0 < 16 ? 0 : 4, b = k0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = (float)((q[b + i] >> sh) & 0xF) * d + m;
    } break;
    case IG_TYPE_Q5_0:
    case IG_TYPE_Q5_1: {
        bool one = t == IG_TYPE_Q5_1;
        float d = h2f(ld16(s)), m = one ? h2f(ld16(s + 2)) : 0.0f;
        uint32_t qh = ld32_a2(s + (one ? 4 : 2));
        int sh = k0 < 16 ? 0 : 4, b = k0 & 15;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int v = ((q[b + i] >> sh) & 0xF) | (((qh >> (k0 + i)) & 1) << 4);
            y[i] = one ? (float)v * d + m : (float)(v - 16) * d;
        }
    } break;
    case IG_TYPE_Q8_0: {
        float d = h2f(ld16(s));
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = (float)(int8_t)q[k0 + i] * d;
    } break;
    case IG_TYPE_Q2_K: {
        float d = h2f(ld16(s + 16)), dmin = h2f(ld16(s + 18));
        int h = k0 >> 7, r = k0 & 127, j = r >> 5, l = r & 31;
        int sc = s[8 * h + 2 * j + (l >> 4)];
        float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = dl * (float)((q[32 * h + l + i] >> (2 * j)) & 3) - ml;
    } break;
    case IG_TYPE_Q3_K: {
        float d = h2f(ld16(s + 12));
        int h = k0 >> 7, r = k0 & 127, j = r >> 5, l = r & 31;
        float dl = d * (float)k3_scale(s, 8 * h + 2 * j + (l >> 4));
        int bit = 1 << (4 * h + j);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int v = (q[32 + 32 * h + l + i] >> (2 * j)) & 3;
            y[i] = dl * (float)(v - ((q[l + i] & bit) ? 0 : 4));
        }
    } break;
    case IG_TYPE_Q4_K:
    case IG_TYPE_Q5_K: {
        /* q4_K: the 16 header bytes are the S part (scales repacked,
         * k4_pack), qs the Q part; q5_K: the file's block */
        bool five = t == IG_TYPE_Q5_K;
        const uint8_t *hd = five ? q : s;
        float d = h2f(ld16(hd)), dmin = h2f(ld16(hd + 2));
        int c = k0 >> 6, r = k0 & 63, l = r & 31, hi = r >> 5, sc, m;
        if (five) {
            k4_scale_min(hd + 4, 2 * c + hi, &sc, &m);
        } else {
            const uint32_t v = k4_pair(ld32(hd + 4), ld32(hd + 8), ld32(hd + 12), c) >> (6 * hi);
            sc = v & 63;
            m = (v >> 12) & 63;
        }
        float dl = d * (float)sc, ml = dmin * (float)m;
        /* q4_K: q is the 8 bytes themselves (weight_deq8, ku_pos) */
        const uint8_t *qs = five ? q + 48 + 32 * c + l : q;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int v = (qs[i] >> (4 * hi)) & 0xF;
            if (five) v |= ((q[16 + l + i] >> (2 * c + hi)) & 1) << 4;
            y[i] = dl * (float)v - ml;
        }
    } break;
    case IG_TYPE_Q6_K: { /* q: the nibble bytes of the 8 values, hq their
                          * high bits (weight_deq8, ku_pos); S part the
                          * file's scales and d */
        const float dl = h2f(ld16(s + 16)) * (float)(int8_t)s[k0 >> 4];
        const int u = k0 & 63, nsh = 4 * (u >> 5), hsh = 2 * (u >> 4);
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = dl * (float)((((q[i] >> nsh) & 0xF) | (((hq[i] >> hsh) & 3) << 4)) - 32);
    } break;
    default:
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = 0.0f;
    }
}

/* Values [k0, k0+8) of row r of a resident weight (k0 % 8 == 0). */
static __device__ __forceinline__ void weight_deq8(uint32_t t, const uint8_t *Q, const uint8_t *S,
                                                   int64_t r, int cols, int k0, float *y) {
    if (t == IG_TYPE_F32) {
        const float *p = (const float *)Q + r * cols + k0;
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = p[i];
        return;
    }
    if (t == IG_TYPE_F16 || t == IG_TYPE_BF16) {
        const uint16_t *p = (const uint16_t *)Q + r * cols + k0;
#pragma unroll
        for (int i = 0; i < 8; i++) y[i] = t == IG_TYPE_F16 ? h2f(p[i]) : bf2f(p[i]);
        return;
    }
    qlayout L = ql_get(t);
    int nb = cols / L.qk, b = k0 / L.qk, qb = b, qk0 = k0 % L.qk;
    int sb = b;
    if (q40_reordered(t, nb)) { /* the Q part that holds half-block h, as if it were block qb's */
        const int h = 2 * b + (qk0 >> 4);
        qb = h < nb ? h : h - nb;
        qk0 = (h < nb ? 0 : 16) + (qk0 & 15);
        sb = q40_spos(b, nb);
    }
    const uint8_t *q = Q + (r * nb + qb) * L.qn;
    const uint8_t *hq = NULL;
    if (t == IG_TYPE_Q4_K) { /* the 8 quant bytes, wherever ku_pos put them */
        const int l = qk0 & 31;
        q = Q + r * nb * L.qn + ku_pos(4 * b + (qk0 >> 6), l >> 4, nb, 32) + (l & 15);
    } else if (t == IG_TYPE_Q6_K) { /* nibbles and high bits, wherever ku_pos put them */
        const int u = qk0 & 63, tk = 4 * b + (qk0 >> 6);
        q = Q + r * nb * L.qn + ku_pos(tk, (u >> 4) & 1, nb, 48) + (u & 15);
        hq = Q + r * nb * L.qn + ku_pos(tk, 2, nb, 48) + (u & 15);
    }
    deq8(t, q, S + r * ql_srow(L, cols) + sb * (L.bs - L.qn), qk0, y, hq);
}

/* ---- launchers (one per op family, each in its own .cu file) -------- */

/* matvec.cu */
void cu_quantize_q8(cuda_ctx *c, const float *x, int n, int cols);
void cu_mv_launch(cuda_ctx *c, const mv_batch *b);
/* Can one launch take products of types t1 then t2 (k_mv_q2)? */
bool cu_mv_pair_ok(uint32_t t1, uint32_t t2);
/* FUSE_BLK: can this batch run one CTA per 32 rows (k_mv_r)? */
bool cu_mv_blk_ok(cuda_ctx *c, const mv_batch *b);
/* FUSE_QKVA: can this batch (b->att filled in) be Q/K/V + attention? */
bool cu_mv_att_ok(const mv_batch *b);
/* Run a pending norm / SwiGLU (either may be NULL) as kernels of their own. */
void cu_pending_run(cuda_ctx *c, cu_dnorm *dn, cu_dglu *dg);
/* Once at start: shared-memory limits of the kernels that need more. */
void cu_mv_init(cuda_ctx *c);
/* Upload: file blocks of type t into the Q and S parts (q4_K: scales
 * repacked, k4_pack; q4_K, q6_K: units placed by ku_pos; q4_0:
 * reordered, q40_reordered, so blocks [blk0, blk0 + nblk) must be whole
 * rows). */
void cu_repack(cuda_ctx *c, uint8_t *dq, uint8_t *ds, const uint8_t *src, size_t blk0, size_t nblk,
               qlayout L, int nb_row, uint32_t t);
/* matmul.cu: n > MV_MAXN; false when it cannot (no cuBLAS): caller falls back */
bool cu_mm_launch(cuda_ctx *c, float *out, const ig_weight *w, const ig_weight *bias, const float *x,
                  int n);
void *cu_cublas_new(cuda_ctx *c);
void cu_cublas_free(void *h);
/* norm.cu (norms, elementwise ops, rope, kv store, embed, argmax) */
void cu_rms_norm(cuda_ctx *c, float *out, const float *x, const float *w, const float *b, int n, int d,
                 float eps, bool layer, bool q8);
void cu_add(cuda_ctx *c, float *out, const float *a, const float *b, size_t count);
void cu_swiglu(cuda_ctx *c, float *out, const float *g, const float *u, size_t count, bool q8);
void cu_gelu(cuda_ctx *c, float *x, size_t count);
void cu_rope(cuda_ctx *c, float *x, int ld, int n, int n_head, int head_dim, const int32_t *pos,
             const ig_rope *r);
/* rope(q) + rope(k) + kv_store(k, v) in one launch (q may be NULL). */
void cu_rope_kv(cuda_ctx *c, float *q, int ld_q, int n_head, float *k, const float *v, int ld_kv, int n,
                int n_head_kv, int head_dim, const int32_t *pos, const ig_rope *r, void *kc, void *vc, int kv_type);
void cu_kv_store(cuda_ctx *c, void *kc, void *vc, const float *k, const float *v, int ld, int n,
                 int kv_dim, const int32_t *pos, int kv_type);
void cu_embed(cuda_ctx *c, float *out, const ig_weight *t, const int32_t *ids, int n);
bool cu_embed_norm(cuda_ctx *c, float *x, float *out, const ig_weight *t, const int32_t *ids, const float *w,
                   int d, float eps);
void cu_argmax(cuda_ctx *c, int32_t *out, const float *x, int n);
void cu_penalize(cuda_ctx *c, float *x, const int32_t *ids, int n, int n_vocab, float penalty);
void cu_topk(cuda_ctx *c, int32_t *out, const float *x, int n, int k);
void cu_bias_add(cuda_ctx *c, float *out, const float *bias, int n, int rows);
/* attention.cu. ra (one token, NULL: none): q and k are not rotated yet,
 * the kernel rotates q and ra's k, and stores k/v in the cache row pos. */
void cu_attention(cuda_ctx *c, float *out, const float *q, int ld_q, const void *kc, const void *vc,
                  int n, const int32_t *pos, const ig_attn *a, const cu_rope_att *ra);
/* backend.cu: the learned successor of weight `key` (NULL: none) */
const wsucc *cu_succ(cuda_ctx *c, const void *key);
/* The q8 buffer a fused epilogue may write while its kernel reads `in`. */
void *cu_q8_other(cuda_ctx *c, const void *in);

/* q8_1 activation layout in the SCR_Q8 scratch: int8 [n][cols] (each row
 * in the natural order or k order: xk_pos), then float2 (d, d*sum)
 * [n][cols/32], 16-byte aligned. */
static inline size_t q8_bytes(int n, int cols) {
    size_t qs = ((size_t)n * cols + 15) & ~(size_t)15;
    return qs + (size_t)n * (cols / 32) * sizeof(float2);
}
static inline float2 *q8_ds(void *base, int n, int cols) {
    size_t qs = ((size_t)n * cols + 15) & ~(size_t)15;
    return (float2 *)((uint8_t *)base + qs);
}
/* Largest activation count kept in q8 form by norms and SwiGLU. */
#define Q8_MAX_COUNT ((size_t)MV_MAXN * 65536)

#endif
