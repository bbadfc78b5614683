/* Per-type dot products of the decode matrix-vector kernels (matvec.cu)
 * and of the decode megakernel (mega.cu): a row's blocks are cut into
 * "tasks" (TPB per block); a lane loads a task's weights once (load: from
 * global memory, or load<false> from shared memory) and dots them with
 * one token's q8_1 activations (dot). */
#ifndef INGOT_CUDA_MVQ_CUH
#define INGOT_CUDA_MVQ_CUH

#include "common.cuh"

#define M4 0x0F0F0F0Fu

/* Bytes of one row's S part (common.cuh: padded to 16). */
static __host__ __device__ __forceinline__ size_t s_row(int nb, int sn) { return ((size_t)nb * sn + 15) & ~(size_t)15; }

/* 16 bytes of weights. G (global memory): read once per token, so loaded
 * "streaming" (evict-first), likely keeping the activations every warp
 * reads in L1: +0.6% tg128 on H100. L1::evict_first alone measured the
 * same, L2 evict-first with L1 normal -1.8%, L1::no_allocate -2%
 * (bench/cuda/NOTES.md v12). Shared memory (k_mv_s): a plain load. */
template <bool G> static __device__ __forceinline__ int4 ldw(const uint8_t *p) {
    if (G) return __ldcs((const int4 *)p);
    return *(const int4 *)p;
}
static __device__ __forceinline__ int4 ldx(const int8_t *p) { return *(const int4 *)p; }
static __device__ __forceinline__ int dp4(int a, int b, int c) { return __dp4a(a, b, c); }
/* dp4a of unsigned bytes (a) and signed bytes (b). */
static __device__ __forceinline__ int dp4us(uint32_t a, int b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}
static __device__ __forceinline__ int sum4(int4 x) {
    return dp4(0x01010101, x.w, dp4(0x01010101, x.z, dp4(0x01010101, x.y, dp4(0x01010101, x.x, 0))));
}
/* A byte value as a float without an I2F (a quarter-rate conversion on
 * sm_80/90): its bits as the mantissa of 2^23, less 2^23. Exact for
 * 0 <= v < 2^23. */
static __device__ __forceinline__ float u8f(uint32_t v) { return __uint_as_float(0x4B000000u | v) - 8388608.0f; }
/* Four bits to bit 4 of each of four bytes. */
static __device__ __forceinline__ int hb4(uint32_t n) {
    return (int)(((n & 0xF) * 0x00204081u) & 0x01010101u) << 4;
}
/* q4_K/q5_K scales and mins of sub-blocks 2c and 2c+1 (bytes 0 and 1 of
 * *sc / *m) from the header's words 1..3: whole-word masks instead of
 * per-byte selects (the 6-bit fields of sub-blocks 4..7 are split). */
static __device__ __forceinline__ void k4_sm2(int4 h, int c, uint32_t *sc, uint32_t *m) {
    const uint32_t sh = 16 * (c & 1);
    const uint32_t y = (uint32_t)h.y >> sh, z = (uint32_t)h.z >> sh, w = (uint32_t)h.w >> sh;
    if (c < 2) {
        *sc = y & 0x3F3F;
        *m = z & 0x3F3F;
    } else {
        *sc = (w & 0x0F0F) | ((y & 0xC0C0) >> 2);
        *m = ((w >> 4) & 0x0F0F) | ((z & 0xC0C0) >> 2);
    }
}

/* One 32-value block of 4-bit quants (low nibbles values 0..15, high
 * nibbles 16..31; Q5: bit 4 of each from h) dotted with one q8_1 block in
 * 8 dp4a. */
template <bool Q5>
static __device__ __forceinline__ int dot_nib(int4 q, uint32_t h, int4 x0, int4 x1) {
    int s = dp4((q.x & M4) | (Q5 ? hb4(h) : 0), x0.x, 0);
    s = dp4((q.y & M4) | (Q5 ? hb4(h >> 4) : 0), x0.y, s);
    s = dp4((q.z & M4) | (Q5 ? hb4(h >> 8) : 0), x0.z, s);
    s = dp4((q.w & M4) | (Q5 ? hb4(h >> 12) : 0), x0.w, s);
    s = dp4(((q.x >> 4) & M4) | (Q5 ? hb4(h >> 16) : 0), x1.x, s);
    s = dp4(((q.y >> 4) & M4) | (Q5 ? hb4(h >> 20) : 0), x1.y, s);
    s = dp4(((q.z >> 4) & M4) | (Q5 ? hb4(h >> 24) : 0), x1.z, s);
    s = dp4(((q.w >> 4) & M4) | (Q5 ? hb4(h >> 28) : 0), x1.w, s);
    return s;
}

static __device__ __forceinline__ int dot4(int4 v, int4 x, int acc) {
    return dp4(v.w, x.w, dp4(v.z, x.z, dp4(v.y, x.y, dp4(v.x, x.x, acc))));
}
/* The same with v's bytes unsigned (dp4us). */
static __device__ __forceinline__ int dot4us(int4 v, int4 x, int acc) {
    return dp4us(v.w, x.w, dp4us(v.z, x.z, dp4us(v.y, x.y, dp4us(v.x, x.x, acc))));
}
static __device__ __forceinline__ int4 and_shift(int4 q, int sh, uint32_t mask) {
    return make_int4((q.x >> sh) & mask, (q.y >> sh) & mask, (q.z >> sh) & mask, (q.w >> sh) & mask);
}

/* Two 16-byte activation pieces and two q8_1 scales (global or shared
 * memory) requested together: left to itself the compiler issued the
 * scales only after the pieces' dot products at q4_0's 56 registers, a
 * second L1 round trip per task (-7% tg128, NOTES v20). Volatile: it must
 * stay after pdl_wait(). */
static __device__ __forceinline__ void ld_x2d2(const int8_t *a, const int8_t *b, const float *pa, const float *pb,
                                               int4 *xa, int4 *xb, float *da, float *db) {
    asm volatile("ld.v4.s32 {%0, %1, %2, %3}, [%10];\n\t"
                 "ld.v4.s32 {%4, %5, %6, %7}, [%11];\n\t"
                 "ld.f32 %8, [%12];\n\t"
                 "ld.f32 %9, [%13];"
                 : "=r"(xa->x), "=r"(xa->y), "=r"(xa->z), "=r"(xa->w), "=r"(xb->x), "=r"(xb->y), "=r"(xb->z),
                   "=r"(xb->w), "=f"(*da), "=f"(*db)
                 : "l"(a), "l"(b), "l"(pa), "l"(pb));
}

/* Four 16-byte activation pieces st bytes apart and two q8_1 scale pairs,
 * requested together (as ld_x2d2). */
static __device__ __forceinline__ void ld_x4d4(const int8_t *a, unsigned st, const float2 *pd, int4 *x0, int4 *x1,
                                               int4 *x2, int4 *x3, float4 *d) {
    asm volatile("ld.v4.s32 {%0, %1, %2, %3}, [%20];\n\t"
                 "ld.v4.s32 {%4, %5, %6, %7}, [%21];\n\t"
                 "ld.v4.s32 {%8, %9, %10, %11}, [%22];\n\t"
                 "ld.v4.s32 {%12, %13, %14, %15}, [%23];\n\t"
                 "ld.v4.f32 {%16, %17, %18, %19}, [%24];"
                 : "=r"(x0->x), "=r"(x0->y), "=r"(x0->z), "=r"(x0->w), "=r"(x1->x), "=r"(x1->y), "=r"(x1->z),
                   "=r"(x1->w), "=r"(x2->x), "=r"(x2->y), "=r"(x2->z), "=r"(x2->w), "=r"(x3->x), "=r"(x3->y),
                   "=r"(x3->z), "=r"(x3->w), "=f"(d->x), "=f"(d->y), "=f"(d->z), "=f"(d->w)
                 : "l"(a), "l"(a + st), "l"(a + 2 * st), "l"(a + 3 * st), "l"(pd));
}

/* The high nibbles of a's bytes as signed bytes 16 (u - 8): (a & 0xF0..)
 * ^ s8 with s8 = 0x80808080 in a register, so one LOP3 (the compiler's
 * own form took two: one immediate per instruction). */
static __device__ __forceinline__ int hi_s16(uint32_t a, uint32_t s8) {
    uint32_t d;
    asm("lop3.b32 %0, %1, 0xF0F0F0F0, %2, 0x6A;" : "=r"(d) : "r"(a), "r"(s8));
    return (int)d;
}

template <int T> struct mvq;

/* q4_0 in rows of an even number of blocks, as the GPU keeps them
 * (common.cuh, q40_reordered): task b's 16 bytes hold half-blocks b and
 * nb + b, whose activations are 16-byte pieces contiguous across the
 * warp, so each activation load is 512 contiguous bytes (4 L1 wavefronts)
 * instead of 1 KB at a 32-byte stride (8); the two weight scales are one
 * 4-byte load. The nibbles become signed bytes 16 (u - 8) in place, so no
 * q8_1 sum term (whose block the task shares with another) is needed, and
 * the 16 comes off at the end. `ingot bench` tg128 595.7 against 581.2
 * t/s in the file's order on H100 (NOTES v20). MINB 9: nine CTAs per SM
 * at 56 registers with both register sets' loads in flight. */
template <> struct mvq<IG_TYPE_Q4_0> {
    enum { QK = 32, TPB = 1, QN = 16, SN = 2, U = 2, MINB = 9 };
    struct W { int4 q; uint32_t d2; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int, int) {
        return {ldw<G>(Q + b * QN), *(const uint32_t *)(S + (b & ~1) * SN)};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int, int nb, xkv) {
        int4 xa, xb;
        float da, db;
        ld_x2d2(xq + 16 * b, xq + 16 * (nb + b), &ds[b >> 1].x, &ds[(nb >> 1) + (b >> 1)].x, &xa, &xb, &da, &db);
        const uint32_t s8 = 0x80808080u;
        int sa = dp4(hi_s16((uint32_t)w.q.x << 4, s8), xa.x, 0);
        sa = dp4(hi_s16((uint32_t)w.q.y << 4, s8), xa.y, sa);
        sa = dp4(hi_s16((uint32_t)w.q.z << 4, s8), xa.z, sa);
        sa = dp4(hi_s16((uint32_t)w.q.w << 4, s8), xa.w, sa);
        int sb = dp4(hi_s16((uint32_t)w.q.x, s8), xb.x, 0);
        sb = dp4(hi_s16((uint32_t)w.q.y, s8), xb.y, sb);
        sb = dp4(hi_s16((uint32_t)w.q.z, s8), xb.z, sb);
        sb = dp4(hi_s16((uint32_t)w.q.w, s8), xb.w, sb);
        const float2 d = __half22float2(*(const __half2 *)&w.d2);
        return 0.0625f * (d.x * da * (float)sa + d.y * db * (float)sb);
    }
};

/* q4_0 rows of an odd number of blocks, in the file's order: a task is a
 * block, dotted with 8 dp4a against its 32 activations. */
template <> struct mvq<CU_Q40F> {
    enum { QK = 32, TPB = 1, QN = 16, SN = 2, U = 2, MINB = 9 };
    struct W { int4 q; float d; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int, int) {
        return {ldw<G>(Q + b * QN), h2f(ld16(S + b * SN))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int, int, xkv) {
        const int s = dot_nib<false>(w.q, 0, ldx(xq + b * 32), ldx(xq + b * 32 + 16));
        float2 d8 = ds[b];
        return w.d * ((float)s * d8.x - 8.0f * d8.y);
    }
};

template <> struct mvq<IG_TYPE_Q4_1> {
    enum { QK = 32, TPB = 1, QN = 16, SN = 4, U = 2, MINB = 8 };
    struct W { int4 q; float d, m; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int, int) {
        return {ldw<G>(Q + b * QN), h2f(ld16(S + b * SN)), h2f(ld16(S + b * SN + 2))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int, int, xkv) {
        const int s = dot_nib<false>(w.q, 0, ldx(xq + b * 32), ldx(xq + b * 32 + 16));
        float2 d8 = ds[b];
        return w.d * d8.x * (float)s + w.m * d8.y;
    }
};

template <int T5> struct mvq5 {
    enum { QK = 32, TPB = 1, QN = 16, SN = T5 == IG_TYPE_Q5_1 ? 8 : 6, U = 2, MINB = 6 };
    struct W { int4 q; uint32_t qh; float d, m; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int, int) {
        const uint8_t *s = S + b * SN;
        bool one = T5 == IG_TYPE_Q5_1;
        return {ldw<G>(Q + b * QN), ld32_a2(s + (one ? 4 : 2)), h2f(ld16(s)), one ? h2f(ld16(s + 2)) : 0.0f};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int, int, xkv) {
        const int s = dot_nib<true>(w.q, w.qh, ldx(xq + b * 32), ldx(xq + b * 32 + 16));
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
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int, int) {
        return {ldw<G>(Q + b * QN), ldw<G>(Q + b * QN + 16), h2f(ld16(S + b * SN))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int, int, xkv) {
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

/* Tasks of the 256-value k-quants: 4 per super-block. */
template <> struct mvq<IG_TYPE_Q2_K> {
    enum { QK = 256, TPB = 4, QN = 64, SN = 20, U = 1, MINB = 8 };
    struct W { int4 q; uint32_t sc; float d, dmin; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int t, int) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const uint8_t *s = S + b * SN, *sc = s + 8 * h + (l0 >> 4);
        uint32_t scs = sc[0] | (sc[2] << 8) | (sc[4] << 16) | ((uint32_t)sc[6] << 24);
        return {ldw<G>(Q + b * QN + 32 * h + l0), scs, h2f(ld16(s + 16)), h2f(ld16(s + 18))};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int t, int, xkv xv) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const unsigned v0 = b * 256 + 128 * h + l0;
        const float2 *d8 = ds + b * 8 + 4 * h;
        float a = 0.0f, m = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int4 xa = ldx(xq + xk_off(v0 + 32 * j, xv));
            int si = dot4(and_shift(w.q, 2 * j, 0x03030303u), xa, 0);
            int sx = sum4(xa);
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
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int t, int) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const uint8_t *s = S + b * SN;
        W w;
        w.q = ldw<G>(Q + b * QN + 32 + 32 * h + l0);
        w.hm = ldw<G>(Q + b * QN + l0);
#pragma unroll
        for (int j = 0; j < 4; j++) w.sc[j] = k3_scale(s, 8 * h + 2 * j + (l0 >> 4));
        w.d = h2f(ld16(s + 12));
        return w;
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int t, int, xkv xv) {
        int h = t >> 1, l0 = (t & 1) * 16;
        const unsigned v0 = b * 256 + 128 * h + l0;
        const float2 *d8 = ds + b * 8 + 4 * h;
        float a = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int4 lo = and_shift(w.q, 2 * j, 0x03030303u);
            int4 hi = and_shift(w.hm, 4 * h + j, 0x01010101u);
            int4 v = make_int4(__vsub4(lo.x | (hi.x << 2), 0x04040404), __vsub4(lo.y | (hi.y << 2), 0x04040404),
                               __vsub4(lo.z | (hi.z << 2), 0x04040404), __vsub4(lo.w | (hi.w << 2), 0x04040404));
            a += d8[j].x * (float)w.sc[j] * (float)dot4(v, ldx(xq + xk_off(v0 + 32 * j, xv)), 0);
        }
        return w.d * a;
    }
};

template <int TK> struct mvq45 {
    enum { QK = 256, TPB = 4, QN = TK == IG_TYPE_Q5_K ? 176 : 144, SN = 0, U = 1, MINB = TK == IG_TYPE_Q5_K ? 6 : 8 };
    struct W { int4 q0, q1, h0, h1, hdr; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *, int b, int c, int) {
        const uint8_t *p = Q + (size_t)b * QN;
        W w;
        w.hdr = ldw<G>(p);
        if (TK == IG_TYPE_Q5_K) {
            w.q0 = ldw<G>(p + 48 + 32 * c);
            w.q1 = ldw<G>(p + 64 + 32 * c);
            w.h0 = ldw<G>(p + 16);
            w.h1 = ldw<G>(p + 32);
        } else {
            w.q0 = ldw<G>(p + 16 + 32 * c);
            w.q1 = ldw<G>(p + 32 + 32 * c);
        }
        return w;
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int c, int, xkv xv) {
        unsigned st;
        const int8_t *x = xq + xk_unit(4 * b + c, xv, &st);
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
        int s1 = dot4(lo1, ldx(x + st), dot4(lo0, ldx(x), 0));
        int s2 = dot4(hi1, ldx(x + 3 * st), dot4(hi0, ldx(x + 2 * st), 0));
        uint32_t sc, mn;
        k4_sm2(w.hdr, c, &sc, &mn);
        float sc1 = (float)(sc & 0xFF), sc2 = (float)(sc >> 8), m1 = (float)(mn & 0xFF), m2 = (float)(mn >> 8);
        float2 d0 = ds[b * 8 + 2 * c], d1 = ds[b * 8 + 2 * c + 1];
        float2 dm = __half22float2(*(const __half2 *)&w.hdr.x);
        return dm.x * (sc1 * d0.x * (float)s1 + sc2 * d1.x * (float)s2) - dm.y * (m1 * d0.y + m2 * d1.y);
    }
};
template <> struct mvq<IG_TYPE_Q5_K> : mvq45<IG_TYPE_Q5_K> {};

/* Q part: qs[128] in task order (common.cuh, ku_pos); S part: d, dmin,
 * then the 12 scale bytes repacked at upload (k4_pack). A task is one
 * sub-block pair c (64 values, two 16-byte loads that are contiguous
 * across the warp), so the header load, the pair's scale extraction and
 * the conversions serve 64 values instead of 32 (~100 instructions per
 * 64 values against ~156 for v20's 16-byte tasks). Its four activation
 * loads are contiguous across the warp in k order (xk_pos); in the natural
 * order they touch 16 L1 lines each, which cost more than the
 * instructions saved (Q4_K_M tg128 -5.5%; in k order, with q6_K's units,
 * +3.5%: bench/cuda/NOTES.md v21). A lane's c is the same for all its
 * tasks (t = lane % 4, mv_sub), so the byte selectors stay out of the
 * loops. The high nibbles are dotted in place (16x, unsigned bytes)
 * instead of shifted. */
template <> struct mvq<IG_TYPE_Q4_K> {
    enum { QK = 256, TPB = 4, QN = 128, SN = 16, U = 1, MINB = 8 };
    struct W { int4 q0, q1, hdr; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int c, int nb) {
        /* ku_pos(4b + c, h, nb, 32), spelled so that c and the group's size
         * (32 but in a row's last group) cost little */
        const int g0 = (4 * b) & ~31, gs = 4 * nb - g0 < 32 ? 4 * nb - g0 : 32;
        const uint8_t *p = Q + (128 * (size_t)b - 64 * (b & 7) + 16 * c);
        return {ldw<G>(p), ldw<G>(p + 16 * gs), ldw<G>(S + (size_t)b * SN)};
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int c, int, xkv xv) {
        int4 x0, x1, x2, x3;
        float4 dd; /* both sub-blocks' q8_1 d, d*sum */
        unsigned st;
        const unsigned o = xk_unit(4 * b + c, xv, &st);
        ld_x4d4(xq + o, st, ds + 2 * (4 * (unsigned)b + c), &x0, &x1, &x2, &x3, &dd);
        const int s1 = dot4(and_shift(w.q1, 0, M4), x1, dot4(and_shift(w.q0, 0, M4), x0, 0));
        const int s2 = dot4us(and_shift(w.q1, 0, ~M4), x3, dot4us(and_shift(w.q0, 0, ~M4), x2, 0)); /* 16x */
        const uint32_t v = k4_pair(w.hdr.y, w.hdr.z, w.hdr.w, c);
        const float2 dm = __half22float2(*(const __half2 *)&w.hdr.x);
        const float r = dm.x * (dd.x * (float)(s1 * (int)(v & 63)) + dd.z * (float)((s2 >> 4) * (int)((v >> 6) & 63)));
        return r - dm.y * (u8f((v >> 12) & 63) * dd.y + u8f((v >> 18) & 63) * dd.w);
    }
};

/* Q part: per super-block four 64-value units of 48 bytes (common.cuh,
 * ku_pos, k6_unit: nibbles, then high bits), a task each; S part: the
 * file's 16 scales (value order: a unit's four are adjacent) and d. As q4_K, a
 * warp's weight loads and, in k order, its activation loads are
 * contiguous, and the scale work serves 64 values. The 6-bit values are
 * dotted unsigned; their offset of 32 as dp4a with bytes of -32 (cheaper
 * than a per-byte subtraction). */
template <> struct mvq<IG_TYPE_Q6_K> {
    enum { QK = 256, TPB = 4, QN = 192, SN = 18, U = 1, MINB = 8 };
    struct W { int4 lo, hi, hb; uint32_t sc, d; };
    template <bool G = true> static __device__ W load(const uint8_t *Q, const uint8_t *S, int b, int c, int nb) {
        /* ku_pos(4b + c, h, nb, 48), spelled as q4_K's */
        const int g0 = (4 * b) & ~31, gs = 4 * nb - g0 < 32 ? 4 * nb - g0 : 32;
        const uint8_t *p = Q + (192 * (size_t)b - 128 * (b & 7) + 16 * c), *s = S + (size_t)b * SN;
        return {ldw<G>(p), ldw<G>(p + 16 * gs), ldw<G>(p + 32 * gs), ld32_a2(s + 4 * c), ld16(s + 16)};
    }
    /* Piece k (values 16k..) of the unit, word w: nibbles from lo / hi
     * (k = 0, 2 / 1, 3: low / high nibbles), the high bits from hb. */
    template <int K>
    static __device__ __forceinline__ int piece(const W &w, int4 x) {
        const int4 n = K & 1 ? w.hi : w.lo;
        const uint32_t m[4] = {(uint32_t)n.x, (uint32_t)n.y, (uint32_t)n.z, (uint32_t)n.w},
                       h[4] = {(uint32_t)w.hb.x, (uint32_t)w.hb.y, (uint32_t)w.hb.z, (uint32_t)w.hb.w};
        const int xs[4] = {x.x, x.y, x.z, x.w};
        int s = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const uint32_t nib = (K >> 1 ? m[i] >> 4 : m[i]) & M4;
            const uint32_t hb = (K < 2 ? h[i] << (4 - 2 * K) : h[i] >> (2 * K - 4)) & 0x30303030u;
            s = dp4(0xE0E0E0E0, xs[i], dp4us(nib | hb, xs[i], s));
        }
        return s;
    }
    static __device__ float dot(const W &w, const int8_t *xq, const float2 *ds, int b, int c, int, xkv xv) {
        int4 x0, x1, x2, x3;
        float4 dd; /* both 32-blocks' q8_1 d, d*sum */
        unsigned st;
        const unsigned o = xk_unit(4 * b + c, xv, &st);
        ld_x4d4(xq + o, st, ds + 2 * (4 * (unsigned)b + c), &x0, &x1, &x2, &x3, &dd);
        const int s0 = piece<0>(w, x0), s1 = piece<1>(w, x1), s2 = piece<2>(w, x2), s3 = piece<3>(w, x3);
        const int sc = (int)w.sc;
        const int a = s0 * (sc << 24 >> 24) + s1 * (sc << 16 >> 24), bb = s2 * (sc << 8 >> 24) + s3 * (sc >> 24);
        return h2f((uint16_t)w.d) * (dd.x * (float)a + dd.z * (float)bb);
    }
};

/* q8_1 of four consecutive values per lane, 8 lanes (8k..8k+7) = one
 * 32-block starting at value index i - 4*(lane&7). Same numbers as q8_put:
 * the max is exact in any order and the sum adds small integers. All 32
 * lanes call (ok=false lanes contribute nothing, store nothing). */
static __device__ __forceinline__ void q8_put4(float4 v, bool ok, int8_t *xq, float2 *ds, size_t i, int xc) {
    float amax = ok ? fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w))) : 0.0f;
#pragma unroll
    for (int o = 4; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = amax / 127.0f, id = q8_id(amax);
    const int q0 = q8_q(v.x, id), q1 = q8_q(v.y, id), q2 = q8_q(v.z, id), q3 = q8_q(v.w, id);
    float qs = ok ? (float)(q0 + q1 + q2 + q3) : 0.0f;
#pragma unroll
    for (int o = 4; o > 0; o >>= 1) qs += __shfl_xor_sync(0xffffffffu, qs, o);
    if (ok) {
        *(char4 *)(xq + xk_pos(i, xc)) = make_char4((signed char)q0, (signed char)q1, (signed char)q2, (signed char)q3);
        if ((threadIdx.x & 7) == 0) ds[i / 32] = make_float2(d, d * qs);
    }
}

#endif
