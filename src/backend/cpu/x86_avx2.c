/* AVX2 + FMA + F16C kernels.
 *
 * Every function here is compiled for those extensions with a target
 * attribute (not -march flags), so the rest of the binary stays baseline
 * x86-64 and this set is only chosen when __builtin_cpu_supports says the
 * CPU has them (kernels.h / generic.c).
 *
 * Quantized dot products follow ggml's scheme: weights unpacked to bytes,
 * multiplied with the 8-bit activations by vpmaddubsw (unsigned x signed
 * byte pairs summed to 16 bits) and vpmaddwd (pairs to 32 bits), then
 * scaled per block in float. Unsigned weight codes (a nibble 0..15) times
 * the activation, minus offset x (sum of the activations), avoids the
 * sign juggling ggml does for the offset types. */
#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "core/util.h"
#include "kernels.h"

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* Distance to prefetch weights ahead of use: a decode step streams them
 * from memory, and the hardware prefetcher alone does not keep up (one
 * thread reads 3-4x slower without this). */
#define PF_DIST 2048
#define PF(p) _mm_prefetch((const char *)(p) + PF_DIST, _MM_HINT_T0)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

INLINE float hsum8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

INLINE int hsum_i32(__m256i a) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

INLINE float f16f(uint16_t h) { return _cvtsh_ss(h); }

INLINE uint16_t ld16(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* 32 nibbles -> 32 bytes 0..15: low nibbles first, then high. */
INLINE __m256i nibbles32(const uint8_t *p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set. */
INLINE __m256i bits32(const uint8_t *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

/* sum of u8 x s8 products in 8 int32 lanes */
INLINE __m256i dot_us8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* signed x signed (neither is -128) */
INLINE __m256i dot_ss8(__m256i x, __m256i y) {
    return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* Subtract v from lane 0 of an int32 vector (the block-sum correction). */
INLINE __m256i sub_lane0(__m256i a, int v) {
    return _mm256_sub_epi32(a, _mm256_zextsi128_si256(_mm_cvtsi32_si128(v)));
}

/* ------------------------------------------------------------------------ */
/* Activation formats                                                       */
/* ------------------------------------------------------------------------ */

/* Same arithmetic as cpu_quant_q8a_ref (ggml's x86 quantize_row_q8_0):
 * id = 127/amax, round to nearest even. */
TARGET static void quant_q8a(const float *x, void *vy, int64_t k) {
    cpu_q8a *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_andnot_ps(sign, v0);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v1));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v2));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v3));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        const __m256 mul = _mm256_set1_ps(id);
        const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
        /* max/min also turn NaN into -127 .. like the reference's clamp, but
         * the reference maps NaN to 0; inputs here are never NaN in a
         * working model, and both are defined. */
        v0 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v0, mul), lo), hi);
        v1 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v1, mul), lo), hi);
        v2 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v2, mul), lo), hi);
        v3 = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v3, mul), lo), hi);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(v0, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(v1, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(v2, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(v3, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, i0);
        y[i].sum = sum;
        y[i].d = f16f(_cvtss_sh(d, 0));
        y[i].s = f16f(_cvtss_sh(d * (float)sum, 0));
    }
}

/* ggml's quantize_row_q8_K_ref, vectorized: the scale comes from the
 * value of largest magnitude (the first on ties), quants round to nearest
 * even exactly as its nearest_int does. Bit-identical to the reference. */
TARGET static void quant_q8k(const float *x, void *vy, int64_t k) {
    cpu_q8k *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (!(amax > 0.0f)) { /* all zero (or NaN): defer to the reference */
            cpu_quant_q8k_ref(x, &y[i], QK_K);
            continue;
        }
        float max = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.f / max;
        const __m256 mul = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q[4];
            for (int u = 0; u < 4; u++) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * u), mul);
                q[u] = _mm256_min_epi32(lim, _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
            }
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), p);
            /* sums of 16: widen each half to int16 and add pairs */
            const __m256i w = _mm256_maddubs_epi16(_mm256_set1_epi8(1), p);
            const __m256i s32 = _mm256_madd_epi16(w, _mm256_set1_epi16(1)); /* 8 sums of 4 */
            int t[8];
            _mm256_storeu_si256((__m256i *)t, s32);
            y[i].bsums[j / 16] = (int16_t)(t[0] + t[1] + t[2] + t[3]);
            y[i].bsums[j / 16 + 1] = (int16_t)(t[4] + t[5] + t[6] + t[7]);
            y[i].bsums32[j / 32] = (int16_t)(t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7]);
        }
        y[i].d = 1 / iscale;
    }
}

TARGET static void quant_f16(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < k; i++) y[i] = _cvtss_sh(x[i], 0);
}

static void quant_bf16(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < k; i++) y[i] = ig_f32_to_bf16(x[i]);
}

static void quant_f32(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * 4); }

/* ------------------------------------------------------------------------ */
/* Row dot products (file layout)                                           */
/* ------------------------------------------------------------------------ */

TARGET static float dot_f32(int64_t k, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        PF(x + i);
        PF((const char *)(x + i) + 64);
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= k; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < k; i++) s += x[i] * y[i];
    return s;
}

INLINE __m256 ldh(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
INLINE __m256 ldbf(const void *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

TARGET static float dot_f16(int64_t k, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        PF(x + i);
        PF((const char *)(x + i) + 64);
        s0 = _mm256_fmadd_ps(ldh(x + i), ldh(y + i), s0);
        s1 = _mm256_fmadd_ps(ldh(x + i + 8), ldh(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(ldh(x + i + 16), ldh(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(ldh(x + i + 24), ldh(y + i + 24), s3);
    }
    for (; i + 8 <= k; i += 8) s0 = _mm256_fmadd_ps(ldh(x + i), ldh(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < k; i++) s += f16f(ld16(x + i)) * f16f(ld16(y + i));
    return s;
}

TARGET static float dot_bf16(int64_t k, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        PF(x + i);
        PF((const char *)(x + i) + 64);
        s0 = _mm256_fmadd_ps(ldbf(x + i), ldbf(y + i), s0);
        s1 = _mm256_fmadd_ps(ldbf(x + i + 8), ldbf(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(ldbf(x + i + 16), ldbf(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(ldbf(x + i + 24), ldbf(y + i + 24), s3);
    }
    for (; i + 8 <= k; i += 8) s0 = _mm256_fmadd_ps(ldbf(x + i), ldbf(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < k; i++) s += ig_bf16_to_f32(ld16(x + i)) * ig_bf16_to_f32(ld16(y + i));
    return s;
}

TARGET static float dot_q4_0(int64_t k, const void *w, const void *a) {
    const block_q4_0 *x = w;
    const cpu_q8a *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * y[b].d);
        __m256i p = dot_us8(nibbles32(x[b].qs), _mm256_loadu_si256((const __m256i *)y[b].qs));
        p = sub_lane0(p, 8 * y[b].sum);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

TARGET static float dot_q4_1(int64_t k, const void *w, const void *a) {
    const block_q4_1 *x = w;
    const cpu_q8a *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        summs += f16f(x[b].m) * y[b].s;
        PF(&x[b]);
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * y[b].d);
        const __m256i p = dot_us8(nibbles32(x[b].qs), _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc) + summs;
}

TARGET static float dot_q5_0(int64_t k, const void *w, const void *a) {
    const block_q5_0 *x = w;
    const cpu_q8a *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * y[b].d);
        const __m256i q = _mm256_or_si256(nibbles32(x[b].qs), _mm256_and_si256(bits32(x[b].qh), _mm256_set1_epi8(16)));
        __m256i p = dot_us8(q, _mm256_loadu_si256((const __m256i *)y[b].qs));
        p = sub_lane0(p, 16 * y[b].sum);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

TARGET static float dot_q5_1(int64_t k, const void *w, const void *a) {
    const block_q5_1 *x = w;
    const cpu_q8a *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        summs += f16f(x[b].m) * y[b].s;
        PF(&x[b]);
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * y[b].d);
        const __m256i q = _mm256_or_si256(nibbles32(x[b].qs), _mm256_and_si256(bits32(x[b].qh), _mm256_set1_epi8(16)));
        const __m256i p = dot_us8(q, _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc) + summs;
}

TARGET static float dot_q8_0(int64_t k, const void *w, const void *a) {
    const block_q8_0 *x = w;
    const cpu_q8a *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        PF(&x[b]);
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * y[b].d);
        /* a weight may be -128 (never from ggml's quantizer, but a file
         * can hold anything): |w| as unsigned is still right, and the
         * activations, which carry w's sign, are never -128 */
        const __m256i p = dot_ss8(_mm256_loadu_si256((const __m256i *)x[b].qs),
                                  _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

/* ---- k-quants ---- */

/* Scales and mins of a Q4_K / Q5_K super-block: bytes 0..7 the scales,
 * 8..15 the mins (the 6-bit fields of the 12 packed bytes). */
INLINE __m128i k4_scales_mins(const uint8_t *s12) {
    uint32_t u[4];
    memcpy(u, s12, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    const uint32_t mins_lo = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = mins_lo;
    u[0] &= m1;
    return _mm_loadu_si128((const __m128i *)u);
}

/* int16 vector whose 16 lanes all hold byte i of a 16-byte vector of
 * small unsigned values (for i in 0..15), from a pre-widened copy. */
INLINE __m256i bcast_i16(__m256i v16, int i) {
    const __m256i idx = _mm256_set1_epi16((short)(0x0100 * (2 * (i & 7) + 1) + 2 * (i & 7)));
    __m256i h = i < 8 ? _mm256_permute2x128_si256(v16, v16, 0x00) : _mm256_permute2x128_si256(v16, v16, 0x11);
    return _mm256_shuffle_epi8(h, idx);
}

/* int16 vector: lanes 0..7 = v[i], lanes 8..15 = v[i+1] (from a widened
 * vector of 16 int16 values) - the scales of two 16-value sub-blocks. */
INLINE __m256i pair_i16(__m256i v16, int i) {
    const __m256i a = bcast_i16(v16, i), b = bcast_i16(v16, i + 1);
    return _mm256_blend_epi32(a, b, 0xF0);
}

TARGET static float dot_q4_K(int64_t k, const void *w, const void *a) {
    const block_q4_K *x = w;
    const cpu_q8k *y = a;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        PF((const char *)&x[b] + 128);
        const float d = y[b].d * f16f(x[b].d), dmin = y[b].d * f16f(x[b].dmin);
        const __m256i sm = _mm256_cvtepu8_epi16(k4_scales_mins(x[b].scales));
        /* mins: sum over 8 sub-blocks of m_j * (bsums[2j] + bsums[2j+1]) */
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        const __m128i bs32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m128i pm = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bs32);
        const int msum = hsum_i32(_mm256_zextsi128_si256(pm));
        accm += dmin * (float)msum;
        const uint8_t *q4 = x[b].qs;
        const int8_t *q8 = y[b].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
            __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            pl = _mm256_madd_epi16(pl, bcast_i16(sm, 2 * j));
            ph = _mm256_madd_epi16(ph, bcast_i16(sm, 2 * j + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) - accm;
}

TARGET static float dot_q5_K(int64_t k, const void *w, const void *a) {
    const block_q5_K *x = w;
    const cpu_q8k *y = a;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        PF((const char *)&x[b] + 128);
        const float d = y[b].d * f16f(x[b].d), dmin = y[b].d * f16f(x[b].dmin);
        const __m256i sm = _mm256_cvtepu8_epi16(k4_scales_mins(x[b].scales));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        const __m128i bs32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m128i pm = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bs32);
        accm += dmin * (float)hsum_i32(_mm256_zextsi128_si256(pm));
        const uint8_t *q5 = x[b].qs;
        const int8_t *q8 = y[b].qs;
        const __m256i hb = _mm256_loadu_si256((const __m256i *)x[b].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++, q5 += 32, q8 += 64) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q5);
            const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), _mm256_set1_epi8(1));
            const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), _mm256_set1_epi8(1));
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_slli_epi16(h0, 4));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), _mm256_slli_epi16(h1, 4));
            __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
            __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            pl = _mm256_madd_epi16(pl, bcast_i16(sm, 2 * j));
            ph = _mm256_madd_epi16(ph, bcast_i16(sm, 2 * j + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) - accm;
}

TARGET static float dot_q6_K(int64_t k, const void *w, const void *a) {
    const block_q6_K *x = w;
    const cpu_q8k *y = a;
    __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        PF((const char *)&x[b] + 128);
        const float d = y[b].d * f16f(x[b].d);
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        /* the -32 offset: 32 * sum_s sc_s * bsum_s */
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 5));
        const uint8_t *ql = x[b].ql, *qh = x[b].qh;
        const int8_t *q8 = y[b].qs;
        for (int j = 0; j < 2; j++, ql += 64, qh += 32, q8 += 128) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
            for (int g = 0; g < 4; g++) {
                const __m256i p = _mm256_maddubs_epi16(q[g], _mm256_loadu_si256((const __m256i *)(q8 + 32 * g)));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_i16(sc, 8 * j + 2 * g)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

TARGET static float dot_q2_K(int64_t k, const void *w, const void *a) {
    const block_q2_K *x = w;
    const cpu_q8k *y = a;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        PF((const char *)&x[b] + 128);
        const float d = y[b].d * f16f(x[b].d), dmin = y[b].d * f16f(x[b].dmin);
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        const __m256i sc = _mm256_cvtepu8_epi16(_mm_and_si128(s8, _mm_set1_epi8(0xF)));
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0xF)));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        accm += dmin * (float)hsum_i32(_mm256_madd_epi16(mn, bs));
        const uint8_t *q2 = x[b].qs;
        const int8_t *q8 = y[b].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++, q2 += 32) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q2);
            for (int g = 0; g < 4; g++, q8 += 32) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * g), m3);
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)q8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_i16(sc, 8 * h + 2 * g)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) - accm;
}

TARGET static float dot_q3_K(int64_t k, const void *w, const void *a) {
    const block_q3_K *x = w;
    const cpu_q8k *y = a;
    __m256 acc = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    for (int64_t b = 0; b < k / QK_K; b++) {
        PF(&x[b]);
        PF((const char *)&x[b] + 64);
        PF((const char *)&x[b] + 128);
        const float d = y[b].d * f16f(x[b].d);
        int8_t s16[16];
        const uint8_t *s = x[b].scales;
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
            const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            s16[j] = (int8_t)((lo | hi << 4) - 32);
        }
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)s16));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        /* codes u = lo + 4*hbit in 0..7 stand for u - 4 */
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 2));
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[b].hmask);
        const uint8_t *q3 = x[b].qs;
        const int8_t *q8 = y[b].qs;
        for (int h = 0; h < 2; h++, q3 += 32) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q3);
            for (int g = 0; g < 4; g++, q8 += 32) {
                const __m256i hbit = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + g), _mm256_set1_epi8(1));
                const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 2 * g), m3),
                                                  _mm256_and_si256(_mm256_slli_epi16(hbit, 2), four));
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)q8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_i16(sc, 8 * h + 2 * g)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

/* ------------------------------------------------------------------------ */
/* Matrix products on the file layout                                       */
/* ------------------------------------------------------------------------ */

#define GEMM(T)                                                                                   \
    TARGET static void gemm_##T(int64_t k, const void *w, size_t ws, int nr, const void *a,       \
                                size_t as, int nc, float *out, size_t ldo) {                      \
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
GEMM(q2_K)
GEMM(q3_K)
GEMM(q4_K)
GEMM(q5_K)
GEMM(q6_K)


/* ------------------------------------------------------------------------ */
/* Packed layouts: 8 rows interleaved                                       */
/* ------------------------------------------------------------------------ */

/* In a packed group the bytes of 8 rows are interleaved 4 at a time, so a
 * 32-byte load holds 4 consecutive weights of each row, one row per 32-bit
 * lane. Broadcasting 4 activation bytes to every lane, vpmaddubsw +
 * vpmaddwd then leave each row's partial sum in its own lane: the 8 lanes
 * hold 8 outputs, with no horizontal sums, and each unpacked weight vector
 * serves several tokens. A group is exactly as large as its 8 rows were. */

INLINE __m256i bcast32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* ---- Q4_0: per 32-column block, 8 f16 scales then 4 x 32 bytes ----
 * Byte 4r+p of vector v is byte 4v+p of row r's block: its low nibble is
 * weight 4v+p, its high nibble weight 16+4v+p (the file's own pairing). */
#define Q40X8_BYTES (8 * sizeof(block_q4_0))

static void pack_q4_0(const void *src, void *dst, int64_t rows, int64_t cols) {
    const int64_t nb = cols / 32;
    const size_t rb = (size_t)nb * sizeof(block_q4_0);
    uint8_t *o = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t b = 0; b < nb; b++, o += Q40X8_BYTES)
            for (int r = 0; r < 8; r++) {
                const block_q4_0 *x = (const block_q4_0 *)((const char *)src + (size_t)(g * 8 + r) * rb) + b;
                memcpy(o + 2 * r, &x->d, 2);
                for (int v = 0; v < 4; v++) memcpy(o + 16 + 32 * v + 4 * r, x->qs + 4 * v, 4);
            }
}

/* T tokens (1..4) against one packed group of 8 rows. */
INLINE void q4_0x8_tile(const int T, int64_t nb, const uint8_t *wg, const char *a, size_t as, float *out,
                        size_t ldo) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + (size_t)b * Q40X8_BYTES;
        _mm_prefetch((const char *)wb + PF_DIST, _MM_HINT_T0);
        _mm_prefetch((const char *)wb + PF_DIST + 64, _MM_HINT_T0);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        __m256i wl[4], wh[4];
        for (int v = 0; v < 4; v++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(wb + 16 + 32 * v));
            wl[v] = _mm256_and_si256(raw, m4);
            wh[v] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        }
        for (int t = 0; t < T; t++) {
            const cpu_q8a *y = (const cpu_q8a *)(a + (size_t)t * as) + b;
            __m256i s = _mm256_maddubs_epi16(wl[0], bcast32(y->qs));
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(wh[0], bcast32(y->qs + 16)));
            for (int v = 1; v < 4; v++) {
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(wl[v], bcast32(y->qs + 4 * v)));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(wh[v], bcast32(y->qs + 16 + 4 * v)));
            }
            __m256i s32 = _mm256_madd_epi16(s, ones);
            s32 = _mm256_sub_epi32(s32, _mm256_slli_epi32(bcast32(&y->sum), 3));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(&y->d)), _mm256_cvtepi32_ps(s32), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + (size_t)t * ldo, acc[t]);
}

/* Every packed type shares this driver: groups of 8 rows, tokens 4 at a
 * time then one by one. A macro rather than a function pointer so each
 * tile stays inlined with its token count T a compile-time constant. */
#define PACKED_GEMM(type, qk)                                                                          \
    TARGET static void gemm_##type##x8(int64_t k, const void *w, size_t ws, int nr, const void *a,    \
                                       size_t as, int nc, float *out, size_t ldo) {                   \
        const int64_t nb = k / (qk);                                                                  \
        for (int g = 0; g < nr / 8; g++) {                                                            \
            const uint8_t *wg = (const uint8_t *)w + (size_t)g * ws;                                  \
            int c = 0;                                                                                \
            for (; c + 4 <= nc; c += 4)                                                               \
                type##x8_tile(4, nb, wg, (const char *)a + (size_t)c * as, as, out + (size_t)c * ldo + 8 * g, ldo); \
            for (; c < nc; c++)                                                                       \
                type##x8_tile(1, nb, wg, (const char *)a + (size_t)c * as, as, out + (size_t)c * ldo + 8 * g, ldo); \
        }                                                                                             \
    }
PACKED_GEMM(q4_0, 32)


/* ---- Q8_0: per 32-column block, 8 f16 scales then 8 x 32 bytes ----
 * Byte 4r+p of vector v is weight 4v+p of row r. Products of two signed
 * bytes go through vpmaddubsw as |w| times the activation carrying w's
 * sign (ggml's trick); pairs of such products can reach 32512, so each
 * vector's 16-bit sums are widened before they are added. */
#define Q80X8_BYTES (8 * sizeof(block_q8_0))

static void pack_q8_0(const void *src, void *dst, int64_t rows, int64_t cols) {
    const int64_t nb = cols / 32;
    const size_t rb = (size_t)nb * sizeof(block_q8_0);
    uint8_t *o = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t b = 0; b < nb; b++, o += Q80X8_BYTES)
            for (int r = 0; r < 8; r++) {
                const block_q8_0 *x = (const block_q8_0 *)((const char *)src + (size_t)(g * 8 + r) * rb) + b;
                memcpy(o + 2 * r, &x->d, 2);
                for (int v = 0; v < 8; v++) memcpy(o + 16 + 32 * v + 4 * r, x->qs + 4 * v, 4);
            }
}

INLINE void q8_0x8_tile(const int T, int64_t nb, const uint8_t *wg, const char *a, size_t as, float *out,
                        size_t ldo) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + (size_t)b * Q80X8_BYTES;
        _mm_prefetch((const char *)wb + PF_DIST, _MM_HINT_T0);
        _mm_prefetch((const char *)wb + PF_DIST + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)wb + PF_DIST + 128, _MM_HINT_T0);
        _mm_prefetch((const char *)wb + PF_DIST + 192, _MM_HINT_T0);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        __m256i s32[4];
        for (int t = 0; t < T; t++) s32[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i w[4], aw[4];
            for (int v = 0; v < 4; v++) {
                w[v] = _mm256_loadu_si256((const __m256i *)(wb + 16 + 32 * (4 * h + v)));
                aw[v] = _mm256_sign_epi8(w[v], w[v]);
            }
            for (int t = 0; t < T; t++) {
                const cpu_q8a *y = (const cpu_q8a *)(a + (size_t)t * as) + b;
                for (int v = 0; v < 4; v++) {
                    const __m256i sy = _mm256_sign_epi8(bcast32(y->qs + 4 * (4 * h + v)), w[v]);
                    s32[t] = _mm256_add_epi32(s32[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw[v], sy), ones));
                }
            }
        }
        for (int t = 0; t < T; t++) {
            const cpu_q8a *y = (const cpu_q8a *)(a + (size_t)t * as) + b;
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(&y->d)), _mm256_cvtepi32_ps(s32[t]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + (size_t)t * ldo, acc[t]);
}

PACKED_GEMM(q8_0, 32)


/* ---- Q4_K: per 256-column super-block (1152 bytes per group) ----
 *   8 f16 d, 8 f16 dmin,
 *   3 x 32 bytes: the 12 packed scale bytes of each row, 4 per lane,
 *   32 x 32 bytes: vector 8i+v holds bytes 32i+4v.. of each row's qs: low
 *   nibbles are sub-block 2i, high nibbles sub-block 2i+1.
 * The 6-bit scales and mins are unpacked in registers for 8 rows at once. */
#define Q4KX8_BYTES (8 * sizeof(block_q4_K))

static void pack_q4_K(const void *src, void *dst, int64_t rows, int64_t cols) {
    const int64_t nb = cols / QK_K;
    const size_t rb = (size_t)nb * sizeof(block_q4_K);
    uint8_t *o = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t b = 0; b < nb; b++, o += Q4KX8_BYTES)
            for (int r = 0; r < 8; r++) {
                const block_q4_K *x = (const block_q4_K *)((const char *)src + (size_t)(g * 8 + r) * rb) + b;
                memcpy(o + 2 * r, &x->d, 2);
                memcpy(o + 16 + 2 * r, &x->dmin, 2);
                for (int k = 0; k < 3; k++) memcpy(o + 32 + 32 * k + 4 * r, x->scales + 4 * k, 4);
                for (int v = 0; v < 32; v++) memcpy(o + 128 + 32 * v + 4 * r, x->qs + 4 * v, 4);
            }
}

/* pshufb controls (per 128-bit half): byte j of every 32-bit lane into both
 * 16-bit halves of the lane (a scale, for vpmaddwd against pairs of 16-bit
 * sums), and bytes j, j+1 as two 16-bit values (two mins). */
#define Z 0x80
#define PAIR(j) j, Z, j, Z, 4 + j, Z, 4 + j, Z, 8 + j, Z, 8 + j, Z, 12 + j, Z, 12 + j, Z
#define TWO(j) j, Z, j + 1, Z, 4 + j, Z, 5 + j, Z, 8 + j, Z, 9 + j, Z, 12 + j, Z, 13 + j, Z
static const uint8_t k_lane_pair[4][32] __attribute__((aligned(32))) = {
    {PAIR(0), PAIR(0)}, {PAIR(1), PAIR(1)}, {PAIR(2), PAIR(2)}, {PAIR(3), PAIR(3)}};
static const uint8_t k_lane_two[2][32] __attribute__((aligned(32))) = {{TWO(0), TWO(0)}, {TWO(2), TWO(2)}};
#undef PAIR
#undef TWO
#undef Z

INLINE __m256i ldc(const uint8_t *p) { return _mm256_load_si256((const __m256i *)p); }

/* Sub-block j of T tokens: 8 weight vectors against 32 activations each. */
INLINE void q4_K_sub(const int T, const __m256i w[8], __m256i scj, const char *a, size_t as, int64_t b, int j,
                     __m256i isum[4]) {
    for (int t = 0; t < T; t++) {
        const int8_t *yq = ((const cpu_q8k *)(a + (size_t)t * as) + b)->qs + 32 * j;
        __m256i s0 = _mm256_maddubs_epi16(w[0], bcast32(yq));
        __m256i s1 = _mm256_maddubs_epi16(w[1], bcast32(yq + 4));
        s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[2], bcast32(yq + 8)));
        s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[3], bcast32(yq + 12)));
        s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[4], bcast32(yq + 16)));
        s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[5], bcast32(yq + 20)));
        s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[6], bcast32(yq + 24)));
        s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[7], bcast32(yq + 28)));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_add_epi16(s0, s1), scj));
    }
}

INLINE void q4_Kx8_tile(const int T, int64_t nb, const uint8_t *wg, const char *a, size_t as, float *out,
                        size_t ldo) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i k1 = _mm256_set1_epi32(0x3f3f3f3f), k2 = _mm256_set1_epi32(0x0f0f0f0f),
                  k3 = _mm256_set1_epi32(0x03030303);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + (size_t)b * Q4KX8_BYTES;
        for (int l = 0; l < (int)Q4KX8_BYTES; l += 64) _mm_prefetch((const char *)wb + PF_DIST + l, _MM_HINT_T0);
        const __m256i u0 = _mm256_loadu_si256((const __m256i *)(wb + 32));
        const __m256i u1 = _mm256_loadu_si256((const __m256i *)(wb + 64));
        const __m256i u2 = _mm256_loadu_si256((const __m256i *)(wb + 96));
        /* lanes: sc[0..3], sc[4..7], m[0..3], m[4..7] (ggml's utmp shuffle) */
        const __m256i sc03 = _mm256_and_si256(u0, k1);
        const __m256i sc47 = _mm256_or_si256(_mm256_and_si256(u2, k2),
                                             _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), k3), 4));
        const __m256i mn03 = _mm256_and_si256(u1, k1);
        const __m256i mn47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), k2),
                                             _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), k3), 4));
        __m256i isum[4], msum[4];
        {
            const __m256i m0 = _mm256_shuffle_epi8(mn03, ldc(k_lane_two[0]));
            const __m256i m1 = _mm256_shuffle_epi8(mn03, ldc(k_lane_two[1]));
            const __m256i m2 = _mm256_shuffle_epi8(mn47, ldc(k_lane_two[0]));
            const __m256i m3 = _mm256_shuffle_epi8(mn47, ldc(k_lane_two[1]));
            for (int t = 0; t < T; t++) {
                const cpu_q8k *y = (const cpu_q8k *)(a + (size_t)t * as) + b;
                __m256i m = _mm256_madd_epi16(m0, bcast32(&y->bsums32[0]));
                m = _mm256_add_epi32(m, _mm256_madd_epi16(m1, bcast32(&y->bsums32[2])));
                m = _mm256_add_epi32(m, _mm256_madd_epi16(m2, bcast32(&y->bsums32[4])));
                m = _mm256_add_epi32(m, _mm256_madd_epi16(m3, bcast32(&y->bsums32[6])));
                msum[t] = m;
                isum[t] = _mm256_setzero_si256();
            }
        }
        for (int i = 0; i < 4; i++) { /* sub-blocks 2i (low nibbles) and 2i+1 (high) */
            const uint8_t *q = wb + 128 + 32 * 8 * i;
            const __m256i sc = i < 2 ? sc03 : sc47;
            __m256i w[8];
            for (int v = 0; v < 8; v++) w[v] = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(q + 32 * v)), m4);
            q4_K_sub(T, w, _mm256_shuffle_epi8(sc, ldc(k_lane_pair[(2 * i) & 3])), a, as, b, 2 * i, isum);
            for (int v = 0; v < 8; v++)
                w[v] = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(q + 32 * v)), 4), m4);
            q4_K_sub(T, w, _mm256_shuffle_epi8(sc, ldc(k_lane_pair[(2 * i + 1) & 3])), a, as, b, 2 * i + 1, isum);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + 16)));
        for (int t = 0; t < T; t++) {
            const __m256 dy = _mm256_broadcast_ss(&((const cpu_q8k *)(a + (size_t)t * as) + b)->d);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(isum[t]), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(mw, dy), _mm256_cvtepi32_ps(msum[t]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + (size_t)t * ldo, acc[t]);
}

PACKED_GEMM(q4_K, QK_K)


/* ---- Q6_K: per 256-column super-block (1680 bytes per group) ----
 *   8 f16 d,
 *   128 bytes of scales: for each pair of 16-value sub-blocks (2i, 2i+1)
 *   and each row, the two signed scales (so one sign-extending load gives
 *   a row's pair in each 32-bit lane),
 *   32 x 32 bytes of ql: vector 16h+8c+v holds bytes 64h+32c+4v.. of each
 *   row (low nibbles: weights 128h+32c+4v.., high: 64 further),
 *   16 x 32 bytes of qh: vector 8h+v holds bytes 32h+4v.. of each row (bit
 *   pairs 0..3: the four 32-weight quarters of half h).
 * Codes are 0..63 for weight q-32: products of a code and an activation
 * are summed two vpmaddubsw at a time (at most 32004) and the -32 comes
 * back once per super-block as 32 * sum(scale * sum of activations). */
#define Q6KX8_BYTES (8 * sizeof(block_q6_K))

static void pack_q6_K(const void *src, void *dst, int64_t rows, int64_t cols) {
    const int64_t nb = cols / QK_K;
    const size_t rb = (size_t)nb * sizeof(block_q6_K);
    uint8_t *o = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t b = 0; b < nb; b++, o += Q6KX8_BYTES)
            for (int r = 0; r < 8; r++) {
                const block_q6_K *x = (const block_q6_K *)((const char *)src + (size_t)(g * 8 + r) * rb) + b;
                memcpy(o + 2 * r, &x->d, 2);
                for (int i = 0; i < 8; i++) {
                    o[16 + 16 * i + 2 * r] = (uint8_t)x->scales[2 * i];
                    o[16 + 16 * i + 2 * r + 1] = (uint8_t)x->scales[2 * i + 1];
                }
                for (int v = 0; v < 32; v++) memcpy(o + 144 + 32 * v + 4 * r, x->ql + 4 * v, 4);
                for (int v = 0; v < 16; v++) memcpy(o + 144 + 1024 + 32 * v + 4 * r, x->qh + 4 * v, 4);
            }
}

INLINE void q6_Kx8_tile(const int T, int64_t nb, const uint8_t *wg, const char *a, size_t as, float *out,
                        size_t ldo) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    /* pshufb: the low / high 16-bit value of each lane into both halves */
    const __m256i dup_lo = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4,
                                            5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i dup_hi = _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15, 2, 3, 2, 3, 6, 7,
                                            6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + (size_t)b * Q6KX8_BYTES;
        for (int l = 0; l < (int)Q6KX8_BYTES; l += 64) _mm_prefetch((const char *)wb + PF_DIST + l, _MM_HINT_T0);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        __m256i isum[4];
        for (int t = 0; t < T; t++) {
            /* -32 * sum over sub-blocks of scale * (sum of its activations) */
            const cpu_q8k *y = (const cpu_q8k *)(a + (size_t)t * as) + b;
            __m256i off = _mm256_setzero_si256();
            for (int i = 0; i < 8; i++) {
                const __m256i sp = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + 16 + 16 * i)));
                off = _mm256_add_epi32(off, _mm256_madd_epi16(sp, bcast32(&y->bsums[2 * i])));
            }
            isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        }
        for (int h = 0; h < 2; h++) {
            for (int vp = 0; vp < 8; vp += 2) {
                /* weights 128h + 32g + 4v + (0..3) for g = 0..3, v = vp, vp+1:
                 * sub-block 8h + 2g + vp/4 */
                __m256i q[2][4];
                for (int u = 0; u < 2; u++) {
                    const int v = vp + u;
                    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(wb + 144 + 32 * (16 * h + v)));
                    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(wb + 144 + 32 * (16 * h + 8 + v)));
                    const __m256i hb = _mm256_loadu_si256((const __m256i *)(wb + 144 + 1024 + 32 * (8 * h + v)));
                    q[u][0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
                    q[u][1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
                    q[u][2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m2));
                    q[u][3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                              _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
                }
                for (int g = 0; g < 4; g++) {
                    const int sub = 8 * h + 2 * g + vp / 4;
                    const __m256i sp = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + 16 + 16 * (sub / 2))));
                    const __m256i sc = _mm256_shuffle_epi8(sp, sub & 1 ? dup_hi : dup_lo);
                    for (int t = 0; t < T; t++) {
                        const int8_t *yq = ((const cpu_q8k *)(a + (size_t)t * as) + b)->qs + 128 * h + 32 * g + 4 * vp;
                        const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(q[0][g], bcast32(yq)),
                                                             _mm256_maddubs_epi16(q[1][g], bcast32(yq + 4)));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16, sc));
                    }
                }
            }
        }
        for (int t = 0; t < T; t++) {
            const __m256 dy = _mm256_broadcast_ss(&((const cpu_q8k *)(a + (size_t)t * as) + b)->d);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + (size_t)t * ldo, acc[t]);
}

PACKED_GEMM(q6_K, QK_K)

/* ------------------------------------------------------------------------ */
/* Element-wise                                                             */
/* ------------------------------------------------------------------------ */

TARGET static double sum_sq(const float *x, int n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 p = _mm256_mul_ps(v, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) s += (double)(x[i] * x[i]);
    return s;
}

TARGET static double sum(const float *x, int n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) s += x[i];
    return s;
}

TARGET static void center(float *y, const float *x, float m, int n) {
    const __m256 vm = _mm256_set1_ps(m);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    for (; i < n; i++) y[i] = x[i] - m;
}

TARGET static void scale_mul(float *y, const float *x, float s, const float *g, int n) {
    const __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(g + i)));
    for (; i < n; i++) y[i] = (x[i] * s) * g[i];
}

TARGET static void add(float *y, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

/* expf for 8 lanes: Cody-Waite reduction by ln 2 and a degree-6
 * polynomial (Cephes' expf); within 2 ulp of libm for |x| < 87. */
INLINE __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

TARGET static void swiglu(float *y, const float *g, const float *u, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 e = exp8(_mm256_xor_ps(x, neg));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

TARGET static double exp_sum(float *x, int n, float mx) {
    const __m256 vm = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double sum = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) {
        const float e = expf(x[i] - mx);
        x[i] = e;
        sum += e;
    }
    return sum;
}

TARGET static float dot_kv(const float *q, const void *k, bool f16, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int e = 0;
    if (f16) {
        const uint16_t *kr = k;
        for (; e + 16 <= n; e += 16) {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), ldh(kr + e), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e + 8), ldh(kr + e + 8), s1);
        }
        for (; e + 8 <= n; e += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), ldh(kr + e), s0);
        float s = hsum8(_mm256_add_ps(s0, s1));
        for (; e < n; e++) s += q[e] * f16f(kr[e]);
        return s;
    }
    const float *kr = k;
    for (; e + 16 <= n; e += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(kr + e), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e + 8), _mm256_loadu_ps(kr + e + 8), s1);
    }
    for (; e + 8 <= n; e += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(kr + e), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; e < n; e++) s += q[e] * kr[e];
    return s;
}

TARGET static void axpy_kv(float *acc, float p, const void *v, bool f16, int n) {
    const __m256 vp = _mm256_set1_ps(p);
    int e = 0;
    if (f16) {
        const uint16_t *vr = v;
        for (; e + 8 <= n; e += 8)
            _mm256_storeu_ps(acc + e, _mm256_fmadd_ps(vp, ldh(vr + e), _mm256_loadu_ps(acc + e)));
        for (; e < n; e++) acc[e] += p * f16f(vr[e]);
    } else {
        const float *vr = v;
        for (; e + 8 <= n; e += 8)
            _mm256_storeu_ps(acc + e, _mm256_fmadd_ps(vp, _mm256_loadu_ps(vr + e), _mm256_loadu_ps(acc + e)));
        for (; e < n; e++) acc[e] += p * vr[e];
    }
}

/* Four pairs per register: moveldup/movehdup spread cos and sin over both
 * lanes of a pair, and fmaddsub gives x0*c - x1*s in even lanes and
 * x1*c + x0*s in odd ones, the same operations as the plain C kernel. */
TARGET static void rope_pairs(float *v, const float *cs, int half) {
    int p = 0;
    for (; p + 4 <= half; p += 4) {
        __m256 x = _mm256_loadu_ps(v + 2 * p), t = _mm256_loadu_ps(cs + 2 * p);
        __m256 c = _mm256_moveldup_ps(t), s = _mm256_movehdup_ps(t);
        __m256 sw = _mm256_permute_ps(x, 0xB1); /* x1 x0 x3 x2 ... */
        _mm256_storeu_ps(v + 2 * p, _mm256_fmaddsub_ps(x, c, _mm256_mul_ps(sw, s)));
    }
    cpu_ref_rope_pairs(v + 2 * p, cs + 2 * p, half - p);
}

TARGET static void round_f16(float *y, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) y[i] = f16f(_cvtss_sh(x[i], 0));
}

TARGET static void to_f16(uint16_t *y, const float *x, int n) { quant_f16(x, y, n); }

/* ------------------------------------------------------------------------ */

#define MM(T, A) {.act = A, .gemm = gemm_##T}
const cpu_kernels cpu_kernels_avx2 = {
    .name = "avx2",
    .mm = {
        [IG_TYPE_F32] = MM(f32, CPU_ACT_F32),
        [IG_TYPE_F16] = MM(f16, CPU_ACT_F16),
        [IG_TYPE_BF16] = MM(bf16, CPU_ACT_BF16),
        [IG_TYPE_Q4_0] = {.act = CPU_ACT_Q8A, .gemm = gemm_q4_0, .pack = pack_q4_0, .gemm_packed = gemm_q4_0x8},
        [IG_TYPE_Q4_1] = MM(q4_1, CPU_ACT_Q8A),
        [IG_TYPE_Q5_0] = MM(q5_0, CPU_ACT_Q8A),
        [IG_TYPE_Q5_1] = MM(q5_1, CPU_ACT_Q8A),
        [IG_TYPE_Q8_0] = {.act = CPU_ACT_Q8A, .gemm = gemm_q8_0, .pack = pack_q8_0, .gemm_packed = gemm_q8_0x8},
        [IG_TYPE_Q2_K] = MM(q2_K, CPU_ACT_Q8K),
        [IG_TYPE_Q3_K] = MM(q3_K, CPU_ACT_Q8K),
        [IG_TYPE_Q4_K] = {.act = CPU_ACT_Q8K, .gemm = gemm_q4_K, .pack = pack_q4_K, .gemm_packed = gemm_q4_Kx8},
        [IG_TYPE_Q5_K] = MM(q5_K, CPU_ACT_Q8K),
        [IG_TYPE_Q6_K] = {.act = CPU_ACT_Q8K, .gemm = gemm_q6_K, .pack = pack_q6_K, .gemm_packed = gemm_q6_Kx8},
    },
    .quant = {
        [CPU_ACT_F32] = quant_f32,
        [CPU_ACT_F16] = quant_f16,
        [CPU_ACT_BF16] = quant_bf16,
        [CPU_ACT_Q8A] = quant_q8a,
        [CPU_ACT_Q8K] = quant_q8k,
    },
    .sum_sq = sum_sq,
    .sum = sum,
    .center = center,
    .scale_mul = scale_mul,
    .add = add,
    .swiglu = swiglu,
    .exp_sum = exp_sum,
    .dot_kv = dot_kv,
    .axpy_kv = axpy_kv,
    .round_f16 = round_f16,
    .to_f16 = to_f16,
    .rope_pairs = rope_pairs,
};
#undef MM

#endif /* __x86_64__ */
