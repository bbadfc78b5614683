/* NEON kernels (arm64).
 *
 * Baseline ARMv8 NEON only, so the binary runs on any arm64 CPU: 8-bit
 * dot products use vdotq_s32 when the compiler targets the dot-product
 * extension (-march=armv8.2-a+dotprod, Apple silicon) and widening
 * multiplies with pairwise accumulation otherwise; both give the exact
 * integer sum of a block. Blocks are then scaled and summed in the same
 * order as the plain C reference, so this set's results equal the
 * reference's bit for bit (the file layout is used as is; no repacking). */
#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "core/util.h"
#include "kernels.h"

#define PF(p) __builtin_prefetch((const char *)(p) + 1024)

static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, p0), p1);
#endif
}

/* exact integer dot of 32 bytes */
static inline int dot32(int8x16_t a0, int8x16_t a1, const int8_t *y) {
    const int32x4_t z = vdupq_n_s32(0);
    return vaddvq_s32(dot16(dot16(z, a0, vld1q_s8(y)), a1, vld1q_s8(y + 16)));
}

static inline float f16f(uint16_t h) { return ig_f16_to_f32(h); }

/* ---- activation formats ---- */

static void quant_q8a(const float *x, void *vy, int64_t k) {
    cpu_q8a *y = vy;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(x + 4 * j);
            m = vmaxq_f32(m, vabsq_f32(v[j]));
        }
        const float amax = vmaxvq_f32(m);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int32x4_t sum = vdupq_n_s32(0);
        int16x8_t h[4];
        for (int j = 0; j < 8; j += 2) {
            float32x4_t a = vmulq_n_f32(v[j], id), b = vmulq_n_f32(v[j + 1], id);
            a = vminq_f32(vmaxq_f32(a, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
            b = vminq_f32(vmaxq_f32(b, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
            const int32x4_t ia = vcvtnq_s32_f32(a), ib = vcvtnq_s32_f32(b); /* nearest, ties to even */
            sum = vaddq_s32(sum, vaddq_s32(ia, ib));
            h[j / 2] = vcombine_s16(vmovn_s32(ia), vmovn_s32(ib));
        }
        vst1q_s8(y[i].qs, vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1])));
        vst1q_s8(y[i].qs + 16, vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3])));
        const int s = vaddvq_s32(sum);
        y[i].sum = s;
        y[i].d = ig_f16_to_f32(ig_f32_to_f16(d));
        y[i].s = ig_f16_to_f32(ig_f32_to_f16(d * (float)s));
    }
}

static void quant_f16(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < k; i++) y[i] = ig_f32_to_f16(x[i]);
}

static void quant_bf16(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < k; i++) y[i] = ig_f32_to_bf16(x[i]);
}

static void quant_f32(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * 4); }

/* ---- row dots ---- */

static float dot_f32(int64_t k, const void *w, const void *a) {
    const float *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
        s1 = vfmaq_f32(s1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < k; i++) s += x[i] * y[i];
    return s;
}

static inline float32x4_t ldh4(const uint16_t *p) {
    uint16_t t[4];
    memcpy(t, p, 8); /* rows of a GGUF tensor may be only 2-byte aligned */
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(t)));
}

static inline float32x4_t ldbf4(const uint16_t *p) {
    uint16_t t[4];
    memcpy(t, p, 8);
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(t), 16));
}

static float dot_f16(int64_t k, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        s0 = vfmaq_f32(s0, ldh4(x + i), ldh4(y + i));
        s1 = vfmaq_f32(s1, ldh4(x + i + 4), ldh4(y + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < k; i++) {
        uint16_t hx, hy;
        memcpy(&hx, x + i, 2);
        memcpy(&hy, y + i, 2);
        s += f16f(hx) * f16f(hy);
    }
    return s;
}

static float dot_bf16(int64_t k, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        s0 = vfmaq_f32(s0, ldbf4(x + i), ldbf4(y + i));
        s1 = vfmaq_f32(s1, ldbf4(x + i + 4), ldbf4(y + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < k; i++) {
        uint16_t hx, hy;
        memcpy(&hx, x + i, 2);
        memcpy(&hy, y + i, 2);
        s += ig_bf16_to_f32(hx) * ig_bf16_to_f32(hy);
    }
    return s;
}

/* 32 bits -> 32 bytes, 0x10 where the bit is set (Q5 fifth bits) */
static inline void fifth_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const uint8x16_t hb = vreinterpretq_u8_u32(vdupq_n_u32(h));
    static const uint8_t i0[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t i1[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t mask = vld1q_u8(bit), sixteen = vdupq_n_u8(16);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(hb, vld1q_u8(i0)), mask), sixteen);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(hb, vld1q_u8(i1)), mask), sixteen);
}

static float dot_q4_0(int64_t k, const void *w, const void *a) {
    const block_q4_0 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        const uint8x16_t q = vld1q_u8(x[b].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
        s += (float)dot32(lo, hi, y[b].qs) * (f16f(x[b].d) * y[b].d);
    }
    return s;
}

static float dot_q4_1(int64_t k, const void *w, const void *a) {
    const block_q4_1 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        const uint8x16_t q = vld1q_u8(x[b].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F)));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        s += (float)dot32(lo, hi, y[b].qs) * (f16f(x[b].d) * y[b].d) + f16f(x[b].m) * y[b].s;
    }
    return s;
}

static float dot_q5_0(int64_t k, const void *w, const void *a) {
    const block_q5_0 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        uint8x16_t hl, hh;
        fifth_bits(x[b].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(x[b].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), hl)), vdupq_n_s8(16));
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh)), vdupq_n_s8(16));
        s += (float)dot32(lo, hi, y[b].qs) * (f16f(x[b].d) * y[b].d);
    }
    return s;
}

static float dot_q5_1(int64_t k, const void *w, const void *a) {
    const block_q5_1 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        uint8x16_t hl, hh;
        fifth_bits(x[b].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(x[b].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), hl));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh));
        s += (float)dot32(lo, hi, y[b].qs) * (f16f(x[b].d) * y[b].d) + f16f(x[b].m) * y[b].s;
    }
    return s;
}

static float dot_q8_0(int64_t k, const void *w, const void *a) {
    const block_q8_0 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        s += (float)dot32(vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16), y[b].qs) * (f16f(x[b].d) * y[b].d);
    }
    return s;
}

/* ---- k-quants: same per-super-block formula as the reference ---- */

static inline void k4_scales(const uint8_t *s12, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 8; j++) ig_k4_scale_min(j, s12, &sc[j], &mn[j]);
}

static float dot_q4_K(int64_t k, const void *w, const void *a) {
    const block_q4_K *x = w;
    const cpu_q8k *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        uint8_t sc[8], mn[8];
        k4_scales(x[b].scales, sc, mn);
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) msum += mn[j] * y[b].bsums32[j];
        for (int i = 0; i < 4; i++) {
            const uint8x16_t q0 = vld1q_u8(x[b].qs + 32 * i), q1 = vld1q_u8(x[b].qs + 32 * i + 16);
            const uint8x16_t m4 = vdupq_n_u8(0x0F);
            const int lo = dot32(vreinterpretq_s8_u8(vandq_u8(q0, m4)), vreinterpretq_s8_u8(vandq_u8(q1, m4)),
                                 y[b].qs + 64 * i);
            const int hi = dot32(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)),
                                 y[b].qs + 64 * i + 32);
            isum += sc[2 * i] * lo + sc[2 * i + 1] * hi;
        }
        s += (y[b].d * f16f(x[b].d)) * (float)isum - (y[b].d * f16f(x[b].dmin)) * (float)msum;
    }
    return s;
}

static float dot_q5_K(int64_t k, const void *w, const void *a) {
    const block_q5_K *x = w;
    const cpu_q8k *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        uint8_t sc[8], mn[8];
        k4_scales(x[b].scales, sc, mn);
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) msum += mn[j] * y[b].bsums32[j];
        const uint8x16_t h0 = vld1q_u8(x[b].qh), h1 = vld1q_u8(x[b].qh + 16);
        const uint8x16_t m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
        for (int i = 0; i < 4; i++) {
            const uint8x16_t q0 = vld1q_u8(x[b].qs + 32 * i), q1 = vld1q_u8(x[b].qs + 32 * i + 16);
            /* fifth bit of sub-block 2i is bit 2i of qh, of 2i+1 bit 2i+1 */
            const int8x16_t s0 = vdupq_n_s8((int8_t)-(2 * i)), s1 = vdupq_n_s8((int8_t)-(2 * i + 1));
            const uint8x16_t a0 = vshlq_n_u8(vandq_u8(vshlq_u8(h0, s0), one), 4);
            const uint8x16_t a1 = vshlq_n_u8(vandq_u8(vshlq_u8(h1, s0), one), 4);
            const uint8x16_t b0 = vshlq_n_u8(vandq_u8(vshlq_u8(h0, s1), one), 4);
            const uint8x16_t b1 = vshlq_n_u8(vandq_u8(vshlq_u8(h1, s1), one), 4);
            const int lo = dot32(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), a0)),
                                 vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), a1)), y[b].qs + 64 * i);
            const int hi = dot32(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), b0)),
                                 vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), b1)), y[b].qs + 64 * i + 32);
            isum += sc[2 * i] * lo + sc[2 * i + 1] * hi;
        }
        s += (y[b].d * f16f(x[b].d)) * (float)isum - (y[b].d * f16f(x[b].dmin)) * (float)msum;
    }
    return s;
}

static float dot_q6_K(int64_t k, const void *w, const void *a) {
    const block_q6_K *x = w;
    const cpu_q8k *y = a;
    float s = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    const int32x4_t z = vdupq_n_s32(0);
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        PF((const char *)&x[b] + 128);
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            const int8_t *q8 = y[b].qs + 128 * h;
            for (int l = 0; l < 32; l += 16) {
                const uint8x16_t l0 = vld1q_u8(ql + l), l1 = vld1q_u8(ql + 32 + l), hb = vld1q_u8(qh + l);
                int8x16_t q[4];
                q[0] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(hb, 4), m2))), off);
                q[1] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(hb, 2), m2))), off);
                q[2] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m2))), off);
                q[3] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m2))), off);
                for (int g = 0; g < 4; g++) {
                    const int d = vaddvq_s32(dot16(z, q[g], vld1q_s8(q8 + 32 * g + l)));
                    isum += x[b].scales[8 * h + 2 * g + l / 16] * d;
                }
            }
        }
        s += (y[b].d * f16f(x[b].d)) * (float)isum;
    }
    return s;
}

#define GEMM(T)                                                                                   \
    static void gemm_##T(int64_t k, const void *w, size_t ws, int nr, const void *a, size_t as,     \
                         int nc, float *out, size_t ldo) {                                        \
        for (int c = 0; c < nc; c++)                                                              \
            for (int r = 0; r < nr; r++)                                                          \
                out[(size_t)c * ldo + r] =                                                        \
                    dot_##T(k, (const char *)w + (size_t)r * ws, (const char *)a + (size_t)c * as); \
    }
GEMM(f32)
GEMM(f16)
GEMM(bf16)
GEMM(q4_0)
GEMM(q4_1)
GEMM(q5_0)
GEMM(q5_1)
GEMM(q8_0)
GEMM(q4_K)
GEMM(q5_K)
GEMM(q6_K)

/* ---- element-wise ---- */

static double sum_sq(const float *x, int n) {
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float32x4_t p = vmulq_f32(v, v);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(p)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(p));
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}

static void scale_mul(float *y, const float *x, float s, const float *g, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), s), vld1q_f32(g + i)));
    for (; i < n; i++) y[i] = (x[i] * s) * g[i];
}

static void add(float *y, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

static void swiglu(float *y, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static double exp_sum(float *x, int n, float mx) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float e = expf(x[i] - mx);
        x[i] = e;
        sum += e;
    }
    return sum;
}

static float dot_kv(const float *q, const void *k, bool f16, int n) {
    float32x4_t s0 = vdupq_n_f32(0);
    int e = 0;
    float s;
    if (f16) {
        const uint16_t *kr = k;
        for (; e + 4 <= n; e += 4) s0 = vfmaq_f32(s0, vld1q_f32(q + e), vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(kr + e))));
        s = vaddvq_f32(s0);
        for (; e < n; e++) s += q[e] * f16f(kr[e]);
    } else {
        const float *kr = k;
        for (; e + 4 <= n; e += 4) s0 = vfmaq_f32(s0, vld1q_f32(q + e), vld1q_f32(kr + e));
        s = vaddvq_f32(s0);
        for (; e < n; e++) s += q[e] * kr[e];
    }
    return s;
}

static void axpy_kv(float *acc, float p, const void *v, bool f16, int n) {
    int e = 0;
    if (f16) {
        const uint16_t *vr = v;
        for (; e + 4 <= n; e += 4)
            vst1q_f32(acc + e, vfmaq_n_f32(vld1q_f32(acc + e), vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(vr + e))), p));
        for (; e < n; e++) acc[e] += p * f16f(vr[e]);
    } else {
        const float *vr = v;
        for (; e + 4 <= n; e += 4) vst1q_f32(acc + e, vfmaq_n_f32(vld1q_f32(acc + e), vld1q_f32(vr + e), p));
        for (; e < n; e++) acc[e] += p * vr[e];
    }
}

static void round_f16(float *y, const float *x, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = ig_f16_to_f32(ig_f32_to_f16(x[i]));
}

static void to_f16(uint16_t *y, const float *x, int n) { quant_f16(x, y, n); }

#define MM(T, A) {.act = A, .gemm = gemm_##T}
const cpu_kernels cpu_kernels_neon = {
    .name = "neon",
    .mm = {
        [IG_TYPE_F32] = MM(f32, CPU_ACT_F32),
        [IG_TYPE_F16] = MM(f16, CPU_ACT_F16),
        [IG_TYPE_BF16] = MM(bf16, CPU_ACT_BF16),
        [IG_TYPE_Q4_0] = MM(q4_0, CPU_ACT_Q8A),
        [IG_TYPE_Q4_1] = MM(q4_1, CPU_ACT_Q8A),
        [IG_TYPE_Q5_0] = MM(q5_0, CPU_ACT_Q8A),
        [IG_TYPE_Q5_1] = MM(q5_1, CPU_ACT_Q8A),
        [IG_TYPE_Q8_0] = MM(q8_0, CPU_ACT_Q8A),
        /* Q2_K and Q3_K: the reference kernels (matmul.c falls back) */
        [IG_TYPE_Q2_K] = {.act = CPU_ACT_Q8K},
        [IG_TYPE_Q3_K] = {.act = CPU_ACT_Q8K},
        [IG_TYPE_Q4_K] = MM(q4_K, CPU_ACT_Q8K),
        [IG_TYPE_Q5_K] = MM(q5_K, CPU_ACT_Q8K),
        [IG_TYPE_Q6_K] = MM(q6_K, CPU_ACT_Q8K),
    },
    .quant = {
        [CPU_ACT_F32] = quant_f32,
        [CPU_ACT_F16] = quant_f16,
        [CPU_ACT_BF16] = quant_bf16,
        [CPU_ACT_Q8A] = quant_q8a,
        [CPU_ACT_Q8K] = cpu_quant_q8k_ref,
    },
    .sum_sq = sum_sq,
    .sum = cpu_ref_sum,
    .center = cpu_ref_center,
    .scale_mul = scale_mul,
    .add = add,
    .swiglu = swiglu,
    .exp_sum = exp_sum,
    .dot_kv = dot_kv,
    .axpy_kv = axpy_kv,
    .round_f16 = round_f16,
    .to_f16 = to_f16,
    .rope_pairs = cpu_ref_rope_pairs,
};
#undef MM

#endif /* __aarch64__ && __ARM_NEON */
