/* Tensor formats in memory: the traits table, block layouts, and
 * quantize -> dequantize round trips on fresh random data with error bounds
 * derived from each format. The seed comes from the clock and is printed;
 * INGOT_TEST_SEED=<n> replays a run. */
#include <float.h>
#include <stdint.h>
#include <time.h>

#include "core/util.h"
#include "ingot.h"
#include "quant/quant.h"
#include "test.h"

/* ---- random numbers (xorshift64*, Box-Muller) --------------------------- */

static uint64_t rng_state;

static uint64_t rng_u64(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(void) { return (double)(rng_u64() >> 11) * 0x1p-53; } /* [0, 1) */

static float rng_gauss(void) {
    double u = rng_unit(), v = rng_unit();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v));
}

/* ---- traits ------------------------------------------------------------- */

static void test_traits(void) {
    /* Every id ggml defines, with the block size and bytes from ggml-common.h. */
    static const struct { uint32_t id; const char *name; int64_t blck; size_t size; } want[] = {
        {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
        {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
        {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
        {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
        {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
        {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
        {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
        {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
        {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
        {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
        {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},
    };
    bool known[64] = {0};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const uint32_t id = want[i].id;
        known[id] = true;
        const ig_type_traits *t = ig_type_traits_get(id);
        CHECK(t != NULL, "type %u known", id);
        if (!t) continue;
        CHECK(strcmp(t->name, want[i].name) == 0, "type %u name %s", id, t->name);
        CHECK(t->blck == want[i].blck, "type %s blck %lld", t->name, (long long)t->blck);
        CHECK(t->type_size == want[i].size, "type %s size %zu", t->name, t->type_size);
        CHECK(ingot_type_name(id) == t->name, "public name of %u", id);
        CHECK(ingot_type_block_size(id) == want[i].blck, "public blck of %s", t->name);
        CHECK(ingot_type_row_size(id, 4096) == (size_t)(4096 / want[i].blck) * want[i].size,
              "row size of %s", t->name);
        /* Name round trip, in both cases. */
        char lower[16];
        size_t k = 0;
        for (; want[i].name[k] && k < sizeof lower - 1; k++)
            lower[k] = (char)(want[i].name[k] | (want[i].name[k] >= 'A' && want[i].name[k] <= 'Z' ? 0x20 : 0));
        lower[k] = 0;
        CHECK(ingot_type_from_name(want[i].name) == (int)id, "from_name %s", want[i].name);
        CHECK(ingot_type_from_name(lower) == (int)id, "from_name %s", lower);
    }
    for (uint32_t id = 0; id < 64; id++)
        if (!known[id]) {
            CHECK(ig_type_traits_get(id) == NULL, "retired/unknown id %u", id);
            CHECK(ingot_type_name(id) == NULL, "no name for id %u", id);
            CHECK(ingot_type_row_size(id, 256) == 0, "no row size for id %u", id);
            CHECK(!ingot_type_can_dequant(id) && !ingot_type_can_quant(id), "id %u unusable", id);
        }
    CHECK(ig_type_traits_get(UINT32_MAX) == NULL, "huge id");
    CHECK(ingot_type_from_name("q4_k") == 12, "q4_k");
    CHECK(ingot_type_from_name("Q4_K_M") == -1, "file types are not tensor types");
    CHECK(ingot_type_from_name("") == -1 && ingot_type_from_name(NULL) == -1, "empty name");

    CHECK(ig_row_size(IG_TYPE_Q4_K, 300) == 0, "partial block");
    CHECK(ig_row_size(IG_TYPE_Q4_0, -32) == 0, "negative count");
    CHECK(ig_row_size(IG_TYPE_F32, INT64_MAX) == 0, "overflow");
    CHECK(ig_row_size(IG_TYPE_F16, 7) == 14, "f16 row");

    static const uint32_t deq[] = {0, 1, 30, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    for (size_t i = 0; i < sizeof deq / sizeof deq[0]; i++)
        CHECK(ingot_type_can_dequant(deq[i]) && ingot_type_can_quant(deq[i]), "type %u usable", deq[i]);
    CHECK(!ingot_type_can_dequant(IG_TYPE_IQ2_XXS), "iq2_xxs not decoded");
}

/* ---- block layouts ------------------------------------------------------ */

static void test_layouts(void) {
    /* Q4_0: low nibbles are elements 0..15, high nibbles 16..31. */
    block_q4_0 b4;
    b4.d = ig_f32_to_f16(0.5f);
    for (int j = 0; j < 16; j++) b4.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[QK_K];
    ig_dequant_row(IG_TYPE_Q4_0, &b4, y, 32);
    bool ok = true;
    for (int j = 0; j < 16; j++) ok &= y[j] == 0.5f * (j - 8) && y[16 + j] == 0.5f * (7 - j);
    CHECK(ok, "q4_0 nibble order");

    /* Q5_0: bit j of qh is the fifth bit of element j. */
    block_q5_0 b5;
    b5.d = ig_f32_to_f16(1.0f);
    memset(b5.qs, 0, sizeof b5.qs);
    const uint32_t qh = 0x80010002u; /* elements 1, 16, 31 */
    memcpy(b5.qh, &qh, 4);           /* little-endian hosts only, like GGUF */
    ig_dequant_row(IG_TYPE_Q5_0, &b5, y, 32);
    ok = true;
    for (int j = 0; j < 32; j++) ok &= y[j] == ((j == 1 || j == 16 || j == 31) ? 0.0f : -16.0f);
    CHECK(ok, "q5_0 high bits");

    /* Q8_K: bsums are sums of 16 quants; Q8_1: s = d * sum of quants. */
    float x[QK_K];
    for (int j = 0; j < QK_K; j++) x[j] = rng_gauss();
    block_q8_K k8;
    ig_quant_row(IG_TYPE_Q8_K, x, &k8, QK_K);
    ok = true;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += k8.qs[16 * g + j];
        ok &= s == k8.bsums[g];
    }
    CHECK(ok, "q8_K bsums");
    block_q8_1 q81[8];
    block_q8_0 q80[8];
    ig_quant_row(IG_TYPE_Q8_1, x, q81, QK_K);
    ig_quant_row(IG_TYPE_Q8_0, x, q80, QK_K);
    ok = true;
    for (int b = 0; b < 8; b++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += q81[b].qs[j];
        ok &= q81[b].d == q80[b].d && !memcmp(q81[b].qs, q80[b].qs, 32);
        /* ggml scales the sum by the f32 scale, before its f16 rounding. */
        float a = 0;
        for (int j = 0; j < 32; j++) a = fmaxf(a, fabsf(x[32 * b + j]));
        ok &= q81[b].s == ig_f32_to_f16((float)s * (a / 127));
    }
    CHECK(ok, "q8_1 = q8_0 quants plus sum");
}

/* ---- round trips -------------------------------------------------------- */

/* Bounds. Notation: Δ is a block's quantization step, A its largest |x|,
 * R = max - min its range, ε = 2^-11 the relative rounding of an f16 scale.
 * Rounding to the nearest level leaves an error of at most Δ/2, uniform on
 * [-Δ/2, Δ/2] for smooth data, so rms = Δ/√12.
 *
 * gauss: rms(error)/rms(x) for N(0,1) data. For such data √E[A²] is 2.4 for
 * blocks of 16 (2.1), 32 (2.4), 256 (3.1) values and √E[R²] is 3.6 (16) and
 * 4.2 (32); the bound is the Δ/√12 estimate plus ~15-20% margin (the
 * measured value fluctuates by < 1% at this sample size).
 *
 * elem: for the 32-value formats, a worst case for any data: every
 * |error| <= elem * A of its block. For k-quants the scales are fitted and
 * no clean worst case exists; instead `sb` bounds rms(error) of each 256
 * super-block by sb * A: half the step of a sub-block that spans the whole
 * super-block (Δ <= 2A/nmax asymmetric, A/nmax symmetric); measured values
 * are under half of it.
 *
 * outl: |error| of an outlier (the super-block's largest value) relative
 * to itself: it sits on the extreme level of the sub-block it dominates, so
 * within half that sub-block's step: A/(2 nmax) for the symmetric formats,
 * <= A/nmax for those with a min (R <= 2A).
 *
 * The Gaussian data has sigma 0.02, like real weights; the bounds are
 * relative and do not depend on sigma except through f16 subnormal scales
 * (only Q6_K's super-scale, ~1.5e-5 here, is subnormal: 0.4% scale error,
 * which adds < 0.001 in quadrature). */
typedef struct {
    uint32_t type;
    double gauss, elem, sb, outl;
} bounds;

static const bounds B[] = {
    /* Δ = A/127: A/(127√12) = 0.0055 at A = 2.4. Worst case: Δ/2 + 127Δε
     * (the scale is f16): A (0.5/127 + ε). */
    {IG_TYPE_Q8_0, 0.0065, 0.5 / 127 + 0x1p-11, 0, 1.0 / 254},
    {IG_TYPE_Q8_1, 0.0065, 0.5 / 127 + 0x1p-11, 0, 1.0 / 254},
    /* Δ = A/8: 2.4/(8√12) = 0.087. The largest magnitude maps to -8, so
     * the opposite sign clips at +7: worst case Δ + 7Δε = A (1/8 + 7ε/8). */
    {IG_TYPE_Q4_0, 0.10, 1.0 / 8 + 7.0 / 8 * 0x1p-11, 0, 1.0 / 16},
    /* Δ = A/16: 0.043; worst case A (1/16 + 15ε/16). */
    {IG_TYPE_Q5_0, 0.05, 1.0 / 16 + 15.0 / 16 * 0x1p-11, 0, 1.0 / 32},
    /* Δ = R/15: 4.2/(15√12) = 0.081. Worst case Δ/2 + 15Δε + |min|ε with
     * R <= 2A: A (1/15 + 3ε). */
    {IG_TYPE_Q4_1, 0.095, 1.0 / 15 + 3 * 0x1p-11, 0, 1.0 / 15},
    /* Δ = R/31: 0.039; worst case A (1/31 + 3ε). */
    {IG_TYPE_Q5_1, 0.046, 1.0 / 31 + 3 * 0x1p-11, 0, 1.0 / 31},
    /* 16 values, 4 levels with a fitted min: R/3/√12 = 3.6/10.4 = 0.35;
     * the least-absolute-error fit trims the range (measured 0.30). sb: Δ/2
     * = A/3. */
    {IG_TYPE_Q2_K, 0.35, 0, 1.0 / 3, 1.0 / 3},
    /* 16 values, levels -4..3: Δ = A/4: 2.1/(4√12) = 0.152, plus 6-bit
     * scales; bound 0.18. sb: A/8. */
    {IG_TYPE_Q3_K, 0.18, 0, 1.0 / 8, 1.0 / 8},
    /* 32 values, 16 levels with min: R/15/√12 = 0.081 (the fitted scales
     * do better, measured 0.072). sb: Δ/2 = A/15. */
    {IG_TYPE_Q4_K, 0.095, 0, 1.0 / 15, 1.0 / 30},
    /* 32 values, 32 levels: 0.039 (measured 0.036). sb: A/31. */
    {IG_TYPE_Q5_K, 0.046, 0, 1.0 / 31, 1.0 / 62},
    /* 16 values, levels -32..31: Δ = A/32: 2.1/(32√12) = 0.019, 8-bit
     * scales. sb: A/64. */
    {IG_TYPE_Q6_K, 0.022, 0, 1.0 / 64, 1.0 / 64},
    /* 256 values, Δ = A/127 with an f32 scale: 3.1/(127√12) = 0.0070. */
    {IG_TYPE_Q8_K, 0.0085, 0, 1.0 / 254, 1.0 / 254},
};
#define NB (sizeof B / sizeof B[0])

enum { ROWS = 16, COLS = 4096, N = ROWS * COLS };

static bool all_finite(const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(y[i])) return false;
    return true;
}

static double amax_of(const float *x, int n) {
    double a = 0;
    for (int i = 0; i < n; i++) a = fmax(a, fabs(x[i]));
    return a;
}

/* Quantize x (ROWS x COLS) with ig_quantize, check it matches row-by-row
 * ig_quant_row, and dequantize into y. */
static void round_trip(uint32_t type, const float *x, float *y, uint8_t *q, uint8_t *q2) {
    const size_t row = ig_row_size(type, COLS);
    const size_t got = ig_quantize(type, x, q, ROWS, COLS);
    CHECK(got == row * ROWS, "%s: ig_quantize returned %zu", ingot_type_name(type), got);
    for (int r = 0; r < ROWS; r++) ig_quant_row(type, x + (size_t)r * COLS, q2 + r * row, COLS);
    CHECK(memcmp(q, q2, row * ROWS) == 0, "%s: ig_quantize == rows of ig_quant_row",
          ingot_type_name(type));
    for (int r = 0; r < ROWS; r++) ig_dequant_row(type, q + r * row, y + (size_t)r * COLS, COLS);
}

static void check_bounds(const bounds *b, const char *what, const float *x, const float *y,
                         bool gauss) {
    const char *name = ingot_type_name(b->type);
    CHECK(all_finite(y, N), "%s/%s: non-finite output", name, what);
    if (gauss) {
        double e2 = 0, x2 = 0;
        for (int i = 0; i < N; i++) {
            e2 += (double)(x[i] - y[i]) * (x[i] - y[i]);
            x2 += (double)x[i] * x[i];
        }
        const double rel = sqrt(e2 / x2);
        printf("  %-5s %-8s rms error / rms %.5f (bound %.4f)\n", name, what, rel, b->gauss);
        CHECK(rel <= b->gauss, "%s/%s: relative rms error %.5f > %.4f", name, what, rel, b->gauss);
    }
    const int blck = (int)ingot_type_block_size(b->type);
    if (b->elem > 0) {
        double worst = 0;
        for (int i = 0; i < N; i += blck) {
            const double a = amax_of(x + i, blck);
            for (int j = 0; j < blck; j++)
                if (a > 0) worst = fmax(worst, fabs(x[i + j] - y[i + j]) / a);
        }
        CHECK(worst <= b->elem * (1 + 1e-6), "%s/%s: |error| %.6f A > %.6f A", name, what, worst,
              b->elem);
    }
    if (b->sb > 0) {
        double worst = 0;
        for (int i = 0; i < N; i += QK_K) {
            const double a = amax_of(x + i, QK_K);
            double e2 = 0;
            for (int j = 0; j < QK_K; j++) e2 += (double)(x[i + j] - y[i + j]) * (x[i + j] - y[i + j]);
            if (a > 0) worst = fmax(worst, sqrt(e2 / QK_K) / a);
        }
        CHECK(worst <= b->sb, "%s/%s: super-block rms error %.5f A > %.5f A", name, what, worst,
              b->sb);
    }
}

static void test_round_trips(void) {
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(N * sizeof(float)), *q2 = malloc(N * sizeof(float));
    if (!x || !y || !q || !q2) abort();

    /* 1. Gaussian data, scaled so that some blocks' f16 scales are small. */
    for (int i = 0; i < N; i++) x[i] = rng_gauss() * 0.02f;
    for (size_t t = 0; t < NB; t++) {
        round_trip(B[t].type, x, y, q, q2);
        check_bounds(&B[t], "gauss", x, y, true);
    }

    /* 2. Outliers: one value of 20..50 sigma in every other super-block. The
     * super-blocks without one keep the Gaussian accuracy. */
    for (int i = 0; i < N; i++) x[i] = rng_gauss();
    int opos[N / QK_K];
    for (int s = 0; s < N / QK_K; s += 2) {
        opos[s] = s * QK_K + (int)(rng_u64() % QK_K);
        x[opos[s]] = (float)((rng_u64() & 1 ? -1 : 1) * (20 + 30 * rng_unit()));
    }
    for (size_t t = 0; t < NB; t++) {
        const char *name = ingot_type_name(B[t].type);
        round_trip(B[t].type, x, y, q, q2);
        check_bounds(&B[t], "outliers", x, y, false);
        double e2 = 0, x2 = 0, worst = 0;
        for (int s = 0; s < N / QK_K; s++) {
            if (s % 2 == 0) {
                const int p = opos[s];
                worst = fmax(worst, fabs(x[p] - y[p]) / fabs(x[p]));
                continue;
            }
            for (int j = s * QK_K; j < (s + 1) * QK_K; j++) {
                e2 += (double)(x[j] - y[j]) * (x[j] - y[j]);
                x2 += (double)x[j] * x[j];
            }
        }
        CHECK(worst <= B[t].outl, "%s: outlier error %.5f > %.5f", name, worst, B[t].outl);
        CHECK(sqrt(e2 / x2) <= B[t].gauss, "%s: clean super-blocks next to outliers: %.5f > %.4f",
              name, sqrt(e2 / x2), B[t].gauss);
    }

    /* 3. Zero and constant blocks: all-zero blocks (whole super-blocks, and
     * single 32-value sub-blocks inside non-zero super-blocks) decode to
     * exact zeros; constant blocks are the simplest fit (one level, one
     * scale), so only the f16 rounding of the scale, 2^-11, and the 6-bit
     * rounding of a second scale can show: bound 2^-9 relative. Constants
     * stay within [0.05, 20] so that no f16 scale is subnormal. */
    for (int i = 0; i < N; i += 32) {
        const int kind = (int)(rng_u64() % 4);
        const float c = kind == 0 ? 0.0f : (float)((rng_u64() & 1 ? -1 : 1) * exp(6 * rng_unit() - 3));
        for (int j = 0; j < 32; j++) x[i + j] = kind == 3 ? rng_gauss() : c;
    }
    for (int i = 0; i < 4 * QK_K; i++) x[i] = 0; /* whole zero super-blocks */
    for (int i = 4 * QK_K; i < 6 * QK_K; i++) x[i] = 0.37f; /* constant super-blocks */
    for (int i = 6 * QK_K; i < 8 * QK_K; i++) x[i] = -1234.5f;
    for (size_t t = 0; t < NB; t++) {
        const char *name = ingot_type_name(B[t].type);
        const int blck = (int)ingot_type_block_size(B[t].type);
        round_trip(B[t].type, x, y, q, q2);
        CHECK(all_finite(y, N), "%s: non-finite output on constant data", name);
        int bad_zero = 0, bad_const = 0;
        for (int i = 0; i < N; i += blck) {
            bool zero = true, cons = true;
            for (int j = 0; j < blck; j++) {
                zero &= x[i + j] == 0;
                cons &= x[i + j] == x[i];
            }
            for (int j = 0; j < blck; j++) {
                if (zero) bad_zero += y[i + j] != 0;
                else if (cons) bad_const += fabs(y[i + j] - x[i + j]) > 0x1p-9 * fabs(x[i + j]);
            }
        }
        /* Zero sub-blocks inside mixed super-blocks get a zero scale (and
         * min), so they are exact too. */
        if (blck == QK_K) {
            for (int i = 0; i < N; i += 32) {
                bool zero = true;
                for (int j = 0; j < 32; j++) zero &= x[i + j] == 0;
                for (int j = 0; zero && j < 32; j++) bad_zero += y[i + j] != 0;
            }
        }
        CHECK(bad_zero == 0, "%s: %d zeros not preserved", name, bad_zero);
        CHECK(bad_const == 0, "%s: %d constant values off by > 2^-9", name, bad_const);
    }

    /* 4. Plain float formats. */
    for (int i = 0; i < N; i++) x[i] = rng_gauss() * (float)exp(10 * rng_unit() - 5);
    ig_quant_row(IG_TYPE_F32, x, q, N);
    ig_dequant_row(IG_TYPE_F32, q, y, N);
    CHECK(memcmp(x, y, N * sizeof *x) == 0, "f32 copies");
    int bad16 = 0, badbf = 0;
    ig_quant_row(IG_TYPE_F16, x, q, N);
    ig_dequant_row(IG_TYPE_F16, q, y, N);
    /* Half an ulp: 2^-11 relative for normal halves, 2^-25 below 2^-14. */
    for (int i = 0; i < N; i++) bad16 += fabs(y[i] - x[i]) > fmax(0x1p-11 * fabs(x[i]), 0x1p-25);
    ig_quant_row(IG_TYPE_BF16, x, q, N);
    ig_dequant_row(IG_TYPE_BF16, q, y, N);
    for (int i = 0; i < N; i++) badbf += fabs(y[i] - x[i]) > 0x1p-8 * fabs(x[i]);
    CHECK(bad16 == 0, "f16: %d values off by more than half an ulp", bad16);
    CHECK(badbf == 0, "bf16: %d values off by more than half an ulp", badbf);

    /* 5. Rows that are not whole blocks are refused. */
    CHECK(ig_quantize(IG_TYPE_Q4_K, x, q, 2, 100) == 0, "partial super-block refused");
    CHECK(ig_quantize(IG_TYPE_IQ2_XXS, x, q, 1, 256) == 0, "iq2_xxs cannot be quantized");

    free(x);
    free(y);
    free(q);
    free(q2);
}

int main(void) {
    const char *env = getenv("INGOT_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %llu (INGOT_TEST_SEED=%llu to replay)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    test_traits();
    test_layouts();
    test_round_trips();
    return test_done();
}
