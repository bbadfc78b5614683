/* ingot logits: the top logits at the last (or every) position as JSON, for
 * comparing ingot with other implementations number for number. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot logits [-m MODEL] (-p TEXT | --ids \"ID ID ...\") [options]\n"
            "\n"
            "  -p, --prompt TEXT   text, tokenized with BOS as the vocab says\n"
            "      --ids LIST      token ids separated by spaces or commas (no BOS added)\n"
            "      --top K         logits per position (default 10)\n"
            "      --all           every position (teacher forcing), not only the last\n"
            "      --kv f16|f32    KV cache precision (default f16)\n"
            "  -c, --ctx-size N    context size (default: enough for the tokens)\n"
            "  -t, --threads N     CPU threads\n"
            "      --backend B     auto | cpu | cuda\n"
            "\n"
            "Prints {\"tokens\":[...],\"positions\":[{\"pos\":N,\"top\":[[id,logit],...]}]}\n"
            "(highest first, ties to the lower id).\n");
}

static int parse_ids(const char *s, int32_t **out, int64_t *n) {
    size_t cap = 16;
    int64_t k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 0x7fffffff) { free(ids); return -1; }
        if ((size_t)k == cap) {
            cap *= 2;
            int32_t *ni = realloc(ids, cap * sizeof *ids);
            if (!ni) { free(ids); return -1; }
            ids = ni;
        }
        ids[k++] = (int32_t)v;
        p = end;
        if (*p && *p != ' ' && *p != ',' && *p != '\t' && *p != '\n') { free(ids); return -1; }
    }
    *out = ids;
    *n = k;
    return 0;
}

int cmd_logits(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *ids_arg = NULL;
    long top = 10, n_ctx = 0, threads = 0;
    bool all = false;
    ingot_backend_kind backend = INGOT_BACKEND_AUTO;
    ingot_kv_type kv = INGOT_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) return cli_usage_error("logits", "%s needs a value", a); i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEEDV(); model = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { NEEDV(); prompt = v; }
        else if (!strcmp(a, "--ids")) { NEEDV(); ids_arg = v; }
        else if (!strcmp(a, "--top")) {
            NEEDV();
            if (!cli_parse_int(v, 1, 1 << 20, &top)) return cli_usage_error("logits", "bad value for --top: '%s'", v);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            NEEDV();
            if (!cli_parse_int(v, 0, 1 << 20, &n_ctx)) return cli_usage_error("logits", "bad value for -c: '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEEDV();
            if (!cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("logits", "bad value for -t: '%s'", v);
        } else if (!strcmp(a, "--backend")) {
            NEEDV();
            if (!cli_parse_backend(v, &backend)) return cli_usage_error("logits", "unknown backend '%s'", v);
        } else if (!strcmp(a, "--kv")) {
            NEEDV();
            if (!cli_parse_kv(v, &kv)) return cli_usage_error("logits", "--kv must be f16 or f32");
        } else if (!strcmp(a, "--all")) all = true;
        else return cli_usage_error("logits", "unknown option '%s'", a);
#undef NEEDV
    }
    if (!!prompt == !!ids_arg) return cli_usage_error("logits", "give exactly one of -p TEXT or --ids LIST");
    int32_t *ids = NULL;
    int64_t n = 0;
    if (ids_arg && (parse_ids(ids_arg, &ids, &n) != 0 || n == 0))
        return cli_usage_error("logits", "--ids must be non-negative integers separated by spaces or commas");
    cli_setup_log(false);
    if (!model && !(model = cli_default_model())) { free(ids); return cli_fail("no model given (-m)"); }
    ingot_model *m = cli_load_model(model, backend, (int)threads, false);
    if (!m) { free(ids); return CLI_ERR; }
    int rc = CLI_ERR;
    ingot_context *ctx = NULL;
    if (prompt) {
        size_t len = strlen(prompt);
        n = ingot_tokenize(m, prompt, len, true, false, NULL, 0);
        ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
        if (!ids) { n < 0 ? cli_lib_fail() : cli_usage_error("logits", "the prompt has no tokens"); goto out; }
        ingot_tokenize(m, prompt, len, true, false, ids, n);
    }
    ingot_context_params cp = ingot_context_default_params();
    cp.kv_type = kv;
    cp.n_ctx = (uint32_t)(n_ctx ? n_ctx : n);
    cp.n_batch = cp.n_ctx;
    if (ingot_context_new(m, &cp, &ctx) != INGOT_OK) { cli_lib_fail(); goto out; }
    if (ingot_decode(ctx, ids, (int32_t)n, all) != INGOT_OK) { cli_lib_fail(); goto out; }
    int32_t nv = ingot_n_vocab(m);
    if (top > nv) top = nv;
    int32_t *best = malloc((size_t)top * sizeof *best);
    if (!best) { cli_fail("out of memory"); goto out; }
    printf("{\"tokens\":[");
    for (int64_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", ids[i]);
    printf("],\"positions\":[");
    for (int64_t p = all ? 0 : n - 1, first = p; p < n; p++) {
        const float *lg = ingot_get_logits(ctx, (int32_t)p);
        /* selection of the top entries: strict > keeps the lower id first on ties */
        int32_t k = 0;
        for (int32_t id = 0; id < nv; id++) {
            int32_t j = k < top ? k++ : (int32_t)top;
            if (j == top && !(lg[id] > lg[best[top - 1]])) continue;
            if (j == top) j = (int32_t)top - 1;
            while (j > 0 && lg[id] > lg[best[j - 1]]) { best[j] = best[j - 1]; j--; }
            best[j] = id;
        }
        printf("%s{\"pos\":%lld,\"top\":[", p > first ? "," : "", (long long)p);
        for (int32_t j = 0; j < k; j++) printf("%s[%d,%.9g]", j ? "," : "", best[j], lg[best[j]]);
        printf("]}");
    }
    printf("]}\n");
    free(best);
    rc = CLI_OK;
out:
    ingot_context_free(ctx);
    ingot_model_free(m);
    free(ids);
    return rc;
}
