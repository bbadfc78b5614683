/* Every kernel of every SIMD set this CPU supports against the plain C set
 * (src/backend/cpu/generic.c), on fresh random inputs each run (the seed
 * is printed; INGOT_TEST_SEED=N repeats a run): activation quantizers bit
 * for bit, matrix products of every weight type in the file layout and the
 * packed one, for several token counts and odd sizes, and the element-wise
 * ops. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/kernels.h"
#include "core/util.h"
#include "quant/quant.h"
#include "test.h"

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}
static float frand(void) { return (float)((rnd() >> 40) / (double)(1 << 24)) * 2.0f - 1.0f; }
/* roughly normal, with occasional outliers like real activations */
static float nrand(void) {
    float s = 0;
    for (int i = 0; i < 4; i++) s += frand();
    if ((rnd() & 63) == 0) s *= 8;
    return s * 0.5f;
}

static const uint32_t types[] = {IG_TYPE_F32, IG_TYPE_F16, IG_TYPE_BF16, IG_TYPE_Q4_0, IG_TYPE_Q4_1,
                                 IG_TYPE_Q5_0, IG_TYPE_Q5_1, IG_TYPE_Q8_0, IG_TYPE_Q2_K, IG_TYPE_Q3_K,
                                 IG_TYPE_Q4_K, IG_TYPE_Q5_K, IG_TYPE_Q6_K};

/* Σ |w_i x_i| over a row: the scale of the rounding differences allowed */
static double abs_dot(const float *w, const float *x, int64_t k) {
    double s = 0;
    for (int64_t i = 0; i < k; i++) s += fabs((double)w[i] * x[i]);
    return s;
}

static void check_gemm(const cpu_kernels *K, uint32_t type, int64_t k, int rows, int n) {
    const cpu_kernels *G = &cpu_kernels_generic;
    const char *tn = ingot_type_name(type);
    const size_t rb = ig_row_size(type, k);
    float *wf = malloc((size_t)rows * k * sizeof(float)), *wd = malloc((size_t)rows * k * sizeof(float));
    float *x = malloc((size_t)n * k * sizeof(float));
    char *w = malloc(rb * rows), *wp = malloc(rb * rows);
    const cpu_act act = G->mm[type].act;
    CHECK(K->mm[type].act == act, "%s: activation format differs", tn);
    const size_t as = cpu_act_row_size(act, k);
    char *ag = malloc(as * n + 1), *ak = malloc(as * n + 1);
    float *og = malloc((size_t)n * rows * sizeof(float)), *ok = malloc((size_t)n * rows * sizeof(float));
    float *op = malloc((size_t)n * rows * sizeof(float));
    for (int64_t i = 0; i < (int64_t)rows * k; i++) wf[i] = nrand() * 0.05f;
    for (int64_t i = 0; i < (int64_t)n * k; i++) x[i] = nrand();
    for (int r = 0; r < rows; r++) {
        ig_quant_row(type, wf + (size_t)r * k, w + (size_t)r * rb, k);
        ig_dequant_row(type, w + (size_t)r * rb, wd + (size_t)r * k, k);
    }
    for (int i = 0; i < n; i++) {
        G->quant[act](x + (size_t)i * k, ag + (size_t)i * as, k);
        K->quant[act](x + (size_t)i * k, ak + (size_t)i * as, k);
    }
    CHECK(!memcmp(ag, ak, as * n), "%s %s: activation format %d differs from the reference (k=%lld)",
          K->name, tn, (int)act, (long long)k);
    G->mm[type].gemm(k, w, rb, rows, ag, as, n, og, rows);
    K->mm[type].gemm(k, w, rb, rows, ag, as, n, ok, rows);
    const bool packed = K->mm[type].pack && rows % CPU_PACK_ROWS == 0;
    if (packed) {
        K->mm[type].pack(w, wp, rows, k);
        K->mm[type].gemm_packed(k, wp, rb * CPU_PACK_ROWS, rows, ag, as, n, op, rows);
    }
    /* dequantized activations, for the error scale */
    float *xd = malloc((size_t)k * sizeof(float));
    int bad = 0, badp = 0;
    for (int i = 0; i < n; i++) {
        for (int64_t e = 0; e < k; e++) xd[e] = x[(size_t)i * k + e];
        for (int r = 0; r < rows; r++) {
            const double scale = abs_dot(wd + (size_t)r * k, xd, k);
            const double tol = 3e-6 * scale + 1e-6;
            const float g = og[(size_t)i * rows + r];
            if (!(fabs(ok[(size_t)i * rows + r] - g) <= tol) && bad++ < 3)
                fprintf(stderr, "  %s %s k=%lld row %d tok %d: %.9g vs ref %.9g (tol %.3g)\n", K->name, tn,
                        (long long)k, r, i, ok[(size_t)i * rows + r], g, tol);
            if (packed && !(fabs(op[(size_t)i * rows + r] - g) <= tol) && badp++ < 3)
                fprintf(stderr, "  %s %s packed k=%lld row %d tok %d: %.9g vs ref %.9g (tol %.3g)\n", K->name,
                        tn, (long long)k, r, i, op[(size_t)i * rows + r], g, tol);
        }
    }
    CHECK(bad == 0, "%s gemm %s k=%lld rows=%d n=%d: %d outputs off", K->name, tn, (long long)k, rows, n, bad);
    CHECK(badp == 0, "%s packed gemm %s k=%lld rows=%d n=%d: %d outputs off", K->name, tn, (long long)k, rows, n,
          badp);
    /* the reference itself against float math on the dequantized values
     * (catches a kernel and the reference agreeing on a wrong layout) */
    if (act == CPU_ACT_F32) {
        double e = 0;
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++) s += (double)wd[(size_t)r * k + q] * x[q];
            e = fmax(e, fabs(s - og[r]) / (abs_dot(wd + (size_t)r * k, x, k) + 1e-9));
        }
        CHECK(e < 1e-5, "reference %s gemm vs float math: relative error %g", tn, e);
    } else {
        /* quantized activations: the error is dominated by their rounding */
        double e = 0;
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++) s += (double)wd[(size_t)r * k + q] * x[q];
            e = fmax(e, fabs(s - og[r]) / (abs_dot(wd + (size_t)r * k, x, k) + 1e-9));
        }
        CHECK(e < 6e-2, "reference %s gemm vs float math: relative error %g", tn, e);
    }
    free(xd);
    free(wf);
    free(wd);
    free(x);
    free(w);
    free(wp);
    free(ag);
    free(ak);
    free(og);
    free(ok);
    free(op);
}

static void check_elementwise(const cpu_kernels *K) {
    const cpu_kernels *G = &cpu_kernels_generic;
    const int sizes[] = {1, 7, 8, 9, 31, 64, 100, 2049};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int n = sizes[si];
        float *a = malloc(n * 4), *b = malloc(n * 4), *g = malloc(n * 4), *y1 = malloc(n * 4), *y2 = malloc(n * 4);
        uint16_t *h = malloc(n * 2), *h2 = malloc(n * 2);
        for (int i = 0; i < n; i++) {
            a[i] = nrand() * 3;
            b[i] = nrand();
            g[i] = 1 + 0.1f * nrand();
        }
        double s1 = G->sum_sq(a, n), s2 = K->sum_sq(a, n);
        CHECK(fabs(s1 - s2) <= 1e-12 * s1, "%s sum_sq n=%d: %.17g vs %.17g", K->name, n, s2, s1);
        G->scale_mul(y1, a, 0.37f, g, n);
        K->scale_mul(y2, a, 0.37f, g, n);
        CHECK(!memcmp(y1, y2, n * 4), "%s scale_mul n=%d differs", K->name, n);
        G->add(y1, a, b, n);
        K->add(y2, a, b, n);
        CHECK(!memcmp(y1, y2, n * 4), "%s add n=%d differs", K->name, n);
        G->swiglu(y1, a, b, n);
        K->swiglu(y2, a, b, n);
        int bad = 0;
        for (int i = 0; i < n; i++)
            if (!(fabsf(y1[i] - y2[i]) <= 4e-7f * fabsf(y1[i]) + 1e-30f)) bad++;
        CHECK(bad == 0, "%s swiglu n=%d: %d values off by more than 4e-7", K->name, n, bad);
        G->round_f16(y1, a, n);
        K->round_f16(y2, a, n);
        CHECK(!memcmp(y1, y2, n * 4), "%s round_f16 n=%d differs", K->name, n);
        G->to_f16(h, a, n);
        K->to_f16(h2, a, n);
        CHECK(!memcmp(h, h2, n * 2), "%s to_f16 n=%d differs", K->name, n);
        for (int f16 = 0; f16 < 2; f16++) {
            const void *kv = f16 ? (const void *)h : (const void *)b;
            double sc = 0;
            for (int i = 0; i < n; i++) sc += fabs(y1[i] * (f16 ? ig_f16_to_f32(h[i]) : b[i]));
            float d1 = G->dot_kv(y1, kv, f16, n), d2 = K->dot_kv(y1, kv, f16, n);
            CHECK(fabs(d1 - d2) <= 2e-6 * sc + 1e-30, "%s dot_kv f16=%d n=%d: %g vs %g", K->name, f16, n, d2, d1);
            memcpy(y2, g, n * 4);
            float *acc = malloc(n * 4);
            memcpy(acc, g, n * 4);
            G->axpy_kv(acc, 0.3f, kv, f16, n);
            K->axpy_kv(y2, 0.3f, kv, f16, n);
            bad = 0;
            for (int i = 0; i < n; i++)
                if (!(fabsf(acc[i] - y2[i]) <= 1e-6f * (fabsf(acc[i]) + 1))) bad++;
            CHECK(bad == 0, "%s axpy_kv f16=%d n=%d: %d values off", K->name, f16, n, bad);
            free(acc);
        }
        free(a);
        free(b);
        free(g);
        free(y1);
        free(y2);
        free(h);
        free(h2);
    }
}

/* The reference quantizers of activations against their definition:
 * ggml's x86 Q8_0 (127/amax, round half to even) and Q8_K. */
static void check_reference_acts(void) {
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = nrand();
    x[5] = 0.5f * 127; /* a tie after scaling is possible; any value is fine */
    cpu_q8a a[8];
    cpu_quant_q8a_ref(x, a, 256);
    for (int b = 0; b < 8; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        const float id = 127.f / amax;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int q = (int)nearbyintf(x[32 * b + j] * id);
            CHECK(a[b].qs[j] == q, "q8a ref block %d elem %d: %d vs %d", b, j, a[b].qs[j], q);
            sum += q;
        }
        CHECK(a[b].sum == sum, "q8a ref sum");
        CHECK(a[b].d == ig_f16_to_f32(ig_f32_to_f16(amax / 127.f)), "q8a ref d");
    }
    cpu_q8k k8;
    cpu_quant_q8k_ref(x, &k8, 256);
    block_q8_K k8b;
    ig_quant_row_q8_K(x, &k8b, 256);
    CHECK(k8.d == k8b.d && !memcmp(k8.qs, k8b.qs, 256) && !memcmp(k8.bsums, k8b.bsums, sizeof k8.bsums), "q8K ref");
    for (int j = 0; j < 8; j++) {
        int s32 = 0;
        for (int e = 0; e < 32; e++) s32 += k8.qs[32 * j + e];
        CHECK(k8.bsums32[j] == s32, "q8K ref sums of 32");
    }
}

int main(void) {
    const char *env = getenv("INGOT_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %llu (INGOT_TEST_SEED=%llu repeats this run)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    rng_state = seed * 2654435761u + 88172645463325252ull;
    if (!rng_state) rng_state = 1;

    check_reference_acts();

    const cpu_kernels *sets[4];
    int nsets = 0;
    sets[nsets++] = &cpu_kernels_generic; /* the reference against itself: packed-free sanity */
    const char *names[] = {"avx2", "neon"};
    for (size_t i = 0; i < 2; i++) {
        const cpu_kernels *k = cpu_kernels_by_name(names[i]);
        if (k) sets[nsets++] = k;
        else printf("kernel set %s: not available on this CPU, skipped\n", names[i]);
    }
    const int ns[] = {1, 2, 3, 5, 8, 17};
    for (int si = 0; si < nsets; si++) {
        const cpu_kernels *K = sets[si];
        printf("kernel set %s\n", K->name);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const uint32_t t = types[ti];
            const int64_t blk = ingot_type_block_size(t);
            /* odd multiples of the block (and float tails for f32/f16/bf16) */
            int64_t ks[3];
            if (blk == 1) {
                ks[0] = 37; ks[1] = 256; ks[2] = 173;
            } else if (blk == 32) {
                ks[0] = 32; ks[1] = 96; ks[2] = 288;
            } else {
                ks[0] = 256; ks[1] = 768; ks[2] = 512;
            }
            for (int ki = 0; ki < 3; ki++)
                for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                    const int rows = (ki + (int)ni) % 2 ? 24 : 13 + (int)ni;
                    check_gemm(K, t, ks[ki], rows, ns[ni]);
                }
        }
        check_elementwise(K);
    }
    return test_done();
}
