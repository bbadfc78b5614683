/* `ingot quantize` and `ingot mkmodel`.
 *
 * The shared llama-micro files were made by llama-quantize --pure from the
 * F16 master; quantizing that master with --pure must give the same
 * tensors byte for byte. The default mixes must pick llama.cpp's types.
 * Synthetic models must load and run. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "ingot.h"
#include "quant/quant.h"
#include "test.h"

static char tmpdir[256];

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

/* every tensor of `a` equals the same-named tensor of `b` (type and bytes) */
static void same_tensors(const char *a_path, const char *b_path) {
    gguf *a = NULL, *b = NULL;
    CHECK(gguf_open(a_path, &a) == INGOT_OK, "open %s: %s", a_path, ingot_last_error());
    CHECK(gguf_open(b_path, &b) == INGOT_OK, "open %s: %s", b_path, ingot_last_error());
    if (!a || !b) goto out;
    CHECK(a->n_tensors == b->n_tensors, "%s: %lld tensors, %s: %lld", a_path, (long long)a->n_tensors, b_path,
          (long long)b->n_tensors);
    int diff = 0;
    for (int64_t i = 0; i < a->n_tensors; i++) {
        const gguf_tensor *ta = &a->tensors[i], *tb = gguf_find_tensor(b, ta->name.s);
        if (!tb || ta->type != tb->type || ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, ta->nbytes)) {
            if (diff++ < 3)
                fprintf(stderr, "  %s: tensor %s differs (%s vs %s)\n", a_path, ta->name.s, ingot_type_name(ta->type),
                        tb ? ingot_type_name(tb->type) : "missing");
        }
    }
    CHECK(diff == 0, "%s vs %s: %d tensors differ", a_path, b_path, diff);
out:
    gguf_close(a);
    gguf_close(b);
}

static uint32_t tensor_type(const gguf *g, const char *name) {
    const gguf_tensor *t = gguf_find_tensor(g, name);
    return t ? t->type : 9999;
}

/* load, decode a few tokens, finite logits */
static void runs(const char *path) {
    ingot_model_params mp = ingot_model_default_params();
    mp.backend = INGOT_BACKEND_CPU;
    mp.n_threads = 2;
    ingot_model *m = NULL;
    CHECK(ingot_model_load(path, &mp, &m) == INGOT_OK, "load %s: %s", path, ingot_last_error());
    if (!m) return;
    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = 32;
    ingot_context *c = NULL;
    CHECK(ingot_context_new(m, &cp, &c) == INGOT_OK, "context: %s", ingot_last_error());
    int32_t toks[4] = {1, 2, 3, 4};
    if (c && ingot_decode(c, toks, 4, false) == INGOT_OK) {
        const float *l = ingot_get_logits(c, -1);
        int bad = 0;
        for (int i = 0; i < ingot_n_vocab(m); i++) bad += !isfinite(l[i]);
        CHECK(bad == 0, "%s: %d non-finite logits", path, bad);
    } else {
        CHECK(0, "%s: decode failed: %s", path, ingot_last_error());
    }
    ingot_context_free(c);
    ingot_model_free(m);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ingot-test-quantize-%d", (int)getpid());
    if (sh("mkdir -p %s", tmpdir)) return 1;
    const char *master = TDATA("models/llama-micro-f16.gguf");

    /* --pure against llama-quantize --pure, every type the master was made in */
    static const struct { const char *ftype, *file; } pure[] = {
        {"Q8_0", "llama-micro-q8_0.gguf"}, {"Q4_0", "llama-micro-q4_0.gguf"}, {"Q4_1", "llama-micro-q4_1.gguf"},
        {"Q5_0", "llama-micro-q5_0.gguf"}, {"Q5_1", "llama-micro-q5_1.gguf"}, {"Q2_K", "llama-micro-q2_k.gguf"},
        {"Q3_K_M", "llama-micro-q3_k.gguf"}, {"Q4_K_M", "llama-micro-q4_k.gguf"}, {"Q5_K_M", "llama-micro-q5_k.gguf"},
        {"Q6_K", "llama-micro-q6_k.gguf"}, {"BF16", "llama-micro-bf16.gguf"},
    };
    ingot_quantize_params qp = ingot_quantize_default_params();
    qp.pure = true;
    qp.n_threads = 2;
    for (size_t i = 0; i < sizeof pure / sizeof pure[0]; i++) {
        char ref[512], out[64];
        snprintf(ref, sizeof ref, "%s/tests/data/models/%s", INGOT_SOURCE_DIR, pure[i].file);
        snprintf(out, sizeof out, "pure-%s.gguf", pure[i].ftype);
        ingot_status s = ingot_quantize_file(master, tmp(out), pure[i].ftype, &qp);
        CHECK(s == INGOT_OK, "quantize %s: %s", pure[i].ftype, ingot_last_error());
        if (s == INGOT_OK) same_tensors(tmp(out), ref);
    }
    runs(tmp("pure-Q4_0.gguf"));

    /* the default mix: llama.cpp's choices for a 2-layer model */
    qp.pure = false;
    CHECK(ingot_quantize_file(master, tmp("mix.gguf"), "Q4_K_M", &qp) == INGOT_OK, "Q4_K_M: %s", ingot_last_error());
    gguf *g = NULL;
    if (gguf_open(tmp("mix.gguf"), &g) == INGOT_OK) {
        uint32_t ft = 0;
        CHECK(gguf_get_u32(g, "general.file_type", &ft) && ft == 15, "file_type %u", ft);
        CHECK(tensor_type(g, "output.weight") == IG_TYPE_Q6_K, "output.weight");
        CHECK(tensor_type(g, "token_embd.weight") == IG_TYPE_Q4_K, "token_embd.weight");
        CHECK(tensor_type(g, "blk.0.attn_v.weight") == IG_TYPE_Q4_K, "blk.0.attn_v");
        CHECK(tensor_type(g, "blk.1.attn_v.weight") == IG_TYPE_Q6_K, "blk.1.attn_v");
        CHECK(tensor_type(g, "blk.0.ffn_down.weight") == IG_TYPE_Q4_K, "blk.0.ffn_down");
        CHECK(tensor_type(g, "blk.1.ffn_down.weight") == IG_TYPE_Q6_K, "blk.1.ffn_down");
        CHECK(tensor_type(g, "blk.1.ffn_norm.weight") == IG_TYPE_F32, "norms stay F32");
        const char *name = NULL;
        CHECK(gguf_get_str(g, "tokenizer.ggml.model", &name), "metadata copied");
        gguf_close(g);
    } else {
        CHECK(0, "open mix: %s", ingot_last_error());
    }
    runs(tmp("mix.gguf"));
    CHECK(ingot_quantize_file(master, tmp("x.gguf"), "Q9_9", &qp) == INGOT_ERR_INVALID_ARG, "unknown type refused");

    /* the command line: quantize (requantizing a Q8_0 file), mkmodel, info, run */
    CHECK(sh("%s quantize %s %s Q4_0 --threads 2 2>/dev/null", INGOT_CLI, TDATA("models/llama-micro-q8_0.gguf"),
             tmp("requant.gguf")) == 0, "ingot quantize (requantize) failed");
    runs(tmp("requant.gguf"));
    CHECK(sh("%s quantize %s %s --pure Q8_0 2>/dev/null", INGOT_CLI, master, tmp("cli.gguf")) == 0, "ingot quantize");
    same_tensors(tmp("cli.gguf"), TDATA("models/llama-micro-q8_0.gguf"));
    CHECK(sh("%s quantize %s %s Q7 2>/dev/null", INGOT_CLI, master, tmp("bad.gguf")) == 2, "bad type is a usage error");

    static const char *mk[][2] = {{"llama", "Q4_K_M"}, {"llama", "Q8_0"}, {"gpt2", "Q4_0"}};
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        char out[64];
        snprintf(out, sizeof out, "tiny-%s-%s.gguf", mk[i][0], mk[i][1]);
        CHECK(sh("%s mkmodel --arch %s --preset tiny --type %s -o %s --seed 7 -t 2 2>/dev/null", INGOT_CLI, mk[i][0],
                 mk[i][1], tmp(out)) == 0, "mkmodel %s %s", mk[i][0], mk[i][1]);
        CHECK(sh("%s info %s >/dev/null 2>&1", INGOT_CLI, tmp(out)) == 0, "ingot info on %s", out);
        CHECK(sh("%s run -m %s -p 'Once upon a time' -n 8 --temp 0 >/dev/null 2>&1", INGOT_CLI, tmp(out)) == 0,
              "ingot run on %s", out);
        runs(tmp(out));
    }
    /* same seed, same file, whatever the thread count */
    CHECK(sh("%s mkmodel --preset tiny --type Q4_K_M -o %s --seed 7 -t 1 2>/dev/null && cmp -s %s %s", INGOT_CLI,
             tmp("tiny-1t.gguf"), tmp("tiny-1t.gguf"), tmp("tiny-llama-Q4_K_M.gguf")) == 0,
          "mkmodel depends on the thread count");
    sh("rm -rf %s", tmpdir);
    return test_done();
}
