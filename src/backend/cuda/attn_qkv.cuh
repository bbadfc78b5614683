/* Decode attention inside the Q/K/V launch (FUSE_QKVA: one token, short
 * length phase, f16 cache). Off by default: correct, but not faster than
 * the attention kernel after Q/K/V on H100 (bench/cuda/NOTES.md v14, v19);
 * kept as the base of the next attempt, and tested (test_backend_ops).
 *
 * Why try: the attention kernel costs a decode step a kernel boundary per
 * layer; its CTAs start only when the last Q/K/V row is written and then
 * run a latency chain on 32 SMs while the others wait (v11: ~6% of a
 * step). Here n_head attention CTAs, one per query head, ride in the
 * launch after INGOT_CUDA_AQ_AT % (55) of the product CTAs (Q rows first,
 * then per KV head its K rows and its V rows). The products write q, k and
 * v into a buffer that holds AQ_SENT ("not written") between launches; an
 * attention CTA polls the values it needs instead of waiting for the grid:
 *
 *  1. q of its head (Q rows go first): rotate, then an online softmax over
 *     the keys already cached (0..len-2, earlier steps' rows), a quarter
 *     per warp, partials into scratch;
 *  2. this token's k and v of its KV head: rotate, store in the cache row
 *     len-1 (the group's first head), fold that one key into the merged
 *     partials and write the output and its q8_1 form for wo. The values
 *     go back to AQ_SENT once every head of the group has them.
 *
 * No fences or atomics in the products (an acq_rel arrival per CTA, the
 * first version, cost 7% of a step), and no deadlock: the pollers take
 * n_head of the launch's slots and every product CTA can still run.
 * What it costs (NOTES v14, v19): step 1 takes 3.5-7 us on an SM busy
 * with product CTAs. Placed first (v14), the pollers hold slots through
 * the whole launch; last, they start only when every product is done; after
 * 55% of the products, tg128 measured +0.5% Q4_0 and -0.5% Q4_K_M against
 * the attention kernel: wo's CTAs cannot become resident while this launch
 * holds the SMs, where beside the attention kernel they start early.
 */
#ifndef INGOT_CUDA_ATTN_QKV_CUH
#define INGOT_CUDA_ATTN_QKV_CUH

#include "attn_dec.cuh"

#define AQ_KPW 4 /* keys per warp per step in step 1 (of 4, 6 and 8, 4 measured fastest) */

/* N f32 through L2. */
template <int N> static __device__ __forceinline__ void ldcg_n(const float *p, float *y) {
    if (N % 4 == 0) {
#pragma unroll
        for (int k = 0; k < N; k += 4) {
            float4 f = __ldcg((const float4 *)(p + k));
            y[k] = f.x, y[k + 1] = f.y, y[k + 2] = f.z, y[k + 3] = f.w;
        }
    } else {
#pragma unroll
        for (int k = 0; k < N; k++) y[k] = __ldcg(p + k);
    }
}

/* Wait until none of this lane's N values at p is the sentinel (every
 * lane of the warp calls). Reads bypass L1 (another SM writes them). A
 * value that never comes fails the launch instead of hanging it. */
template <int N> static __device__ __forceinline__ void aq_poll(const float *p, float *y) {
    for (unsigned it = 0;; it++) {
        bool ok = true;
#pragma unroll
        for (int k = 0; k < N; k++) {
            y[k] = __ldcv(p + k);
            ok &= __float_as_uint(y[k]) != AQ_SENT;
        }
        if (__all_sync(0xffffffffu, ok)) return;
        if (it > (1u << 26)) __trap();
#if __CUDA_ARCH__ >= 700
        __nanosleep(100);
#endif
    }
}
template <int N> static __device__ __forceinline__ void aq_clear(float *p) {
#pragma unroll
    for (int k = 0; k < N; k++) p[k] = __uint_as_float(AQ_SENT);
}

/* INGOT_CUDA_TRACE: the first and last head's progress in the timeline
 * (signature 1000 + 100 * what + head in the grid field) */
#define AQ_STAMP(what)                                                                                \
    do {                                                                                              \
        if (threadIdx.x == 0 && (h == 0 || h == a->n_head - 1))                                       \
            trace_stamp((unsigned long long)(1000 + 100 * (what) + (h ? 99 : 0)) << 32);              \
    } while (0)

template <int DPL>
static __device__ __noinline__ void aq_head(const att_fuse *a, int h) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, hd = 32 * DPL, G = a->group;
    const int len = a->pos[0] + 1, np = len - 1, g = h / G, kv_dim = (a->n_head / G) * hd;
    const size_t base = (size_t)g * hd;
    float rc[DPL / 2], rs[DPL / 2], qv[DPL], o[DPL];
    rope_angles<DPL>(len - 1, lane, a->n_rot, a->theta_scale, a->freq_scale, rc, rs);
    pdl_wait();
    float *tq = a->tag + (size_t)h * hd + lane * DPL;
    float *tk = a->tag + (size_t)a->n_head * hd + base + lane * DPL, *tv = tk + kv_dim;
    aq_poll<DPL>(tq, qv);
    AQ_STAMP(1);
    rot_pairs<DPL>(qv, rc, rs);
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        qv[j] = __half2float(__float2half_rn(qv[j])) * a->scale; /* as ggml: q meets an f16 cache in f16 */
        o[j] = 0.0f;
    }
    /* step 1: the keys already cached, a quarter per warp, AQ_KPW keys
     * per step in flight at once (packed halves) */
    float m = -INFINITY, l = 0.0f;
    for (int tb = w * AQ_KPW; tb < np; tb += AQ_WARPS * AQ_KPW) {
        hrow<DPL> kr[AQ_KPW], vr[AQ_KPW];
#pragma unroll
        for (int j = 0; j < AQ_KPW; j++) {
            const size_t row = (size_t)(tb + j < np ? tb + j : np - 1) * kv_dim + base + lane * DPL;
            kr[j] = hrow_ld<DPL>((const __half *)a->kc + row);
            vr[j] = hrow_ld<DPL>((const __half *)a->vc + row);
        }
        softmax_step<DPL, AQ_KPW>(
            qv, [&](int j, int e) { return hrow_at<DPL>(kr[j], e); }, [&](int j, int e) { return hrow_at<DPL>(vr[j], e); },
            np - tb, m, l, o);
    }
    float *sh = a->scr + (size_t)h * aq_stride(hd), *pw = sh + w * (hd + 4);
    if (lane == 0) pw[0] = m, pw[1] = l;
#pragma unroll
    for (int j = 0; j < DPL; j++) pw[4 + lane * DPL + j] = o[j];
    __syncthreads();
    AQ_STAMP(2);
    if (w == 0) aq_clear<DPL>(tq);
    /* step 2, every warp alike: merge the warps' partials while this
     * token's key and value are still being computed, then fold them in;
     * each warp then writes its share of the q8_1 blocks */
    float M = -INFINITY, L = 0.0f, y[DPL];
    {
        float pm[AQ_WARPS], pl[AQ_WARPS], po[AQ_WARPS][DPL];
#pragma unroll
        for (int k = 0; k < AQ_WARPS; k++) {
            const float *pk = sh + k * (hd + 4);
            pm[k] = __ldcg(pk), pl[k] = __ldcg(pk + 1);
            ldcg_n<DPL>(pk + 4 + lane * DPL, po[k]);
            M = fmaxf(M, pm[k]);
        }
#pragma unroll
        for (int j = 0; j < DPL; j++) y[j] = 0.0f;
#pragma unroll
        for (int k = 0; k < AQ_WARPS; k++) {
            /* a warp that had no keys (max -inf) counts zero */
            const float f = pm[k] == -INFINITY ? 0.0f : __expf(pm[k] - M);
            L += pl[k] * f;
#pragma unroll
            for (int j = 0; j < DPL; j++) y[j] += po[k][j] * f;
        }
    }
    float kn[DPL], vn[DPL];
    aq_poll<DPL>(tk, kn);
    aq_poll<DPL>(tv, vn);
    AQ_STAMP(3);
    const bool store = w == 0 && h % G == 0; /* the group's first head stores k and v */
    if (store)
#pragma unroll
        for (int j = 0; j < DPL; j++) a->vout[base + lane * DPL + j] = vn[j];
    rot_pairs<DPL>(kn, rc, rs);
    __half hk[DPL], hv[DPL];
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        hk[j] = __float2half_rn(kn[j]), hv[j] = __float2half_rn(vn[j]);
        kn[j] = __half2float(hk[j]), vn[j] = __half2float(hv[j]);
    }
    if (store) {
        const size_t row = (size_t)(len - 1) * kv_dim + base + lane * DPL;
        st_halves<DPL>((__half *)a->kc + row, hk), st_halves<DPL>((__half *)a->vc + row, hv);
    }
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < DPL; j++) s += qv[j] * kn[j];
    s = warp_sum(s);
    const float Mn = fmaxf(M, s), fo = M == -INFINITY ? 0.0f : __expf(M - Mn), fs = __expf(s - Mn);
    L = L * fo + fs;
    float *orow = a->out + (size_t)h * hd;
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        y[j] = (y[j] * fo + fs * vn[j]) / L;
        if (w == 0) orow[lane * DPL + j] = y[j];
    }
    /* q8_1 by 32-value blocks (DPL of them), block c by warp c % 4:
     * value e of the head sits in lane e / DPL */
    if (a->xq)
#pragma unroll
        for (int c = 0; c < DPL; c++) {
            if (c % AQ_WARPS != w) continue;
            const int e = 32 * c + lane, src = e / DPL;
            float v = 0.0f;
#pragma unroll
            for (int j = 0; j < DPL; j++) {
                const float t = __shfl_sync(0xffffffffu, y[j], src);
                if (e % DPL == j) v = t;
            }
            q8_put(v, a->xq, a->ds, (size_t)h * hd + e, a->xc);
        }
    AQ_STAMP(4);
    /* k and v back to the sentinel once every warp of every head of the
     * group has them */
    __syncthreads();
    if (w) return;
    unsigned seen = 0;
    if (G > 1 && lane == 0) seen = atomicAdd(a->cnt + g, 1u);
    if (G == 1 || __shfl_sync(0xffffffffu, seen, 0) == (unsigned)G - 1) {
        aq_clear<DPL>(tk), aq_clear<DPL>(tv);
        if (G > 1 && lane == 0) a->cnt[g] = 0;
    }
}

static __device__ __forceinline__ void aq_run(const att_fuse *a, int h) {
    if (a->hd == 64) aq_head<2>(a, h);
    else if (a->hd == 128) aq_head<4>(a, h);
    else aq_head<8>(a, h);
}

/* Before the products: the cache rows step 1 reads, into L2 (a Q CTA's
 * share of its head's rows; the KV head's first query head only). */
static __device__ __forceinline__ void aq_prefetch(const att_fuse &a, int b) {
    const int cph = 1 << a.cph_sh, h = b >> a.cph_sh, j = b & (cph - 1);
    if (h % a.group || threadIdx.x >= 64) return;
    const int np = a.pos[0], kv_dim = (a.n_head / a.group) * a.hd, g = h / a.group;
    const unsigned bytes = (unsigned)a.hd * 2;
    const int t = j + cph * (int)(threadIdx.x >> 1);
    if (t < np) l2_prefetch((const __half *)((threadIdx.x & 1) ? a.vc : a.kc) + (size_t)t * kv_dim + (size_t)g * a.hd,
                            bytes);
}

#endif
