/* Sampling on crafted distributions: each filter keeps exactly the tokens
 * its definition says, seeded runs repeat, and the draw follows the
 * probabilities. */
#include "ingot.h"
#include "sample/sampler.h"
#include "test.h"

#define NV 8

/* Draw many times and return how often each id came up. */
static void histogram(ingot_sampler_params p, const float *lg, int draws, int *hist) {
    ingot_sampler *s = ingot_sampler_new(&p);
    memset(hist, 0, NV * sizeof *hist);
    for (int i = 0; i < draws; i++) {
        int32_t id = ingot_sampler_sample(s, lg, NV);
        if (id >= 0 && id < NV) hist[id]++;
    }
    ingot_sampler_free(s);
}

static ingot_sampler_params plain(void) {
    ingot_sampler_params p = ingot_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = 1234;
    return p;
}

/* The k best of x after the penalty, as a device backend hands them over
 * (ties: lower id; returned in a scrambled order on purpose). */
static int top_cands(const float *x, int n, int k, const int32_t *pen, int np, float rp, int32_t *ids, float *lg,
                     unsigned *rng) {
    float *y = malloc((size_t)n * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    for (int i = 0; i < np; i++) y[pen[i]] = y[pen[i]] <= 0 ? y[pen[i]] * rp : y[pen[i]] / rp;
    char *used = calloc((size_t)n, 1);
    for (int j = 0; j < k; j++) {
        int b = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && (b < 0 || y[i] > y[b])) b = i;
        used[b] = 1;
        ids[j] = b, lg[j] = y[b];
    }
    for (int j = k - 1; j > 0; j--) { /* Fisher-Yates */
        *rng = *rng * 1664525u + 1013904223u;
        int r = (int)((*rng >> 8) % (unsigned)(j + 1));
        int32_t ti = ids[j];
        float tl = lg[j];
        ids[j] = ids[r], lg[j] = lg[r], ids[r] = ti, lg[r] = tl;
    }
    free(used);
    free(y);
    return k;
}

/* ig_sampler_pick on the top-k candidates (what ingot_decode_sample gets
 * from a GPU) picks what ingot_sampler_sample picks from every logit, draw
 * for draw, over settings, ties (logits on a coarse grid, -0 and +0) and a
 * penalty window. */
static void check_pick_equals_sample(void) {
    enum { V = 3000 };
    static float x[V];
    unsigned rng = 12345;
    int steps = 0, bad = 0;
    for (int cfg = 0; cfg < 12; cfg++) {
        ingot_sampler_params p = ingot_sampler_default_params();
        p.seed = 7 + (uint64_t)cfg;
        p.top_k = (int32_t[]){1, 2, 40, 40, 100, 40, 7, 40, 256, 40, 40, 1000}[cfg];
        p.temp = cfg == 3 ? 0.0f : cfg == 5 ? 1.5f : 0.8f;
        p.top_p = cfg == 6 ? 1.0f : cfg == 7 ? 0.5f : 0.95f;
        p.min_p = cfg == 8 ? 0.0f : cfg == 9 ? 0.2f : 0.05f;
        p.repeat_penalty = cfg % 2 ? 1.1f : cfg == 4 ? 0.9f : 1.0f;
        p.repeat_last_n = cfg == 10 ? 0 : 64;
        ingot_sampler *a = ingot_sampler_new(&p), *b = ingot_sampler_new(&p);
        for (int t = 0; t < 50; t++) {
            for (int i = 0; i < V; i++) {
                rng = rng * 1664525u + 1013904223u;
                float v = (float)((int)(rng >> 16) % 64 - 48) * 0.25f; /* many ties */
                x[i] = v == 0.0f && (rng & 1) ? -0.0f : v;
            }
            const int32_t want = ingot_sampler_sample(a, x, V);
            const int32_t k = ig_sampler_need(b, V);
            CHECK(k == (p.temp <= 0 ? 1 : p.top_k), "cfg %d: need %d", cfg, k);
            int32_t pen[64], ids[1000];
            float rp, lg[1000];
            const int32_t np = ig_sampler_penalty_ids(b, V, pen, &rp);
            CHECK(np <= ig_sampler_window(b), "cfg %d: %d penalty ids > window", cfg, np);
            top_cands(x, V, k, pen, np, rp, ids, lg, &rng);
            const int32_t got = ig_sampler_pick(b, ids, lg, k);
            if (got != want) bad++;
            steps++;
            ingot_sampler_accept(a, want);
            ingot_sampler_accept(b, want);
            /* some repeats, so the penalty window holds duplicates */
            if (t % 3 == 0) ingot_sampler_accept(a, want), ingot_sampler_accept(b, want);
        }
        ingot_sampler_free(a);
        ingot_sampler_free(b);
    }
    CHECK(bad == 0, "top-k candidates picked differently from all logits in %d of %d draws", bad, steps);
    ingot_sampler_params p = ingot_sampler_default_params();
    p.top_k = 0;
    ingot_sampler *s = ingot_sampler_new(&p);
    CHECK(ig_sampler_need(s, V) == 0, "top-k off needs every logit");
    ingot_sampler_free(s);
}

int main(void) {
    check_pick_equals_sample();
    /* probabilities 0.4 0.2 0.15 0.1 0.08 0.04 0.02 0.01 */
    const double prob[NV] = {0.4, 0.2, 0.15, 0.1, 0.08, 0.04, 0.02, 0.01};
    float lg[NV];
    for (int i = 0; i < NV; i++) lg[i] = (float)log(prob[i]);
    int h[NV];

    /* greedy picks the max, lowest id on ties */
    ingot_sampler_params p = plain();
    p.temp = 0;
    ingot_sampler *s = ingot_sampler_new(&p);
    CHECK(ingot_sampler_is_greedy(s), "temp 0 is greedy");
    CHECK(ingot_sampler_sample(s, lg, NV) == 0, "greedy max");
    float tie[NV] = {0, 3, 1, 3, 0, 0, 0, 0};
    CHECK(ingot_sampler_sample(s, tie, NV) == 1, "greedy tie -> lower id");
    ingot_sampler_free(s);

    /* plain sampling follows the distribution (20000 draws: 3 sigma of
     * a p=0.4 binomial is ~0.011) */
    histogram(plain(), lg, 20000, h);
    for (int i = 0; i < NV; i++)
        CHECK(fabs(h[i] / 20000.0 - prob[i]) < 0.015, "freq of %d: %.4f vs %.2f", i, h[i] / 20000.0, prob[i]);

    /* top-k 3 keeps ids 0..2 renormalised: 0.4/0.75 ... */
    p = plain();
    p.top_k = 3;
    histogram(p, lg, 20000, h);
    for (int i = 3; i < NV; i++) CHECK(h[i] == 0, "top-k leaked id %d", i);
    CHECK(fabs(h[0] / 20000.0 - 0.4 / 0.75) < 0.02, "top-k renormalised");

    /* top-k over a large vocab with ties: equal logits keep the lower ids,
     * and the kept set is exactly the k best */
    {
        enum { BIG = 5000 };
        static float big[BIG];
        for (int i = 0; i < BIG; i++) big[i] = (float)((i * 7919) % 97) / 10.0f; /* many ties */
        ingot_sampler_params pk = plain();
        pk.top_k = 20;
        ingot_sampler *sk = ingot_sampler_new(&pk);
        /* the 20 best: value 9.6 (i*7919 % 97 == 96), lowest ids first */
        int best[20], nb = 0;
        for (int v = 96; v >= 0 && nb < 20; v--)
            for (int i = 0; i < BIG && nb < 20; i++)
                if ((i * 7919) % 97 == v) best[nb++] = i;
        int outside = 0, seen_last = 0;
        for (int d = 0; d < 4000; d++) {
            int32_t id = ingot_sampler_sample(sk, big, BIG);
            bool in = false;
            for (int j = 0; j < 20; j++) in |= id == best[j];
            outside += !in;
            seen_last |= id == best[19];
        }
        CHECK(outside == 0, "top-k 20 of 5000 sampled %d ids outside the 20 best", outside);
        CHECK(seen_last, "top-k 20: the 20th best (a tie won by its lower id) was never drawn");
        ingot_sampler_free(sk);
    }

    /* top-p 0.7: smallest prefix with mass >= 0.7 is {0,1,2} (0.75) */
    p = plain();
    p.top_p = 0.7f;
    histogram(p, lg, 5000, h);
    CHECK(h[0] && h[1] && h[2], "top-p keeps 0..2");
    for (int i = 3; i < NV; i++) CHECK(h[i] == 0, "top-p leaked id %d", i);
    /* top-p 0.39 keeps exactly the first (its mass is 0.4) */
    p.top_p = 0.39f;
    histogram(p, lg, 2000, h);
    CHECK(h[0] == 2000, "top-p 0.39 keeps only id 0 (%d)", h[0]);

    /* min-p 0.3: keep p >= 0.3*0.4 = 0.12 -> ids 0,1,2 */
    p = plain();
    p.min_p = 0.3f;
    histogram(p, lg, 5000, h);
    CHECK(h[0] && h[1] && h[2], "min-p keeps 0..2");
    for (int i = 3; i < NV; i++) CHECK(h[i] == 0, "min-p leaked id %d", i);

    /* low temperature sharpens, high flattens */
    p = plain();
    p.temp = 0.1f;
    histogram(p, lg, 2000, h);
    CHECK(h[0] > 1990, "temp 0.1 concentrates on the top (%d)", h[0]);
    p.temp = 5.0f;
    histogram(p, lg, 20000, h);
    CHECK(h[7] > 20000 * 0.05, "temp 5 flattens (%d)", h[7]);

    /* repetition penalty: a penalised top token loses to the runner-up */
    p = plain();
    p.temp = 0;
    p.repeat_penalty = 10.0f;
    p.repeat_last_n = 4;
    s = ingot_sampler_new(&p);
    CHECK(!ingot_sampler_is_greedy(s), "penalty disables the device argmax path");
    float pos[NV] = {2.0f, 1.5f, 0, 0, 0, 0, 0, -1.0f};
    ingot_sampler_accept(s, 0);
    CHECK(ingot_sampler_sample(s, pos, NV) == 1, "penalised 0 -> 1");
    /* a token seen several times is penalised once (2.0 / 1.2 = 1.67 still
     * beats 1.5; three times over, 2.0 / 1.2^3 = 1.16, would not) */
    {
        ingot_sampler_params pp = plain();
        pp.temp = 0;
        pp.repeat_penalty = 1.2f;
        pp.repeat_last_n = 8;
        ingot_sampler *s2 = ingot_sampler_new(&pp);
        for (int i = 0; i < 3; i++) ingot_sampler_accept(s2, 0);
        CHECK(ingot_sampler_sample(s2, pos, NV) == 0, "repeated token penalised more than once");
        ingot_sampler_free(s2);
    }
    /* history window: after 4 other tokens, 0 is forgotten */
    for (int i = 0; i < 4; i++) ingot_sampler_accept(s, 5);
    CHECK(ingot_sampler_sample(s, pos, NV) == 0, "window forgets");
    ingot_sampler_free(s);

    /* seeded runs repeat; different seeds differ */
    p = plain();
    int32_t a[64], b[64], c[64];
    for (int r = 0; r < 3; r++) {
        p.seed = r == 2 ? 99 : 42;
        s = ingot_sampler_new(&p);
        for (int i = 0; i < 64; i++) (r == 0 ? a : r == 1 ? b : c)[i] = ingot_sampler_sample(s, lg, NV);
        ingot_sampler_free(s);
    }
    CHECK(!memcmp(a, b, sizeof a), "same seed, same tokens");
    CHECK(memcmp(a, c, sizeof a) != 0, "other seed, other tokens");
    return test_done();
}
