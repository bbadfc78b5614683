/* Every tensor type through the whole forward pass: the llama-micro files
 * hold the same weights (an F16 master) in every type, so each file's
 * logits must stay close to the F16 file's, by a margin that follows the
 * type's precision. The error measure is the RMS logit difference over
 * every position and vocab entry, relative to the RMS of the F16 logits
 * (about 0.3 here: random weights give small, flat logits).
 *
 * Bounds. A weight type with quantization step q (relative to the
 * weights' sigma) adds a relative RMS error of e = q/sqrt(12) to each
 * matmul's output. A logit sees the errors of the output projection and of
 * the 14 matmuls of the two layers through the residual stream; they are
 * independent, so they add in quadrature: ~sqrt(15) e (this predicts the
 * measured values within 0.5-1.2x). Each bound is 1.5 sqrt(15) e, i.e.
 * 5.8 e, with q from the format on Gaussian data (amax of a block of 32
 * ~2.2 sigma, of 16 ~1.8 sigma):
 *   BF16   relative rounding 2^-8 x 0.7/sqrt(3) -> e 1.6e-3 -> 9e-3
 *   Q8_0   q = 2.2/127 -> e 5.0e-3 -> 3e-2
 *   Q6_K   q = 1.8/32  -> e 1.6e-2 -> 9.5e-2
 *   Q5_0   q = 2.2/16  -> e 4.0e-2 -> 2.3e-1
 *   Q5_1   q = 4.4/31  -> e 4.1e-2 -> 2.4e-1
 *   Q5_K   q = 4.4/31  -> e 4.1e-2 -> 2.4e-1
 *   Q4_0   q = 2.2/8   -> e 7.9e-2 -> 4.6e-1
 *   Q4_1   q = 4.4/15  -> e 8.5e-2 -> 4.9e-1
 *   Q4_K   q = 4.4/15  -> e 8.5e-2 -> 4.9e-1
 *   Q3_K   q = 1.8/4   -> e 1.3e-1 -> 7.5e-1
 *   Q2_K   q = 3.5/3   -> e 3.4e-1 -> capped at 1.0
 * An unrelated set of logits would give ~sqrt(2) = 1.41, so every bound
 * (Q2_K's cap included) still tells a decoded model from garbage, and the
 * error must also stay clearly above zero: logits equal to the F16 ones
 * would mean the quantized weights were never used. */
#include "ingot.h"
#include "test.h"

static const struct { const char *file; double bound; } types[] = {
    {"llama-micro-bf16.gguf", 9e-3},   {"llama-micro-q8_0.gguf", 3e-2},
    {"llama-micro-q6_k.gguf", 9.5e-2}, {"llama-micro-q5_0.gguf", 2.3e-1},
    {"llama-micro-q5_1.gguf", 2.4e-1}, {"llama-micro-q5_k.gguf", 2.4e-1},
    {"llama-micro-q4_0.gguf", 4.6e-1}, {"llama-micro-q4_1.gguf", 4.9e-1},
    {"llama-micro-q4_k.gguf", 4.9e-1}, {"llama-micro-q3_k.gguf", 7.5e-1},
    {"llama-micro-q2_k.gguf", 1.0},
};

/* The reference's third prompt ("In a small village at the edge of a
 * quiet forest, ...") as ids of the stories260K vocab, first 48. */
static const int32_t ids[] = {1,   359, 416, 261, 262, 423, 388, 410, 435, 290, 421, 412,
                              428, 411, 261, 413, 265, 410, 266, 428, 411, 373, 261, 410,
                              456, 425, 417, 316, 272, 414, 276, 356, 432, 261, 416, 334,
                              341, 280, 421, 414, 340, 423, 412, 433, 285, 262, 427, 377};
#define N ((int32_t)(sizeof ids / sizeof ids[0]))

static float *logits_of(const char *file, int32_t *nv) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/models/%s", INGOT_SOURCE_DIR, file);
    ingot_model_params mp = ingot_model_default_params();
    mp.backend = INGOT_BACKEND_CPU;
    mp.n_threads = 2;
    ingot_model *m = NULL;
    if (ingot_model_load(path, &mp, &m) != INGOT_OK) {
        CHECK(false, "load %s: %s", file, ingot_last_error());
        return NULL;
    }
    *nv = ingot_n_vocab(m);
    ingot_context *c = NULL;
    float *out = NULL;
    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = 64;
    cp.kv_type = INGOT_KV_F32;
    if (ingot_context_new(m, &cp, &c) == INGOT_OK && ingot_decode(c, ids, N, true) == INGOT_OK) {
        out = malloc((size_t)N * *nv * sizeof(float));
        for (int32_t i = 0; i < N; i++) memcpy(out + (size_t)i * *nv, ingot_get_logits(c, i), *nv * sizeof(float));
    } else {
        CHECK(false, "%s: %s", file, ingot_last_error());
    }
    ingot_context_free(c);
    ingot_model_free(m);
    return out;
}

int main(void) {
    int32_t nv = 0, nv2 = 0;
    float *ref = logits_of("llama-micro-f16.gguf", &nv);
    if (!ref) return test_done();
    double rms_ref = 0;
    for (size_t i = 0; i < (size_t)N * nv; i++) rms_ref += (double)ref[i] * ref[i];
    rms_ref = sqrt(rms_ref / ((double)N * nv));
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        float *l = logits_of(types[t].file, &nv2);
        if (!l) continue;
        double se = 0;
        for (size_t i = 0; i < (size_t)N * nv; i++) se += (double)(l[i] - ref[i]) * (l[i] - ref[i]);
        double rel = sqrt(se / ((double)N * nv)) / rms_ref;
        printf("%-24s relative RMS logit error vs F16: %.3g (bound %.3g)\n", types[t].file, rel, types[t].bound);
        CHECK(rel <= types[t].bound, "%s: %.3g > %.3g", types[t].file, rel, types[t].bound);
        CHECK(rel > 1e-5, "%s: logits identical to F16's", types[t].file);
        free(l);
    }
    free(ref);
    return test_done();
}
