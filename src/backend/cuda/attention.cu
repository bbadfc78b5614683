/* Causal attention over the KV cache with an online softmax.
 *
 * Decode (few tokens): split-K "flash-decoding". The keys 0..pos[i] are cut
 * into nsplit chunks, one CTA per (head, chunk, token); each keeps a running
 * max, sum and weighted V, and the last chunk's CTA of a head to finish
 * merges them (an arrival counter per head: no second kernel), writing the
 * output and, when asked, its q8_1 form for the wo product that follows.
 * The chunk bounds come from pos[] in device memory, so a recorded graph
 * stays right as the cache grows; nsplit depends only on n_ctx. For one
 * token up to INGOT_CUDA_ATT_SINGLE (128) keys chunk 0 takes the whole
 * sequence and the other CTAs leave at once: a couple of serial steps cost
 * less than the partials and the merge. When the caller bounds every length
 * by that (ig_attn.max_len: the backend's short length phase) and rope is
 * fused, the grid is one CTA per head and its cache rows (up to
 * INGOT_CUDA_ATT_SK = 128 keys) are copied to shared memory before the wait
 * for Q/K/V, so no serial step waits for DRAM after it. On Hopper these
 * CTAs also prefetch the first INGOT_CUDA_PF_ATT_MB (4) MiB of the next
 * weight (wo) into L2 (backend.cu).
 *
 * Prefill: one CTA per (head, 8 queries); K/V tiles of 32 keys go through
 * shared memory, a warp per query, lanes over keys for Q.K and over
 * dimensions for P.V.
 */
#include <math.h>

#include <mma.h>
#include <stdlib.h>

#include "attn_dec.cuh"

using namespace nvcuda;

/* ---- decode: split-K ------------------------------------------------------- */

/* 8 warps (-DDEC_WARPS=8): +1.9% tg128 with every step in one CTA, but
 * -2.6% where steps are split (H100): kept at 4 */
#ifndef DEC_WARPS
#define DEC_WARPS 4
#endif
#define DEC_KPW 8 /* keys per warp per step: their loads are all in flight at once */

/* Decode outputs and side work of k_attn_split. */
typedef struct attn_dec {
    int8_t *xq;            /* q8_1 of out, or NULL */
    float2 *ds;
    int xc;                /* its layout (xk_pos) */
    unsigned *cnt;         /* per-(token, head) counters; NULL: k_attn_combine merges */
    /* ROPE (one token): q and this token's k are still unrotated; k/v
     * rows (f32, KV head g at g*hd) are rotated/rounded here, used for key
     * pos and stored in the cache row pos (by the CTAs of each group's
     * first query head) -- the rope_kv kernel folded in (common.cuh). */
    const float *kcur, *vcur;
    int n_rot;
    float theta_scale, freq_scale;
    const uint8_t *pfq, *pfs;
    size_t pfq_n, pfs_n;
    int single;   /* lengths up to this: chunk 0 does all, no merge */
    int sk;       /* ROPE, f16: chunks up to this many keys are staged in shared memory */
} attn_dec;

/* The last CTA of (head h, token i): merge the nsplit (<= 32) partials,
 * read through L2 (other CTAs wrote them), all loads in flight at once;
 * write out and its q8_1 form. Same arithmetic as k_attn_combine. */
static __device__ __noinline__ void attn_merge(float *out, const float *pp, size_t orow, int hd, int nsplit,
                                               int8_t *xq, float2 *ds, int xc, size_t rs) {
    __shared__ float sf[32], sL[32];
    const int tid = threadIdx.x;
    for (int e0 = 0; e0 < hd; e0 += blockDim.x) {
        const int e = e0 + tid;
        float v[32];
#pragma unroll
        for (int s = 0; s < 32; s++) v[s] = s < nsplit && e < hd ? __ldcg(pp + (size_t)s * (hd + 2) + 2 + e) : 0.0f;
        if (e0 == 0) {
            if (tid < nsplit) sf[tid] = __ldcg(pp + (size_t)tid * (hd + 2)), sL[tid] = __ldcg(pp + (size_t)tid * (hd + 2) + 1);
            __syncthreads();
        }
        float M = -INFINITY;
        for (int s = 0; s < nsplit; s++) M = fmaxf(M, sf[s]);
        float L = 0.0f, O = 0.0f;
#pragma unroll
        for (int s = 0; s < 32; s++) {
            /* chunks past the end of the sequence (max -inf) count zero */
            if (s < nsplit && sf[s] != -INFINITY) {
                float f = __expf(sf[s] - M);
                L += sL[s] * f;
                O += v[s] * f;
            }
        }
        float y = O / L;
        if (e < hd) out[orow + e] = y;
        if (xq && e0 + (tid & ~31) < hd) /* hd % 32 == 0: whole warps; the row starts at rs */
            q8_put(y, xq + rs, ds + rs / 32, orow - rs + e, xc);
    }
}

/* One warp step: keys tb..tb+DEC_KPW-1 of [.., t1) (clamped; masked by the
 * caller). ROPE: row len-1 is being written by this kernel and comes from
 * registers: row 0 is read in its place. */
template <int DPL, bool F16, bool VEC, bool ROPE>
static __device__ __forceinline__ void ld_step(const void *kc, const void *vc, int tb, int t1, int len, int kv_dim,
                                               size_t base, int lane, int hd, float (*kf)[DPL], float (*vf)[DPL]) {
#pragma unroll
    for (int j = 0; j < DEC_KPW; j++) {
        int t = tb + j < t1 ? tb + j : t1 - 1;
        if (ROPE && t == len - 1) t = 0;
        size_t row = (size_t)t * kv_dim + base;
        ld_slice<DPL, F16, VEC>(kc, row, lane, hd, kf[j]);
        ld_slice<DPL, F16, VEC>(vc, row, lane, hd, vf[j]);
    }
}
/* The same from the chunk staged in shared memory (keys t0.., hd apart;
 * row len-1 holds whatever the cache had: it is replaced by the caller). */
template <int DPL>
static __device__ __forceinline__ void ld_step_sm(const __half *sk, const __half *sv, int tb, int t0, int t1,
                                                  int lane, int hd, float (*kf)[DPL], float (*vf)[DPL]) {
#pragma unroll
    for (int j = 0; j < DEC_KPW; j++) {
        const int t = (tb + j < t1 ? tb + j : t1 - 1) - t0;
        ld_slice<DPL, true, true>(sk, (size_t)t * hd, lane, hd, kf[j]);
        ld_slice<DPL, true, true>(sv, (size_t)t * hd, lane, hd, vf[j]);
    }
}

template <int DPL, bool F16, bool VEC, bool ROPE>
static __global__ void __launch_bounds__(DEC_WARPS * 32)
    k_attn_split(float *out, float *part, const float *q, int ld_q, const void *kc, const void *vc,
                 const int32_t *pos, int n_head, int group, int hd, float scale, int nsplit, const attn_dec x) {
    pdl_trigger();
    if (x.pfq && threadIdx.x == 0) {
        unsigned k = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
        l2_prefetch_part(x.pfq, x.pfq_n, x.pfs, x.pfs_n, k, gridDim.x * gridDim.y * gridDim.z);
    }
    const int h = blockIdx.x, s = blockIdx.y, i = blockIdx.z;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int kv_dim = (n_head / group) * hd, g = h / group;
    /* positions come from the host, before the step: readable before the
     * wait, and so are the rotation angles (theta recurrence and double
     * sincos as k_rope_kv) */
    const int len = pos[i] + 1;
    float rc[DPL / 2 > 0 ? DPL / 2 : 1], rs[DPL / 2 > 0 ? DPL / 2 : 1];
    if (ROPE) rope_angles<DPL>(len - 1, lane, x.n_rot, x.theta_scale, x.freq_scale, rc, rs);
    /* chunks of whole 32-key steps, decided from the length in device
     * memory; a short sequence is one CTA's (a few serial steps cost less
     * than writing partials and merging them) */
    const int STEP = DEC_WARPS * DEC_KPW;
    const bool single = len <= x.single;
    if (single && s > 0) return;
    int chunk = single ? len : (len + nsplit - 1) / nsplit;
    chunk = (chunk + STEP - 1) / STEP * STEP;
    const int t0 = s * chunk, t1 = min(len, t0 + chunk);
    const size_t base = (size_t)g * hd;
    /* ROPE: every row this kernel reads from the cache was stored by an
     * earlier step, so they can be requested before the wait (without it,
     * row len-1 is the previous kernel's): a chunk of up to x.sk keys (f16)
     * lands in shared memory whole (cp.async: no registers held), so no
     * step waits for DRAM after the wait; a longer one has its first step's
     * keys and values in flight in registers. */
    float kf[DEC_KPW][DPL], vf[DEC_KPW][DPL];
    const int tb0 = t0 + w * DEC_KPW;
    extern __shared__ __align__(16) uint8_t sdyn[];
    const bool staged = ROPE && F16 && VEC && t1 - t0 <= x.sk;
    __half *skh = (__half *)sdyn, *svh = skh + (size_t)x.sk * hd;
    if (staged) {
        const int per = 4 * DPL; /* 16-byte pieces of a row (hd == 32 * DPL here): shifts, not a division */
        for (int f = threadIdx.x; f < (t1 - t0) * per; f += blockDim.x) {
            const int t = f / per, e = (f % per) * 8;
            const size_t off = (size_t)(t0 + t) * kv_dim + base + e;
            cp16(skh + (size_t)t * hd + e, (const __half *)kc + off);
            cp16(svh + (size_t)t * hd + e, (const __half *)vc + off);
        }
        cp_commit();
    } else if (ROPE && tb0 < t1) {
        ld_step<DPL, F16, VEC, ROPE>(kc, vc, tb0, t1, len, kv_dim, base, lane, hd, kf, vf);
    }
    pdl_wait();
    if (staged) {
        cp_wait<0>();
        __syncthreads();
    }

    __shared__ float sm[DEC_WARPS], sl[DEC_WARPS], so[DEC_WARPS][32 * DPL];

    float qv[DPL], o[DPL];
    ld_slice<DPL, false, VEC>(q, (size_t)i * ld_q + (size_t)h * hd, lane, hd, qv);
#pragma unroll
    for (int j = 0; j < DPL; j++) o[j] = 0.0f;
    if (ROPE) rot_pairs<DPL>(qv, rc, rs);
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        float v = qv[j];
        if (F16) v = __half2float(__float2half_rn(v)); /* as ggml: q meets an f16 cache in f16 */
        qv[j] = v * scale;
    }
    /* ROPE: this token's key and value (row len-1) come from registers; the
     * first query head of each group stores them in the cache */
    float kn[DPL], vn[DPL];
    const bool cur = ROPE && t0 < t1 && t1 == len;
    if (cur) {
        /* ROPE launches have hd == 32 * DPL: whole vector loads */
        ld_slice<DPL, false, true>(x.kcur, base, lane, hd, kn);
        ld_slice<DPL, false, true>(x.vcur, base, lane, hd, vn);
        rot_pairs<DPL>(kn, rc, rs);
        const size_t row = (size_t)(len - 1) * kv_dim + base + lane * DPL;
        if (F16) {
            __half hk[DPL], hv[DPL];
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                hk[j] = __float2half_rn(kn[j]), hv[j] = __float2half_rn(vn[j]);
                kn[j] = __half2float(hk[j]), vn[j] = __half2float(hv[j]);
            }
            if (h % group == 0) st_halves<DPL>((__half *)kc + row, hk), st_halves<DPL>((__half *)vc + row, hv);
        } else if (h % group == 0) {
#pragma unroll
            for (int j = 0; j < DPL; j++) ((float *)kc)[row + j] = kn[j], ((float *)vc)[row + j] = vn[j];
        }
    }
    float m = -INFINITY, l = 0.0f;
    for (int tb = tb0; tb < t1; tb += STEP) {
        if (staged) ld_step_sm<DPL>(skh, svh, tb, t0, t1, lane, hd, kf, vf);
        else if (!ROPE || tb != tb0) ld_step<DPL, F16, VEC, ROPE>(kc, vc, tb, t1, len, kv_dim, base, lane, hd, kf, vf);
        if (ROPE && cur) {
#pragma unroll
            for (int j = 0; j < DEC_KPW; j++)
                if (tb + j == len - 1) {
#pragma unroll
                    for (int e = 0; e < DPL; e++) kf[j][e] = kn[e], vf[j][e] = vn[e];
                }
        }
        softmax_step<DPL, DEC_KPW>(
            qv, [&](int j, int e) { return kf[j][e]; }, [&](int j, int e) { return vf[j][e]; }, t1 - tb, m, l, o);
    }
    if (lane == 0) sm[w] = m, sl[w] = l;
#pragma unroll
    for (int j = 0; j < DPL; j++) so[w][lane * DPL + j] = o[j];
    __syncthreads();
    float M = -INFINITY;
#pragma unroll
    for (int k = 0; k < DEC_WARPS; k++) M = fmaxf(M, sm[k]);
    float L = 0.0f;
    float f[DEC_WARPS];
#pragma unroll
    for (int k = 0; k < DEC_WARPS; k++) {
        f[k] = sm[k] == -INFINITY ? 0.0f : __expf(sm[k] - M);
        L += sl[k] * f[k];
    }
    const size_t orow = (size_t)i * n_head * hd + (size_t)h * hd;
    if (nsplit == 1 || single) {
        for (int e0 = 0; e0 < hd; e0 += blockDim.x) {
            const int e = e0 + threadIdx.x;
            float O = 0.0f;
            if (e < hd) {
#pragma unroll
                for (int k = 0; k < DEC_WARPS; k++) O += so[k][e] * f[k];
                out[orow + e] = O / L;
            }
            if (x.xq && e0 + (int)(threadIdx.x & ~31) < hd)
                q8_put(O / L, x.xq + orow - (size_t)h * hd, x.ds + (orow - (size_t)h * hd) / 32, (size_t)h * hd + e, x.xc);
        }
        return;
    }
    float *pp = part + ((size_t)i * n_head + h) * nsplit * (hd + 2);
    for (int e = threadIdx.x; e < hd; e += blockDim.x) {
        float O = 0.0f;
#pragma unroll
        for (int k = 0; k < DEC_WARPS; k++) O += so[k][e] * f[k];
        pp[(size_t)s * (hd + 2) + 2 + e] = O;
        if (e == 0) pp[(size_t)s * (hd + 2)] = M, pp[(size_t)s * (hd + 2) + 1] = L;
    }
    if (!x.cnt) return;
    if (cta_arrive_last(x.cnt + (size_t)i * n_head + h, nsplit)) attn_merge(out, pp, orow, hd, nsplit, x.xq, x.ds, x.xc, orow - (size_t)h * hd);
}

static __global__ void k_attn_combine(float *out, const float *part, int n_head, int hd, int nsplit) {
    pdl_trigger();
    pdl_wait();
    const int h = blockIdx.x, i = blockIdx.y;
    const float *pp = part + ((size_t)i * n_head + h) * nsplit * (hd + 2);
    float M = -INFINITY;
    for (int s = 0; s < nsplit; s++) M = fmaxf(M, pp[s * (hd + 2)]);
    for (int e = threadIdx.x; e < hd; e += blockDim.x) {
        float L = 0.0f, O = 0.0f;
        for (int s = 0; s < nsplit; s++) {
            const float *p = pp + s * (hd + 2);
            if (p[0] == -INFINITY) continue; /* chunk past the end of the sequence */
            float f = __expf(p[0] - M);
            L += p[1] * f;
            O += p[2 + e] * f;
        }
        out[(size_t)i * n_head * hd + (size_t)h * hd + e] = O / L;
    }
}

/* ---- prefill: tiled ------------------------------------------------------- */

#define PF_Q 8   /* queries (warps) per CTA */
#define PF_K 32  /* keys per tile */

template <int DPL, bool F16>
static __global__ void __launch_bounds__(PF_Q * 32)
    k_attn_prefill(float *out, const float *q, int ld_q, const void *kc, const void *vc, const int32_t *pos,
                   int n, int n_head, int group, int hd, float scale) {
    pdl_trigger();
    pdl_wait();
    extern __shared__ float smem[];
    float *Ks = smem;                       /* [PF_K][hd+1] */
    float *Vs = Ks + PF_K * (hd + 1);       /* [PF_K][hd]   */
    float *Qs = Vs + PF_K * hd;             /* [PF_Q][hd]   */
    __shared__ int maxpos;

    const int h = blockIdx.x, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int i = blockIdx.y * PF_Q + w;
    const int kv_dim = (n_head / group) * hd, g = h / group;
    const int mypos = i < n ? pos[i] : -1;
    if (threadIdx.x == 0) maxpos = -1;
    __syncthreads();
    if (lane == 0) atomicMax(&maxpos, mypos);
    if (i < n) {
        const float *qr = q + (size_t)i * ld_q + (size_t)h * hd;
        for (int e = lane; e < hd; e += 32) {
            float v = qr[e];
            if (F16) v = __half2float(__float2half_rn(v));
            Qs[w * hd + e] = v * scale;
        }
    }
    __syncthreads();
    const int last = maxpos;

    float m = -INFINITY, l = 0.0f, o[DPL];
#pragma unroll
    for (int c = 0; c < DPL; c++) o[c] = 0.0f;

    for (int t0 = 0; t0 <= last; t0 += PF_K) {
        __syncthreads(); /* previous tile fully consumed */
        for (int idx = threadIdx.x; idx < PF_K * hd; idx += blockDim.x) {
            int j = idx / hd, e = idx % hd, t = t0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (t <= last) {
                size_t off = (size_t)t * kv_dim + (size_t)g * hd + e;
                kv = kv_at<F16>(kc, off);
                vv = kv_at<F16>(vc, off);
            }
            Ks[j * (hd + 1) + e] = kv;
            Vs[j * hd + e] = vv;
        }
        __syncthreads();
        if (t0 > mypos) continue; /* this query is done (also i >= n) */
        const float *kr = Ks + lane * (hd + 1), *qr = Qs + w * hd;
        float sc = 0.0f;
        for (int e = 0; e < hd; e++) sc += qr[e] * kr[e];
        if (t0 + lane > mypos) sc = -INFINITY;
        float mn = fmaxf(m, warp_max(sc));
        float corr = __expf(m - mn), p = __expf(sc - mn);
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int c = 0; c < DPL; c++) o[c] *= corr;
        for (int j = 0; j < PF_K; j++) {
            float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
            for (int c = 0; c < DPL; c++) {
                int e = lane + 32 * c;
                if (e < hd) o[c] += pj * Vs[j * hd + e];
            }
        }
        m = mn;
    }
    if (i < n) {
        float *orow = out + (size_t)i * n_head * hd + (size_t)h * hd;
#pragma unroll
        for (int c = 0; c < DPL; c++) {
            int e = lane + 32 * c;
            if (e < hd) orow[e] = o[c] / l;
        }
    }
}


/* ---- prefill on tensor cores (f16 cache) -------------------------------------
 * CTA = one head x 64 queries (4 warps x 16 rows); K/V tiles of 32 keys in
 * shared memory. Two passes over the keys instead of an online softmax:
 * pass 1 finds each row's max and sum, pass 2 recomputes the scores and
 * accumulates P.V in wmma fragments, so the accumulators never need the
 * per-row rescaling that wmma's opaque fragment layout makes awkward. The
 * extra Q.K product is cheap on tensor cores. q and p are rounded to f16 as
 * ggml's CPU path rounds them. */

#define FA_W 4
#define FA_BK 32

template <int HD> struct fa_cfg {
    enum { LD = HD + 8, PLD = FA_BK + 8, SLD = HD > FA_BK ? HD : FA_BK };
    static size_t smem() {
        return (size_t)FA_W * 16 * LD * 2 + 2 * (size_t)FA_BK * LD * 2 + (size_t)FA_W * 16 * SLD * 4 +
               (size_t)FA_W * 16 * PLD * 2;
    }
};

template <int HD>
static __device__ __forceinline__ void fa_scores(const __half *Qw, const __half *Ks, float *S) {
    typedef fa_cfg<HD> C;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
    wmma::fill_fragment(acc[0], 0.0f);
    wmma::fill_fragment(acc[1], 0.0f);
#pragma unroll
    for (int kd = 0; kd < HD / 16; kd++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
        wmma::load_matrix_sync(a, Qw + kd * 16, C::LD);
#pragma unroll
        for (int nb = 0; nb < 2; nb++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
            wmma::load_matrix_sync(b, Ks + nb * 16 * C::LD + kd * 16, C::LD);
            wmma::mma_sync(acc[nb], a, b, acc[nb]);
        }
    }
    wmma::store_matrix_sync(S, acc[0], C::SLD, wmma::mem_row_major);
    wmma::store_matrix_sync(S + 16, acc[1], C::SLD, wmma::mem_row_major);
}

template <int HD>
static __device__ __forceinline__ void fa_load_tile(__half *dst, const __half *cache, int t0, int last, int kv_dim,
                                                    int g) {
    typedef fa_cfg<HD> C;
    for (int idx = threadIdx.x; idx < FA_BK * HD / 8; idx += blockDim.x) {
        int j = idx / (HD / 8), e = (idx % (HD / 8)) * 8, t = t0 + j;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (t <= last) v = *(const uint4 *)(cache + (size_t)t * kv_dim + (size_t)g * HD + e);
        *(uint4 *)(dst + j * C::LD + e) = v;
    }
}

template <int HD>
static __global__ void __launch_bounds__(FA_W * 32)
    k_attn_wmma(float *out, const float *q, int ld_q, const __half *kc, const __half *vc, const int32_t *pos, int n,
                int n_head, int group, float scale) {
    typedef fa_cfg<HD> C;
    pdl_trigger();
    pdl_wait();
    extern __shared__ __align__(128) unsigned char fa_smem[];
    __half *Qs = (__half *)fa_smem;
    __half *Ks = Qs + FA_W * 16 * C::LD;
    __half *Vs = Ks + FA_BK * C::LD;
    float *Sall = (float *)(Vs + FA_BK * C::LD);
    __half *Pall = (__half *)(Sall + FA_W * 16 * C::SLD);
    __shared__ int cta_last;

    const int h = blockIdx.x, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int i0 = blockIdx.y * FA_W * 16, kv_dim = (n_head / group) * HD, g = h / group;
    float *S = Sall + w * 16 * C::SLD;
    __half *P = Pall + w * 16 * C::PLD;
    const __half *Qw = Qs + w * 16 * C::LD;

    if (threadIdx.x == 0) cta_last = -1;
    for (int idx = threadIdx.x; idx < FA_W * 16 * HD; idx += blockDim.x) {
        int r = idx / HD, e = idx % HD, i = i0 + r;
        Qs[r * C::LD + e] = __float2half_rn(i < n ? q[(size_t)i * ld_q + (size_t)h * HD + e] : 0.0f);
    }
    /* lane pair (2r, 2r+1) owns row r, 16 score columns each */
    const int r = lane >> 1, c0 = (lane & 1) * 16, i = i0 + w * 16 + r;
    const int my_pos = i < n ? pos[i] : -1;
    int wl = my_pos;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) wl = max(wl, __shfl_xor_sync(0xffffffffu, wl, o));
    const int warp_last = wl;
    __syncthreads();
    if (lane == 0) atomicMax(&cta_last, warp_last);
    __syncthreads();
    const int last = cta_last;

    /* pass 1: row max and sum */
    float m = -INFINITY, l = 0.0f;
    for (int t0 = 0; t0 <= last; t0 += FA_BK) {
        __syncthreads();
        fa_load_tile<HD>(Ks, kc, t0, last, kv_dim, g);
        __syncthreads();
        if (t0 > warp_last) continue;
        fa_scores<HD>(Qw, Ks, S);
        __syncwarp();
        float tm = -INFINITY;
        float sv[16];
#pragma unroll
        for (int c = 0; c < 16; c++) {
            float sc = S[r * C::SLD + c0 + c] * scale;
            sv[c] = t0 + c0 + c <= my_pos ? sc : -INFINITY;
            tm = fmaxf(tm, sv[c]);
        }
        float mn = fmaxf(m, tm);
        if (mn != -INFINITY) {
            float acc = 0.0f;
#pragma unroll
            for (int c = 0; c < 16; c++) acc += __expf(sv[c] - mn);
            l = l * __expf(m - mn) + acc;
            m = mn;
        }
        __syncwarp();
    }
    {
        float mo = __shfl_xor_sync(0xffffffffu, m, 1), lo = __shfl_xor_sync(0xffffffffu, l, 1);
        float M = fmaxf(m, mo);
        float L = (m == -INFINITY ? 0.0f : l * __expf(m - M)) + (mo == -INFINITY ? 0.0f : lo * __expf(mo - M));
        m = M;
        l = L;
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;

    /* pass 2: P.V */
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> O[HD / 16];
#pragma unroll
    for (int j = 0; j < HD / 16; j++) wmma::fill_fragment(O[j], 0.0f);
    for (int t0 = 0; t0 <= last; t0 += FA_BK) {
        __syncthreads();
        fa_load_tile<HD>(Ks, kc, t0, last, kv_dim, g);
        fa_load_tile<HD>(Vs, vc, t0, last, kv_dim, g);
        __syncthreads();
        if (t0 > warp_last) continue;
        fa_scores<HD>(Qw, Ks, S);
        __syncwarp();
#pragma unroll
        for (int c = 0; c < 16; c++) {
            float sc = S[r * C::SLD + c0 + c] * scale;
            float p = t0 + c0 + c <= my_pos ? __expf(sc - m) * inv : 0.0f;
            P[r * C::PLD + c0 + c] = __float2half_rn(p);
        }
        __syncwarp();
#pragma unroll
        for (int kk = 0; kk < FA_BK / 16; kk++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
            wmma::load_matrix_sync(a, P + kk * 16, C::PLD);
#pragma unroll
            for (int j = 0; j < HD / 16; j++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
                wmma::load_matrix_sync(b, Vs + kk * 16 * C::LD + j * 16, C::LD);
                wmma::mma_sync(O[j], a, b, O[j]);
            }
        }
        __syncwarp();
    }
    /* out rows through shared memory: the last CTA's rows may pass n */
#pragma unroll
    for (int j = 0; j < HD / 16; j++) wmma::store_matrix_sync(S + j * 16, O[j], C::SLD, wmma::mem_row_major);
    __syncwarp();
    for (int idx = lane; idx < 16 * HD; idx += 32) {
        int rr = idx / HD, e = idx % HD, ii = i0 + w * 16 + rr;
        if (ii < n) out[(size_t)ii * n_head * HD + (size_t)h * HD + e] = S[rr * C::SLD + e];
    }
}

template <int HD>
static void fa_run(cuda_ctx *c, float *out, const float *q, int ld_q, const void *kc, const void *vc, int n,
                   const int32_t *pos, const ig_attn *a) {
    size_t smem = fa_cfg<HD>::smem();
    static bool raised = false;
    if (!raised) {
        CU_CHECK(c, cudaFuncSetAttribute(k_attn_wmma<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        raised = true;
    }
    dim3 grid(a->n_head, (n + FA_W * 16 - 1) / (FA_W * 16));
    cu_launch(c, k_attn_wmma<HD>, grid, dim3(FA_W * 32), smem, out, q, ld_q, (const __half *)kc, (const __half *)vc,
              pos, n, a->n_head, a->n_head / a->n_head_kv, a->scale);
}

/* Tensor-core prefill when the cache is f16 and the head width is one we
 * instantiate; false: use the CUDA-core kernel. */
static bool attn_prefill_tc(cuda_ctx *c, float *out, const float *q, int ld_q, const void *kc, const void *vc, int n,
                            const int32_t *pos, const ig_attn *a) {
    if (a->kv_type != INGOT_KV_F16 || getenv("INGOT_CUDA_NO_TC_ATTN")) return false;
    switch (a->head_dim) {
    case 32: fa_run<32>(c, out, q, ld_q, kc, vc, n, pos, a); return true;
    case 64: fa_run<64>(c, out, q, ld_q, kc, vc, n, pos, a); return true;
    case 128: fa_run<128>(c, out, q, ld_q, kc, vc, n, pos, a); return true;
    case 256: fa_run<256>(c, out, q, ld_q, kc, vc, n, pos, a); return true;
    default: return false;
    }
}

/* ---- dispatch ------------------------------------------------------------- */

template <int DPL, bool F16>
static void attn_run(cuda_ctx *c, float *out, const float *q, int ld_q, const void *kc, const void *vc, int n,
                     const int32_t *pos, const ig_attn *a, const cu_rope_att *ra) {
    const int group = a->n_head / a->n_head_kv, hd = a->head_dim;
    if (n <= 4) {
        int want = (4 * c->n_sm + a->n_head * n - 1) / (a->n_head * n);
        int nsplit = a->n_ctx / 64;
        if (nsplit > want) nsplit = want;
        if (nsplit > 32) nsplit = 32;
        if (nsplit < 1) nsplit = 1;
        /* every length of the call short (the caller's bound): one CTA per
         * head, the keys staged in shared memory before the wait for Q/K/V
         * (f16 cache, rope fused) */
        const bool one = ra && n == 1 && F16 && hd == 32 * DPL && a->max_len > 0 && a->max_len <= c->att_single &&
                         a->max_len <= c->att_sk;
        if (one) nsplit = 1;
        float *part = NULL;
        if (nsplit > 1) {
            part = (float *)cu_scratch(c, SCR_ATTN, (size_t)n * a->n_head * nsplit * (hd + 2) * sizeof(float));
            if (!part) return;
        }
        attn_dec x;
        memset(&x, 0, sizeof x);
        const int cols = a->n_head * hd;
        /* merge in the split kernel (counters), and q8_1 for the wo product */
        if ((c->fuse & FUSE_ATTN) && nsplit > 1 && (size_t)n * a->n_head <= NCNT) x.cnt = c->cnt;
        void *qb = c->scr[SCR_Q8].p;
        bool q8 = (c->fuse & FUSE_ATTN) && hd % 32 == 0 && (nsplit == 1 || x.cnt) && qb && c->scr[SCR_Q8].cap >= q8_bytes(n, cols);
        if (q8) x.xq = (int8_t *)qb, x.ds = q8_ds(qb, n, cols), x.xc = cu_xc(c, cols);
        /* one token, and the merge in this kernel (a combine kernel after
         * it would read partials the skipped chunks never wrote) */
        x.single = n == 1 && x.cnt ? c->att_single : 0;
        /* the weight read next (wo), learned from the last forward; only
         * while the attention is one CTA per head (100 of 132 SMs waiting on
         * it): the split kernel measured 0.4% slower with it (v11) */
        const wsucc *nx = c->pf_att && one ? cu_succ(c, c->last_w) : NULL;
        if (nx) {
            size_t tot = nx->qn + nx->sn, take = tot < c->pf_att ? tot : c->pf_att;
            x.pfq = nx->q, x.pfs = nx->s;
            x.pfq_n = (size_t)((double)nx->qn * take / tot), x.pfs_n = (size_t)((double)nx->sn * take / tot);
        }
        dim3 grid(a->n_head, nsplit, n);
        if (ra && n == 1 && hd == 32 * DPL && DPL % 2 == 0) {
            x.kcur = ra->k, x.vcur = ra->v;
            x.n_rot = ra->n_rot, x.theta_scale = ra->theta_scale, x.freq_scale = ra->freq_scale;
            /* K and V of up to max_len keys staged in shared memory (a
             * device that refuses the size gets the register path) */
            size_t smem = one ? (size_t)a->max_len * hd * 2 * sizeof(__half) : 0;
            static size_t allowed = 48 * 1024; /* per instantiation */
            if (smem > allowed) {
                if (cudaFuncSetAttribute(k_attn_split<DPL, F16, true, true>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) == cudaSuccess)
                    allowed = smem;
                else
                    cudaGetLastError(), smem = 0;
            }
            if (smem) x.sk = a->max_len;
            cu_launch(c, k_attn_split<DPL, F16, true, true>, grid, dim3(DEC_WARPS * 32), smem, out, part, q, ld_q, kc,
                      vc, pos, a->n_head, group, hd, a->scale, nsplit, x);
        } else if (ra) {
            cu_fail(c, INGOT_ERR_BACKEND, __FILE__, __LINE__, "attention: rope fused where it cannot be");
            return;
        } else if (hd == 32 * DPL && (DPL > 1 || !F16) && ld_q % 4 == 0 && (uintptr_t)q % 16 == 0) {
            cu_launch(c, k_attn_split<DPL, F16, true, false>, grid, dim3(DEC_WARPS * 32), 0, out, part, q, ld_q, kc,
                      vc, pos, a->n_head, group, hd, a->scale, nsplit, x);
        } else {
            cu_launch(c, k_attn_split<DPL, F16, false, false>, grid, dim3(DEC_WARPS * 32), 0, out, part, q, ld_q, kc,
                      vc, pos, a->n_head, group, hd, a->scale, nsplit, x);
        }
        if (nsplit > 1 && !x.cnt)
            cu_launch(c, k_attn_combine, dim3(a->n_head, n), dim3(hd < 128 ? 128 : 256), 0, out, (const float *)part,
                      a->n_head, hd, nsplit);
        if (q8) q8_set(c, out, (size_t)n * cols, qb, x.xc);
        return;
    }
    if (attn_prefill_tc(c, out, q, ld_q, kc, vc, n, pos, a)) return;
    size_t smem = ((size_t)PF_K * (hd + 1) + (size_t)PF_K * hd + (size_t)PF_Q * hd) * sizeof(float);
    static bool raised = false; /* per instantiation */
    if (smem > 48 * 1024 && !raised) {
        CU_CHECK(c, cudaFuncSetAttribute(k_attn_prefill<DPL, F16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)smem));
        raised = true;
    }
    dim3 grid(a->n_head, (n + PF_Q - 1) / PF_Q);
    cu_launch(c, k_attn_prefill<DPL, F16>, grid, dim3(PF_Q * 32), smem, out, q, ld_q, kc, vc, pos, n, a->n_head,
              group, hd, a->scale);
}

template <int DPL>
static void attn_kv(cuda_ctx *c, float *out, const float *q, int ld_q, const void *kc, const void *vc, int n,
                    const int32_t *pos, const ig_attn *a, const cu_rope_att *ra) {
    if (a->kv_type == INGOT_KV_F16) attn_run<DPL, true>(c, out, q, ld_q, kc, vc, n, pos, a, ra);
    else attn_run<DPL, false>(c, out, q, ld_q, kc, vc, n, pos, a, ra);
}

void cu_attention(cuda_ctx *c, float *out, const float *q, int ld_q, const void *kc, const void *vc, int n,
                  const int32_t *pos, const ig_attn *a, const cu_rope_att *ra) {
    if (n <= 0) return;
    if (a->n_head_kv <= 0 || a->n_head % a->n_head_kv) {
        cu_fail(c, INGOT_ERR_INVALID_ARG, __FILE__, __LINE__, "attention: n_head not a multiple of n_head_kv");
        return;
    }
    int hd = a->head_dim;
    if (hd <= 32) attn_kv<1>(c, out, q, ld_q, kc, vc, n, pos, a, ra);
    else if (hd <= 64) attn_kv<2>(c, out, q, ld_q, kc, vc, n, pos, a, ra);
    else if (hd <= 128) attn_kv<4>(c, out, q, ld_q, kc, vc, n, pos, a, ra);
    else if (hd <= 256) attn_kv<8>(c, out, q, ld_q, kc, vc, n, pos, a, ra);
    else cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, "attention: head_dim > 256");
}

CU_TRACE_SETTER(attention)
