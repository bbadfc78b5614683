/* Tokenizer speed: tokenize ~1 MB of text with a vocab and time it.
 *
 * Not part of the test suite. Build against a build tree's library:
 *   cc -O2 -Iinclude -Isrc bench/tokenize_bench.c build/libingot.a \
 *      $(pkg-config --libs libpcre2-8) -lm -lpthread -o build/tokenize_bench
 * Run from the source tree:
 *   build/tokenize_bench tests/data/vocab/ggml-vocab-gpt-2.gguf [TEXT_FILE] [MB]
 * The text (default tests/data/reference/ppl_text.txt) is repeated up to MB
 * megabytes (default 1); a TEXT_FILE given without MB is used once, as is.
 * Prints the best of three runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) *len = (size_t)n;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s VOCAB.gguf [TEXT_FILE] [MB]\n", argv[0]);
        return 2;
    }
    const char *src = argc > 2 ? argv[2] : "tests/data/reference/ppl_text.txt";
    double mb = argc > 3 ? atof(argv[3]) : 1.0;
    size_t sl;
    char *seed = slurp(src, &sl);
    if (!seed || !sl) {
        fprintf(stderr, "cannot read %s\n", src);
        return 1;
    }
    size_t want = argc > 2 && argc <= 3 ? sl : (size_t)(mb * 1024 * 1024);
    char *text = malloc(want);
    for (size_t o = 0; o < want; o += sl) memcpy(text + o, seed, o + sl <= want ? sl : want - o);

    double t0 = ig_time();
    gguf *g = NULL;
    ig_vocab *v = NULL;
    if (gguf_open(argv[1], &g) != INGOT_OK || ig_vocab_load(g, &v) != INGOT_OK) {
        fprintf(stderr, "%s\n", ingot_last_error());
        return 1;
    }
    double t_load = ig_time() - t0;

    int64_t n = ig_tokenize(v, text, want, false, false, NULL, 0);
    int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        t0 = ig_time();
        n = ig_tokenize(v, text, want, false, false, ids, n);
        double t = ig_time() - t0;
        if (t < best) best = t;
    }
    if (n < 0) {
        fprintf(stderr, "%s\n", ingot_last_error());
        return 1;
    }
    t0 = ig_time();
    size_t out = 0;
    char buf[256];
    for (int64_t i = 0; i < n; i++) {
        int32_t k = ig_token_to_piece(v, ids[i], false, buf, sizeof buf);
        out += k > 0 ? (size_t)k : 0;
    }
    double t_dec = ig_time() - t0;
    printf("%s (%s/%s): load %.3f s; %.2f MB -> %lld tokens in %.3f s (%.1f MB/s, %.0f tok/s); "
           "decode %.3f s (%zu bytes)\n",
           argv[1], ig_vocab_model(v), ig_vocab_pre(v), t_load, want / 1048576.0, (long long)n,
           best, want / 1048576.0 / best, n / best, t_dec, out);
    ig_vocab_free(v);
    gguf_close(g);
    free(ids);
    free(text);
    free(seed);
    return 0;
}
