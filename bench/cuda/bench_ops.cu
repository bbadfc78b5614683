/* Micro-benchmark of the CUDA backend's decode and prefill kernels on
 * Llama-2-7B shapes. Not a test: prints a table.
 *
 *   bench_cuda_ops [iters]
 *
 * Matrix-vector: each shape is uploaded in enough copies to exceed L2
 * several times, launches rotate through the copies, time per launch is the
 * median over repetitions measured with events (plain stream launches, and
 * the same sequence replayed as a CUDA graph, as decode runs). Bandwidth
 * counts the weight bytes only, against a measured device-to-device copy.
 */
#include <algorithm>
#include <map>
#include <string>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#include "backend/cuda/common.cuh"
#include "mega.h"

extern "C" {
#include "quant/quant.h"
}

#ifdef INGOT_CUDA_TRACE
typedef std::vector<std::pair<unsigned long long, unsigned long long>> tev;
#define STR2(x) #x
#define STR(x) STR2(x)
static int trc_kind(unsigned long long sig) { return (int)((sig >> 48) & 0x7FFF); }
/* Per-CTA events of one decode step (common.cuh trace_cta). For each kind
 * of "done": how the CTAs' ends spread within a launch, and whether the
 * late SMs are the same ones every time (split-half correlation of each
 * SM's mean lateness); for wo and down also when the CTAs became resident. */
static void cta_spread(const tev &ev, const tev &ce) { /* both sorted by time */
    const int nk = (int)ev.size();
    if (ce.empty() || nk < 2) return;
    for (int kind : {(int)TRC_WO_OUT, (int)TRC_DOWN_OUT, (int)TRC_TAIL_OUT}) {
        const char *name = kind == TRC_WO_OUT     ? "wo (k_mv_r)"
                           : kind == TRC_DOWN_OUT ? "down (k_mv_r + SwiGLU)"
                                                  : "multi-wave products, last " STR(TRACE_TAIL) " CTAs";
        const int born_kind = kind == TRC_WO_OUT ? TRC_WO_IN : kind == TRC_DOWN_OUT ? TRC_DOWN_IN : 0;
        /* group the done events by the release interval they fall in */
        std::vector<std::vector<std::pair<double, int>>> inst(nk); /* (end - release, sm) */
        std::vector<double> res; /* k_mv_r: resident, relative to its release */
        std::map<unsigned, std::vector<unsigned long long>> born; /* block -> "resident" times, sorted as ce is */
        for (auto &r : ce)
            if (born_kind && trc_kind(r.second) == born_kind) born[(unsigned)r.second].push_back(r.first);
        for (auto &e : ce) {
            if (trc_kind(e.second) != kind) continue;
            int i = (int)(std::upper_bound(ev.begin(), ev.end(), std::make_pair(e.first, ~0ull)) - ev.begin()) - 1;
            if (i < 0 || i + 1 >= nk) continue;
            inst[i].push_back({(double)(e.first - ev[i].first) / 1e3, (int)((e.second >> 32) & 0xFFFF)});
            auto b = born.find((unsigned)e.second); /* the same CTA's last "resident" before this end */
            if (b == born.end()) continue;
            auto j = std::upper_bound(b->second.begin(), b->second.end(), e.first);
            if (j != b->second.begin()) res.push_back(((double)*(j - 1) - (double)ev[i].first) / 1e3);
        }
        if (!res.empty()) {
            std::sort(res.begin(), res.end());
            printf("    CTA residency, %s: %zu CTAs, us after the release: min %.2f, median %.2f, p90 %.2f, max %.2f\n",
                   name, res.size(), res.front(), res[res.size() / 2], res[res.size() * 9 / 10], res.back());
        }
        double sum_k = 0, sum_min = 0, sum_med = 0, sum_max = 0, sum_lag = 0;
        int n = 0;
        std::vector<double> sm_a(256, 0), sm_b(256, 0);
        std::vector<int> cn_a(256, 0), cn_b(256, 0);
        for (int i = 0; i < nk; i++) {
            auto &v = inst[i];
            if (v.size() < 16) continue;
            std::vector<double> t;
            for (auto &x : v) t.push_back(x.first);
            std::sort(t.begin(), t.end());
            const double med = t[t.size() / 2];
            sum_k += (double)(ev[i + 1].first - ev[i].first) / 1e3;
            sum_min += t.front(), sum_med += med, sum_max += t.back();
            sum_lag += (double)(ev[i + 1].first - ev[i].first) / 1e3 - t.back();
            for (auto &x : v) {
                if (n & 1) sm_b[x.second] += x.first - med, cn_b[x.second]++;
                else sm_a[x.second] += x.first - med, cn_a[x.second]++;
            }
            n++;
        }
        if (!n) continue;
        printf("    CTA ends, %s: %d launches (%zu CTA events in the step); us after the release: kernel %.2f, first end %.2f, median %.2f, "
               "last %.2f, next release %.2f after the last\n",
               name, n, ce.size(), sum_k / n, sum_min / n, sum_med / n, sum_max / n, sum_lag / n);
        /* per SM: mean lateness against the launch's median, from even and odd launches */
        std::vector<std::pair<double, int>> sm;
        double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        int m = 0;
        for (int k = 0; k < 256; k++) {
            if (!cn_a[k] || !cn_b[k]) continue;
            const double a = sm_a[k] / cn_a[k], b = sm_b[k] / cn_b[k];
            sa += a, sb += b, saa += a * a, sbb += b * b, sab += a * b, m++;
            sm.push_back({(sm_a[k] + sm_b[k]) / (cn_a[k] + cn_b[k]), k});
        }
        if (m < 3) continue;
        const double cov = sab / m - sa / m * sb / m, va = saa / m - sa / m * sa / m, vb = sbb / m - sb / m * sb / m;
        std::sort(sm.begin(), sm.end());
        printf("      per SM (%d): mean lateness %.2f .. %.2f us, split-half correlation %.2f; latest:", m,
               sm.front().first, sm.back().first, cov / sqrt(va * vb + 1e-30));
        for (int k = (int)sm.size() - 1; k >= 0 && k >= (int)sm.size() - 8; k--) printf(" sm%d %+.2f", sm[k].second, sm[k].first);
        printf("; earliest:");
        for (int k = 0; k < 8 && k < (int)sm.size(); k++) printf(" sm%d %+.2f", sm[k].second, sm[k].first);
        printf("\n");
    }
}
#endif

static uint64_t rng = 0x1234567;
static uint64_t nx() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float unif(float lo, float hi) { return lo + (hi - lo) * (float)((nx() >> 40) * (1.0 / 16777216.0)); }

/* Random blocks with sane f16 scales (see tests/test_backend_ops.c). */
static void random_blocks(uint32_t type, size_t bytes, uint8_t *b) {
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t r = nx();
        memcpy(b + i, &r, 8);
    }
    for (; i < bytes; i++) b[i] = (uint8_t)nx();
    qlayout L = ql_get(type);
    int d0 = 0, d1 = -1;
    switch (type) {
    case IG_TYPE_Q4_1: case IG_TYPE_Q5_1: case IG_TYPE_Q4_K: case IG_TYPE_Q5_K: d1 = 2; break;
    case IG_TYPE_Q2_K: d0 = 80, d1 = 82; break;
    case IG_TYPE_Q3_K: d0 = 108; break;
    case IG_TYPE_Q6_K: d0 = 208; break;
    }
    if (L.qk == 1) {
        for (size_t i = 0; i + 1 < bytes; i += 2) {
            uint16_t h = ig_f32_to_f16(unif(-1, 1));
            memcpy(b + i, &h, 2);
        }
        return;
    }
    for (size_t o = 0; o < bytes; o += L.bs) {
        uint16_t h = ig_f32_to_f16(unif(-0.02f, 0.02f));
        memcpy(b + o + d0, &h, 2);
        if (d1 >= 0) memcpy(b + o + d1, &h, 2);
    }
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

#define CK(x)                                                                      \
    do {                                                                           \
        cudaError_t e_ = (x);                                                      \
        if (e_ != cudaSuccess) {                                                   \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

struct shape { int rows, cols; const char *what; };

/* ---- a 7B-shaped model with random weights, run through the op table
 * exactly as src/model/forward.c runs a llama model ------------------- */

struct fake_layer { ig_weight an, fn, wq, wk, wv, wo, wg, wu, wd; };
struct fake_model {
    std::vector<fake_layer> L;
    ig_weight emb, onorm, out;
    size_t mv_bytes; /* weight bytes one decode step reads */
    void *kc[32], *vc[32];
    float *x, *h, *q, *k, *v, *att, *ffa, *ffb, *logits;
    int32_t *ids, *pos, *amax;
};

static const int E = 4096, F = 11008, NV = 32000, NL = 32, NH = 32, HD = 128, NCTX = 4096, NB = 512;

static void mkw(ig_backend *be, ig_weight *w, uint32_t t, int rows, int cols, size_t *acc) {
    /* one random matrix per (type, shape), reused by every layer: only
     * the bytes' count and layout matter for time */
    static std::vector<uint8_t> host;
    static uint32_t host_t = ~0u;
    static size_t host_n = 0;
    qlayout L = ql_get(t);
    size_t bytes = (size_t)rows * (cols / L.qk) * L.bs;
    if (host_t != t || host_n != bytes) {
        host.resize(bytes);
        random_blocks(t, bytes, host.data());
        host_t = t, host_n = bytes;
    }
    *w = {t, rows, cols, bytes, NULL, NULL};
    if (be->iface->weight_upload(be, w, host.data()) != INGOT_OK) {
        printf("upload: %s\n", ingot_last_error());
        exit(1);
    }
    if (acc) *acc += bytes;
}
static void mknorm(ig_backend *be, ig_weight *w) {
    std::vector<float> h(E);
    for (auto &v : h) v = unif(0.9f, 1.1f);
    *w = {IG_TYPE_F32, 1, E, (size_t)E * 4, NULL, NULL};
    be->iface->weight_upload(be, w, h.data());
}

/* q4km: Q4_K with Q6_K for attn_v/ffn_down on llama.cpp's "more bits"
 * layers and for the output, as a Q4_K_M file has. */
static void fake_new(ig_backend *be, fake_model &m, uint32_t t, bool q4km) {
    m.L.resize(NL);
    m.mv_bytes = 0;
    for (int l = 0; l < NL; l++) {
        fake_layer &y = m.L[l];
        bool more = q4km && (l < NL / 8 || l >= 7 * NL / 8 || (l - NL / 8) % 3 == 2);
        uint32_t tv = more ? (uint32_t)IG_TYPE_Q6_K : t;
        mknorm(be, &y.an);
        mknorm(be, &y.fn);
        mkw(be, &y.wq, t, E, E, &m.mv_bytes);
        mkw(be, &y.wk, t, E, E, &m.mv_bytes);
        mkw(be, &y.wv, tv, E, E, &m.mv_bytes);
        mkw(be, &y.wo, t, E, E, &m.mv_bytes);
        mkw(be, &y.wg, t, F, E, &m.mv_bytes);
        mkw(be, &y.wu, t, F, E, &m.mv_bytes);
        mkw(be, &y.wd, tv, E, F, &m.mv_bytes);
    }
    mkw(be, &m.emb, t, NV, E, NULL);
    mknorm(be, &m.onorm);
    mkw(be, &m.out, IG_TYPE_Q6_K, NV, E, &m.mv_bytes);
    for (int l = 0; l < NL; l++) {
        m.kc[l] = be->iface->alloc(be, (size_t)NCTX * E * 2);
        m.vc[l] = be->iface->alloc(be, (size_t)NCTX * E * 2);
        CK(cudaMemset(m.kc[l], 0, (size_t)NCTX * E * 2));
        CK(cudaMemset(m.vc[l], 0, (size_t)NCTX * E * 2));
    }
    auto A = [&](size_t n) { return (float *)be->iface->alloc(be, n * 4); };
    m.x = A((size_t)NB * E), m.h = A((size_t)NB * E), m.q = A((size_t)NB * E), m.k = A((size_t)NB * E);
    m.v = A((size_t)NB * E), m.att = A((size_t)NB * E), m.ffa = A((size_t)NB * F), m.ffb = A((size_t)NB * F);
    m.logits = A((size_t)NB * NV);
    m.ids = (int32_t *)A(NB), m.pos = (int32_t *)A(NB), m.amax = (int32_t *)A(1);
}

static void fake_free(ig_backend *be, fake_model &m) {
    for (auto &y : m.L)
        for (ig_weight *w : {&y.an, &y.fn, &y.wq, &y.wk, &y.wv, &y.wo, &y.wg, &y.wu, &y.wd}) be->iface->weight_free(be, w);
    be->iface->weight_free(be, &m.emb), be->iface->weight_free(be, &m.onorm), be->iface->weight_free(be, &m.out);
    for (int l = 0; l < NL; l++) be->iface->dealloc(be, m.kc[l]), be->iface->dealloc(be, m.vc[l]);
    for (void *p : {(void *)m.x, (void *)m.h, (void *)m.q, (void *)m.k, (void *)m.v, (void *)m.att, (void *)m.ffa,
                    (void *)m.ffb, (void *)m.logits, (void *)m.ids, (void *)m.pos, (void *)m.amax})
        be->iface->dealloc(be, p);
}

/* Per-op time of an uncaptured forward: an event after each op. Held-back
 * work (fused ops) lands in the interval of the op that launches it. */
struct prof_t {
    std::vector<cudaEvent_t> ev;
    std::vector<const char *> name;
    cudaStream_t s;
};
static prof_t *prof;
static bool g_nograph;
static void mark(const char *what) {
    if (!prof) return;
    cudaEvent_t e;
    cudaEventCreate(&e);
    cudaEventRecord(e, prof->s);
    prof->ev.push_back(e);
    prof->name.push_back(what);
}

/* len: the sequence length after this step (as forward.c: the backend's
 * length phase picks the recorded graph and bounds the attention). */
static void fake_forward(ig_backend *be, fake_model &m, int n, bool greedy, int len) {
    const ig_backend_iface *B = be->iface;
    int bound = 0, phase = B->len_phase ? B->len_phase(be, len, &bound) & 3 : 0;
    int key = n == 1 && !g_nograph ? 1 + phase : 0;
    if (key && B->graph_replay(be, key)) return;
    if (key) B->capture_begin(be, key);
    ig_attn at = {NH, NH, HD, 1.0f / sqrtf((float)HD), INGOT_KV_F16, NCTX, bound};
    ig_rope rope = {HD, 10000.0f, 1.0f, IG_ROPE_NORMAL};
    mark("start");
    B->embed(be, m.x, &m.emb, m.ids, n);
    mark("embed");
    for (int l = 0; l < NL; l++) {
        fake_layer &L = m.L[l];
        B->rms_norm(be, m.h, m.x, &L.an, n, E, 1e-5f);
        mark("rms_norm");
        B->matmul(be, m.q, &L.wq, NULL, m.h, n);
        mark("matmul wq");
        B->matmul(be, m.k, &L.wk, NULL, m.h, n);
        mark("matmul wk");
        B->matmul(be, m.v, &L.wv, NULL, m.h, n);
        mark("matmul wv");
        B->rope(be, m.q, E, n, NH, HD, m.pos, &rope);
        mark("rope");
        B->rope(be, m.k, E, n, NH, HD, m.pos, &rope);
        mark("rope");
        B->kv_store(be, m.kc[l], m.vc[l], m.k, m.v, E, n, E, m.pos, &at);
        mark("kv_store");
        B->attention(be, m.att, m.q, E, m.kc[l], m.vc[l], n, m.pos, &at);
        mark("attention");
        B->matmul(be, m.h, &L.wo, NULL, m.att, n);
        mark("matmul wo");
        B->add(be, m.x, m.x, m.h, (size_t)n * E);
        mark("add");
        B->rms_norm(be, m.h, m.x, &L.fn, n, E, 1e-5f);
        mark("rms_norm");
        B->matmul(be, m.ffa, &L.wg, NULL, m.h, n);
        mark("matmul wg");
        B->matmul(be, m.ffb, &L.wu, NULL, m.h, n);
        mark("matmul wu");
        B->swiglu(be, m.ffa, m.ffa, m.ffb, (size_t)n * F);
        mark("swiglu");
        B->matmul(be, m.h, &L.wd, NULL, m.ffa, n);
        mark("matmul wd");
        B->add(be, m.x, m.x, m.h, (size_t)n * E);
        mark("add");
    }
    const float *xo = m.x + (size_t)(n - 1) * E;
    B->rms_norm(be, m.h, xo, &m.onorm, 1, E, 1e-5f);
    mark("rms_norm");
    B->matmul(be, m.logits, &m.out, NULL, m.h, 1);
    mark("matmul m.out");
    if (greedy) B->argmax(be, m.amax, m.logits, NV);
    if (key) B->capture_end(be, key);
}

/* The same step through the decode megakernel (mega.cu): the layers as
 * one launch, embedding and output through the op table. */
static cu_mega *mega_build(ig_backend *be, fake_model &m) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    if (const char *why = cu_mega_unsupported(c)) {
        printf("  megakernel unsupported: %s\n", why);
        return NULL;
    }
    cu_mega *g = cu_mega_new(c);
    const int ns = cu_mega_nsplit(g, NH);
    float *part = cu_mega_part(c, g, (size_t)NH * ns * (HD + 4));
    for (int l = 0; l < NL; l++) {
        fake_layer &L = m.L[l];
        mg_att A = {m.q, m.k, m.v, m.att, part, m.kc[l], m.vc[l], m.pos, cu_mega_counters(c, g), NH, 1, HD, ns,
                    getenv("MEGA_SINGLE") ? atoi(getenv("MEGA_SINGLE")) : 0, HD,
                    1.0f / sqrtf((float)HD), powf(10000.0f, -2.0f / HD), 1.0f};
        mg_mat qkv[3] = {mg_weight(&L.wq, m.q, NULL, NULL), mg_weight(&L.wk, m.k, NULL, NULL),
                         mg_weight(&L.wv, m.v, NULL, NULL)};
        mg_mat o = mg_weight(&L.wo, m.h, m.x, m.x);
        mg_mat gu[2] = {mg_weight(&L.wg, m.ffa, NULL, NULL), mg_weight(&L.wu, m.ffb, NULL, NULL)};
        mg_mat d = mg_weight(&L.wd, m.h, m.x, m.x);
        cu_mega_mv(g, MG_IN_NORM, m.x, NULL, (const float *)L.an.data, 1e-5f, 3, qkv);
        cu_mega_att(g, &A);
        cu_mega_mv(g, MG_IN_F32, m.att, NULL, NULL, 0.0f, 1, &o);
        cu_mega_mv(g, MG_IN_NORM, m.x, NULL, (const float *)L.fn.data, 1e-5f, 2, gu);
        cu_mega_mv(g, MG_IN_GLU, m.ffa, m.ffb, NULL, 0.0f, 1, &d);
    }
    if (!cu_mega_finish(c, g)) {
        printf("  megakernel: program not runnable\n");
        cu_mega_free(g);
        return NULL;
    }
    return g;
}
static void mega_forward(ig_backend *be, fake_model &m, cu_mega *g, int len) {
    const ig_backend_iface *B = be->iface;
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    int bound = 0, key = 20 + (B->len_phase ? B->len_phase(be, len, &bound) & 3 : 0);
    if (B->graph_replay(be, key)) return;
    B->capture_begin(be, key);
    B->embed(be, m.x, &m.emb, m.ids, 1);
    cu_mega_launch(c, g);
    q8_set(c, NULL, 0, NULL, 0);
    B->rms_norm(be, m.h, m.x, &m.onorm, 1, E, 1e-5f);
    B->matmul(be, m.logits, &m.out, NULL, m.h, 1);
    B->argmax(be, m.amax, m.logits, NV);
    B->capture_end(be, key);
}
/* Logits of steps 0..n-1 through either path, from an empty cache. */
static std::vector<std::vector<float>> run_steps(ig_backend *be, fake_model &m, cu_mega *g, int n,
                                                 const std::vector<int32_t> &ids) {
    std::vector<std::vector<float>> out;
    for (int l = 0; l < NL; l++) {
        CK(cudaMemset(m.kc[l], 0, (size_t)NCTX * E * 2));
        CK(cudaMemset(m.vc[l], 0, (size_t)NCTX * E * 2));
    }
    for (int s = 0; s < n; s++) {
        int32_t p = s, id = ids[s];
        be->iface->upload(be, m.ids, &id, 4);
        be->iface->upload(be, m.pos, &p, 4);
        if (g) mega_forward(be, m, g, p + 1);
        else fake_forward(be, m, 1, true, p + 1);
        std::vector<float> lg(NV);
        be->iface->download(be, lg.data(), m.logits, NV * 4);
        out.push_back(lg);
    }
    return out;
}
static void bench_mega(ig_backend *be, fake_model &m, double bw, const std::vector<int32_t> &ids, const char *label) {
    cu_mega *g = mega_build(be, m);
    if (!g) {
        printf("  %-7s megakernel: not supported here\n", label);
        return;
    }
    /* agreement with the op path over the length phases */
    const int NS = 160;
    auto a = run_steps(be, m, NULL, NS, ids), b = run_steps(be, m, g, NS, ids);
    double worst = 0, worst_short = 0;
    int same = 0, worst_at = 0;
    for (int s = 0; s < NS; s++) {
        double num = 0, den = 0;
        int ia = 0, ib = 0;
        for (int i = 0; i < NV; i++) {
            double d = (double)a[s][i] - b[s][i];
            num += d * d, den += (double)a[s][i] * a[s][i];
            if (a[s][i] > a[s][ia]) ia = i;
            if (b[s][i] > b[s][ib]) ib = i;
        }
        double e = den > 0 ? num / den : num;
        if (!(e <= worst)) worst = e, worst_at = s;
        if (s < 128 && !(e <= worst_short)) worst_short = e;
        same += ia == ib;
    }
    printf("  %-7s megakernel vs op path, %d steps: logits nmse max %.3g (step %d; %.3g up to 128), argmax equal %d/%d\n",
           label, NS, worst, worst_at, worst_short, same, NS);
    double tg_best = 1e30;
    /* BENCH_TG_PIPE=1: one download at the end instead of one per step, a
     * bound on what the host's round trip between steps costs */
    const bool pipe = getenv("BENCH_TG_PIPE") != NULL;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = 0;
        for (int s = 0; s < 128 + 8; s++) {
            if (s == 8) t0 = ig_time();
            int32_t p = s < 8 ? s : s - 8, id = ids[s % NB], got;
            be->iface->upload(be, m.ids, &id, 4);
            be->iface->upload(be, m.pos, &p, 4);
            mega_forward(be, m, g, p + 1);
            be->iface->download(be, &got, m.amax, 4);
        }
        double dt = (ig_time() - t0) / 128;
        if (dt < tg_best) tg_best = dt;
    }
    if (be->iface->sync(be) != INGOT_OK) printf("error: %s\n", ingot_last_error());
    double floor_s = m.mv_bytes / bw;
    printf("  %-7s megakernel tg128 %6.1f tok/s (%4.1f%% of floor)\n", label, 1 / tg_best, 100 * floor_s / tg_best);
    cu_mega_stats(g);
    cu_mega_barrier_us((cuda_ctx *)be->ctx, g, 100);
    printf("    grid barrier alone: %.2f us each (1000 back to back)\n", cu_mega_barrier_us((cuda_ctx *)be->ctx, g, 1000));
    cu_mega_free(g);
}

static void prof_print(prof_t &pr, const char *title) {
    std::vector<std::pair<std::string, double>> acc;
    double tot = 0;
    for (size_t i = 1; i < pr.ev.size(); i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, pr.ev[i - 1], pr.ev[i]);
        std::string nm = pr.name[i];
        size_t k = 0;
        while (k < acc.size() && acc[k].first != nm) k++;
        if (k == acc.size()) acc.push_back({nm, 0.0});
        acc[k].second += ms;
        tot += ms;
    }
    for (auto e : pr.ev) cudaEventDestroy(e);
    printf("    %s (total %.3f ms):", title, tot);
    for (auto &a : acc) printf(" %s %.3f;", a.first.c_str(), a.second);
    printf("\n");
}

/* tg: 128 steps from position 0, each an upload of id+position, a graph
 * replay and a 4-byte argmax download (ingot_decode_greedy's traffic).
 * pp: one forward of 512 tokens. */
static void bench_model(ig_backend *be, double bw, uint32_t t, bool q4km, const char *label) {
    fake_model m;
    fake_new(be, m, t, q4km);
    std::vector<int32_t> ids(NB), pos(NB);
    for (int i = 0; i < NB; i++) ids[i] = (int32_t)(nx() % NV), pos[i] = i;
    if (getenv("BENCH_MEGA_ONLY")) {
        bench_mega(be, m, bw, ids, label);
        fake_free(be, m);
        return;
    }
    double tg_best = 1e30;
    /* BENCH_TG_PIPE=1: one download at the end instead of one per step, a
     * bound on what the host's round trip between steps costs */
    const bool pipe = getenv("BENCH_TG_PIPE") != NULL;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = 0;
        for (int s = 0; s < 128 + 8; s++) {
            if (s == 8) t0 = ig_time(); /* first steps: capture + warm-up */
            int32_t p = s < 8 ? s : s - 8, id = ids[s % NB], got;
            be->iface->upload(be, m.ids, &id, 4);
            be->iface->upload(be, m.pos, &p, 4);
            fake_forward(be, m, 1, true, p + 1);
            if (!pipe || s == 128 + 7 || s == 7) be->iface->download(be, &got, m.amax, 4);
        }
        double dt = (ig_time() - t0) / 128;
        if (dt < tg_best) tg_best = dt;
    }
#ifdef INGOT_CUDA_TRACE
    {
        /* the decode graph once more at position 100 with the kernel timeline
         * on: when each kernel's dependency wait returned (common.cuh) */
        unsigned long long *tb = NULL;
        const size_t tw = 2 + 2 * (size_t)TRACE_CAP;
        CK(cudaMalloc(&tb, tw * 8));
        CK(cudaMemset(tb, 0, tw * 8));
        cu_trace_set(tb);
        int32_t p = 100, id = 5, got;
        be->iface->upload(be, m.ids, &id, 4);
        be->iface->upload(be, m.pos, &p, 4);
        fake_forward(be, m, 1, true, p + 1);
        be->iface->download(be, &got, m.amax, 4);
        cu_trace_set(NULL);
        std::vector<unsigned long long> h(tw);
        CK(cudaMemcpy(h.data(), tb, tw * 8, cudaMemcpyDeviceToHost));
        cudaFree(tb);
        const int nall = (int)(h[0] < TRACE_CAP ? h[0] : TRACE_CAP);
        std::vector<unsigned long long> hk(2); /* the kernel releases only; per-CTA events apart */
        tev ce;
        for (int i = 0; i < nall; i++) {
            if (h[3 + 2 * i] >> 63) ce.push_back({h[2 + 2 * i], h[3 + 2 * i]});
            else hk.push_back(h[2 + 2 * i]), hk.push_back(h[3 + 2 * i]);
        }
        std::sort(ce.begin(), ce.end());
        if (h[0] > TRACE_CAP) printf("    (trace buffer full: %llu events)\n", h[0]);
        h.swap(hk);
        int nk = (nall - (int)ce.size());
        /* by signature: how long after the previous kernel's release this
         * one was released (= the previous kernel's time on the critical path) */
        std::vector<std::pair<unsigned long long, std::pair<double, int>>> sig;
        std::vector<std::pair<unsigned long long, unsigned long long>> ev;
        for (int i = 0; i < nk; i++) ev.push_back({h[2 + 2 * i], h[3 + 2 * i]});
        std::sort(ev.begin(), ev.end());
        for (int i = 0; i + 1 < nk; i++) {
            unsigned long long k = ev[i].second;
            double d = (double)(ev[i + 1].first - ev[i].first) / 1e3;
            size_t j = 0;
            while (j < sig.size() && sig[j].first != k) j++;
            if (j == sig.size()) sig.push_back({k, {0.0, 0}});
            sig[j].second.first += d;
            sig[j].second.second++;
        }
        printf("    decode timeline %s: %d kernels, %.1f us from first to last release\n", label, nk,
               nk > 1 ? (double)(ev[nk - 1].first - ev[0].first) / 1e3 : 0.0);
        for (auto &g : sig)
            printf("      grid %6llu x %llu, block %4llu: %4d x %7.2f us = %8.1f us\n", g.first >> 32,
                   (g.first >> 16) & 0xFFFF, g.first & 0xFFFF, g.second.second,
                   g.second.first / g.second.second, g.second.first);
        printf("      layer 1 in order (us after the previous release):");
        int per = nk > 40 ? (nk - 6) / NL : 0;
        for (int i = 2 + per; i < 2 + 2 * per && i < nk; i++)
            printf(" %llu:%.2f", ev[i].second >> 32, (double)(ev[i].first - ev[i - 1].first) / 1e3);
        printf("\n");
        cta_spread(ev, ce);
    }
#endif
    {
        /* one uncaptured decode step at position 100, an event after each op
         * (held-back matmuls land in the next op's interval) */
        prof_t pr;
        pr.s = ((cuda_ctx *)be->ctx)->stream;
        int32_t p = 100, id = 5, got;
        be->iface->upload(be, m.ids, &id, 4);
        be->iface->upload(be, m.pos, &p, 4);
        g_nograph = true;
        prof = &pr;
        fake_forward(be, m, 1, true, p + 1);
        prof = NULL;
        g_nograph = false;
        be->iface->download(be, &got, m.amax, 4);
        char t[64];
        snprintf(t, sizeof t, "decode step profile ms (no graph), %s", label);
        prof_print(pr, t);
    }
    double pp_best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        prof_t pr;
        pr.s = ((cuda_ctx *)be->ctx)->stream;
        if (rep == 3) prof = &pr;
        be->iface->upload(be, m.ids, ids.data(), NB * 4);
        be->iface->upload(be, m.pos, pos.data(), NB * 4);
        be->iface->sync(be);
        double t0 = ig_time();
        fake_forward(be, m, NB, false, NB);
        be->iface->sync(be);
        double dt = ig_time() - t0;
        if (rep && rep < 3 && dt < pp_best) pp_best = dt;
        if (prof) {
            prof = NULL;
            char t[64];
            snprintf(t, sizeof t, "pp512 profile ms, %s", label);
            prof_print(pr, t);
        }
    }
    if (be->iface->sync(be) != INGOT_OK) printf("error: %s\n", ingot_last_error());
    if (getenv("BENCH_MEGA")) bench_mega(be, m, bw, ids, label);
    double floor_s = m.mv_bytes / bw;
    printf("  %-7s weights read/token %6.0f MB  floor %6.0f tok/s | tg128 %6.1f tok/s (%4.1f%% of floor) | pp512 %7.0f tok/s\n",
           label, m.mv_bytes / 1e6, 1 / floor_s, 1 / tg_best, 100 * floor_s / tg_best, NB / pp_best);
    fake_free(be, m);
}


int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 30;
    bool model_only = argc > 2 && !strcmp(argv[2], "model");
    ig_backend *be;
    if (ig_backend_cuda_new(0, &be) != INGOT_OK) {
        printf("no CUDA device: %s\n", ingot_last_error());
        return 0;
    }
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    double bw = be->iface->bandwidth(be);
    printf("device: %s, %d SMs, copy bandwidth %.0f GB/s (read+write)\n", c->name, c->n_sm, bw / 1e9);

    const shape shapes[] = {{4096, 4096, "attn q/k/v/o"}, {11008, 4096, "ffn gate/up"},
                            {4096, 11008, "ffn down"},    {32000, 4096, "output"}};
    const uint32_t types[] = {IG_TYPE_Q4_0, IG_TYPE_Q4_K, IG_TYPE_Q6_K, IG_TYPE_Q8_0, IG_TYPE_F16};
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    float *x = NULL, *out = NULL;
    CK(cudaMalloc(&x, 8 * 11008 * 4));
    CK(cudaMalloc(&out, 8 * 32000 * 4));
    {
        std::vector<float> xh(8 * 11008);
        for (auto &v : xh) v = unif(-1, 1);
        CK(cudaMemcpy(x, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice));
    }
    double us_tab[5][4];
    if (model_only) goto model;
    printf("\n%-6s %-13s %11s %8s %9s %9s %7s %9s %7s\n", "type", "shape", "what", "MB", "us", "GB/s", "%copy",
           "us graph", "%copy");
    for (int ti = 0; ti < 5; ti++) {
        uint32_t t = types[ti];
        for (int si = 0; si < 4; si++) {
            const shape &s = shapes[si];
            qlayout L = ql_get(t);
            size_t bytes = (size_t)s.rows * (s.cols / L.qk) * L.bs;
            int ncopy = (int)std::max<size_t>(4, ((size_t)400 << 20) / bytes + 1);
            std::vector<uint8_t> host(bytes);
            random_blocks(t, bytes, host.data());
            std::vector<ig_weight> ws(ncopy);
            for (int k = 0; k < ncopy; k++) {
                ws[k] = {t, s.rows, s.cols, bytes, NULL, NULL};
                if (be->iface->weight_upload(be, &ws[k], host.data()) != INGOT_OK) {
                    printf("upload: %s\n", ingot_last_error());
                    return 1;
                }
            }
            auto launch_all = [&]() {
                for (int k = 0; k < ncopy; k++) {
                    mv_batch b;
                    memset(&b, 0, sizeof b);
                    b.nd = 1;
                    b.type = t;
                    b.cols = s.cols;
                    b.n = 1;
                    b.x = x;
                    cu_weight_parts(&ws[k], &b.d[0].q, &b.d[0].s);
                    b.d[0].out = out;
                    b.d[0].rows = s.rows;
                    cu_mv_launch(c, &b);
                }
            };
            launch_all(); /* warm-up, quantizes x once (cached after) */
            std::vector<double> tp, tg;
            for (int r = 0; r < reps; r++) {
                CK(cudaEventRecord(e0, c->stream));
                launch_all();
                CK(cudaEventRecord(e1, c->stream));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                tp.push_back(ms * 1e3 / ncopy);
            }
            cudaGraph_t g;
            cudaGraphExec_t ge;
            CK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed));
            launch_all();
            CK(cudaStreamEndCapture(c->stream, &g));
            CK(cudaGraphInstantiate(&ge, g, 0));
            CK(cudaGraphLaunch(ge, c->stream));
            for (int r = 0; r < reps; r++) {
                CK(cudaEventRecord(e0, c->stream));
                CK(cudaGraphLaunch(ge, c->stream));
                CK(cudaEventRecord(e1, c->stream));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                tg.push_back(ms * 1e3 / ncopy);
            }
            cudaGraphExecDestroy(ge);
            cudaGraphDestroy(g);
            if (be->iface->sync(be) != INGOT_OK) {
                printf("error: %s\n", ingot_last_error());
                return 1;
            }
            double up = median(tp), ug = median(tg);
            us_tab[ti][si] = ug;
            char sh[32];
            snprintf(sh, sizeof sh, "%dx%d", s.rows, s.cols);
            printf("%-6s %-13s %11s %8.1f %9.2f %9.0f %6.0f%% %9.2f %6.0f%%\n", ingot_type_name(t), sh, s.what,
                   bytes / 1e6, up, bytes / up / 1e3, 100.0 * bytes / (up * 1e-6) / bw, ug,
                   100.0 * bytes / (ug * 1e-6) / bw);
            for (auto &w : ws) be->iface->weight_free(be, &w);
        }
    }
    /* Decode matvec time per token of a 7B model (32 layers: 4 attention
     * matrices, gate+up, down; output in Q6_K as llama.cpp quantizes it). */
    printf("\nmatvec-only time per 7B token (graph timings, output Q6_K):\n");
    for (int ti = 0; ti < 2; ti++) {
        double us = 32 * (4 * us_tab[ti][0] + 2 * us_tab[ti][1] + us_tab[ti][2]) + us_tab[2][3];
        printf("  %-5s %.0f us -> %.0f tok/s upper bound from matvecs alone\n", ingot_type_name(types[ti]), us,
               1e6 / us);
    }

    /* decode attention, 32 heads x 128, f16 cache */
    printf("\ndecode attention (32 heads, hd 128, f16 KV):\n");
    {
        const int n_ctx = 4096, kv = 4096;
        void *kc, *vc;
        float *q, *o;
        int32_t *pos;
        CK(cudaMalloc(&kc, (size_t)n_ctx * kv * 2));
        CK(cudaMalloc(&vc, (size_t)n_ctx * kv * 2));
        CK(cudaMemset(kc, 0x3c, (size_t)n_ctx * kv * 2));
        CK(cudaMemset(vc, 0x3c, (size_t)n_ctx * kv * 2));
        CK(cudaMalloc(&q, kv * 4));
        CK(cudaMalloc(&o, kv * 4));
        CK(cudaMalloc(&pos, 4));
        CK(cudaMemcpy(q, x, kv * 4, cudaMemcpyDeviceToDevice));
        ig_attn a = {32, 32, 128, 0.0883883f, INGOT_KV_F16, n_ctx, 0};
        const int lens[] = {128, 512, 2048, 4096};
        for (int li = 0; li < 4; li++) {
            int32_t p = lens[li] - 1;
            CK(cudaMemcpy(pos, &p, 4, cudaMemcpyHostToDevice));
            std::vector<double> tt;
            for (int r = 0; r < reps + 1; r++) {
                CK(cudaEventRecord(e0, c->stream));
                cu_attention(c, o, q, kv, kc, vc, 1, pos, &a, NULL);
                CK(cudaEventRecord(e1, c->stream));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                if (r) tt.push_back(ms * 1e3);
            }
            double us = median(tt), b = (double)lens[li] * kv * 2 * 2;
            printf("  len %5d: %7.2f us, %6.0f GB/s of K+V\n", lens[li], us, b / us / 1e3);
        }
        cudaFree(kc), cudaFree(vc), cudaFree(q), cudaFree(o), cudaFree(pos);
    }

    /* prefill: 512 tokens */
    printf("\nprefill matmul, n = 512 tokens%s:\n", c->cublas ? " (dequant to f16 + cuBLAS)" : " (no cuBLAS: matvec loop)");
    {
        const int n = 512;
        float *xp, *op;
        CK(cudaMalloc(&xp, (size_t)n * 11008 * 4));
        CK(cudaMalloc(&op, (size_t)n * 32000 * 4));
        {
            std::vector<float> xh((size_t)n * 11008);
            for (auto &v : xh) v = unif(-1, 1);
            CK(cudaMemcpy(xp, xh.data(), xh.size() * 4, cudaMemcpyHostToDevice));
        }
        double tot[2] = {0, 0};
        for (int ti = 0; ti < 2; ti++) {
            uint32_t t = types[ti];
            for (int si = 0; si < 4; si++) {
                const shape &s = shapes[si];
                qlayout L = ql_get(t);
                size_t bytes = (size_t)s.rows * (s.cols / L.qk) * L.bs;
                std::vector<uint8_t> host(bytes);
                random_blocks(t, bytes, host.data());
                ig_weight w = {t, s.rows, s.cols, bytes, NULL, NULL};
                be->iface->weight_upload(be, &w, host.data());
                std::vector<double> tt;
                for (int r = 0; r < 6; r++) {
                    c->f16x_src = NULL; /* count the activation conversion too */
                    CK(cudaEventRecord(e0, c->stream));
                    be->iface->matmul(be, op, &w, NULL, xp, n);
                    CK(cudaEventRecord(e1, c->stream));
                    CK(cudaEventSynchronize(e1));
                    float ms;
                    CK(cudaEventElapsedTime(&ms, e0, e1));
                    if (r) tt.push_back(ms * 1e3);
                }
                double us = median(tt);
                double tf = 2.0 * s.rows * s.cols * n / (us * 1e-6) / 1e12;
                printf("  %-5s %5dx%-5d %9.1f us  %6.1f TFLOP/s\n", ingot_type_name(t), s.rows, s.cols, us, tf);
                tot[ti] += si == 0 ? 4 * 32 * us : si == 1 ? 2 * 32 * us : si == 2 ? 32 * us : us;
                be->iface->weight_free(be, &w);
            }
            printf("  %-5s 7B prefill matmuls: %.1f ms per 512 tokens -> %.0f tok/s upper bound\n",
                   ingot_type_name(t), tot[ti] / 1e3, n / (tot[ti] * 1e-6));
        }
        cudaFree(xp), cudaFree(op);
    }
model:
    printf("\n7B-shaped model, random weights, through the op table (ctx 4096, f16 KV):\n");
    bench_model(be, bw, IG_TYPE_Q4_0, false, "Q4_0");
    bench_model(be, bw, IG_TYPE_Q4_K, true, "Q4_K_M");
    if (be->iface->sync(be) != INGOT_OK) printf("error: %s\n", ingot_last_error());
    be->iface->destroy(be);
    return 0;
}
