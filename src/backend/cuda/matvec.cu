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
#include "common.cuh"

#define M4 0x0F0F0F0Fu

/* ---- activation quantization --------------------------------------- */

/* One warp per 32 values. */
static __global__ void k_quantize_q8(const float *__restrict__ x, int8_t *__restrict__ xq,
                                     float2 *__restrict__ ds, int nblk) {
    pdl_trigger();
    pdl_wait();
    int b = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (b >= nblk) return;
    float v = x[(size_t)b * 32 + lane];
    float amax = warp_max(fabsf(v));
    float d = amax / 127.0f;
    int q = amax == 0.0f ? 0 : (int)roundf(v / d);
    xq[(size_t)b * 32 + lane] = (int8_t)q;
    float sum = warp_sum((float)q);
    if (lane == 0) ds[b] = make_float2(d, d * sum);
}

void cu_quantize_q8(cuda_ctx *c, const float *x, int n, int cols) {
    if (c->q8_src == x && c->q8_count == (size_t)n * cols) return;
    void *buf = cu_scratch(c, SCR_Q8, q8_bytes(n, cols));
    if (!buf) return;
    int nblk = n * cols / 32;
    cu_launch(c, k_quantize_q8, dim3((nblk + 7) / 8), dim3(256), 0, x, (int8_t *)buf, q8_ds(buf, n, cols), nblk);
    c->q8_src = x;
    c->q8_count = (size_t)n * cols;
}

/* ---- per-type dot products ------------------------------------------
 * A row's blocks are cut into "tasks" (TPB per block); a lane loads a
 * task's weights once (load) and dots them with each token (dot). xq/ds
 * point at one token's q8_1 activations. */

static __device__ __forceinline__ int4 ld4(const uint8_t *p) { return *(const int4 *)p; }
static __device__ __forceinline__ int4 ldx(const int8_t *p) { return *(const int4 *)p; }
static __device__ __forceinline__ int dp4(int a, int b, int c) { return __dp4a(a, b, c); }
static __device__ __forceinline__ int sum4(int4 x) {
    return dp4(0x01010101, x.w, dp4(0x01010101, x.z, dp4(0x01010101, x.y, dp4(0x01010101, x.x, 0))));
}
/* Four bits to bit 4 of each of four bytes. */
static __device__ __forceinline__ int hb4(uint32_t n) {
    return (int)(((n & 0xF) * 0x00204081u) & 0x01010101u) << 4;
}
static __device__ __forceinline__ uint32_t byte_of(uint32_t w1, uint32_t w2, uint32_t w3, int i) {
    uint32_t w = i < 4 ? w1 : (i < 8 ? w2 : w3);
    return (w >> (8 * (i & 3))) & 0xFF;
}
/* q4_K/q5_K scale and min of sub-block j from the header's words 1..3. */
static __device__ __forceinline__ void k4_sm(int4 h, int j, float *sc, float *m) {
    uint32_t a = h.y, b = h.z, c = h.w;
    int s, mm;
    if (j < 4) {
        s = byte_of(a, b, c, j) & 63;
        mm = byte_of(a, b, c, j + 4) & 63;
    } else {
        s = (byte_of(a, b, c, j + 4) & 0xF) | ((byte_of(a, b, c, j - 4) >> 6) << 4);
        mm = (byte_of(a, b, c, j + 4) >> 4) | ((byte_of(a, b, c, j) >> 6) << 4);
    }
    *sc = (float)s;
    *m = (float)mm;
}

template <int T> struct mvq;

template <> struct mvq<IG_TYPE_Q4_0> {
    enum { QK = 32, TPB = 1, QN = 16, SN = 2, U = 2, MINB = 8 };
    struct W { int4 q; float d; };
    static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int) {
        return {ld4(Q + b * QN), h2f(ld16(S + b * SN))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int) {
        int4 x0 = ldx(xq + b * 32), x1 = ldx(xq + b * 32 + 16);
        int s = dp4(w.q.x & M4, x0.x, 0);
        s = dp4(w.q.y & M4, x0.y, s);
        s = dp4(w.q.z & M4, x0.z, s);
        s = dp4(w.q.w & M4, x0.w, s);
        s = dp4((w.q.x >> 4) & M4, x1.x, s);
        s = dp4((w.q.y >> 4) & M4, x1.y, s);
        s = dp4((w.q.z >> 4) & M4, x1.z, s);
        s = dp4((w.q.w >> 4) & M4, x1.w, s);
        float2 d8 = ds[b];
        return w.d * ((float)s * d8.x - 8.0f * d8.y);
    }
};

template <> struct mvq<IG_TYPE_Q4_1> {
    enum { QK = 32, TPB = 1, QN = 16, SN = 4, U = 2, MINB = 8 };
    struct W { int4 q; float d, m; };
    static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int) {
        return {ld4(Q + b * QN), h2f(ld16(S + b * SN)), h2f(ld16(S + b * SN + 2))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int) {
        int4 x0 = ldx(xq + b * 32), x1 = ldx(xq + b * 32 + 16);
        int s = dp4(w.q.x & M4, x0.x, 0);
        s = dp4(w.q.y & M4, x0.y, s);
        s = dp4(w.q.z & M4, x0.z, s);
        s = dp4(w.q.w & M4, x0.w, s);
        s = dp4((w.q.x >> 4) & M4, x1.x, s);
        s = dp4((w.q.y >> 4) & M4, x1.y, s);
        s = dp4((w.q.z >> 4) & M4, x1.z, s);
        s = dp4((w.q.w >> 4) & M4, x1.w, s);
        float2 d8 = ds[b];
        return w.d * d8.x * (float)s + w.m * d8.y;
    }
};

template <int T5> struct mvq5 {
    enum { QK = 32, TPB = 1, QN = 16, SN = T5 == IG_TYPE_Q5_1 ? 8 : 6, U = 2, MINB = 6 };
    struct W { int4 q; uint32_t qh; float d, m; };
    static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int) {
        const uint8_t *s = S + b * SN;
        bool one = T5 == IG_TYPE_Q5_1;
        return {ld4(Q + b * QN), ld32_a2(s + (one ? 4 : 2)), h2f(ld16(s)), one ? h2f(ld16(s + 2)) : 0.0f};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int) {
        int4 x0 = ldx(xq + b * 32), x1 = ldx(xq + b * 32 + 16);
        uint32_t h = w.qh;
        int s = dp4((w.q.x & M4) | hb4(h), x0.x, 0);
        s = dp4((w.q.y & M4) | hb4(h >> 4), x0.y, s);
        s = dp4((w.q.z & M4) | hb4(h >> 8), x0.z, s);
        s = dp4((w.q.w & M4) | hb4(h >> 12), x0.w, s);
        s = dp4(((w.q.x >> 4) & M4) | hb4(h >> 16), x1.x, s);
        s = dp4(((w.q.y >> 4) & M4) | hb4(h >> 20), x1.y, s);
        s = dp4(((w.q.z >> 4) & M4) | hb4(h >> 24), x1.z, s);
        s = dp4(((w.q.w >> 4) & M4) | hb4(h >> 28), x1.w, s);
        float2 d8 = ds[b];
        if (T5 == IG_TYPE_Q5_1) return w.d * d8.x * (float)s + w.m * d8.y;
        return w.d * ((float)s * d8.x - 16.0f * d8.y);
    }
};
template <> struct mvq<IG_TYPE_Q5_0> : mvq5<IG_TYPE_Q5_0> {};
template <> struct mvq<IG_TYPE_Q5_1> : mvq5<IG_TYPE_Q5_1> {};

template <> struct mvq<IG_TYPE_Q8_0> {
    enum { QK = 32, TPB = 1, QN = 32, SN = 2, U = 2, MINB = 6 };
    struct W { int4 a, b; float d; };
    static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int) {
        return {ld4(Q + b * QN), ld4(Q + b * QN + 16), h2f(ld16(S + b * SN))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int) {
        int4 x0 = ldx(xq + b * 32), x1 = ldx(xq + b * 32 + 16);
        int s = dp4(w.a.x, x0.x, 0);
        s = dp4(w.a.y, x0.y, s);
        s = dp4(w.a.z, x0.z, s);
        s = dp4(w.a.w, x0.w, s);
        s = dp4(w.b.x, x1.x, s);
        s = dp4(w.b.y, x1.y, s);
        s = dp4(w.b.z, x1.z, s);
        s = dp4(w.b.w, x1.w, s);
        return w.d * ds[b].x * (float)s;
    }
};

static __device__ __forceinline__ int dot4(int4 v, int4 x, int acc) {
    return dp4(v.w, x.w, dp4(v.z, x.z, dp4(v.y, x.y, dp4(v.x, x.x, acc))));
}
static __device__ __forceinline__ int4 and_shift(int4 q, int sh, uint32_t mask) {
    return make_int4((q.x >> sh) & mask, (q.y >> sh) & mask, (q.z >> sh) & mask, (q.w >> sh) & mask);
}

/* Tasks of the 256-value k-quants: 4 per super-block. */
template <> struct mvq<IG_TYPE_Q2_K> {
    enum { QK = 256, TPB = 4, QN = 64, SN = 20, U = 1, MINB = 8 };
    struct W { int4 q; uint32_t sc; float d, dmin; };
    static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int t) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const uint8_t *s = S + b * SN, *sc = s + 8 * h + (l0 >> 4);
        uint32_t scs = sc[0] | (sc[2] << 8) | (sc[4] << 16) | ((uint32_t)sc[6] << 24);
        return {ld4(Q + b * QN + 32 * h + l0), scs, h2f(ld16(s + 16)), h2f(ld16(s + 18))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int t) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const int8_t *x = xq + b * 256 + 128 * h + l0;
        const float2 *d8 = ds + b * 8 + 4 * h;
        float a = 0.0f, m = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int4 xv = ldx(x + 32 * j);
            int si = dot4(and_shift(w.q, 2 * j, 0x03030303u), xv, 0);
            int sx = sum4(xv);
            uint32_t sc = (w.sc >> (8 * j)) & 0xFF;
            float df = d8[j].x;
            a += df * (float)(sc & 0xF) * (float)si;
            m += df * (float)(sc >> 4) * (float)sx;
        }
        return w.d * a - w.dmin * m;
    }
};

template <> struct mvq<IG_TYPE_Q3_K> {
    enum { QK = 256, TPB = 4, QN = 96, SN = 14, U = 1, MINB = 8 };
    struct W { int4 q, hm; int sc[4]; float d; };
    static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int t) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const uint8_t *s = S + b * SN;
        W w;
        w.q = ld4(Q + b * QN + 32 + 32 * h + l0);
        w.hm = ld4(Q + b * QN + l0);
#pragma unroll
        for (int j = 0; j < 4; j++) w.sc[j] = k3_scale(s, 8 * h + 2 * j + (l0 >> 4));
        w.d = h2f(ld16(s + 12));
        return w;
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int t) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const int8_t *x = xq + b * 256 + 128 * h + l0;
        const float2 *d8 = ds + b * 8 + 4 * h;
        float a = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int4 lo = and_shift(w.q, 2 * j, 0x03030303u);
            int4 hi = and_shift(w.hm, 4 * h + j, 0x01010101u);
            int4 v = make_int4(__vsub4(lo.x | (hi.x << 2), 0x04040404), __vsub4(lo.y | (hi.y << 2), 0x04040404),
                               __vsub4(lo.z | (hi.z << 2), 0x04040404), __vsub4(lo.w | (hi.w << 2), 0x04040404));
            a += d8[j].x * (float)w.sc[j] * (float)dot4(v, ldx(x + 32 * j), 0);
        }
        return w.d * a;
    }
};

template <int TK> struct mvq45 {
    enum { QK = 256, TPB = 4, QN = TK == IG_TYPE_Q5_K ? 176 : 144, SN = 0, U = 1, MINB = TK == IG_TYPE_Q5_K ? 6 : 8 };
    struct W { int4 q0, q1, h0, h1, hdr; };
    static __device__ W load(const uint8_t *Q, const uint8_t *, int b, int c) {
        const uint8_t *p = Q + (size_t)b * QN;
        W w;
        w.hdr = ld4(p);
        if (TK == IG_TYPE_Q5_K) {
            w.q0 = ld4(p + 48 + 32 * c);
            w.q1 = ld4(p + 64 + 32 * c);
            w.h0 = ld4(p + 16);
            w.h1 = ld4(p + 32);
        } else {
            w.q0 = ld4(p + 16 + 32 * c);
            w.q1 = ld4(p + 32 + 32 * c);
        }
        return w;
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int c) {
        const int8_t *x = xq + b * 256 + 64 * c;
        int4 lo0 = and_shift(w.q0, 0, M4), lo1 = and_shift(w.q1, 0, M4);
        int4 hi0 = and_shift(w.q0, 4, M4), hi1 = and_shift(w.q1, 4, M4);
        if (TK == IG_TYPE_Q5_K) {
            int4 a0 = and_shift(w.h0, 2 * c, 0x01010101u), a1 = and_shift(w.h1, 2 * c, 0x01010101u);
            int4 b0 = and_shift(w.h0, 2 * c + 1, 0x01010101u), b1 = and_shift(w.h1, 2 * c + 1, 0x01010101u);
            lo0 = make_int4(lo0.x | a0.x << 4, lo0.y | a0.y << 4, lo0.z | a0.z << 4, lo0.w | a0.w << 4);
            lo1 = make_int4(lo1.x | a1.x << 4, lo1.y | a1.y << 4, lo1.z | a1.z << 4, lo1.w | a1.w << 4);
            hi0 = make_int4(hi0.x | b0.x << 4, hi0.y | b0.y << 4, hi0.z | b0.z << 4, hi0.w | b0.w << 4);
            hi1 = make_int4(hi1.x | b1.x << 4, hi1.y | b1.y << 4, hi1.z | b1.z << 4, hi1.w | b1.w << 4);
        }
        int s1 = dot4(lo1, ldx(x + 16), dot4(lo0, ldx(x), 0));
        int s2 = dot4(hi1, ldx(x + 48), dot4(hi0, ldx(x + 32), 0));
        float sc1, m1, sc2, m2;
        k4_sm(w.hdr, 2 * c, &sc1, &m1);
        k4_sm(w.hdr, 2 * c + 1, &sc2, &m2);
        float2 d0 = ds[b * 8 + 2 * c], d1 = ds[b * 8 + 2 * c + 1];
        float d = h2f((uint16_t)(w.hdr.x & 0xFFFF)), dmin = h2f((uint16_t)((uint32_t)w.hdr.x >> 16));
        return d * (sc1 * d0.x * (float)s1 + sc2 * d1.x * (float)s2) - dmin * (m1 * d0.y + m2 * d1.y);
    }
};
template <> struct mvq<IG_TYPE_Q4_K> : mvq45<IG_TYPE_Q4_K> {};
template <> struct mvq<IG_TYPE_Q5_K> : mvq45<IG_TYPE_Q5_K> {};

template <> struct mvq<IG_TYPE_Q6_K> {
    enum { QK = 256, TPB = 4, QN = 192, SN = 18, U = 1, MINB = 8 };
    struct W { int4 a, b, h; uint32_t sc; float d; };
    static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int t) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const uint8_t *p = Q + (size_t)b * QN, *s = S + b * SN, *sc = s + 8 * h + (l0 >> 4);
        W w;
        w.a = ld4(p + 64 * h + l0);
        w.b = ld4(p + 64 * h + 32 + l0);
        w.h = ld4(p + 128 + 32 * h + l0);
        w.sc = sc[0] | (sc[2] << 8) | (sc[4] << 16) | ((uint32_t)sc[6] << 24);
        w.d = h2f(ld16(s + 16));
        return w;
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int t) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const int8_t *x = xq + b * 256 + 128 * h + l0;
        const float2 *d8 = ds + b * 8 + 4 * h;
        float a = 0.0f;
#pragma unroll
        for (int g = 0; g < 4; g++) {
            int4 lo = and_shift((g & 1) ? w.b : w.a, 4 * (g >> 1), M4);
            int4 hi = and_shift(w.h, 2 * g, 0x03030303u);
            int4 v = make_int4(__vsub4(lo.x | (hi.x << 4), 0x20202020), __vsub4(lo.y | (hi.y << 4), 0x20202020),
                               __vsub4(lo.z | (hi.z << 4), 0x20202020), __vsub4(lo.w | (hi.w << 4), 0x20202020));
            int sc = (int8_t)((w.sc >> (8 * g)) & 0xFF);
            a += d8[g].x * (float)sc * (float)dot4(v, ldx(x + 32 * g), 0);
        }
        return w.d * a;
    }
};

/* ---- kernels ---------------------------------------------------------- */

typedef struct mv_params {
    mv_desc d[MV_MAXDESC];
    int nd, cols, n;
    const int8_t *xq;
    const float2 *ds;
    const float *x;
} mv_params;

#define MV_WARPS 4
/* MINB: CTAs per SM asked of the compiler for one token. At 8 (32 warps,
 * <= 64 registers) a 4096-row matrix is resident in one wave instead of
 * the 1.1-1.5 waves the compiler's 72-96 registers gave; types with wider
 * weight registers take 6 to avoid spills. */

static __device__ __forceinline__ const mv_desc *mv_pick(const mv_params &p, int *row) {
    int di = 0;
#pragma unroll
    for (int k = 1; k < MV_MAXDESC; k++)
        if (k < p.nd && (int)blockIdx.x >= p.d[k].blk_start) di = k;
    const mv_desc *d = &p.d[di];
    *row = ((int)blockIdx.x - d->blk_start) * MV_WARPS + (int)(threadIdx.x >> 5);
    return d;
}

template <int NC>
static __device__ __forceinline__ void mv_store(const mv_desc *d, int row, int n, float *acc) {
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = warp_sum(acc[c]);
    if (lane < NC && lane < n) {
        float v = 0.0f;
#pragma unroll
        for (int c = 0; c < NC; c++)
            if (c == lane) v = acc[c];
        if (d->bias) v += d->bias[row];
        size_t o = (size_t)lane * d->rows + row;
        d->out[o] = v;
        if (d->out2) d->out2[o] = d->res[o] + v;
    }
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
        if (t < ntask) w[u] = Q::load(Qr, Sr, t / Q::TPB, t % Q::TPB);
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
                    acc[c] += Q::dot(w[u], p.xq + (size_t)c * qs, p.ds + (size_t)c * dss, t / Q::TPB, t % Q::TPB);
        }
    }
}

template <int T, int NC>
static __global__ void __launch_bounds__(MV_WARPS * 32, NC == 1 ? mvq<T>::MINB : 4) k_mv_q(const mv_params p) {
    typedef mvq<T> Q;
    pdl_trigger();
    int row;
    const mv_desc *d = mv_pick(p, &row);
    if (row >= d->rows) return;
    const int lane = threadIdx.x & 31, nb = p.cols / Q::QK, ntask = nb * Q::TPB;
    const uint8_t *Qr = d->q + (size_t)row * nb * Q::QN, *Sr = d->s + (size_t)row * nb * Q::SN;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    typename Q::W wa[Q::U], wb[Q::U];
    mv_load<T, NC>(wa, Qr, Sr, lane, ntask);
    pdl_wait();
    for (int t0 = lane; t0 < ntask; t0 += 64 * Q::U) {
        mv_load<T, NC>(wb, Qr, Sr, t0 + 32 * Q::U, ntask);
        mv_dot<T, NC>(wa, p, t0, ntask, acc);
        mv_load<T, NC>(wa, Qr, Sr, t0 + 64 * Q::U, ntask);
        mv_dot<T, NC>(wb, p, t0 + 32 * Q::U, ntask, acc);
    }
    mv_store<NC>(d, row, p.n, acc);
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
    int row;
    const mv_desc *d = mv_pick(p, &row);
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
    mv_store<NC>(d, row, p.n, acc);
}

#define MVL(K) cu_launch(c, K, g, b, 0, p)
template <int NC> static void mv_dispatch(cuda_ctx *c, uint32_t type, const mv_params &p, int grid) {
    dim3 g(grid), b(MV_WARPS * 32);
    switch (type) {
    case IG_TYPE_F32: MVL((k_mv_f<IG_TYPE_F32, NC>)); break;
    case IG_TYPE_F16: MVL((k_mv_f<IG_TYPE_F16, NC>)); break;
    case IG_TYPE_BF16: MVL((k_mv_f<IG_TYPE_BF16, NC>)); break;
    case IG_TYPE_Q4_0: MVL((k_mv_q<IG_TYPE_Q4_0, NC>)); break;
    case IG_TYPE_Q4_1: MVL((k_mv_q<IG_TYPE_Q4_1, NC>)); break;
    case IG_TYPE_Q5_0: MVL((k_mv_q<IG_TYPE_Q5_0, NC>)); break;
    case IG_TYPE_Q5_1: MVL((k_mv_q<IG_TYPE_Q5_1, NC>)); break;
    case IG_TYPE_Q8_0: MVL((k_mv_q<IG_TYPE_Q8_0, NC>)); break;
    case IG_TYPE_Q2_K: MVL((k_mv_q<IG_TYPE_Q2_K, NC>)); break;
    case IG_TYPE_Q3_K: MVL((k_mv_q<IG_TYPE_Q3_K, NC>)); break;
    case IG_TYPE_Q4_K: MVL((k_mv_q<IG_TYPE_Q4_K, NC>)); break;
    case IG_TYPE_Q5_K: MVL((k_mv_q<IG_TYPE_Q5_K, NC>)); break;
    case IG_TYPE_Q6_K: MVL((k_mv_q<IG_TYPE_Q6_K, NC>)); break;
    default: cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, "matmul: weight type"); return;
    }
}

static bool is_float_type(uint32_t t) {
    return t == IG_TYPE_F32 || t == IG_TYPE_F16 || t == IG_TYPE_BF16;
}

void cu_mv_launch(cuda_ctx *c, const mv_batch *b) {
    mv_params p;
    memset(&p, 0, sizeof p);
    p.nd = b->nd;
    p.cols = b->cols;
    p.n = b->n;
    p.x = b->x;
    if (!is_float_type(b->type)) {
        cu_quantize_q8(c, b->x, b->n, b->cols);
        void *buf = c->scr[SCR_Q8].p;
        if (!buf) return;
        p.xq = (const int8_t *)buf;
        p.ds = q8_ds(buf, b->n, b->cols);
    }
    int grid = 0;
    for (int i = 0; i < b->nd; i++) {
        p.d[i] = b->d[i];
        p.d[i].blk_start = grid;
        grid += (b->d[i].rows + MV_WARPS - 1) / MV_WARPS;
    }
    if (grid == 0) return;
    if (b->n <= 1) mv_dispatch<1>(c, b->type, p, grid);
    else if (b->n <= 2) mv_dispatch<2>(c, b->type, p, grid);
    else if (b->n <= 4) mv_dispatch<4>(c, b->type, p, grid);
    else mv_dispatch<8>(c, b->type, p, grid);
}

/* ---- weight repacking (upload) ---------------------------------------- */

static __global__ void k_repack(uint8_t *__restrict__ dq, uint8_t *__restrict__ dsp,
                                const uint8_t *__restrict__ src, size_t blk0, size_t nblk, int bs, int qo,
                                int qn) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nblk) return;
    const uint8_t *s = src + i * bs;
    uint8_t *q = dq + (blk0 + i) * qn, *o = dsp + (blk0 + i) * (bs - qn);
    for (int k = 0; k < qn; k++) q[k] = s[qo + k];
    int j = 0;
    for (int k = 0; k < qo; k++) o[j++] = s[k];
    for (int k = qo + qn; k < bs; k++) o[j++] = s[k];
}

void cu_repack(cuda_ctx *c, uint8_t *dq, uint8_t *ds, const uint8_t *src, size_t blk0, size_t nblk,
               qlayout L) {
    if (!nblk) return;
    k_repack<<<(unsigned)((nblk + 255) / 256), 256, 0, c->stream>>>(dq, ds, src, blk0, nblk, L.bs, L.qo, L.qn);
    CU_LAUNCHED(c);
}
