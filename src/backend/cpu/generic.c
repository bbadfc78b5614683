/* The plain C kernel set: the reference the SIMD sets are tested against,
 * and what runs on a CPU without them. Written for clarity: every block is
 * decoded to small integers, dotted exactly in integer arithmetic, and
 * scaled once, which is also what the SIMD kernels compute (they differ
 * only in the order of the float additions across blocks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "core/util.h"
#include "kernels.h"

size_t cpu_act_row_size(cpu_act a, int64_t k) {
    switch (a) {
    case CPU_ACT_F32: return (size_t)k * 4;
    case CPU_ACT_F16:
    case CPU_ACT_BF16: return (size_t)k * 2;
    case CPU_ACT_Q8A: return (size_t)(k / 32) * sizeof(cpu_q8a);
    case CPU_ACT_Q8K: return (size_t)(k / QK_K) * sizeof(cpu_q8k);
    default: return 0;
    }
}

/* ---- activation formats ------------------------------------------------ */

/* Round to nearest, ties to even, for |v| < 2^22 (ggml's nearest_int; no
 * dependence on the rounding mode and no undefined conversion). */
static inline int round_even(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* ggml's x86 quantize_row_q8_0 / q8_1 (not the _ref ones): the inverse
 * scale is 127/amax and quants round to nearest even. Matching them keeps
 * the activations bit-identical to llama.cpp's on the same input. */
void cpu_quant_q8a_ref(const float *x, void *vy, int64_t k) {
    cpu_q8a *y = vy;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float a = fabsf(x[j]);
            amax = a > amax ? a : amax; /* NaN never wins, as with maxps */
        }
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            float v = x[j] * id;
            if (!(v >= -127.0f)) v = v != v ? 0.0f : -127.0f; /* NaN / Inf input */
            if (v > 127.0f) v = 127.0f;
            const int q = round_even(v);
            y[i].qs[j] = (int8_t)q;
            sum += q;
        }
        y[i].sum = sum;
        y[i].d = ig_f16_to_f32(ig_f32_to_f16(d));
        y[i].s = ig_f16_to_f32(ig_f32_to_f16(d * (float)sum));
    }
}

void cpu_quant_q8k_ref(const float *x, void *vy, int64_t k) {
    cpu_q8k *y = vy;
    for (int64_t i = 0; i < k / QK_K; i++) {
        block_q8_K b;
        ig_quant_row_q8_K(x + i * QK_K, &b, QK_K);
        y[i].d = b.d;
        memcpy(y[i].qs, b.qs, sizeof b.qs);
        memcpy(y[i].bsums, b.bsums, sizeof b.bsums);
        for (int j = 0; j < 8; j++) y[i].bsums32[j] = (int16_t)(b.bsums[2 * j] + b.bsums[2 * j + 1]);
    }
}

static void quant_f16(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < k; i++) y[i] = ig_f32_to_f16(x[i]);
}

static void quant_bf16(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < k; i++) y[i] = ig_f32_to_bf16(x[i]);
}

static void quant_f32(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * 4); }

/* ---- dot products ------------------------------------------------------ */

typedef float (*dot_fn)(int64_t k, const void *w, const void *a);

static inline uint16_t ld16(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2); /* GGUF tensors are only 32-byte aligned: rows may not be */
    return h;
}

static float dot_f32(int64_t k, const void *w, const void *a) {
    const float *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < k; i++) s += (double)(x[i] * y[i]);
    return (float)s;
}

static float dot_f16(int64_t k, const void *w, const void *a) {
    const char *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < k; i++)
        s += (double)(ig_f16_to_f32(ld16(x + 2 * i)) * ig_f16_to_f32(ld16(y + 2 * i)));
    return (float)s;
}

static float dot_bf16(int64_t k, const void *w, const void *a) {
    const char *x = w, *y = a;
    double s = 0;
    for (int64_t i = 0; i < k; i++)
        s += (double)(ig_bf16_to_f32(ld16(x + 2 * i)) * ig_bf16_to_f32(ld16(y + 2 * i)));
    return (float)s;
}

static inline uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float dot_q4_0(int64_t k, const void *w, const void *a) {
    const block_q4_0 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        int si = 0;
        for (int j = 0; j < 16; j++)
            si += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
        s += (float)si * (ig_f16_to_f32(x[b].d) * y[b].d);
    }
    return s;
}

static float dot_q4_1(int64_t k, const void *w, const void *a) {
    const block_q4_1 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        int si = 0;
        for (int j = 0; j < 16; j++) si += (x[b].qs[j] & 0xF) * y[b].qs[j] + (x[b].qs[j] >> 4) * y[b].qs[j + 16];
        s += (float)si * (ig_f16_to_f32(x[b].d) * y[b].d) + ig_f16_to_f32(x[b].m) * y[b].s;
    }
    return s;
}

/* Integer dot of one q5 block's 5-bit values (minus `off`) with 32
 * activations: the shared core of q5_0 (off 16) and q5_1 (off 0). */
static int q5_block_dot(const uint8_t *qs, const uint8_t *qh_bytes, const int8_t *y, int off) {
    const uint32_t qh = ld32(qh_bytes);
    int si = 0;
    for (int j = 0; j < 16; j++) {
        const int v0 = ((qs[j] & 0xF) | (int)((qh >> j) & 1) << 4) - off;
        const int v1 = ((qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - off;
        si += v0 * y[j] + v1 * y[j + 16];
    }
    return si;
}

static float dot_q5_0(int64_t k, const void *w, const void *a) {
    const block_q5_0 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        const int si = q5_block_dot(x[b].qs, x[b].qh, y[b].qs, 16);
        s += (float)si * (ig_f16_to_f32(x[b].d) * y[b].d);
    }
    return s;
}

static float dot_q5_1(int64_t k, const void *w, const void *a) {
    const block_q5_1 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        const int si = q5_block_dot(x[b].qs, x[b].qh, y[b].qs, 0);
        s += (float)si * (ig_f16_to_f32(x[b].d) * y[b].d) + ig_f16_to_f32(x[b].m) * y[b].s;
    }
    return s;
}

static float dot_q8_0(int64_t k, const void *w, const void *a) {
    const block_q8_0 *x = w;
    const cpu_q8a *y = a;
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        int si = 0;
        for (int j = 0; j < 32; j++) si += x[b].qs[j] * y[b].qs[j];
        s += (float)si * (ig_f16_to_f32(x[b].d) * y[b].d);
    }
    return s;
}

/* k-quants: one super-block decoded to 256 small integers q, a scale and a
 * min per 16 values; its value is d*sc*q - dmin*mn. */
typedef struct {
    int8_t q[QK_K];
    int sc[16], mn[16];
    float d, dmin;
} kdec;

static void dec_q2_K(const block_q2_K *x, kdec *o) {
    o->d = ig_f16_to_f32(x->d);
    o->dmin = ig_f16_to_f32(x->dmin);
    for (int s = 0; s < 16; s++) {
        o->sc[s] = x->scales[s] & 0xF;
        o->mn[s] = x->scales[s] >> 4;
    }
    for (int e = 0; e < QK_K; e++) {
        const int half = e / 128, shift = 2 * ((e % 128) / 32), l = e % 32;
        o->q[e] = (int8_t)((x->qs[32 * half + l] >> shift) & 3);
    }
}

static void dec_q3_K(const block_q3_K *x, kdec *o) {
    o->d = ig_f16_to_f32(x->d);
    o->dmin = 0;
    for (int s = 0; s < 16; s++) {
        const int lo = s < 8 ? x->scales[s] & 0xF : x->scales[s - 8] >> 4;
        const int hi = (x->scales[8 + s % 4] >> (2 * (s / 4))) & 3;
        o->sc[s] = (lo | hi << 4) - 32;
        o->mn[s] = 0;
    }
    for (int e = 0; e < QK_K; e++) {
        const int half = e / 128, g = (e % 128) / 32, l = e % 32;
        const int lo = (x->qs[32 * half + l] >> (2 * g)) & 3;
        const int hbit = (x->hmask[l] >> (4 * half + g)) & 1;
        o->q[e] = (int8_t)(lo - (hbit ? 0 : 4));
    }
}

/* Q4_K and Q5_K share the scale packing and the low nibbles; Q5_K adds a
 * fifth bit from qh. */
static void dec_k4(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs, kdec *o) {
    o->d = ig_f16_to_f32(d);
    o->dmin = ig_f16_to_f32(dmin);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        ig_k4_scale_min(j, scales, &sc, &m);
        o->sc[2 * j] = o->sc[2 * j + 1] = sc;
        o->mn[2 * j] = o->mn[2 * j + 1] = m;
    }
    for (int e = 0; e < QK_K; e++) {
        const int j = e / 32, l = e % 32;
        const uint8_t b = qs[32 * (j / 2) + l];
        o->q[e] = (int8_t)(j & 1 ? b >> 4 : b & 0xF);
    }
}

static void dec_q4_K(const block_q4_K *x, kdec *o) { dec_k4(x->d, x->dmin, x->scales, x->qs, o); }

static void dec_q5_K(const block_q5_K *x, kdec *o) {
    dec_k4(x->d, x->dmin, x->scales, x->qs, o);
    for (int e = 0; e < QK_K; e++) o->q[e] |= (int8_t)(((x->qh[e % 32] >> (e / 32)) & 1) << 4);
}

static void dec_q6_K(const block_q6_K *x, kdec *o) {
    o->d = ig_f16_to_f32(x->d);
    o->dmin = 0;
    for (int s = 0; s < 16; s++) {
        o->sc[s] = x->scales[s];
        o->mn[s] = 0;
    }
    for (int e = 0; e < QK_K; e++) {
        const int h = e / 128, g = (e % 128) / 32, l = e % 32;
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        const int lo = g & 2 ? ql[l + 32 * (g & 1)] >> 4 : ql[l + 32 * (g & 1)] & 0xF;
        const int hi = (qh[l] >> (2 * g)) & 3;
        o->q[e] = (int8_t)((lo | hi << 4) - 32);
    }
}

static float kdot(const kdec *o, const cpu_q8k *y) {
    int isum = 0, msum = 0;
    for (int s = 0; s < 16; s++) {
        int si = 0;
        for (int l = 0; l < 16; l++) si += o->q[16 * s + l] * y->qs[16 * s + l];
        isum += o->sc[s] * si;
        msum += o->mn[s] * y->bsums[s];
    }
    return (y->d * o->d) * (float)isum - (y->d * o->dmin) * (float)msum;
}

#define KDOT(T)                                                  \
    static float dot_##T(int64_t k, const void *w, const void *a) { \
        const block_##T *x = w;                                  \
        const cpu_q8k *y = a;                                    \
        kdec o;                                                  \
        float s = 0;                                             \
        for (int64_t b = 0; b < k / QK_K; b++) {                 \
            dec_##T(&x[b], &o);                                  \
            s += kdot(&o, &y[b]);                                \
        }                                                        \
        return s;                                                \
    }
KDOT(q2_K)
KDOT(q3_K)
KDOT(q4_K)
KDOT(q5_K)
KDOT(q6_K)

/* ---- matrix products --------------------------------------------------- */

static inline void gemm_with(dot_fn dot, int64_t k, const void *w, size_t ws, int nr, const void *a,
                             size_t as, int nc, float *out, size_t ldo) {
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            out[(size_t)c * ldo + r] = dot(k, (const char *)w + (size_t)r * ws, (const char *)a + (size_t)c * as);
}

#define GEMM(T)                                                                               \
    static void gemm_##T(int64_t k, const void *w, size_t ws, int nr, const void *a, size_t as, \
                         int nc, float *out, size_t ldo) {                                    \
        gemm_with(dot_##T, k, w, ws, nr, a, as, nc, out, ldo);                                \
    }
GEMM(f32)
GEMM(f16)
GEMM(bf16)
GEMM(q4_0)
GEMM(q4_1)
GEMM(q5_0)
GEMM(q5_1)
GEMM(q8_0)
GEMM(q2_K)
GEMM(q3_K)
GEMM(q4_K)
GEMM(q5_K)
GEMM(q6_K)

/* ---- element-wise ------------------------------------------------------ */

static double sum_sq(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}

double cpu_ref_sum(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s;
}

void cpu_ref_center(float *y, const float *x, float m, int n) {
    for (int i = 0; i < n; i++) y[i] = x[i] - m;
}

static void scale_mul(float *y, const float *x, float s, const float *g, int n) {
    for (int i = 0; i < n; i++) y[i] = (x[i] * s) * g[i];
}

static void add(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
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
    float s = 0;
    if (f16) {
        const uint16_t *kr = k;
        for (int e = 0; e < n; e++) s += q[e] * ig_f16_to_f32(kr[e]);
    } else {
        const float *kr = k;
        for (int e = 0; e < n; e++) s += q[e] * kr[e];
    }
    return s;
}

static void axpy_kv(float *acc, float p, const void *v, bool f16, int n) {
    if (f16) {
        const uint16_t *vr = v;
        for (int e = 0; e < n; e++) acc[e] += p * ig_f16_to_f32(vr[e]);
    } else {
        const float *vr = v;
        for (int e = 0; e < n; e++) acc[e] += p * vr[e];
    }
}

void cpu_ref_rope_pairs(float *v, const float *cs, int half) {
    for (int p = 0; p < half; p++) {
        const float c = cs[2 * p], s = cs[2 * p + 1], x0 = v[2 * p], x1 = v[2 * p + 1];
        v[2 * p] = fmaf(x0, c, -(x1 * s));
        v[2 * p + 1] = fmaf(x1, c, x0 * s);
    }
}

static void round_f16(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] = ig_f16_to_f32(ig_f32_to_f16(x[i]));
}

static void to_f16(uint16_t *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] = ig_f32_to_f16(x[i]);
}

#define MM(T, A) {.act = A, .gemm = gemm_##T}
const cpu_kernels cpu_kernels_generic = {
    .name = "generic",
    .mm = {
        [IG_TYPE_F32] = MM(f32, CPU_ACT_F32),
        [IG_TYPE_F16] = MM(f16, CPU_ACT_F16),
        [IG_TYPE_BF16] = MM(bf16, CPU_ACT_BF16),
        [IG_TYPE_Q4_0] = MM(q4_0, CPU_ACT_Q8A),
        [IG_TYPE_Q4_1] = MM(q4_1, CPU_ACT_Q8A),
        [IG_TYPE_Q5_0] = MM(q5_0, CPU_ACT_Q8A),
        [IG_TYPE_Q5_1] = MM(q5_1, CPU_ACT_Q8A),
        [IG_TYPE_Q8_0] = MM(q8_0, CPU_ACT_Q8A),
        [IG_TYPE_Q2_K] = MM(q2_K, CPU_ACT_Q8K),
        [IG_TYPE_Q3_K] = MM(q3_K, CPU_ACT_Q8K),
        [IG_TYPE_Q4_K] = MM(q4_K, CPU_ACT_Q8K),
        [IG_TYPE_Q5_K] = MM(q5_K, CPU_ACT_Q8K),
        [IG_TYPE_Q6_K] = MM(q6_K, CPU_ACT_Q8K),
    },
    .quant = {
        [CPU_ACT_F32] = quant_f32,
        [CPU_ACT_F16] = quant_f16,
        [CPU_ACT_BF16] = quant_bf16,
        [CPU_ACT_Q8A] = cpu_quant_q8a_ref,
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

/* ---- selection ----------------------------------------------------------- */

const cpu_kernels *cpu_kernels_by_name(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "generic")) return &cpu_kernels_generic;
#if defined(__x86_64__)
    if (!strcmp(name, "avx2")) {
        __builtin_cpu_init();
        /* clang's __builtin_cpu_supports has no "f16c": ask cpuid (leaf 1, ECX bit 29). */
        unsigned a, b, c, d;
        bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c)
            return &cpu_kernels_avx2;
    }
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    if (!strcmp(name, "neon")) return &cpu_kernels_neon;
#endif
    return NULL;
}

const cpu_kernels *cpu_kernels_best(void) {
    const cpu_kernels *k = cpu_kernels_by_name(getenv("INGOT_CPU_KERNELS"));
    if (k) return k;
    static const char *const order[] = {"avx2", "neon"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if ((k = cpu_kernels_by_name(order[i]))) return k;
    return &cpu_kernels_generic;
}
