/* ingot detokenize: token ids back to text. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot detokenize [-m MODEL] [options] ID...\n"
            "\n"
            "Print the text of a sequence of token ids, followed by a newline. Ids may\n"
            "also be given in one argument, separated by spaces or commas.\n"
            "\n"
            "  -m, --model FILE   GGUF model or vocab-only file (default: the bundled stories260K)\n"
            "      --special      also print control tokens (BOS, <|im_end|>, ...)\n"
            "  -v, --verbose      more messages on stderr\n");
}

/* Parse one argument's ids (space/comma separated) onto ids[]. false on a
 * word that is not a non-negative integer. */
static bool parse_ids(const char *arg, int32_t **ids, size_t *n, size_t *cap, const char **bad) {
    const char *p = arg;
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) return true;
        const char *e = p;
        while (*e && *e != ',' && !isspace((unsigned char)*e)) e++;
        char word[32];
        size_t wl = (size_t)(e - p);
        long id;
        if (wl >= sizeof word) {
            *bad = arg;
            return false;
        }
        memcpy(word, p, wl);
        word[wl] = 0;
        if (!cli_parse_int(word, 0, INT32_MAX, &id)) {
            *bad = arg;
            return false;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            int32_t *t = realloc(*ids, *cap * sizeof *t);
            if (!t) {
                *bad = NULL;
                return false;
            }
            *ids = t;
        }
        (*ids)[(*n)++] = (int32_t)id;
        p = e;
    }
}

int cmd_detokenize(int argc, char **argv) {
    const char *model = NULL;
    bool special = false, verbose = false;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    bool only_ids = false; /* after "--" */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_ids && a[0] == '-' && a[1] && !isdigit((unsigned char)a[1])) {
            if (!strcmp(a, "--")) {
                only_ids = true;
            } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                free(ids);
                usage(stdout);
                return CLI_OK;
            } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
                if (i + 1 >= argc) {
                    free(ids);
                    return cli_usage_error("detokenize", "%s needs a value", a);
                }
                model = argv[++i];
            } else if (!strcmp(a, "--special")) {
                special = true;
            } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
                verbose = true;
            } else {
                free(ids);
                return cli_usage_error("detokenize", "unknown option '%s'", a);
            }
            continue;
        }
        const char *bad = NULL;
        if (!parse_ids(a, &ids, &n, &cap, &bad)) {
            free(ids);
            if (!bad) return cli_fail("out of memory");
            return cli_usage_error("detokenize", "not a token id: '%s'", bad);
        }
    }
    if (!n) {
        free(ids);
        return cli_usage_error("detokenize", "no token ids given");
    }
    cli_setup_log(verbose);
    if (!model && !(model = cli_default_model())) {
        free(ids);
        return cli_fail("no model given (-m) and the bundled model models/stories260K.gguf was not found");
    }
    ingot_model *m = cli_load_model(model, INGOT_BACKEND_CPU, 0, true);
    if (!m) {
        free(ids);
        return CLI_ERR;
    }
    int rc = CLI_ERR;
    int32_t nv = ingot_n_vocab(m);
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= nv) {
            cli_fail("%s: token id %d is out of range (the vocab has %d tokens)", model, ids[i], nv);
            goto out;
        }

    /* A SentencePiece vocab puts a space in front of the text it tokenizes,
     * and again after each special token; take it off again so that
     * detokenize(tokenize(x)) == x. ingot.h has no flag for this, so ask the
     * tokenizer: does a bare word come back with a space in front? */
    bool strip_space = false;
    int32_t probe[4];
    int64_t np = ingot_tokenize(m, "a", 1, false, false, probe, 4);
    if (np > 0 && np <= 4) {
        char c[16];
        int32_t k = ingot_token_to_piece(m, probe[0], false, c, sizeof c);
        strip_space = k >= 1 && k <= (int32_t)sizeof c && c[0] == ' ';
    }

    size_t bcap = 256;
    char *piece = malloc(bcap);
    bool text_start = true;
    for (size_t i = 0; piece && i < n; i++) {
        /* control tokens render as nothing unless --special */
        int32_t k = ingot_token_to_piece(m, ids[i], false, NULL, 0);
        bool control = k == 0 && ingot_token_to_piece(m, ids[i], true, NULL, 0) > 0;
        if (control) {
            text_start = true;
            if (!special) continue;
        }
        k = ingot_token_to_piece(m, ids[i], special, piece, (int32_t)bcap);
        if (k < 0) {
            cli_lib_fail();
            free(piece);
            goto out;
        }
        if ((size_t)k > bcap) {
            char *t = realloc(piece, (size_t)k);
            if (!t) {
                free(piece);
                piece = NULL;
                break;
            }
            piece = t;
            bcap = (size_t)k;
            ingot_token_to_piece(m, ids[i], special, piece, k);
        }
        const char *p = piece;
        if (!control && k > 0) {
            if (text_start && strip_space && *p == ' ') {
                p++;
                k--;
            }
            text_start = false;
        }
        fwrite(p, 1, (size_t)k, stdout);
    }
    if (!piece) {
        cli_fail("out of memory");
        goto out;
    }
    free(piece);
    putchar('\n');
    rc = fflush(stdout) == 0 ? CLI_OK : cli_fail("write error on standard output");
out:
    free(ids);
    ingot_model_free(m);
    return rc;
}
