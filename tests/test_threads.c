/* The thread pool, and the promise that the thread count never changes a
 * result: 1..4 threads give bit-identical logits (work is split by output
 * rows, and every output is computed the same way whichever thread owns
 * it). Also: the plain C kernels and the SIMD ones agree end to end. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/threadpool.h"
#include "ingot.h"
#include "test.h"

/* ---- pool ---- */

typedef struct {
    ig_pool *p;
    atomic_int count;
    int seen_bad;
    int hits[8];
} pool_job;

static void job_fn(void *arg, int ith, int nth) {
    pool_job *j = arg;
    j->hits[ith]++;
    atomic_fetch_add(&j->count, 1);
    ig_pool_barrier(j->p);
    /* after the barrier every thread has counted */
    if (atomic_load(&j->count) < nth) j->seen_bad = 1;
    ig_pool_barrier(j->p);
}

static void test_pool(void) {
    for (int n = 1; n <= 4; n++) {
        ig_pool *p = ig_pool_new(n);
        CHECK(p && ig_pool_size(p) == n, "pool of %d", n);
        pool_job j;
        memset(&j, 0, sizeof j);
        j.p = p;
        for (int rep = 0; rep < 500; rep++) {
            atomic_store(&j.count, 0);
            ig_pool_run(p, job_fn, &j);
            if (atomic_load(&j.count) != n) j.seen_bad = 1;
        }
        CHECK(!j.seen_bad, "pool of %d: barrier or completion broken", n);
        for (int i = 0; i < n; i++) CHECK(j.hits[i] == 500, "pool of %d: thread %d ran %d jobs", n, i, j.hits[i]);
        ig_pool_free(p);
    }
}

/* ---- logits ---- */

typedef struct {
    float *v;
    size_t n;
} logits;

/* A 12-token batch with every row's logits, then 3 single-token steps. */
static logits run_model(const char *path, int threads) {
    logits out = {0};
    ingot_model_params mp = ingot_model_default_params();
    mp.backend = INGOT_BACKEND_CPU;
    mp.n_threads = threads;
    ingot_model *m = NULL;
    if (ingot_model_load(path, &mp, &m) != INGOT_OK) {
        fprintf(stderr, "load %s: %s\n", path, ingot_last_error());
        return out;
    }
    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = 64;
    ingot_context *c = NULL;
    if (ingot_context_new(m, &cp, &c) != INGOT_OK) {
        ingot_model_free(m);
        return out;
    }
    const int32_t nv = ingot_n_vocab(m);
    int32_t toks[12];
    for (int i = 0; i < 12; i++) toks[i] = (int32_t)((i * 7919 + 13) % nv);
    out.n = (size_t)nv * 15;
    out.v = malloc(out.n * sizeof(float));
    bool ok = out.v && ingot_decode(c, toks, 12, true) == INGOT_OK;
    for (int i = 0; ok && i < 12; i++) memcpy(out.v + (size_t)i * nv, ingot_get_logits(c, i), nv * sizeof(float));
    for (int s = 0; ok && s < 3; s++) {
        int32_t t = (int32_t)((s * 31 + 5) % nv);
        ok = ingot_decode(c, &t, 1, false) == INGOT_OK;
        if (ok) memcpy(out.v + (size_t)(12 + s) * nv, ingot_get_logits(c, -1), nv * sizeof(float));
    }
    if (!ok) {
        free(out.v);
        out.v = NULL;
    }
    ingot_context_free(c);
    ingot_model_free(m);
    return out;
}

int main(void) {
    test_pool();
    const char *models[] = {TDATA("models/llama-micro-q4_0.gguf"), INGOT_SOURCE_DIR "/models/stories260K.gguf",
                            TDATA("models/llama-micro-q4_k.gguf"), TDATA("models/llama-micro-q8_0.gguf"),
                            TDATA("models/gpt2-tiny-q8_0.gguf")};
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        logits ref = run_model(models[mi], 1);
        CHECK(ref.v != NULL, "%s: 1 thread failed", models[mi]);
        if (!ref.v) continue;
        for (int t = 2; t <= 4; t++) {
            logits l = run_model(models[mi], t);
            CHECK(l.v && !memcmp(l.v, ref.v, ref.n * sizeof(float)), "%s: %d threads give other logits than 1",
                  models[mi], t);
            free(l.v);
        }
        /* the reference kernels end to end (packing off: a plain layout) */
        setenv("INGOT_CPU_KERNELS", "generic", 1);
        logits g = run_model(models[mi], 2);
        unsetenv("INGOT_CPU_KERNELS");
        if (g.v) {
            double maxd = 0, maxv = 0;
            for (size_t i = 0; i < ref.n; i++) {
                maxd = fmax(maxd, fabs((double)g.v[i] - ref.v[i]));
                maxv = fmax(maxv, fabs((double)ref.v[i]));
            }
            printf("%s: generic vs SIMD kernels: max |diff| %.3g (max |logit| %.3g)\n", models[mi], maxd, maxv);
            /* Not bit-identical: the SIMD kernels add block results in
             * another order, and a last-bit difference can flip the
             * rounding of an 8-bit activation downstream. A wrong layout
             * would be off by the logits' own size. */
            CHECK(maxd <= 3e-2 * (maxv + 1), "%s: generic and SIMD logits differ by %g", models[mi], maxd);
        }
        CHECK(g.v != NULL, "%s: generic kernels failed", models[mi]);
        free(g.v);
        free(ref.v);
    }
    return test_done();
}
