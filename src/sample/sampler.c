/* Token sampling: repetition penalty, top-k, top-p, min-p, temperature and
 * a seeded draw, applied in llama.cpp's default order so the same flags
 * mean the same thing in both tools. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "ingot.h"
#include "sample/sampler.h"

typedef struct cand {
    int32_t id;
    float logit;
    float p;
} cand;

struct ingot_sampler {
    ingot_sampler_params p;
    uint64_t rng[4];
    int32_t *hist; /* ring of the last repeat_last_n accepted tokens */
    int32_t hist_n, hist_pos;
    cand *c;
    int32_t c_cap;
};

ingot_sampler_params ingot_sampler_default_params(void) {
    ingot_sampler_params p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.temp = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = UINT64_MAX; /* time-based */
    return p;
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static uint64_t next_u64(ingot_sampler *s) {
    uint64_t *r = s->rng;
    uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return out;
}

static double next_unit(ingot_sampler *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

static void seed_rng(ingot_sampler *s) {
    uint64_t x = s->p.seed;
    if (x == UINT64_MAX) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
    }
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix(&x);
}

ingot_sampler *ingot_sampler_new(const ingot_sampler_params *p) {
    ingot_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p ? *p : ingot_sampler_default_params();
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    if (s->p.repeat_last_n) {
        s->hist = calloc((size_t)s->p.repeat_last_n, sizeof(int32_t));
        if (!s->hist) { free(s); return NULL; }
    }
    seed_rng(s);
    return s;
}

void ingot_sampler_free(ingot_sampler *s) {
    if (!s) return;
    free(s->hist);
    free(s->c);
    free(s);
}

void ingot_sampler_reset(ingot_sampler *s) {
    s->hist_n = s->hist_pos = 0;
    seed_rng(s);
}

void ingot_sampler_accept(ingot_sampler *s, int32_t id) {
    if (!s->p.repeat_last_n) return;
    s->hist[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->hist_n < s->p.repeat_last_n) s->hist_n++;
}

bool ingot_sampler_is_greedy(const ingot_sampler *s) {
    return s->p.temp <= 0.0f && (s->p.repeat_penalty == 1.0f || s->p.repeat_last_n == 0);
}

static int by_logit_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Softmax over c[0..n) (sorted descending) into .p */
static void softmax(cand *c, int32_t n) {
    float mx = c[0].logit;
    double sum = 0;
    for (int32_t i = 0; i < n; i++) {
        c[i].p = expf(c[i].logit - mx);
        sum += c[i].p;
    }
    for (int32_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

static int by_id(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static bool reserve(ingot_sampler *s, int32_t n) {
    if (n <= s->c_cap) return true;
    cand *nc = realloc(s->c, (size_t)n * sizeof(cand));
    if (!nc) return false;
    s->c = nc;
    s->c_cap = n;
    return true;
}

static int32_t pick(ingot_sampler *s, cand *c, int32_t n);

int32_t ingot_sampler_sample(ingot_sampler *s, const float *logits, int32_t n_vocab) {
    if (!s || !logits || n_vocab <= 0 || !reserve(s, n_vocab)) return -1;
    cand *c = s->c;
    for (int32_t i = 0; i < n_vocab; i++) c[i] = (cand){i, logits[i], 0};

    /* Repetition penalty (CTRL-style, as llama.cpp): shrink the logit of
     * every token seen in the last repeat_last_n, once per distinct token. */
    if (s->p.repeat_penalty != 1.0f && s->hist_n) {
        /* .p is still 0 everywhere: it marks the ids already penalised, so
         * the pass stays linear however long the window is */
        for (int32_t h = 0; h < s->hist_n; h++) {
            int32_t id = s->hist[h];
            if (id < 0 || id >= n_vocab || c[id].p != 0) continue;
            c[id].p = 1;
            float *l = &c[id].logit;
            *l = *l <= 0 ? *l * s->p.repeat_penalty : *l / s->p.repeat_penalty;
        }
    }
    return pick(s, c, n_vocab);
}

int32_t ig_sampler_need(const ingot_sampler *s, int32_t n_vocab) {
    if (s->p.temp <= 0.0f) return 1;
    if (s->p.top_k > 0 && s->p.top_k < n_vocab) return s->p.top_k;
    return 0;
}

int32_t ig_sampler_penalty_ids(const ingot_sampler *s, int32_t n_vocab, int32_t *ids, float *penalty) {
    *penalty = s->p.repeat_penalty;
    if (s->p.repeat_penalty == 1.0f) return 0;
    int32_t n = 0;
    for (int32_t h = 0; h < s->hist_n; h++)
        if (s->hist[h] >= 0 && s->hist[h] < n_vocab) ids[n++] = s->hist[h];
    qsort(ids, (size_t)n, sizeof *ids, by_id);
    int32_t d = 0;
    for (int32_t i = 0; i < n; i++)
        if (d == 0 || ids[i] != ids[d - 1]) ids[d++] = ids[i];
    return d;
}

int32_t ig_sampler_window(const ingot_sampler *s) { return s->p.repeat_last_n; }

int32_t ig_sampler_pick(ingot_sampler *s, const int32_t *ids, const float *logits, int32_t n) {
    if (!s || n <= 0 || !reserve(s, n)) return -1;
    for (int32_t i = 0; i < n; i++) s->c[i] = (cand){ids[i], logits[i], 0};
    return pick(s, s->c, n);
}

/* Everything after the penalty, on candidates in any order: the same id
 * whether c holds every logit or only the top-k (by_logit_desc is a total
 * order, so the k kept and their sorted order are the same). */
static int32_t pick(ingot_sampler *s, cand *c, int32_t n) {
    if (s->p.temp <= 0.0f) { /* greedy: lowest id wins ties */
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++) /* NaN never wins */
            if (c[i].logit > c[best].logit || (c[i].logit == c[best].logit && c[i].id < c[best].id)) best = i;
        return c[best].id;
    }

    if (s->p.top_k > 0 && s->p.top_k < n) {
        /* The k best through a min-heap of size k (O(n log k): a decode step
         * on a GPU is ~2 ms, a full sort of 32k candidates would be a
         * noticeable share of it), then sort those k. */
        int32_t k = s->p.top_k;
        for (int32_t i = 0; i < n; i++) {
            cand x = c[i];
            int32_t m = i < k ? i : k;
            if (i >= k) {
                if (by_logit_desc(&x, &c[0]) >= 0) continue; /* not better than the worst kept */
                m = 0; /* replace the root, sift down */
                for (;;) {
                    int32_t l = 2 * m + 1, r = l + 1, w = m;
                    const cand *cw = &x;
                    if (l < k && by_logit_desc(&c[l], cw) > 0) w = l, cw = &c[l];
                    if (r < k && by_logit_desc(&c[r], cw) > 0) w = r;
                    if (w == m) break;
                    c[m] = c[w];
                    m = w;
                }
                c[m] = x;
                continue;
            }
            while (m > 0 && by_logit_desc(&c[(m - 1) / 2], &x) < 0) { /* sift up: worst at the root */
                c[m] = c[(m - 1) / 2];
                m = (m - 1) / 2;
            }
            c[m] = x;
        }
        n = k;
        qsort(c, (size_t)n, sizeof *c, by_logit_desc);
    } else {
        qsort(c, (size_t)n, sizeof *c, by_logit_desc);
    }
    if (s->p.top_p < 1.0f) { /* smallest prefix with mass >= top_p */
        softmax(c, n);
        double cum = 0;
        for (int32_t i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= s->p.top_p) { n = i + 1; break; }
        }
    }
    if (s->p.min_p > 0.0f) { /* drop tokens below min_p x the top probability */
        softmax(c, n);
        float floor = c[0].p * s->p.min_p;
        int32_t keep = 1;
        while (keep < n && c[keep].p >= floor) keep++;
        n = keep;
    }
    for (int32_t i = 0; i < n; i++) c[i].logit /= s->p.temp;
    softmax(c, n);
    double r = next_unit(s), cum = 0;
    for (int32_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}
