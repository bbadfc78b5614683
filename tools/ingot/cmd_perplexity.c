/* ingot perplexity: llama.cpp's method, so numbers compare directly. The
 * text is cut into chunks of -c tokens evaluated independently; each
 * chunk's first token becomes BOS (when the vocab adds one) and only the
 * second half of each chunk is scored, so every scored token has at least
 * half a context of history. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot perplexity [-m MODEL] -f FILE [options]\n"
            "\n"
            "  -f, --file FILE     text to score (one trailing newline is ignored)\n"
            "  -c, --ctx-size N    tokens per chunk (default 512)\n"
            "  -t, --threads N     CPU threads\n"
            "      --backend B     auto | cpu | cuda\n"
            "      --kv f16|f32    KV cache precision (default f16)\n"
            "      --chunks N      score at most N chunks\n");
}

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    long n_ctx = 512, threads = 0, max_chunks = -1;
    ingot_backend_kind backend = INGOT_BACKEND_AUTO;
    ingot_kv_type kv = INGOT_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) return cli_usage_error("perplexity", "%s needs a value", a); i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEEDV(); model = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { NEEDV(); file = v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            NEEDV();
            if (!cli_parse_int(v, 4, 1 << 20, &n_ctx)) return cli_usage_error("perplexity", "bad value for -c: '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEEDV();
            if (!cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("perplexity", "bad value for -t: '%s'", v);
        } else if (!strcmp(a, "--chunks")) {
            NEEDV();
            if (!cli_parse_int(v, 1, 1 << 30, &max_chunks)) return cli_usage_error("perplexity", "bad value for --chunks: '%s'", v);
        } else if (!strcmp(a, "--backend")) {
            NEEDV();
            if (!cli_parse_backend(v, &backend)) return cli_usage_error("perplexity", "unknown backend '%s'", v);
        } else if (!strcmp(a, "--kv")) {
            NEEDV();
            if (!cli_parse_kv(v, &kv)) return cli_usage_error("perplexity", "--kv must be f16 or f32");
        } else return cli_usage_error("perplexity", "unknown option '%s'", a);
#undef NEEDV
    }
    if (!file) return cli_usage_error("perplexity", "no text file (-f FILE)");
    cli_setup_log(false);
    if (!model && !(model = cli_default_model())) return cli_fail("no model given (-m)");
    size_t len;
    char *text = cli_read_file(file, &len);
    if (!text) return CLI_ERR;
    if (len && text[len - 1] == '\n') len--;
    ingot_model *m = cli_load_model(model, backend, (int)threads, false);
    if (!m) { free(text); return CLI_ERR; }
    int rc = CLI_ERR;
    int32_t *toks = NULL;
    ingot_context *ctx = NULL;
    bool bos = ingot_add_bos(m);
    int64_t nt = ingot_tokenize(m, text, len, true, false, NULL, 0);
    if (nt < 0) { cli_lib_fail(); goto out; }
    toks = malloc(((size_t)nt + 1) * sizeof *toks);
    if (!toks) { cli_fail("out of memory"); goto out; }
    ingot_tokenize(m, text, len, true, false, toks, nt);
    int64_t n_chunks = nt / n_ctx;
    if (max_chunks > 0 && n_chunks > max_chunks) n_chunks = max_chunks;
    if (n_chunks == 0) {
        cli_fail("%s: %lld tokens are fewer than one chunk of %ld (lower -c)", file, (long long)nt, n_ctx);
        goto out;
    }
    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = cp.n_batch = (uint32_t)n_ctx;
    cp.kv_type = kv;
    if (ingot_context_new(m, &cp, &ctx) != INGOT_OK) { cli_lib_fail(); goto out; }
    int32_t nv = ingot_n_vocab(m);
    int first = (int)(n_ctx / 2);
    double nll = 0, nll2 = 0;
    long count = 0;
    double t0 = cli_now();
    fprintf(stderr, "perplexity: %lld tokens, %lld chunks of %ld\n", (long long)nt, (long long)n_chunks, n_ctx);
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        int32_t *c = toks + ch * n_ctx;
        int32_t saved = c[0];
        if (bos) c[0] = ingot_token_bos(m);
        ingot_context_truncate(ctx, 0);
        ingot_status s = ingot_decode(ctx, c, (int32_t)n_ctx, true);
        c[0] = saved;
        if (s != INGOT_OK) { cli_lib_fail(); goto out; }
        for (int j = first; j < n_ctx - 1; j++) {
            const float *lg = ingot_get_logits(ctx, j);
            float mx = lg[0];
            for (int32_t v = 1; v < nv; v++) if (lg[v] > mx) mx = lg[v];
            double se = 0;
            for (int32_t v = 0; v < nv; v++) se += exp((double)(lg[v] - mx));
            double lp = (double)(lg[c[j + 1]] - mx) - log(se);
            nll -= lp;
            nll2 += lp * lp;
            count++;
        }
        printf("[%lld]%.4f%s", (long long)ch + 1, exp(nll / count), ch + 1 < n_chunks ? "," : "\n");
        fflush(stdout);
    }
    double mean = nll / count, var = nll2 / count - mean * mean;
    double err = var > 0 && count > 1 ? sqrt(var / (count - 1)) : 0;
    double ppl = exp(mean);
    printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, err * ppl);
    fprintf(stderr, "perplexity: %.2f s, %.1f tokens/s\n", cli_now() - t0, n_chunks * n_ctx / (cli_now() - t0));
    rc = CLI_OK;
out:
    ingot_context_free(ctx);
    ingot_model_free(m);
    free(toks);
    free(text);
    return rc;
}
