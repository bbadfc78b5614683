/* Matrix-vector products for decode (1..MV_MAXN tokens).
 *
 * Decode reads every weight once, so these kernels are bound by memory
 * bandwidth: one warp per output row, 16-byte loads of the Q parts (see the
 * layout in common.cuh), several blocks' loads issued before the first use,
 * dequantization in registers. The activations are quantized once to q8_1
 * (int8 + a float scale per 32 values) so each weight byte costs a quarter
 * of the L1 traffic of f32 activations and the products are dp4a integer
 * dot products, as llama.cpp's mmvq does. Up to MV_MAXDESC products that
 * share one input (Q/K/V, gate/up) run as one launch.
 */
#include "attn_qkv.cuh"
#include "mvq.cuh"
#include <cooperative_groups.h>

/* ---- activation quantization --------------------------------------- */

/* One warp per 32 values. */
static __global__ void k_quantize_q8(const float *__restrict__ x, int8_t *__restrict__ xq,
                                     float2 *__restrict__ ds, int nblk, int xc) {
    pdl_trigger();
    pdl_wait();
    int b = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (b >= nblk) return;
    const size_t r = xc ? (unsigned)b * 32 / (unsigned)xc : 0, i = (size_t)b * 32 + lane - r * xc; /* row, index */
    q8_put(x[(size_t)b * 32 + lane], xq + r * xc, ds + r * xc / 32, i, xc);
}

void cu_quantize_q8(cuda_ctx *c, const float *x, int n, int cols) {
    const int xc = cu_xc(c, cols);
    if (c->q8_src == x && c->q8_count == (size_t)n * cols && c->q8_buf && !c->q8_sc.on && c->q8_xc == xc) return;
    void *buf = cu_scratch(c, SCR_Q8, q8_bytes(n, cols));
    q8_set(c, NULL, 0, buf, 0);
    if (!buf) return;
    int nblk = n * cols / 32;
    cu_launch(c, k_quantize_q8, dim3((nblk + 7) / 8), dim3(256), 0, x, (int8_t *)buf, q8_ds(buf, n, cols), nblk,
              xc);
    q8_set(c, x, (size_t)n * cols, buf, xc);
}

/* ---- kernels ---------------------------------------------------------- */

typedef struct mv_params {
    mv_desc d[MV_MAXDESC];
    int nd, cols, n;
    const int8_t *xq;
    const float2 *ds;
    const float *x;
    int xc, exc;           /* layouts (xk_pos) of xq and of exq */
    xkv xv;                /* ... xc as the dots take it */
    mv_epi e;
    int8_t *exq;           /* EPI_NQ: q8_1 of the residual sum * e.w */
    float2 *eds;
    /* EPI_SC: the input q8_1 is of x * nw, unnormalized; the norm's sum of
     * squares is the sum of nss partials; CTA 0 writes nh = the norm */
    const float *pss, *nx, *nw;
    float *nh;
    int nss, ndim;
    float neps;
    float *pss_out;        /* EPI_NQ: one partial sum of squares per CTA */
    const float *gg, *gu;  /* k_mv_r with SwiGLU prologue: gate, up */
    float *gout;           /* ... and its f32 output (NULL: not written) */
    int nd1;               /* k_mv_q2: descriptors of the first type */
    att_fuse att;          /* EPI_SCA */
} mv_params;

#define MV_WARPS 4
static_assert(MV_WARPS == AQ_WARPS, "the fused attention assumes the Q/K/V CTA shape");
/* MINB: CTAs per SM asked of the compiler for one token. At 8 (32 warps,
 * <= 64 registers) a 4096-row matrix is resident in one wave instead of
 * the 1.1-1.5 waves the compiler's 72-96 registers gave; types with wider
 * weight registers take 6 to avoid spills. */

/* The descriptor and row of CTA b's warp (b: blockIdx.x, or where
 * EPI_SCA puts the CTA in this order). */
static __device__ __forceinline__ const mv_desc *mv_pick(const mv_params &p, int b, int *row, int *dip) {
    int di = 0;
#pragma unroll
    for (int k = 1; k < MV_MAXDESC; k++)
        if (k < p.nd && b >= p.d[k].blk_start) di = k;
    const mv_desc *d = &p.d[di];
    *row = (b - d->blk_start) * MV_WARPS + (int)(threadIdx.x >> 5);
    *dip = di;
    return d;
}

/* EPI_SCA: this CTA's query head if it is an attention CTA, else -1. */
static __device__ __forceinline__ int mv_att_head(const att_fuse &a) {
    const int h = (int)blockIdx.x - a.at;
    return (unsigned)h < (unsigned)a.npoll ? h : -1;
}
/* EPI_SCA: a product CTA's index among the products (the attention CTAs
 * sit at a.at). */
static __device__ __forceinline__ int mv_att_prod(const att_fuse &a) {
    return (int)blockIdx.x - ((int)blockIdx.x >= a.at ? a.npoll : 0);
}
/* EPI_SCA: Q's CTAs, then per KV head g its K CTAs and its V CTAs, so g's
 * rows are done early for g's first heads. The place of product CTA
 * blockIdx.x in the descriptors' order (Q, K, V). */
static __device__ __forceinline__ int mv_att_order(const att_fuse &a) {
    const int b = mv_att_prod(a), sh = a.cph_sh, cph = 1 << sh;
    if (b < a.nq) return b;
    const int bb = b - a.nq, g = bb >> (sh + 1), j = bb & (2 * cph - 1);
    return j < cph ? a.nq + (g << sh) + j : a.nq + ((a.nkv + g) << sh) + j - cph;
}

/* The product a CTA takes (EPI_SCA: not an attention CTA). */
template <int EPI>
static __device__ __forceinline__ const mv_desc *mv_begin(const mv_params &p, int *row, int *di) {
    if (EPI != EPI_SCA) return mv_pick(p, (int)blockIdx.x, row, di);
    const mv_desc *d = mv_pick(p, mv_att_order(p.att), row, di);
    if (p.att.pf && *di == 0) aq_prefetch(p.att, mv_att_prod(p.att));
    return d;
}

/* Everything after the dot products (acc[] summed over the warp): bias,
 * store, residual. */
template <int NC>
static __device__ __forceinline__ void mv_finish(const mv_params &p, const mv_desc *d, int row, const float *acc) {
    const int lane = threadIdx.x & 31;
    if (row >= d->rows || lane >= NC || lane >= p.n) return;
    float v = 0.0f;
#pragma unroll
    for (int c = 0; c < NC; c++)
        if (c == lane) v = acc[c];
    if (d->bias) v += d->bias[row];
    const size_t o = (size_t)lane * d->rows + row;
    d->out[o] = v;
    if (d->out2) d->out2[o] = d->res[o] + v;
}

/* Task t's place in its block, t % TPB. The same for every task of a lane
 * (t = lane + 32k): written as the lane's, q4_K's byte selectors stay out
 * of the loops; q6_K's would spill at 64 registers, so the others keep t. */
template <int T> static __device__ __forceinline__ int mv_sub(int t) {
    return (T == IG_TYPE_Q4_K ? (int)(threadIdx.x & 31) : t) % mvq<T>::TPB;
}

/* Two register sets of U tasks each: the next set's loads are in flight
 * while the current one is multiplied. The first set is requested before
 * pdl_wait(), i.e. while the previous kernel may still be running: weights
 * never depend on it. */
template <int T, int NC>
static __device__ __forceinline__ void mv_load(typename mvq<T>::W *w, const uint8_t *Qr, const uint8_t *Sr, int t0,
                                               int ntask) {
    typedef mvq<T> Q;
#pragma unroll
    for (int u = 0; u < Q::U; u++) {
        int t = t0 + 32 * u;
        if (t < ntask) w[u] = Q::load(Qr, Sr, t / Q::TPB, mv_sub<T>(t), ntask / Q::TPB);
    }
}
template <int T, int NC>
static __device__ __forceinline__ void mv_dot(const typename mvq<T>::W *w, const mv_params &p, int t0, int ntask,
                                              float *acc) {
    typedef mvq<T> Q;
    const int qs = p.cols, dss = p.cols / 32;
#pragma unroll
    for (int u = 0; u < Q::U; u++) {
        int t = t0 + 32 * u;
        if (t < ntask) {
#pragma unroll
            for (int c = 0; c < NC; c++)
                if (c < p.n)
                    acc[c] += Q::dot(w[u], p.xq + (size_t)c * qs, p.ds + (size_t)c * dss, t / Q::TPB, mv_sub<T>(t),
                                      ntask / Q::TPB, p.xv);
        }
    }
}

/* EPI_SC, CTA 0 (every warp has a row): the pending norm's f32 output,
 * which only other readers need (the products use the q8_1 and scale). */
static __device__ __noinline__ void mv_norm_out(const float *nx, const float *nw, float *nh, int d, float scale) {
    const float4 *x4 = (const float4 *)nx, *w4 = (const float4 *)nw;
    float4 *h4 = (float4 *)nh;
    for (int i = threadIdx.x; i < d / 4; i += MV_WARPS * 32) {
        float4 x = __ldcg(x4 + i), w = w4[i];
        h4[i] = make_float4(x.x * scale * w.x, x.y * scale * w.y, x.z * scale * w.z, x.w * scale * w.w);
    }
}

/* One warp's row of a k_mv_q / k_mv_q2 launch. */
template <int T, int NC, int EPI>
static __device__ __forceinline__ void mv_row(const mv_params &p, const mv_desc *d, int row) {
    typedef mvq<T> Q;
    if (row >= d->rows) return;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    const int lane = threadIdx.x & 31, nb = p.cols / Q::QK, ntask = nb * Q::TPB;
    const uint8_t *Qr = d->q + (size_t)row * nb * Q::QN, *Sr = d->s + (size_t)row * s_row(nb, Q::SN);
    typename Q::W wa[Q::U], wb[Q::U];
    mv_load<T, NC>(wa, Qr, Sr, lane, ntask);
    pdl_wait();
    /* the partial sums arrive while the first products are computed;
     * through L1, which the CTA's four warps share (written by the kernel
     * before: visible after the wait). Each warp going to L2 (__ldcg) cost
     * 5% of decode on H100. */
    float ss = 0.0f;
    if (EPI == EPI_SC || EPI == EPI_SCA)
        for (int i = lane; i < p.nss; i += 32) ss += p.pss[i];
    for (int t0 = lane; t0 < ntask; t0 += 64 * Q::U) {
        mv_load<T, NC>(wb, Qr, Sr, t0 + 32 * Q::U, ntask);
        mv_dot<T, NC>(wa, p, t0, ntask, acc);
        mv_load<T, NC>(wa, Qr, Sr, t0 + 64 * Q::U, ntask);
        mv_dot<T, NC>(wb, p, t0 + 32 * Q::U, ntask, acc);
    }
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = warp_sum(acc[c]);
    if (EPI == EPI_SC || EPI == EPI_SCA) {
        /* every warp sums the partials in the same order: one scale */
        const float scale = rsqrtf(warp_sum(ss) / (float)p.ndim + p.neps);
        acc[0] *= scale;
        if (blockIdx.x == 0 && p.nh) mv_norm_out(p.nx, p.nw, p.nh, p.ndim, scale);
    }
    mv_finish<NC>(p, d, row, acc);
}

template <int T, int NC, int EPI>
static __global__ void __launch_bounds__(MV_WARPS * 32, NC == 1 ? mvq<T>::MINB : 4) k_mv_q(const __grid_constant__ mv_params p) {
    pdl_trigger();
    if (EPI == EPI_SCA && mv_att_head(p.att) >= 0) return aq_run(&p.att, mv_att_head(p.att));
    int row, di;
    const mv_desc *d = mv_begin<EPI>(p, &row, &di);
    mv_row<T, NC, EPI>(p, d, row);
    if (threadIdx.x == 0 && blockIdx.x + TRACE_TAIL >= gridDim.x) trace_cta(TRC_TAIL_OUT); /* last CTAs done (trace builds) */
}

/* One token, two weight types in one launch: descriptors [0, nd1) are T1,
 * the rest T2 (Q/K/V of a Q4_K_M file: q4_K, q4_K, q6_K). A kernel
 * boundary fewer than a launch per type. */
template <int T1, int T2, int EPI>
static __global__ void __launch_bounds__(MV_WARPS * 32, (mvq<T1>::MINB) < (mvq<T2>::MINB) ? (mvq<T1>::MINB) : (mvq<T2>::MINB))
    k_mv_q2(const __grid_constant__ mv_params p) {
    pdl_trigger();
    if (EPI == EPI_SCA && mv_att_head(p.att) >= 0) return aq_run(&p.att, mv_att_head(p.att));
    int row, di;
    const mv_desc *d = mv_begin<EPI>(p, &row, &di);
    if (di < p.nd1) mv_row<T1, 1, EPI>(p, d, row);
    else mv_row<T2, 1, EPI>(p, d, row);
    if (threadIdx.x == 0 && blockIdx.x + TRACE_TAIL >= gridDim.x) trace_cta(TRC_TAIL_OUT); /* last CTAs done (trace builds) */
}

bool cu_mv_pair_ok(uint32_t t1, uint32_t t2) {
    return (t1 == IG_TYPE_Q4_K || t1 == IG_TYPE_Q5_K) && t2 == IG_TYPE_Q6_K;
}

/* ---- one token, one CTA per 32 rows (FUSE_BLK) ------------------------
 * A CTA owns whole q8_1 blocks of its output, so what the next product
 * needs is ready when the CTA ends, without arrival counters: for a
 * residual sum followed by RMSNorm (EPI_NQ) the q8_1 of sum * w and the
 * block's sum of squares; the norm's 1/rms is applied by the consumer. GLU
 * (down projection): each CTA computes silu(gate) * up for the whole row
 * in shared memory first, instead of a SwiGLU kernel before it. NW warps,
 * one row each per pass: 32 or 16 (INGOT_CUDA_MVR_NW) for the types whose
 * kernels fit 64 registers, 16 for the others. */
template <int T> struct mvr {
    enum { LIGHT = mvq<T>::MINB >= 8 };
    /* registers per thread for NW warps: LIGHT types fit 32 warps per SM;
     * q4_0's 56 (not 64: allocation is in steps of 8) leave a 4-warp CTA
     * of the next product room beside a 32-warp CTA (NOTES v17: +2%); the
     * reordered q4_0 dot would take 62 on its own */
    static constexpr int maxreg(int nw) {
        return !LIGHT ? 65536 / (32 * nw) : (T == IG_TYPE_Q4_0 || T == CU_Q40F) && nw == 32 ? 56 : 64;
    }
};

template <int T>
static __device__ __forceinline__ void mv_dot_set(const typename mvq<T>::W *w, const int8_t *xq, const float2 *ds,
                                                  int t0, int ntask, xkv xc, float &acc) {
    typedef mvq<T> Q;
#pragma unroll
    for (int u = 0; u < Q::U; u++) {
        int t = t0 + 32 * u;
        if (t < ntask) acc += Q::dot(w[u], xq, ds, t / Q::TPB, mv_sub<T>(t), ntask / Q::TPB, xc);
    }
}

/* Shared memory of the GLU prologue: gate and up (f32), then q8_1; in
 * clusters only the q8_1. */
static __host__ __device__ __forceinline__ size_t mvr_smem(int cols) { return (size_t)cols * 9 + (size_t)cols / 4; }
static __host__ __device__ __forceinline__ size_t mvr_smem_cl(int cols) { return (size_t)cols + (size_t)cols / 4; }
#define MVR_CL_SMEM (40 * 1024) /* the clusters' limit: rows up to 32768 values */

/* Four values of silu(gate) * up into q8_1 (warp-wide: every lane calls,
 * ok or not), and into gout when asked. */
static __device__ __forceinline__ void glu_put4(float4 a, float4 b, bool ok, float *gout, int8_t *sxq, float2 *sds,
                                                int f, int xc) {
    float4 h = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (ok) {
        h = make_float4(swiglu1(a.x, b.x), swiglu1(a.y, b.y), swiglu1(a.z, b.z), swiglu1(a.w, b.w));
        if (gout) ((float4 *)gout)[f] = h;
    }
    q8_put4(h, ok, sxq, sds, (size_t)f * 4, xc);
}

/* The GLU prologue in a cluster of CL CTAs (sm_90): each CTA makes 1/CL
 * of the q8_1 of silu(gate) * up, straight from L2 into registers, and
 * copies its share into the other CTAs' shared memory, 16-byte piece by
 * piece (in k order, xk_pos, a share's pieces are not contiguous). */
template <int NW, int CL>
static __device__ __forceinline__ void mvr_glu_cl(const mv_params &p, int8_t *sxq, float2 *sds) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    namespace cgr = cooperative_groups;
    cgr::cluster_group cl = cgr::this_cluster();
    const int rank = (int)cl.block_rank(), nblk = p.cols / 32;
    const int b0 = rank * nblk / CL, b1 = (rank + 1) * nblk / CL;
    for (int fb = 8 * b0; fb < 8 * b1; fb += NW * 32) { /* uniform: q8_put4 is warp-wide */
        const int f = fb + (int)threadIdx.x;
        const bool ok = f < 8 * b1;
        float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f), b = a;
        if (ok) a = __ldcg((const float4 *)p.gg + f), b = __ldcg((const float4 *)p.gu + f);
        glu_put4(a, b, ok, (int)blockIdx.x < CL ? p.gout : NULL, sxq, sds, f, p.xc);
    }
    __syncthreads();
    for (int q = 1; q < CL; q++) {
        const int dst = (rank + q) % CL;
        int4 *rq = (int4 *)cl.map_shared_rank(sxq, dst);
        float2 *rd = cl.map_shared_rank(sds + b0, dst);
        for (int i = 2 * b0 + (int)threadIdx.x; i < 2 * b1; i += NW * 32) { /* the share's 16-value pieces */
            const size_t o = xk_pos((size_t)16 * i, p.xc) / 16;
            rq[o] = ((const int4 *)sxq)[o];
        }
        for (int i = threadIdx.x; i < b1 - b0; i += NW * 32) rd[i] = sds[b0 + i];
    }
    cl.sync(); /* every share landed; no CTA reads another's memory after this */
#endif
}

template <int T, bool GLU, int NW, int CL = 1>
static __global__ void __launch_bounds__(32 * NW) __maxnreg__(mvr<T>::maxreg(NW)) k_mv_r(const mv_params p) {
    typedef mvq<T> Q;
    extern __shared__ __align__(16) uint8_t smr[];
    __shared__ float sv[32];
    pdl_trigger();
    if (threadIdx.x == 0) trace_cta(GLU ? TRC_DOWN_IN : TRC_WO_IN); /* resident (trace builds) */
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = blockIdx.x, cols = p.cols;
    const mv_desc *d = &p.d[0];
    const int nb = cols / Q::QK, ntask = nb * Q::TPB;
    const size_t qrow = (size_t)nb * Q::QN, srow = s_row(nb, Q::SN);
    typename Q::W wa[Q::U], wb[Q::U];
    mv_load<T, 1>(wa, d->q + (size_t)(g * 32 + w) * qrow, d->s + (size_t)(g * 32 + w) * srow, lane, ntask);
    const bool nq = p.pss_out != NULL;
    float gw = 0.0f, bv = 0.0f, rv = 0.0f;
    if (w == 0) {
        if (nq) gw = p.e.w[g * 32 + lane];
        if (d->bias) bv = d->bias[g * 32 + lane];
    }
    const int8_t *xq = p.xq;
    const float2 *ds = p.ds;
    if (GLU && CL > 1) {
        int8_t *sxq = (int8_t *)smr;
        float2 *sds = (float2 *)(smr + cols);
        pdl_wait();
        if (w == 0 && d->out2) rv = d->res[g * 32 + lane];
        mvr_glu_cl<NW, CL>(p, sxq, sds);
        xq = sxq;
        ds = sds;
    } else if (GLU) {
        /* gate and up land in shared memory in one round trip (cp.async:
         * no registers held while the weights above are in flight) */
        float *sg = (float *)smr, *su = sg + cols;
        const int c4 = cols / 4;
        pdl_wait();
        for (int f = threadIdx.x; f < c4; f += NW * 32) {
            cp16(sg + 4 * f, p.gg + 4 * f);
            cp16(su + 4 * f, p.gu + 4 * f);
        }
        cp_commit();
        if (w == 0 && d->out2) rv = d->res[g * 32 + lane];
        cp_wait<0>();
        __syncthreads();
        int8_t *sxq = (int8_t *)(su + cols);
        float2 *sds = (float2 *)(sxq + cols);
        for (int f0 = 0; f0 < c4; f0 += NW * 32) { /* uniform: q8_put4 is warp-wide */
            const int f = f0 + threadIdx.x;
            const bool ok = f < c4;
            float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f), b = a;
            if (ok) a = ((const float4 *)sg)[f], b = ((const float4 *)su)[f];
            glu_put4(a, b, ok, g == 0 ? p.gout : NULL, sxq, sds, f, p.xc);
        }
        __syncthreads();
        xq = sxq;
        ds = sds;
    } else {
        pdl_wait();
        if (w == 0 && d->out2) rv = d->res[g * 32 + lane];
    }
    for (int r = w; r < 32; r += NW) {
        const int row = g * 32 + r;
        const uint8_t *Qr = d->q + (size_t)row * qrow, *Sr = d->s + (size_t)row * srow;
        if (r != w) mv_load<T, 1>(wa, Qr, Sr, lane, ntask);
        float acc = 0.0f;
        for (int t0 = lane; t0 < ntask; t0 += 64 * Q::U) {
            mv_load<T, 1>(wb, Qr, Sr, t0 + 32 * Q::U, ntask);
            mv_dot_set<T>(wa, xq, ds, t0, ntask, p.xv, acc);
            mv_load<T, 1>(wa, Qr, Sr, t0 + 64 * Q::U, ntask);
            mv_dot_set<T>(wb, xq, ds, t0 + 32 * Q::U, ntask, p.xv, acc);
        }
        acc = warp_sum(acc);
        if (lane == 0) sv[r] = acc;
    }
    __syncthreads();
    if (w == 0) {
        const int row = g * 32 + lane;
        const float v = sv[lane] + bv;
        d->out[row] = v;
        if (d->out2) {
            const float xn = rv + v;
            d->out2[row] = xn;
            if (nq) {
                q8_put(xn * gw, p.exq, p.eds, row, p.exc);
                const float ss = warp_sum(xn * xn);
                if (lane == 0) p.pss_out[g] = ss;
            }
        }
    }
    if (threadIdx.x == 0) trace_cta(GLU ? TRC_DOWN_OUT : TRC_WO_OUT); /* done (trace builds) */
}

/* ---- one token, weights staged through shared memory ------------------
 * Each warp streams its row through a ring of NST stages of SB blocks
 * (Q and S parts, 16-byte cp.async copies that hold no registers). All NST
 * stages are requested before pdl_wait(): a CTA that became resident while
 * the previous kernel still runs (norm, attention, SwiGLU: DRAM otherwise
 * idle) has up to NST*SB blocks per warp in flight instead of the U tasks
 * per lane the register version can hold. A 4096-value row of q4_0, q4_K
 * or q6_K is two stages: all of it is prefetched. Off by default
 * (INGOT_CUDA_MV_SMEM=1): slower than the register kernels on H100, most
 * for the k-quants (bench/cuda/NOTES.md, v6). */
template <int T> struct mvs { enum { SB = 8, NST = 4 }; };
template <> struct mvs<IG_TYPE_Q4_1> { enum { SB = 64, NST = 4 }; };
template <> struct mvs<IG_TYPE_Q5_0> { enum { SB = 64, NST = 4 }; };
template <> struct mvs<IG_TYPE_Q5_1> { enum { SB = 64, NST = 4 }; };
template <> struct mvs<IG_TYPE_Q8_0> { enum { SB = 32, NST = 4 }; };
template <> struct mvs<IG_TYPE_Q2_K> { enum { SB = 16, NST = 4 }; };

/* Stage s of a row (blocks s*SB ..) into buf: Q parts, then S parts. */
template <int T>
static __device__ __forceinline__ void mvs_fill(uint8_t *buf, const uint8_t *Qr, const uint8_t *Sr, int s, int nb,
                                                int lane) {
    typedef mvq<T> Q;
    enum { SB = mvs<T>::SB, QB = SB * Q::QN };
    const int b0 = s * SB;
    if (b0 >= nb) return;
    const int nbs = nb - b0 < SB ? nb - b0 : SB;
    const uint8_t *q = Qr + (size_t)b0 * Q::QN;
    for (int i = lane; i < nbs * Q::QN / 16; i += 32) cp16(buf + 16 * i, q + 16 * i);
    if (Q::SN) {
        /* SB*SN is a multiple of 16 and the row's S part is padded to 16 */
        const uint8_t *sp = Sr + (size_t)b0 * Q::SN;
        for (int i = lane; i < (nbs * Q::SN + 15) / 16; i += 32) cp16(buf + QB + 16 * i, sp + 16 * i);
    }
}

template <int T>
static __global__ void __launch_bounds__(MV_WARPS * 32, mvq<T>::MINB) k_mv_s(const mv_params p) {
    typedef mvq<T> Q;
    enum { SB = mvs<T>::SB, NST = mvs<T>::NST, QB = SB * Q::QN, STG = QB + SB * Q::SN };
    static_assert(QB % 16 == 0 && (SB * Q::SN) % 16 == 0, "stage parts must be whole 16-byte chunks");
    __shared__ __align__(16) uint8_t sm[MV_WARPS][NST][STG];
    pdl_trigger();
    int row, di;
    const mv_desc *d = mv_pick(p, (int)blockIdx.x, &row, &di);
    if (row >= d->rows) return;
    float acc[1] = {0.0f};
    {
        const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nb = p.cols / Q::QK, nst = (nb + SB - 1) / SB;
        const uint8_t *Qr = d->q + (size_t)row * nb * Q::QN, *Sr = d->s + (size_t)row * s_row(nb, Q::SN);
#pragma unroll
        for (int s = 0; s < NST; s++) {
            mvs_fill<T>(sm[w][s], Qr, Sr, s, nb, lane);
            cp_commit();
        }
        pdl_wait();
        for (int s = 0; s < nst; s++) {
            cp_wait<NST - 1>(); /* this lane's copies of stage s landed */
            __syncwarp();       /* ... and every lane's */
            const uint8_t *buf = sm[w][s % NST];
            const int b0 = s * SB, nt = (nb - b0 < SB ? nb - b0 : SB) * Q::TPB;
#pragma unroll 2
            for (int t = lane; t < nt; t += 32) {
                typename Q::W wt = Q::template load<false>(buf, buf + QB, t / Q::TPB, mv_sub<T>(t), nt / Q::TPB);
                acc[0] += Q::dot(wt, p.xq, p.ds, b0 + t / Q::TPB, mv_sub<T>(t), nb, p.xv);
            }
            __syncwarp(); /* the slot is refilled next */
            mvs_fill<T>(sm[w][s % NST], Qr, Sr, s + NST, nb, lane);
            cp_commit();
        }
        cp_wait<0>();
        acc[0] = warp_sum(acc[0]);
    }
    mv_finish<1>(p, d, row, acc);
}

/* f32 / f16 / bf16 weights: f32 activations, 8 values per lane and step. */
template <int T>
static __device__ __forceinline__ void ldw8(const void *base, size_t i, float *w) {
    if (T == IG_TYPE_F32) {
        float4 a = *(const float4 *)((const float *)base + i), b = *(const float4 *)((const float *)base + i + 4);
        w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w, w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
    } else {
        uint4 v = *(const uint4 *)((const uint16_t *)base + i);
        uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            if (T == IG_TYPE_F16) {
                float2 f = __half22float2(*(const __half2 *)&u[k]);
                w[2 * k] = f.x, w[2 * k + 1] = f.y;
            } else {
                w[2 * k] = __uint_as_float(u[k] << 16), w[2 * k + 1] = __uint_as_float(u[k] & 0xFFFF0000u);
            }
        }
    }
}
template <int T> static __device__ __forceinline__ float ldw1(const void *base, size_t i) {
    if (T == IG_TYPE_F32) return ((const float *)base)[i];
    uint16_t h = ((const uint16_t *)base)[i];
    return T == IG_TYPE_F16 ? h2f(h) : bf2f(h);
}

template <int T, int NC>
static __global__ void __launch_bounds__(MV_WARPS * 32, NC == 1 ? 8 : 4) k_mv_f(const mv_params p) {
    pdl_trigger();
    int row, di;
    const mv_desc *d = mv_pick(p, (int)blockIdx.x, &row, &di);
    if (row >= d->rows) return;
    pdl_wait();
    const int lane = threadIdx.x & 31, cols = p.cols;
    const size_t rb = (size_t)row * cols;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    if ((cols & 7) == 0) {
        for (int k0 = lane * 8; k0 < cols; k0 += 512) {
            float w[2][8];
#pragma unroll
            for (int u = 0; u < 2; u++)
                if (k0 + 256 * u < cols) ldw8<T>(d->q, rb + k0 + 256 * u, w[u]);
#pragma unroll
            for (int u = 0; u < 2; u++) {
                int k = k0 + 256 * u;
                if (k >= cols) continue;
#pragma unroll
                for (int c = 0; c < NC; c++) {
                    if (c >= p.n) continue;
                    const float *x = p.x + (size_t)c * cols + k;
                    float4 a = *(const float4 *)x, b = *(const float4 *)(x + 4);
                    acc[c] += w[u][0] * a.x + w[u][1] * a.y + w[u][2] * a.z + w[u][3] * a.w + w[u][4] * b.x +
                              w[u][5] * b.y + w[u][6] * b.z + w[u][7] * b.w;
                }
            }
        }
    } else {
        for (int k = lane; k < cols; k += 32) {
            float w = ldw1<T>(d->q, rb + k);
#pragma unroll
            for (int c = 0; c < NC; c++)
                if (c < p.n) acc[c] += w * p.x[(size_t)c * cols + k];
        }
    }
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = warp_sum(acc[c]);
    mv_finish<NC>(p, d, row, acc);
}

#define MVL(K) cu_launch(c, K, g, b, 0, p)
/* One token: the shared-memory staged kernels (INGOT_CUDA_MV_SMEM=0: the
 * register double-buffered ones, for A/B measurements). Not q4_0: a
 * stage's blocks need scales from the whole row (q40_reordered). */
static bool mv_dispatch_s(cuda_ctx *c, uint32_t type, const mv_params &p, int grid) {
    dim3 g(grid), b(MV_WARPS * 32);
    switch (type) {
    case IG_TYPE_Q4_1: MVL((k_mv_s<IG_TYPE_Q4_1>)); return true;
    case IG_TYPE_Q5_0: MVL((k_mv_s<IG_TYPE_Q5_0>)); return true;
    case IG_TYPE_Q5_1: MVL((k_mv_s<IG_TYPE_Q5_1>)); return true;
    case IG_TYPE_Q8_0: MVL((k_mv_s<IG_TYPE_Q8_0>)); return true;
    case IG_TYPE_Q2_K: MVL((k_mv_s<IG_TYPE_Q2_K>)); return true;
    case IG_TYPE_Q3_K: MVL((k_mv_s<IG_TYPE_Q3_K>)); return true;
    case IG_TYPE_Q4_K: MVL((k_mv_s<IG_TYPE_Q4_K>)); return true;
    case IG_TYPE_Q5_K: MVL((k_mv_s<IG_TYPE_Q5_K>)); return true;
    case IG_TYPE_Q6_K: MVL((k_mv_s<IG_TYPE_Q6_K>)); return true;
    default: return false;
    }
}

/* The kernels' type: q4_0 rows of odd block counts are in the file's order. */
static uint32_t mv_ktype(uint32_t type, int cols) {
    return type == IG_TYPE_Q4_0 && !q40_reordered(type, cols / 32) ? CU_Q40F : type;
}

template <int NC, int EPI> static void mv_dispatch(cuda_ctx *c, uint32_t type, const mv_params &p, int grid) {
    dim3 g(grid), b(MV_WARPS * 32);
    type = mv_ktype(type, p.cols);
    if (NC == 1 && EPI == EPI_NONE && c->mv_smem && mv_dispatch_s(c, type, p, grid)) return;
    switch (type) {
    case IG_TYPE_F32: MVL((k_mv_f<IG_TYPE_F32, NC>)); break;
    case IG_TYPE_F16: MVL((k_mv_f<IG_TYPE_F16, NC>)); break;
    case IG_TYPE_BF16: MVL((k_mv_f<IG_TYPE_BF16, NC>)); break;
    case IG_TYPE_Q4_0: MVL((k_mv_q<IG_TYPE_Q4_0, NC, EPI>)); break;
    case CU_Q40F: MVL((k_mv_q<CU_Q40F, NC, EPI>)); break;
    case IG_TYPE_Q4_1: MVL((k_mv_q<IG_TYPE_Q4_1, NC, EPI>)); break;
    case IG_TYPE_Q5_0: MVL((k_mv_q<IG_TYPE_Q5_0, NC, EPI>)); break;
    case IG_TYPE_Q5_1: MVL((k_mv_q<IG_TYPE_Q5_1, NC, EPI>)); break;
    case IG_TYPE_Q8_0: MVL((k_mv_q<IG_TYPE_Q8_0, NC, EPI>)); break;
    case IG_TYPE_Q2_K: MVL((k_mv_q<IG_TYPE_Q2_K, NC, EPI>)); break;
    case IG_TYPE_Q3_K: MVL((k_mv_q<IG_TYPE_Q3_K, NC, EPI>)); break;
    case IG_TYPE_Q4_K: MVL((k_mv_q<IG_TYPE_Q4_K, NC, EPI>)); break;
    case IG_TYPE_Q5_K: MVL((k_mv_q<IG_TYPE_Q5_K, NC, EPI>)); break;
    case IG_TYPE_Q6_K: MVL((k_mv_q<IG_TYPE_Q6_K, NC, EPI>)); break;
    default: cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, "matmul: weight type"); return;
    }
}

static bool is_float_type(uint32_t t) {
    return t == IG_TYPE_F32 || t == IG_TYPE_F16 || t == IG_TYPE_BF16;
}

/* The GLU launch in pairs of CTAs. */
template <int T> static void mvr_launch_cl(cuda_ctx *c, const mv_params &p, int grid) {
    enum { NW = mvr<T>::LIGHT ? 32 : 16 };
    cu_launch_cl(c, 2, k_mv_r<T, true, NW, 2>, dim3(grid), dim3(32 * NW), mvr_smem_cl(p.cols), p);
}

/* Do this GLU product's CTAs run in pairs? Only when all pairs are
 * resident at once (a second wave costs more than the pairs save). */
static bool mvr_cl_ok(const cuda_ctx *c, int cols, int grid) {
    return c->mvr_cl > 1 && grid % c->mvr_cl == 0 && grid / c->mvr_cl <= c->mvr_cl_fit && c->mvr_nw == 32 &&
           mvr_smem_cl(cols) <= MVR_CL_SMEM;
}

template <bool GLU> static bool mvr_dispatch(cuda_ctx *c, uint32_t type, const mv_params &p, int grid, size_t smem) {
    const bool cl = GLU && mvr_cl_ok(c, p.cols, grid);
    switch (mv_ktype(type, p.cols)) {
#define R(T)                                                                                \
    case T:                                                                                 \
        if (cl) mvr_launch_cl<T>(c, p, grid);                                               \
        else if (mvr<T>::LIGHT && c->mvr_nw == 32)                                         \
            cu_launch(c, k_mv_r<T, GLU, mvr<T>::LIGHT ? 32 : 16>, dim3(grid), dim3(1024), smem, p); \
        else cu_launch(c, k_mv_r<T, GLU, 16>, dim3(grid), dim3(512), smem, p);             \
        return true;
    R(IG_TYPE_Q4_0) R(CU_Q40F) R(IG_TYPE_Q4_1) R(IG_TYPE_Q5_0) R(IG_TYPE_Q5_1) R(IG_TYPE_Q8_0)
    R(IG_TYPE_Q2_K) R(IG_TYPE_Q3_K) R(IG_TYPE_Q4_K) R(IG_TYPE_Q5_K) R(IG_TYPE_Q6_K)
#undef R
    default: return false;
    }
}

template <int T> static void mvr_init(cuda_ctx *c, int bytes) {
    if (cudaFuncSetAttribute(k_mv_r<T, true, mvr<T>::LIGHT ? 32 : 16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             bytes) != cudaSuccess ||
        cudaFuncSetAttribute(k_mv_r<T, true, 16>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) != cudaSuccess) {
        cudaGetLastError();
        c->mvr_smem_max = 0; /* the SwiGLU prologue stays a kernel of its own */
    }
}

void cu_mv_init(cuda_ctx *c) {
    const char *e = getenv("INGOT_CUDA_MVR_NW");
    c->mvr_nw = e && atoi(e) == 16 ? 16 : 32;
    /* The SwiGLU prologue shared by pairs of CTAs (sm_90 clusters), +1.2-1.4%
     * tg128 on H100; clusters of 4 and 8 did not all fit at once there,
     * -10% / -13% (NOTES v15). INGOT_CUDA_GLU_CL=1 turns the pairs off. */
    const char *ec = getenv("INGOT_CUDA_GLU_CL");
    int major = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, c->device);
    c->mvr_cl = major >= 9 && !(ec && atoi(ec) == 1) ? 2 : 1;
    c->mvr_cl_fit = 0;
    if (c->mvr_cl > 1) {
        /* how many pairs of 1024-thread CTAs are resident at once: a launch
         * with more runs in waves, so it keeps the single CTAs */
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(2);
        cfg.blockDim = dim3(1024);
        cfg.dynamicSmemBytes = MVR_CL_SMEM; /* + the static part: within the 48 KiB default */
        cudaLaunchAttribute at;
        at.id = cudaLaunchAttributeClusterDimension;
        at.val.clusterDim.x = 2;
        at.val.clusterDim.y = 1;
        at.val.clusterDim.z = 1;
        cfg.attrs = &at;
        cfg.numAttrs = 1;
        int n = 0;
        if (cudaOccupancyMaxActiveClusters(&n, k_mv_r<IG_TYPE_Q4_0, true, 32, 2>, &cfg) != cudaSuccess)
            cudaGetLastError(), n = 0;
        c->mvr_cl_fit = n;
        if (n <= 0) c->mvr_cl = 1;
    }
    c->mv_mix = !getenv("INGOT_CUDA_NO_MIX");

    int optin = 0;
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, c->device);
    /* room for the static part; beyond ~200 KiB nothing is left for L1 */
    int bytes = optin - 1024 < 200 * 1024 ? optin - 1024 : 200 * 1024;
    c->mvr_smem_max = bytes > 0 ? bytes : 0;
    if (!c->mvr_smem_max) return;
    mvr_init<IG_TYPE_Q4_0>(c, bytes), mvr_init<CU_Q40F>(c, bytes), mvr_init<IG_TYPE_Q4_1>(c, bytes);
    mvr_init<IG_TYPE_Q5_0>(c, bytes);
    mvr_init<IG_TYPE_Q5_1>(c, bytes), mvr_init<IG_TYPE_Q8_0>(c, bytes), mvr_init<IG_TYPE_Q2_K>(c, bytes);
    mvr_init<IG_TYPE_Q3_K>(c, bytes), mvr_init<IG_TYPE_Q4_K>(c, bytes), mvr_init<IG_TYPE_Q5_K>(c, bytes);
    mvr_init<IG_TYPE_Q6_K>(c, bytes);
}

static bool al16(const void *p) { return ((uintptr_t)p & 15) == 0; }

bool cu_mv_blk_ok(cuda_ctx *c, const mv_batch *b) {
    if (!(c->fuse & FUSE_BLK) || b->n != 1 || b->nd != 1 || is_float_type(b->type) || b->d[0].rows % 32 ||
        b->d[0].rows / 32 > PSS_MAX || b->nrm.on)
        return false;
    if (b->epi.kind != EPI_NONE && b->epi.kind != EPI_NQ) return false;
    if (b->glu.on)
        return (mvr_smem(b->cols) <= (size_t)c->mvr_smem_max || mvr_cl_ok(c, b->cols, b->d[0].rows / 32)) &&
               al16(b->glu.g) && al16(b->glu.u) &&
               (size_t)b->cols == b->glu.count;
    return b->d[0].out2 != NULL;
}

/* Can the products take the pending norm's q8_1 and scale (EPI_SC)? */
static bool sc_ok(const mv_batch *b) {
    if (b->n != 1 || is_float_type(b->type) || b->epi.kind != EPI_NONE || b->d[0].rows < MV_WARPS ||
        b->cols != b->nrm.d || b->cols / 32 > PSS_MAX || !al16(b->nrm.x) || !al16(b->nrm.w) || !al16(b->nrm.out))
        return false;
    for (int i = 0; i < b->nd; i++)
        if (b->d[i].out2) return false;
    return true;
}

/* Can this batch (one token, the pending norm's q8_1) be Q/K/V with the
 * decode attention in its launch (EPI_SCA)? The caller checks the rest
 * (outputs, head shape, cache). */
bool cu_mv_att_ok(const mv_batch *b) {
    if (b->nd != 3 || !sc_ok(b) || b->glu.on) return false;
    const att_fuse *a = &b->att;
    if (a->hd != 64 && a->hd != 128 && a->hd != 256) return false;
    if (b->d[0].rows != a->n_head * a->hd || b->d[1].rows * a->group != b->d[0].rows || b->d[2].rows != b->d[1].rows)
        return false;
    if (b->type2 && !cu_mv_pair_ok(b->type, b->type2)) return false;
    for (int i = 0; i < 3; i++)
        if (b->d[i].bias || !al16(b->d[i].out)) return false;
    return true;
}

void cu_pending_run(cuda_ctx *c, cu_dnorm *dn, cu_dglu *dg) {
    if (dg && dg->on) {
        dg->on = false;
        cu_swiglu(c, dg->out, dg->g, dg->u, dg->count, true);
    }
    if (dn && dn->on) {
        dn->on = false;
        cu_rms_norm(c, dn->out, dn->x, dn->w, NULL, 1, dn->d, dn->eps, false, true);
    }
}

void cu_mv_launch(cuda_ctx *c, const mv_batch *b0) {
    mv_batch bb = *b0;
    const mv_batch *b = &bb;
    /* a pending SwiGLU / norm these kernels cannot take runs first */
    cu_pending_run(c, bb.nrm.on && !sc_ok(&bb) ? &bb.nrm : NULL, bb.glu.on && !cu_mv_blk_ok(c, &bb) ? &bb.glu : NULL);
    mv_params p;
    memset(&p, 0, sizeof p);
    p.nd = b->nd;
    p.cols = b->cols;
    p.n = b->n;
    p.x = b->x;
    p.xc = cu_xc(c, b->cols);
    p.xv = xk_view(p.xc);
    p.exc = cu_xc(c, b->d[0].rows);
    p.e = b->epi;
    void *in_buf = NULL;
    if (b->glu.on) {
        p.gg = b->glu.g;
        p.gu = b->glu.u;
        /* out aliasing gate or up (forward.c: in place) stays unwritten:
         * other CTAs still read them (backend.h allows it) */
        size_t nb = b->glu.count * 4;
        bool alias = cu_overlap(b->glu.out, nb, b->glu.g, nb) || cu_overlap(b->glu.out, nb, b->glu.u, nb);
        if (!alias && al16(b->glu.out)) p.gout = b->glu.out;
        else if (!alias) /* unaligned for CTA 0's float4 stores: a kernel writes it */
            cu_swiglu(c, b->glu.out, b->glu.g, b->glu.u, b->glu.count, false);
    } else if (b->nrm.on) {
        in_buf = b->nrm.q8;
        p.xq = (const int8_t *)in_buf;
        p.ds = q8_ds(in_buf, 1, b->cols);
        p.pss = c->pss;
        p.nss = b->cols / 32;
        p.ndim = b->cols;
        p.neps = b->nrm.eps;
        p.nx = b->nrm.x;
        p.nw = b->nrm.w;
        p.nh = b->nrm.write ? b->nrm.out : NULL;
    } else if (!is_float_type(b->type)) {
        cu_quantize_q8(c, b->x, b->n, b->cols);
        in_buf = c->q8_buf;
        if (!in_buf) return;
        p.xq = (const int8_t *)in_buf;
        p.ds = q8_ds(in_buf, b->n, b->cols);
    }
    c->pend_in_q8 = in_buf;
    if (p.e.kind == EPI_NQ) {
        void *ob = cu_q8_other(c, in_buf);
        if (!ob) return;
        p.exq = (int8_t *)ob;
        p.eds = q8_ds(ob, b->n, b->d[0].rows);
        p.pss_out = c->pss;
    }
    int grid = 0;
    for (int i = 0; i < b->nd; i++) {
        p.d[i] = b->d[i];
        p.d[i].blk_start = grid;
        grid += (b->d[i].rows + MV_WARPS - 1) / MV_WARPS;
    }
    if (grid == 0) return;

    if (cu_mv_blk_ok(c, b)) {
        bool ok = b->glu.on ? mvr_dispatch<true>(c, b->type, p, b->d[0].rows / 32, mvr_smem(b->cols))
                            : mvr_dispatch<false>(c, b->type, p, b->d[0].rows / 32, 0);
        if (!ok) cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, "matmul: weight type");
        return;
    }
    /* the attention rides along only where cuda_attention checked it can */
    const bool att = b->att.on && b->nrm.on && cu_mv_att_ok(b);
    if (b->att.on && !att) {
        cu_fail(c, INGOT_ERR_BACKEND, __FILE__, __LINE__, "matmul: attention fused where it cannot be");
        return;
    }
    if (att) {
        p.att = b->att;
        p.att.at = (int)((long long)grid * c->aq_at / 100);
        grid += b->att.npoll;
    }
    if (b->type2) {
        p.nd1 = b->nd1;
        dim3 g(grid), bl(MV_WARPS * 32);
        bool sc = b->nrm.on;
        if (b->n != 1 || (p.e.kind != EPI_NONE && !sc) || !cu_mv_pair_ok(b->type, b->type2))
            cu_fail(c, INGOT_ERR_BACKEND, __FILE__, __LINE__, "matmul: two weight types in one launch");
        else if (b->type == IG_TYPE_Q4_K && att) cu_launch(c, k_mv_q2<IG_TYPE_Q4_K, IG_TYPE_Q6_K, EPI_SCA>, g, bl, 0, p);
        else if (b->type == IG_TYPE_Q4_K && sc) cu_launch(c, k_mv_q2<IG_TYPE_Q4_K, IG_TYPE_Q6_K, EPI_SC>, g, bl, 0, p);
        else if (b->type == IG_TYPE_Q4_K) cu_launch(c, k_mv_q2<IG_TYPE_Q4_K, IG_TYPE_Q6_K, EPI_NONE>, g, bl, 0, p);
        else if (att) cu_launch(c, k_mv_q2<IG_TYPE_Q5_K, IG_TYPE_Q6_K, EPI_SCA>, g, bl, 0, p);
        else if (sc) cu_launch(c, k_mv_q2<IG_TYPE_Q5_K, IG_TYPE_Q6_K, EPI_SC>, g, bl, 0, p);
        else cu_launch(c, k_mv_q2<IG_TYPE_Q5_K, IG_TYPE_Q6_K, EPI_NONE>, g, bl, 0, p);
    } else if (att) {
        mv_dispatch<1, EPI_SCA>(c, b->type, p, grid);
    } else if (b->nrm.on) {
        mv_dispatch<1, EPI_SC>(c, b->type, p, grid);
    }
    if (b->nrm.on) {
        /* later products reading out (one of another type) take it too */
        q8_set(c, b->nrm.out, (size_t)b->cols, b->nrm.q8, p.xc);
        c->q8_sc = b->nrm;
        c->q8_sc.write = false;
    }
    if (b->nrm.on || b->type2) return;

    if (p.e.kind != EPI_NONE) { /* EPI_NQ exists only with k_mv_r */
        cu_fail(c, INGOT_ERR_BACKEND, __FILE__, __LINE__, "matmul: fused epilogue without its kernel");
        return;
    }
    if (b->n <= 1) mv_dispatch<1, EPI_NONE>(c, b->type, p, grid);
    else if (b->n <= 2) mv_dispatch<2, EPI_NONE>(c, b->type, p, grid);
    else if (b->n <= 4) mv_dispatch<4, EPI_NONE>(c, b->type, p, grid);
    else mv_dispatch<8, EPI_NONE>(c, b->type, p, grid);
}

/* ---- weight repacking (upload) ---------------------------------------- */

static __global__ void k_repack(uint8_t *__restrict__ dq, uint8_t *__restrict__ dsp,
                                const uint8_t *__restrict__ src, size_t blk0, size_t nblk, int bs, int qo,
                                int qn, int nb, size_t srow, uint32_t t) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nblk) return;
    const uint8_t *s = src + i * bs;
    const size_t g = blk0 + i, r = g / (size_t)nb, b = g % (size_t)nb;
    const bool q40 = q40_reordered(t, nb);
    uint8_t *q = dq + g * qn, *o = dsp + r * srow + (q40 ? q40_spos((int)b, nb) : b) * (bs - qn);
    if (q40) { /* half-blocks b and nb + b of the row, which the chunk holds whole */
        const uint8_t *row = s - b * bs + qo, *pa = row + (b >> 1) * bs, *pb = row + ((nb + b) >> 1) * bs;
        const int sa = 4 * (int)(b & 1), sb = 4 * (int)((nb + b) & 1);
        for (int k = 0; k < qn; k++) q[k] = (uint8_t)(((pa[k] >> sa) & 0xF) | (((pb[k] >> sb) & 0xF) << 4));
    } else if (t == IG_TYPE_Q4_K) { /* pair c's two halves where ku_pos puts them */
        uint8_t *row = dq + r * (size_t)nb * qn;
        for (int k = 0; k < qn; k++) row[ku_pos(4 * (int)b + (k >> 5), (k >> 4) & 1, nb, 32) + (k & 15)] = s[qo + k];
    } else if (t == IG_TYPE_Q6_K) { /* four 48-byte units where ku_pos puts their parts */
        uint8_t *row = dq + r * (size_t)nb * qn, u[48];
        for (int j = 0; j < 4; j++) {
            k6_unit(s, j, u);
            for (int k = 0; k < 48; k++) row[ku_pos(4 * (int)b + j, k >> 4, nb, 48) + (k & 15)] = u[k];
        }
    } else {
        for (int k = 0; k < qn; k++) q[k] = s[qo + k];
    }
    int j = 0;
    for (int k = 0; k < qo; k++) o[j++] = s[k];
    for (int k = qo + qn; k < bs; k++) o[j++] = s[k];
    if (t == IG_TYPE_Q4_K) k4_pack(s + 4, o + 4);
}

void cu_repack(cuda_ctx *c, uint8_t *dq, uint8_t *ds, const uint8_t *src, size_t blk0, size_t nblk,
               qlayout L, int nb_row, uint32_t t) {
    if (!nblk) return;
    k_repack<<<(unsigned)((nblk + 255) / 256), 256, 0, c->stream>>>(dq, ds, src, blk0, nblk, L.bs, L.qo, L.qn,
                                                                      nb_row, ql_srow(L, (int64_t)nb_row * L.qk), t);
    CU_LAUNCHED(c);
}

CU_TRACE_SETTER(matvec)
