/* Tensor formats against llama.cpp's files: tests/data/models/llama-micro-*
 * hold the same weights (an F16 master, quantized by llama-quantize with no
 * importance matrix, every 2-D tensor in the file's one type).
 *  1. Dequantizing each file's 2-D tensors gives the master's values back
 *     within a per-type error bound; BF16 gives exactly bf16(master).
 *  2. Quantizing the master with ig_quant_row reproduces llama-quantize's
 *     blocks bit for bit. */
#include "core/util.h"
#include "gguf/gguf.h"
#include "ingot.h"
#include "quant/quant.h"
#include "test.h"

/* rms(dequantized - master) / rms(master). The weights are N(0, 0.02^2),
 * so these are the Gaussian bounds of test_quant.c, derived there from each
 * format's step: about step/sqrt(12) for a block's typical largest value or
 * range, plus 15-20% margin. The smallest tensors have 16384 values, enough
 * for the measured ratio to be within ~1% of its mean. */
static const struct {
    const char *file;
    uint32_t type;
    double rel_rms;
} files[] = {
    {"q8_0", IG_TYPE_Q8_0, 0.0065}, /* Δ = A/127, A ~ 2.4 sigma: 0.0055 */
    {"q4_0", IG_TYPE_Q4_0, 0.10},   /* Δ = A/8: 0.087 */
    {"q4_1", IG_TYPE_Q4_1, 0.095},  /* Δ = R/15, R ~ 4.2 sigma: 0.081 */
    {"q5_0", IG_TYPE_Q5_0, 0.05},   /* Δ = A/16: 0.043 */
    {"q5_1", IG_TYPE_Q5_1, 0.046},  /* Δ = R/31: 0.039 */
    {"q2_k", IG_TYPE_Q2_K, 0.35},   /* 16 values, 4 levels with min: <= 0.35 */
    {"q3_k", IG_TYPE_Q3_K, 0.18},   /* 16 values, -4..3: A/4 with A ~ 2.1: 0.152 */
    {"q4_k", IG_TYPE_Q4_K, 0.095},  /* 32 values, 16 levels with min: 0.081 */
    {"q5_k", IG_TYPE_Q5_K, 0.046},  /* 32 values, 32 levels with min: 0.039 */
    {"q6_k", IG_TYPE_Q6_K, 0.022},  /* 16 values, -32..31: 0.019 */
};

static float *load_f32(const gguf_tensor *t, int64_t n) {
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) abort();
    for (int64_t r = 0; r < n / t->ne[0]; r++)
        ig_dequant_row(t->type, (const uint8_t *)t->data + (size_t)r * ig_row_size(t->type, t->ne[0]),
                       x + r * t->ne[0], t->ne[0]);
    return x;
}

static int64_t n_elems(const gguf_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

static bool same_shape(const gguf_tensor *a, const gguf_tensor *b) {
    return a->n_dims == b->n_dims && !memcmp(a->ne, b->ne, sizeof a->ne);
}

int main(void) {
    gguf *master;
    ingot_status st = gguf_open(TDATA("models/llama-micro-f16.gguf"), &master);
    CHECK(st == INGOT_OK, "open master: %s", ingot_last_error());
    if (st != INGOT_OK) return test_done();

    /* Pass 1: every quantized file, dequantized and requantized. */
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/data/models/llama-micro-%s.gguf", INGOT_SOURCE_DIR,
                 files[f].file);
        gguf *g;
        st = gguf_open(path, &g);
        CHECK(st == INGOT_OK, "open %s: %s", path, ingot_last_error());
        if (st != INGOT_OK) continue;
        const uint32_t type = files[f].type;
        const char *tname = ingot_type_name(type);
        int n2d = 0;
        long blocks = 0, same = 0;
        double worst = 0;
        for (int64_t i = 0; i < g->n_tensors; i++) {
            const gguf_tensor *t = &g->tensors[i];
            if (t->n_dims != 2) continue;
            n2d++;
            const gguf_tensor *m = gguf_find_tensor(master, t->name.s);
            CHECK(m && same_shape(t, m) && m->type == IG_TYPE_F16, "%s: %s in master", tname,
                  t->name.s);
            CHECK(t->type == type, "%s: %s has type %u", tname, t->name.s, t->type);
            if (!m || !same_shape(t, m) || t->type != type) continue;
            const int64_t n = n_elems(t), ncols = t->ne[0], nrows = n / ncols;
            const size_t row = ig_row_size(type, ncols);
            CHECK(row && t->nbytes == row * (uint64_t)nrows, "%s: %s size", tname, t->name.s);
            if (!row || t->nbytes != row * (uint64_t)nrows) continue;

            float *x = load_f32(m, n), *y = load_f32(t, n);
            double e2 = 0, x2 = 0;
            for (int64_t k = 0; k < n; k++) {
                e2 += (double)(y[k] - x[k]) * (y[k] - x[k]);
                x2 += (double)x[k] * x[k];
            }
            const double rel = sqrt(e2 / x2);
            if (rel > worst) worst = rel;
            CHECK(rel <= files[f].rel_rms, "%s: %s relative rms error %.5f > %.4f", tname,
                  t->name.s, rel, files[f].rel_rms);

            /* llama-quantize converted the f16 master to f32 and ran the
             * reference quantizer: so do we, and compare block by block. */
            uint8_t *q = malloc(row * (size_t)nrows);
            if (!q) abort();
            CHECK(ig_quantize(type, x, q, nrows, ncols) == row * (size_t)nrows, "quantize");
            const size_t bs = ig_type_traits_get(type)->type_size;
            const long nb = (long)(row * (size_t)nrows / bs);
            long tsame = 0;
            for (long b = 0; b < nb; b++)
                tsame += !memcmp(q + b * bs, (const uint8_t *)t->data + b * bs, bs);
            CHECK(tsame == nb, "%s: %s: %ld of %ld blocks differ from llama-quantize's", tname,
                  t->name.s, nb - tsame, nb);
            blocks += nb;
            same += tsame;
            free(q);
            free(x);
            free(y);
        }
        CHECK(n2d == 16, "%s: %d 2-D tensors", tname, n2d);
        printf("%-5s %2d tensors, worst rms error / rms %.5f (bound %.4f), %ld/%ld blocks "
               "bit-identical\n",
               tname, n2d, worst, files[f].rel_rms, same, blocks);
        gguf_close(g);
    }

    /* Pass 2: BF16 is the master rounded to bf16, value for value. */
    gguf *gb;
    st = gguf_open(TDATA("models/llama-micro-bf16.gguf"), &gb);
    CHECK(st == INGOT_OK, "open bf16: %s", ingot_last_error());
    if (st == INGOT_OK) {
        int n2d = 0;
        long bad = 0, total = 0;
        for (int64_t i = 0; i < gb->n_tensors; i++) {
            const gguf_tensor *t = &gb->tensors[i];
            if (t->n_dims != 2) continue;
            n2d++;
            const gguf_tensor *m = gguf_find_tensor(master, t->name.s);
            CHECK(t->type == IG_TYPE_BF16 && m && same_shape(t, m), "bf16: %s", t->name.s);
            if (t->type != IG_TYPE_BF16 || !m || !same_shape(t, m)) continue;
            const int64_t n = n_elems(t);
            float *x = load_f32(m, n), *y = load_f32(t, n);
            for (int64_t k = 0; k < n; k++) bad += y[k] != ig_bf16_to_f32(ig_f32_to_bf16(x[k]));
            total += n;
            /* And our BF16 writer produces the file's bytes. */
            uint8_t *q = malloc((size_t)n * 2);
            if (!q) abort();
            ig_quant_row(IG_TYPE_BF16, x, q, n);
            CHECK(!memcmp(q, t->data, (size_t)n * 2), "bf16: %s bytes", t->name.s);
            free(q);
            free(x);
            free(y);
        }
        CHECK(n2d == 16, "bf16: %d 2-D tensors", n2d);
        CHECK(bad == 0, "bf16: %ld of %ld values differ from bf16(master)", bad, total);
        printf("BF16  %2d tensors, %ld values equal to bf16(f16 master): %s\n", n2d, total,
               bad ? "NO" : "yes");
        gguf_close(gb);
    }
    gguf_close(master);
    return test_done();
}
