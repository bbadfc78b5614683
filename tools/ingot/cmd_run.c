/* ingot run: generate text from a prompt, streaming it as it comes. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot run [-m MODEL] (-p PROMPT | -f FILE) [options]\n"
            "\n"
            "  -m, --model FILE      GGUF model (default: the bundled stories260K)\n"
            "  -p, --prompt TEXT     prompt text\n"
            "  -f, --file FILE       read the prompt from a file\n"
            "  -n, --n-predict N     tokens to generate (default 128; -1: until EOS or the context is full)\n"
            "  -c, --ctx-size N      context size (default: the model's, at most 4096)\n"
            "  -b, --batch-size N    prompt tokens per forward pass (default 512)\n"
            "  -t, --threads N       CPU threads (default: physical cores)\n"
            "      --backend B       auto | cpu | cuda (default auto)\n"
            "      --kv f16|f32      KV cache precision (default f16)\n"
            "%s"
            "      --ignore-eos      keep generating past end-of-sequence tokens\n"
            "      --no-bos          do not add the BOS token\n"
            "      --special         parse control tokens written in the prompt\n"
            "      --json            print one JSON object instead of streaming\n"
            "  -v, --verbose         more messages on stderr\n",
            CLI_SAMPLING_HELP);
}

int cmd_run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    long n_predict = 128, n_ctx = 0, n_batch = 0, threads = 0;
    bool json = false, ignore_eos = false, no_bos = false, special = false, verbose = false;
    ingot_backend_kind backend = INGOT_BACKEND_AUTO;
    ingot_kv_type kv = INGOT_KV_F16;
    ingot_sampler_params sp = ingot_sampler_default_params();

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = cli_parse_sampling(a, v, &sp);
        if (used < 0) return cli_usage_error("run", "bad value for %s: '%s'", a, v ? v : "");
        if (used > 0) { i += used - 1; continue; }
        bool has_v = v != NULL;
#define NEEDV() do { if (!has_v) return cli_usage_error("run", "%s needs a value", a); i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEEDV(); model = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { NEEDV(); prompt = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { NEEDV(); file = v; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            NEEDV();
            if (!cli_parse_int(v, -1, 1 << 30, &n_predict)) return cli_usage_error("run", "bad value for -n: '%s'", v);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            NEEDV();
            if (!cli_parse_int(v, 0, 1 << 20, &n_ctx)) return cli_usage_error("run", "bad value for -c: '%s'", v);
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            NEEDV();
            if (!cli_parse_int(v, 1, 1 << 16, &n_batch)) return cli_usage_error("run", "bad value for -b: '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEEDV();
            if (!cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("run", "bad value for -t: '%s'", v);
        } else if (!strcmp(a, "--backend")) {
            NEEDV();
            if (!cli_parse_backend(v, &backend)) return cli_usage_error("run", "unknown backend '%s'", v);
        } else if (!strcmp(a, "--kv")) {
            NEEDV();
            if (!cli_parse_kv(v, &kv)) return cli_usage_error("run", "--kv must be f16 or f32");
        } else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = true;
        else if (!strcmp(a, "--no-bos")) no_bos = true;
        else if (!strcmp(a, "--special")) special = true;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = true;
        else return cli_usage_error("run", "unknown option '%s'", a);
#undef NEEDV
    }
    if (prompt && file) return cli_usage_error("run", "give either -p or -f, not both");
    if (!prompt && !file) return cli_usage_error("run", "no prompt (use -p TEXT or -f FILE)");
    cli_setup_log(verbose);
    if (!model && !(model = cli_default_model()))
        return cli_fail("no model given (-m) and the bundled model models/stories260K.gguf was not found");

    size_t plen;
    char *ptext = NULL;
    if (file) {
        if (!(ptext = cli_read_file(file, &plen))) return CLI_ERR;
    } else {
        plen = strlen(prompt);
    }
    const char *text = ptext ? ptext : prompt;
    if (plen == 0) {
        free(ptext);
        return cli_usage_error("run", "the prompt is empty");
    }

    double t0 = cli_now();
    ingot_model *m = cli_load_model(model, backend, (int)threads, false);
    if (!m) { free(ptext); return CLI_ERR; }
    double t_load = cli_now() - t0;

    int rc = CLI_ERR;
    ingot_context *ctx = NULL;
    ingot_sampler *smp = NULL;
    ingot_detok *dt = NULL;
    int32_t *toks = NULL, *gen = NULL;
    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_batch;
    cp.kv_type = kv;
    if (ingot_context_new(m, &cp, &ctx) != INGOT_OK) { cli_lib_fail(); goto out; }
    uint32_t nctx = ingot_n_ctx(ctx);

    bool add_special = !no_bos;
    int64_t nt = ingot_tokenize(m, text, plen, add_special, special, NULL, 0);
    if (nt < 0) { cli_lib_fail(); goto out; }
    toks = malloc(((size_t)nt + 1) * sizeof *toks);
    if (!toks) { cli_fail("out of memory"); goto out; }
    nt = ingot_tokenize(m, text, plen, add_special, special, toks, nt);
    if (nt == 0) { rc = cli_usage_error("run", "the prompt has no tokens"); goto out; }
    if ((uint64_t)nt >= nctx) {
        cli_fail("%s: the prompt has %lld tokens and the context holds %u, which leaves no room to generate "
                 "(use -c to enlarge it)", model, (long long)nt, nctx);
        goto out;
    }
    long budget = (long)nctx - (long)nt;
    if (n_predict < 0 || n_predict > budget) n_predict = budget; /* -1: until the context is full */
    gen = malloc(((size_t)n_predict + 1) * sizeof *gen);
    smp = ingot_sampler_new(&sp);
    dt = ingot_detok_new(m, false);
    if (!gen || !smp || !dt) { cli_fail("out of memory"); goto out; }

    /* Echo the prompt, then stream the continuation. */
    if (!json) {
        fwrite(text, 1, plen, stdout);
        fflush(stdout);
    }
    for (int64_t i = 0; i < nt; i++) ingot_sampler_accept(smp, toks[i]);
    bool greedy = ingot_sampler_is_greedy(smp);

    double t1 = cli_now(), t_prompt = 0;
    long n_gen = 0;
    bool stopped_eos = false;
    const int32_t *feed = toks;
    int32_t n_feed = (int32_t)nt;
    size_t text_cap = 256, text_len = 0;
    char *out_text = json ? malloc(text_cap) : NULL;
    char piece[512];
    while (n_gen < n_predict) {
        int32_t id;
        ingot_status s;
        if (greedy) s = ingot_decode_greedy(ctx, feed, n_feed, &id);
        else s = ingot_decode_sample(ctx, feed, n_feed, smp, &id);
        if (s != INGOT_OK) { cli_lib_fail(); goto out_text; }
        if (n_gen == 0) t_prompt = cli_now() - t1;
        if (!ignore_eos && ingot_token_is_eog(m, id)) { stopped_eos = true; break; }
        ingot_sampler_accept(smp, id);
        gen[n_gen++] = id;
        size_t k = ingot_detok_push(dt, id, piece, sizeof piece);
        if (json) {
            if (text_len + k + 1 > text_cap) {
                while (text_len + k + 1 > text_cap) text_cap *= 2;
                char *nb = realloc(out_text, text_cap);
                if (!nb) { cli_fail("out of memory"); goto out_text; }
                out_text = nb;
            }
            memcpy(out_text + text_len, piece, k);
            text_len += k;
        } else if (k) {
            fwrite(piece, 1, k, stdout);
            fflush(stdout);
        }
        feed = &gen[n_gen - 1];
        n_feed = 1;
        if (ingot_context_pos(ctx) + 1 > nctx) break;
    }
    /* The last sampled token was never fed back: that is fine, nothing follows it. */
    {
        size_t k = ingot_detok_flush(dt, piece, sizeof piece);
        if (json && out_text && text_len + k + 1 <= text_cap) { memcpy(out_text + text_len, piece, k); text_len += k; }
        else if (!json && k) fwrite(piece, 1, k, stdout);
    }
    double t_total = cli_now() - t1;
    double t_gen = t_total - t_prompt;
    long n_gen_timed = n_gen > 1 ? n_gen - 1 : 0; /* the first token came with the prompt pass */
    ingot_model_info mi;
    ingot_model_get_info(m, &mi);
    if (json) {
        printf("{\"prompt_tokens\":[");
        for (int64_t i = 0; i < nt; i++) printf("%s%d", i ? "," : "", toks[i]);
        printf("],\"tokens\":[");
        for (long i = 0; i < n_gen; i++) printf("%s%d", i ? "," : "", gen[i]);
        printf("],\"text\":");
        cli_json_str(stdout, out_text ? out_text : "", text_len);
        printf(",\"stop\":\"%s\",\"backend\":\"%s\",\"timings\":{\"load_s\":%.4f,\"prompt_s\":%.4f,"
               "\"prompt_tps\":%.2f,\"gen_s\":%.4f,\"gen_tps\":%.2f}}\n",
               stopped_eos ? "eos" : "length", mi.backend, t_load, t_prompt,
               t_prompt > 0 ? nt / t_prompt : 0.0, t_gen, t_gen > 0 ? n_gen_timed / t_gen : 0.0);
    } else {
        printf("\n");
        fprintf(stderr, "\nload: %.2f s (%s)\n", t_load, mi.backend);
        fprintf(stderr, "prompt: %lld tokens, %.2f s, %.1f t/s\n", (long long)nt, t_prompt,
                t_prompt > 0 ? nt / t_prompt : 0.0);
        fprintf(stderr, "generated: %ld tokens, %.2f s, %.1f t/s%s\n", n_gen, t_gen,
                t_gen > 0 ? n_gen_timed / t_gen : 0.0, stopped_eos ? " (end of sequence)" : "");
    }
    rc = CLI_OK;
out_text:
    free(out_text);
out:
    ingot_detok_free(dt);
    ingot_sampler_free(smp);
    free(gen);
    free(toks);
    ingot_context_free(ctx);
    ingot_model_free(m);
    free(ptext);
    return rc;
}
