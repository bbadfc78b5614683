/* Sampling's share of the device (ingot_decode_sample): the repetition
 * penalty applied to the logits in place, and the k largest logits with
 * their ids, so a sampled step moves k pairs back instead of n_vocab
 * floats and the host sorts 40 candidates instead of scanning 32,000.
 * Both give exactly the numbers the host sampler would compute (src/sample/
 * sampler.c): the penalty by IEEE division and multiplication (the build
 * uses --use_fast_math, hence the explicit PTX), the selection by the same
 * order (larger logit first, then lower id). */
#include "common.cuh"

static __device__ __forceinline__ float div_rn(float a, float b) {
    float r;
    asm("div.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
static __device__ __forceinline__ float mul_rn(float a, float b) {
    float r;
    asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}

/* ids are distinct (the host removed repeats), so no two threads touch one logit */
static __global__ void k_penalize(float *x, const int32_t *ids, int n, int n_vocab, float penalty) {
    pdl_trigger();
    pdl_wait();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const int id = ids[i];
        if (id < 0 || id >= n_vocab) continue;
        const float l = x[id];
        x[id] = l <= 0.0f ? mul_rn(l, penalty) : div_rn(l, penalty);
    }
}

/* A float's order as an unsigned key: larger float, larger key; -0 and +0
 * equal (the host compares them equal and falls back to the id); NaN
 * lowest. */
static __device__ __forceinline__ uint32_t okey(float f) {
    if (f != f) return 0;
    if (f == 0.0f) f = 0.0f;
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

enum { TK_THREADS = 1024, TK_WARPS = TK_THREADS / 32 };

/* Inclusive prefix sum over a warp's lanes. */
static __device__ __forceinline__ uint32_t warp_scan_incl(uint32_t v, int lane) {
    for (int o = 1; o < 32; o <<= 1) {
        const uint32_t u = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += u;
    }
    return v;
}

/* Inclusive prefix sum over a TK_THREADS CTA in thread order. Every thread
 * calls; s_wsum (one word per warp) is read on return, so it is not
 * reused before the caller's next barrier. */
static __device__ __forceinline__ uint32_t block_scan_incl(uint32_t v, uint32_t *s_wsum) {
    static_assert(TK_WARPS == 32, "one warp scans the warps' sums");
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const uint32_t inc = warp_scan_incl(v, lane);
    if (lane == 31) s_wsum[w] = inc;
    __syncthreads();
    if (w == 0) {
        const uint32_t t = s_wsum[lane];
        s_wsum[lane] = warp_scan_incl(t, lane) - t;
    }
    __syncthreads();
    return inc + s_wsum[w];
}

/* The general path, one CTA (on 32k logits as slow as sending them all
 * back, NOTES v16): a radix select finds T, the k-th largest key, 8 bits
 * per pass from the top (histograms in shared memory, one atomic per
 * distinct bin per warp); then every key above T is taken, and of the keys
 * equal to T the lowest ids, as many as k still needs (each thread scans a
 * contiguous run of ids, a block scan orders the runs). out: k pairs (id,
 * logit bits), in no particular order; the host sorts them. */
static __device__ void topk_cta(int32_t *out, const float *x, int n, int k) {
    __shared__ uint32_t hist[256];
    __shared__ uint32_t s_prefix, s_mask, s_need, s_gt;
    __shared__ uint32_t s_wsum[TK_WARPS];
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    if (tid == 0) s_prefix = 0, s_mask = 0, s_need = (uint32_t)k, s_gt = 0;
    for (int d = 3; d >= 0; d--) {
        const int sh = 8 * d;
        if (tid < 256) hist[tid] = 0;
        __syncthreads();
        const uint32_t prefix = s_prefix, mask = s_mask;
        for (int i0 = 0; i0 < n; i0 += TK_THREADS) { /* uniform: match_any is warp-wide */
            const int i = i0 + tid;
            const uint32_t key = i < n ? okey(x[i]) : 0;
            const bool in = i < n && (key & mask) == prefix;
            const uint32_t bin = in ? (key >> sh) & 255u : 256u + (uint32_t)lane; /* out: a bin of its own */
            const uint32_t peers = __match_any_sync(0xffffffffu, bin);
            if (in && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], (uint32_t)__popc(peers));
        }
        __syncthreads();
        if (w == 0) {
            /* lane l owns bins 255-8l .. 248-8l (from the top); counts from
             * the top up to and including each lane's bins */
            uint32_t c8[8], sum = 0;
            for (int j = 0; j < 8; j++) c8[j] = hist[255 - 8 * lane - j], sum += c8[j];
            const uint32_t inc = warp_scan_incl(sum, lane);
            const uint32_t need = s_need, before = inc - sum;
            const uint32_t hit = __ballot_sync(0xffffffffu, inc >= need);
            if (hit && lane == __ffs(hit) - 1) { /* the bin holding the need-th key */
                uint32_t cum = before;
                int j = 0;
                while (cum + c8[j] < need) cum += c8[j++];
                const uint32_t b = 255u - 8u * (uint32_t)lane - (uint32_t)j;
                s_need = need - cum;
                s_prefix = prefix | (b << sh);
                s_mask = mask | (255u << sh);
            }
        }
        __syncthreads();
    }
    const uint32_t T = s_prefix, need = s_need; /* keys above T: k - need of them */
    const int run = (n + TK_THREADS - 1) / TK_THREADS, i0 = tid * run, i1 = min(n, i0 + run);
    uint32_t eq = 0;
    for (int i = i0; i < i1; i++) {
        const float v = x[i];
        const uint32_t key = okey(v);
        if (key > T) {
            const uint32_t at = atomicAdd(&s_gt, 1u);
            out[2 * at] = i, out[2 * at + 1] = __float_as_int(v);
        } else if (key == T) {
            eq++;
        }
    }
    /* exclusive scan of eq over threads, in thread (= id) order */
    uint32_t rank = block_scan_incl(eq, s_wsum) - eq;
    const uint32_t base = (uint32_t)k - need;
    for (int i = i0; i < i1 && rank < need; i++) {
        const float v = x[i];
        if (okey(v) == T) {
            out[2 * (base + rank)] = i, out[2 * (base + rank) + 1] = __float_as_int(v);
            rank++;
        }
    }
}

/* The fast path: the whole grid reads the logits twice (a histogram of
 * the keys' top 12 bits, then a filter), and the last CTA of each pass
 * does the serial part: which bin holds the k-th key, and the exact order
 * inside that bin (a bitonic sort of its members in shared memory). Only
 * when that bin has more than TK_CAND members (ties by the thousand) does
 * the last CTA fall back to topk_cta over all of x. */
enum { TK_BINS = 4096, TK_CAND = 4096, TK_GRID = 32 };
struct tk_state {
    uint32_t hist[TK_BINS];
    uint32_t done1, done2, n_gt, n_cand; /* zero between uses: the last CTAs reset them */
    uint32_t bin, need;
    uint64_t cand[TK_CAND];
};

static __global__ void __launch_bounds__(TK_THREADS) k_topk_hist(const float *x, int n, int k, tk_state *st) {
    pdl_trigger();
    pdl_wait();
    __shared__ uint32_t h[TK_BINS];
    __shared__ uint32_t s_wsum[TK_WARPS];
    __shared__ bool last;
    const int tid = threadIdx.x;
    for (int b = tid; b < TK_BINS; b += TK_THREADS) h[b] = 0;
    __syncthreads();
    for (int i = blockIdx.x * TK_THREADS + tid; i < n; i += gridDim.x * TK_THREADS) atomicAdd(&h[okey(x[i]) >> 20], 1u);
    __syncthreads();
    for (int b = tid; b < TK_BINS; b += TK_THREADS)
        if (h[b]) atomicAdd(&st->hist[b], h[b]);
    __threadfence();
    __syncthreads();
    if (tid == 0) last = atomicAdd(&st->done1, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    /* thread t owns bins 4095-4t .. 4092-4t: counts from the top */
    uint32_t c4[4], sum = 0;
    for (int j = 0; j < 4; j++) c4[j] = __ldcg(&st->hist[TK_BINS - 1 - 4 * tid - j]), sum += c4[j];
    const uint32_t inc = block_scan_incl(sum, s_wsum);
    const uint32_t before = inc - sum;
    if (before < (uint32_t)k && inc >= (uint32_t)k) { /* exactly one thread */
        uint32_t cum = before;
        int j = 0;
        while (cum + c4[j] < (uint32_t)k) cum += c4[j++];
        st->bin = (uint32_t)(TK_BINS - 1 - 4 * tid - j);
        st->need = (uint32_t)k - cum;
    }
    for (int b = tid; b < TK_BINS; b += TK_THREADS) st->hist[b] = 0;
    if (tid == 0) st->done1 = 0;
}

static __global__ void __launch_bounds__(TK_THREADS) k_topk_pick(int32_t *out, const float *x, int n, int k,
                                                                 tk_state *st) {
    pdl_trigger();
    pdl_wait();
    __shared__ uint64_t sv[TK_CAND];
    __shared__ bool last;
    const int tid = threadIdx.x, lane = tid & 31;
    const uint32_t bin = st->bin, need = st->need;
    for (int i0 = blockIdx.x * TK_THREADS; i0 < n; i0 += gridDim.x * TK_THREADS) { /* uniform: ballots */
        const int i = i0 + tid;
        const float v = i < n ? x[i] : 0.0f;
        const uint32_t key = okey(v), b = key >> 20;
        const bool gt = i < n && b > bin, eq = i < n && b == bin;
        const uint32_t mg = __ballot_sync(0xffffffffu, gt), me = __ballot_sync(0xffffffffu, eq);
        uint32_t bg = 0, be = 0;
        if (lane == 0) {
            if (mg) bg = atomicAdd(&st->n_gt, (uint32_t)__popc(mg));
            if (me) be = atomicAdd(&st->n_cand, (uint32_t)__popc(me));
        }
        bg = __shfl_sync(0xffffffffu, bg, 0), be = __shfl_sync(0xffffffffu, be, 0);
        const uint32_t below = (1u << lane) - 1u;
        if (gt) {
            const uint32_t at = bg + (uint32_t)__popc(mg & below);
            out[2 * at] = i, out[2 * at + 1] = __float_as_int(v);
        } else if (eq) {
            const uint32_t at = be + (uint32_t)__popc(me & below);
            if (at < TK_CAND) st->cand[at] = ((uint64_t)key << 32) | (uint32_t)~(uint32_t)i;
        }
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) last = atomicAdd(&st->done2, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    const uint32_t m = __ldcg(&st->n_cand);
    if (m > TK_CAND) {
        topk_cta(out, x, n, k); /* rewrites all k */
    } else {
        /* (key, ~id) descending = larger logit first, then lower id */
        uint32_t P = 32;
        while (P < m) P <<= 1;
        for (uint32_t i = tid; i < P; i += TK_THREADS) sv[i] = i < m ? __ldcg(&st->cand[i]) : 0;
        __syncthreads();
        for (uint32_t size = 2; size <= P; size <<= 1)
            for (uint32_t stride = size >> 1; stride > 0; stride >>= 1) {
                for (uint32_t i = tid; i < P / 2; i += TK_THREADS) {
                    const uint32_t lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
                    const bool desc = (lo & size) == 0;
                    const uint64_t a = sv[lo], b = sv[hi];
                    if ((a < b) == desc) sv[lo] = b, sv[hi] = a;
                }
                __syncthreads();
            }
        const uint32_t base = (uint32_t)k - need;
        for (uint32_t j = tid; j < need; j += TK_THREADS) {
            const uint32_t id = ~(uint32_t)sv[j];
            out[2 * (base + j)] = (int32_t)id, out[2 * (base + j) + 1] = __float_as_int(x[id]);
        }
    }
    if (tid == 0) st->n_gt = 0, st->n_cand = 0, st->done2 = 0;
}

void cu_penalize(cuda_ctx *c, float *x, const int32_t *ids, int n, int n_vocab, float penalty) {
    if (n <= 0) return;
    cu_launch(c, k_penalize, dim3((n + 255) / 256), dim3(256), 0, x, ids, n, n_vocab, penalty);
}

void cu_topk(cuda_ctx *c, int32_t *out, const float *x, int n, int k) {
    if (n <= 0 || k <= 0 || k > n) return;
    if (!c->tk) {
        if (cudaMalloc(&c->tk, sizeof(tk_state)) != cudaSuccess) {
            c->tk = NULL;
            CU_CHECK(c, cudaErrorMemoryAllocation);
            return;
        }
        CU_CHECK(c, cudaMemsetAsync(c->tk, 0, sizeof(tk_state), c->stream));
    }
    tk_state *st = (tk_state *)c->tk;
    const int grid = min(TK_GRID, (n + TK_THREADS - 1) / TK_THREADS);
    cu_launch(c, k_topk_hist, dim3(grid), dim3(TK_THREADS), 0, x, n, k, st);
    cu_launch(c, k_topk_pick, dim3(grid), dim3(TK_THREADS), 0, out, x, n, k, st);
}
