/* The public API's contracts: errors instead of crashes for bad input,
 * a full context refused without side effects, truncation, greedy decode
 * on the backend equal to argmax of the downloaded logits, chunked prompts
 * equal to one batch. */
#include "ingot.h"
#include "test.h"

#define STORIES INGOT_SOURCE_DIR "/models/stories260K.gguf"

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int main(void) {
    ingot_model *m = NULL;
    ingot_model_params mp = ingot_model_default_params();
    mp.backend = INGOT_BACKEND_CPU;

    /* load failures name the file */
    CHECK(ingot_model_load("/nonexistent/x.gguf", &mp, &m) == INGOT_ERR_IO && !m, "missing file");
    CHECK(strstr(ingot_last_error(), "/nonexistent/x.gguf") != NULL, "message names the file: %s", ingot_last_error());
    CHECK(ingot_model_load(TDATA("vocab/ggml-vocab-gpt-2.gguf"), &mp, &m) != INGOT_OK && !m,
          "vocab-only file cannot be run");
    mp.vocab_only = true;
    CHECK(ingot_model_load(TDATA("vocab/ggml-vocab-gpt-2.gguf"), &mp, &m) == INGOT_OK, "vocab-only load: %s",
          ingot_last_error());
    ingot_context *c = NULL;
    if (m) {
        CHECK(ingot_context_new(m, NULL, &c) == INGOT_ERR_INVALID_ARG && !c, "no context on a vocab-only model");
        CHECK(ingot_n_vocab(m) == 50257, "gpt-2 vocab size %d", ingot_n_vocab(m));
        ingot_model_free(m);
        m = NULL;
    }
    mp.vocab_only = false;

    CHECK(ingot_model_load(STORIES, &mp, &m) == INGOT_OK, "load: %s", ingot_last_error());
    if (!m) return test_done();
    ingot_model_info info;
    ingot_model_get_info(m, &info);
    CHECK(!strcmp(info.arch, "llama") && info.n_layer == 5 && info.n_embd == 64 && info.n_head_kv == 4,
          "info: %s %u %u %u", info.arch, info.n_layer, info.n_embd, info.n_head_kv);
    CHECK(!strcmp(info.backend, "cpu"), "backend %s", info.backend);

    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = 16;
    cp.n_batch = 4; /* prompts longer than this go in chunks */
    CHECK(ingot_context_new(m, &cp, &c) == INGOT_OK, "context: %s", ingot_last_error());
    if (!c) return test_done();
    CHECK(ingot_n_ctx(c) == 16, "n_ctx");

    int32_t toks[16] = {1, 403, 407, 261, 378, 432, 383, 322, 353, 323, 300, 301, 302, 303, 304, 305};
    int32_t bad = 512;
    CHECK(ingot_decode(c, &bad, 1, false) == INGOT_ERR_INVALID_ARG, "token out of range");
    CHECK(ingot_decode(c, toks, 0, false) == INGOT_ERR_INVALID_ARG, "no tokens");
    CHECK(ingot_context_pos(c) == 0, "failed decodes leave the context empty");

    /* one batch of 10 with every logit == 10 single steps */
    CHECK(ingot_decode(c, toks, 10, true) == INGOT_OK, "decode 10: %s", ingot_last_error());
    float all[10][512];
    for (int i = 0; i < 10; i++) memcpy(all[i], ingot_get_logits(c, i), sizeof all[i]);
    CHECK(ingot_get_logits(c, 10) == NULL && ingot_get_logits(c, -11) == NULL, "out-of-range logits row");
    CHECK(ingot_get_logits(c, -1) == ingot_get_logits(c, 9), "-1 is the last row");
    ingot_context_truncate(c, 0);
    double worst = 0;
    for (int i = 0; i < 10; i++) {
        CHECK(ingot_decode(c, &toks[i], 1, false) == INGOT_OK, "step %d", i);
        const float *l = ingot_get_logits(c, -1);
        CHECK(ingot_get_logits(c, 0) == l, "single-token decode keeps row 0");
        for (int v = 0; v < 512; v++) worst = fmax(worst, fabs(l[v] - all[i][v]));
    }
    /* The same arithmetic in the same order: only the batch shape differs. */
    CHECK(worst < 1e-4, "batched vs stepwise logits differ by %g", worst);

    /* the context is full at 16: 10 + 7 does not fit, nothing changes */
    CHECK(ingot_decode(c, toks, 7, false) == INGOT_ERR_CONTEXT_FULL, "context full");
    CHECK(ingot_context_pos(c) == 10, "pos unchanged after a refused decode");
    CHECK(ingot_decode(c, toks + 10, 6, false) == INGOT_OK, "exactly full: %s", ingot_last_error());
    CHECK(ingot_context_pos(c) == 16, "pos 16");
    int32_t one = 5;
    CHECK(ingot_decode(c, &one, 1, false) == INGOT_ERR_CONTEXT_FULL, "one past full");

    /* truncate and re-decode gives the same logits as before */
    CHECK(ingot_context_truncate(c, 17) == INGOT_ERR_INVALID_ARG, "truncate past the end");
    CHECK(ingot_context_truncate(c, 4) == INGOT_OK, "truncate");
    CHECK(ingot_decode(c, &toks[4], 1, false) == INGOT_OK, "decode after truncate");
    const float *l = ingot_get_logits(c, -1);
    worst = 0;
    for (int v = 0; v < 512; v++) worst = fmax(worst, fabs(l[v] - all[4][v]));
    CHECK(worst < 1e-4, "logits after truncate differ by %g", worst);

    /* greedy on the backend == argmax of the logits */
    ingot_context_truncate(c, 0);
    int32_t id = -1;
    CHECK(ingot_decode_greedy(c, toks, 5, &id) == INGOT_OK, "greedy");
    CHECK(id == argmax(all[4], 512), "device argmax %d vs %d", id, argmax(all[4], 512));

    /* decode + sample == the sampler on the logits, same seed */
    ingot_sampler_params sp = ingot_sampler_default_params();
    sp.seed = 3;
    sp.repeat_penalty = 1.2f;
    ingot_sampler *sa = ingot_sampler_new(&sp), *sb = ingot_sampler_new(&sp);
    for (int i = 0; i < 5; i++) ingot_sampler_accept(sa, toks[i]), ingot_sampler_accept(sb, toks[i]);
    ingot_context_truncate(c, 0);
    CHECK(ingot_decode_sample(c, toks, 5, sb, &id) == INGOT_OK, "decode_sample: %s", ingot_last_error());
    CHECK(id == ingot_sampler_sample(sa, all[4], 512), "decode_sample picked %d", id);
    CHECK(ingot_decode_sample(c, toks, 1, NULL, &id) == INGOT_ERR_INVALID_ARG, "decode_sample without sampler");
    ingot_sampler_free(sa);
    ingot_sampler_free(sb);
    ingot_context_free(c);

    /* bad context parameters */
    cp.n_ctx = 1u << 30;
    CHECK(ingot_context_new(m, &cp, &c) == INGOT_ERR_INVALID_ARG, "huge context refused");
    cp.n_ctx = 8;
    cp.kv_type = (ingot_kv_type)7;
    CHECK(ingot_context_new(m, &cp, &c) == INGOT_ERR_INVALID_ARG, "bad kv type");
    ingot_model_free(m);
    return test_done();
}
