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

#include "backend/backend.h"
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

/* activation row back to floats */
static void dequant_act(cpu_act act, const void *a, float *x, int64_t k) {
    switch (act) {
    case CPU_ACT_F32: memcpy(x, a, (size_t)k * 4); break;
    case CPU_ACT_F16:
        for (int64_t i = 0; i < k; i++) x[i] = ig_f16_to_f32(((const uint16_t *)a)[i]);
        break;
    case CPU_ACT_BF16:
        for (int64_t i = 0; i < k; i++) x[i] = ig_bf16_to_f32(((const uint16_t *)a)[i]);
        break;
    case CPU_ACT_Q8A:
        for (int64_t i = 0; i < k; i++) x[i] = ((const cpu_q8a *)a)[i / 32].d * ((const cpu_q8a *)a)[i / 32].qs[i % 32];
        break;
    case CPU_ACT_Q8K:
        for (int64_t i = 0; i < k; i++) x[i] = ((const cpu_q8k *)a)[i / QK_K].d * ((const cpu_q8k *)a)[i / QK_K].qs[i % QK_K];
        break;
    default: break;
    }
}

static void check_gemm(const cpu_kernels *K, uint32_t type, int64_t k, int rows, int n) {
    const cpu_kernels *G = &cpu_kernels_generic;
    if (!K->mm[type].gemm) return; /* this set uses the reference for the type */
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
        if (type == IG_TYPE_Q8_0 && r % 3 == 0) /* -128: legal in a file, never made by ggml */
            ((block_q8_0 *)(w + (size_t)r * rb))[0].qs[r % 32] = -128;
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
    float *xd = malloc((size_t)k * sizeof(float));
    int bad = 0, badp = 0;
    for (int i = 0; i < n; i++) {
        dequant_act(act, ag + (size_t)i * as, xd, k);
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
    /* the reference itself against float math on the dequantized weights
     * and activations (catches a kernel and the reference agreeing on a
     * wrong layout); Q4_1 / Q5_1 use ggml's f16-rounded d*sum for the min */
    {
        const bool f16s = type == IG_TYPE_Q4_1 || type == IG_TYPE_Q5_1;
        int badr = 0;
        for (int i = 0; i < n; i++) {
            dequant_act(act, ag + (size_t)i * as, xd, k);
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++) s += (double)wd[(size_t)r * k + q] * xd[q];
                double S = abs_dot(wd + (size_t)r * k, xd, k);
                if (f16s) { /* the min term m * sum(x) is only f16-precise */
                    double wmax = 0, xs = 0;
                    for (int64_t q = 0; q < k; q++) {
                        wmax = fmax(wmax, fabs(wd[(size_t)r * k + q]));
                        xs += fabs(xd[q]);
                    }
                    S += wmax * xs;
                }
                if (!(fabs(s - og[(size_t)i * rows + r]) <= (f16s ? 2e-3 : 2e-6) * S + 1e-6)) badr++;
            }
        }
        CHECK(badr == 0, "reference %s gemm k=%lld vs float math: %d outputs off", tn, (long long)k, badr);
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
        {
            float *e1 = malloc(n * 4), *e2 = malloc(n * 4);
            float mx = -INFINITY;
            for (int i = 0; i < n; i++) {
                e1[i] = e2[i] = a[i] * 4; /* softmax scores: exp of (score - max) <= 0 */
                mx = fmaxf(mx, e1[i]);
            }
            const double s1e = G->exp_sum(e1, n, mx), s2e = K->exp_sum(e2, n, mx);
            bad = 0;
            for (int i = 0; i < n; i++)
                if (!(fabsf(e1[i] - e2[i]) <= 3e-7f * e1[i] + 1e-37f)) bad++;
            CHECK(bad == 0 && fabs(s1e - s2e) <= 3e-7 * s1e, "%s exp_sum n=%d: %d values off, sum %g vs %g", K->name,
                  n, bad, s2e, s1e);
            free(e1);
            free(e2);
        }
        /* layer-norm pieces: the sum in double (order may differ: bounded),
         * centering exactly */
        {
            const double s1 = G->sum(a, n), s2 = K->sum(a, n);
            double mag = 0;
            for (int i = 0; i < n; i++) mag += fabs(a[i]);
            CHECK(fabs(s1 - s2) <= 1e-12 * (mag + 1), "%s sum n=%d: %.17g vs %.17g", K->name, n, s2, s1);
            G->center(y1, a, 0.3125f, n);
            K->center(y2, a, 0.3125f, n);
            CHECK(!memcmp(y1, y2, (size_t)n * 4), "%s center n=%d differs", K->name, n);
        }
        /* rope: cos/sin pairs of real angles, n/2 pairs (odd counts too) */
        {
            float *cs = malloc((size_t)n * sizeof *cs);
            for (int p = 0; p < n / 2; p++) {
                float th = a[p] * 50.0f;
                cs[2 * p] = cosf(th);
                cs[2 * p + 1] = sinf(th);
            }
            memcpy(y1, a, (size_t)n * 4);
            memcpy(y2, a, (size_t)n * 4);
            G->rope_pairs(y1, cs, n / 2);
            K->rope_pairs(y2, cs, n / 2);
            CHECK(!memcmp(y1, y2, (size_t)n * 4), "%s rope_pairs n=%d differs", K->name, n);
            free(cs);
        }
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
            CHECK(fabs(d1 - d2) <= (n + 16) * 1.2e-7 * sc + 1e-30, "%s dot_kv f16=%d n=%d: %g vs %g", K->name, f16, n, d2, d1);
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

/* The backend's matmul driver (activation cache, packing with a row
 * remainder, bias, threads) against the reference gemm, on weights in heap
 * memory, which must come through packing untouched. */
static void check_driver(void) {
    static const uint32_t dtypes[] = {IG_TYPE_Q4_0, IG_TYPE_Q8_0, IG_TYPE_Q4_K, IG_TYPE_Q6_K, IG_TYPE_F16};
    for (int threads = 1; threads <= 3; threads++) {
        ig_backend *be = NULL;
        CHECK(ig_backend_cpu_new(threads, &be) == INGOT_OK, "cpu backend");
        if (!be) return;
        for (size_t ti = 0; ti < sizeof dtypes / sizeof dtypes[0]; ti++) {
            const uint32_t type = dtypes[ti];
            const int64_t k = 512, rows = 45; /* 5 packed groups and 5 rows more */
            const int n = 6;
            const size_t rb = ig_row_size(type, k);
            char *wdata = malloc(rb * rows), *copy = malloc(rb * rows);
            float *wf = malloc(k * sizeof(float)), *x = malloc((size_t)n * k * sizeof(float));
            float *bias = malloc(rows * sizeof(float)), *out = malloc((size_t)n * rows * sizeof(float));
            float *ref = malloc((size_t)n * rows * sizeof(float));
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t i = 0; i < k; i++) wf[i] = nrand() * 0.05f;
                ig_quant_row(type, wf, wdata + r * rb, k);
                bias[r] = nrand();
            }
            for (int64_t i = 0; i < (int64_t)n * k; i++) x[i] = nrand();
            memcpy(copy, wdata, rb * rows);
            ig_weight w = {.type = type, .rows = rows, .cols = k, .nbytes = rb * rows};
            ig_weight bw = {.type = IG_TYPE_F32, .rows = 1, .cols = rows, .nbytes = rows * 4};
            be->iface->weight_upload(be, &w, wdata);
            be->iface->weight_upload(be, &bw, bias);
            /* twice: the second call finds the packed copy and cached activations */
            for (int rep = 0; rep < 2; rep++) be->iface->matmul(be, out, &w, &bw, x, n);
            CHECK(be->iface->sync(be) == INGOT_OK, "sync");
            CHECK(!memcmp(copy, wdata, rb * rows), "%s: packing changed the caller's weights", ingot_type_name(type));
            const cpu_kernels *G = &cpu_kernels_generic;
            const cpu_act act = G->mm[type].act;
            const size_t as = cpu_act_row_size(act, k);
            char *a = malloc(as * n);
            for (int i = 0; i < n; i++) G->quant[act](x + (size_t)i * k, a + i * as, k);
            G->mm[type].gemm(k, wdata, rb, (int)rows, a, as, n, ref, rows);
            int bad = 0;
            for (int i = 0; i < n; i++)
                for (int64_t r = 0; r < rows; r++) {
                    const float want = ref[i * rows + r] + bias[r], got = out[i * rows + r];
                    if (!(fabsf(got - want) <= 1e-4f * (fabsf(want) + 1))) bad++;
                }
            CHECK(bad == 0, "driver %s, %d threads: %d outputs off", ingot_type_name(type), threads, bad);
            be->iface->weight_free(be, &w);
            be->iface->weight_free(be, &bw);
            free(a);
            free(wdata);
            free(copy);
            free(wf);
            free(x);
            free(bias);
            free(out);
            free(ref);
        }
        be->iface->destroy(be);
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
    check_driver();

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
