/* ingot tokenize: text to token ids with a model's vocabulary (the weights
 * are not loaded, so vocab-only files work too). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot tokenize [-m MODEL] (-p TEXT | -f FILE) [options]\n"
            "\n"
            "Print the token ids of a text on one line, separated by spaces.\n"
            "\n"
            "  -m, --model FILE   GGUF model or vocab-only file (default: the bundled stories260K)\n"
            "  -p, --prompt TEXT  text to tokenize\n"
            "  -f, --file FILE    tokenize a file's bytes, verbatim\n"
            "      --no-bos       do not add BOS/EOS (by default added as the vocab says)\n"
            "      --special      match control tokens written in the text (e.g. <|im_end|>)\n"
            "      --pieces       one 'id<TAB>piece' per line, piece as stored in the vocab\n"
            "  -v, --verbose      more messages on stderr\n");
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool no_bos = false, special = false, pieces = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                              \
    do {                                                                     \
        if (!v) return cli_usage_error("tokenize", "%s needs a value", a);   \
        i++;                                                                 \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEEDV();
            model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            NEEDV();
            prompt = v;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            NEEDV();
            file = v;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = true;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--pieces")) {
            pieces = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else {
            return cli_usage_error("tokenize", "unknown option '%s'", a);
        }
#undef NEEDV
    }
    if (prompt && file) return cli_usage_error("tokenize", "give either -p or -f, not both");
    if (!prompt && !file) return cli_usage_error("tokenize", "no text (use -p TEXT or -f FILE)");
    cli_setup_log(verbose);
    if (!model && !(model = cli_default_model()))
        return cli_fail("no model given (-m) and the bundled model models/stories260K.gguf was not found");

    size_t len;
    char *buf = NULL;
    if (file) {
        if (!(buf = cli_read_file(file, &len))) return CLI_ERR;
    } else {
        len = strlen(prompt);
    }
    const char *text = buf ? buf : prompt;

    int rc = CLI_ERR;
    int32_t *ids = NULL;
    ingot_model *m = cli_load_model(model, INGOT_BACKEND_CPU, 0, true);
    if (!m) goto out;
    int64_t n = ingot_tokenize(m, text, len, !no_bos, special, NULL, 0);
    if (n < 0) {
        cli_lib_fail();
        goto out;
    }
    ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) {
        cli_fail("out of memory");
        goto out;
    }
    n = ingot_tokenize(m, text, len, !no_bos, special, ids, n);
    if (n < 0) {
        cli_lib_fail();
        goto out;
    }
    for (int64_t i = 0; i < n; i++) {
        if (pieces) {
            const char *t = ingot_token_text(m, ids[i]);
            printf("%d\t%s\n", ids[i], t ? t : "");
        } else {
            printf(i ? " %d" : "%d", ids[i]);
        }
    }
    if (!pieces) putchar('\n');
    rc = fflush(stdout) == 0 ? CLI_OK : cli_fail("write error on standard output");
out:
    free(ids);
    free(buf);
    if (m) ingot_model_free(m);
    return rc;
}
