/* ingot info: what a GGUF file holds — a summary of the model, the tensor
 * table and the metadata — read with the GGUF inspection API only, so it
 * works on any well-formed file (vocab-only ones, unknown architectures)
 * and never loads weights. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot info MODEL [options]\n"
            "\n"
            "Show a GGUF file's model summary, tensors and metadata.\n"
            "\n"
            "      --json           one JSON object instead of text\n"
            "      --max-items N    show at most N items of each array (default 8, 0: all)\n"
            "  -h, --help           this help\n");
}

/* ---- reading values through the public API --------------------------------- */

/* A value rendered as JSON (malloc'd, never NULL unless out of memory). */
static char *value_json(const ingot_gguf *g, int64_t i, size_t max_items) {
    char small[256];
    size_t n = ingot_gguf_value_json(g, i, max_items, small, sizeof small);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n < sizeof small) memcpy(s, small, n + 1);
    else ingot_gguf_value_json(g, i, max_items, s, n + 1);
    return s;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode the JSON string literal `j` (as ingot_gguf_value_json writes them)
 * into out; truncates to cap - 1 bytes. */
static void json_unquote(const char *j, char *out, size_t cap) {
    size_t o = 0;
    if (*j == '"') j++;
    while (*j && *j != '"' && o + 4 < cap) {
        if (*j != '\\') {
            out[o++] = *j++;
            continue;
        }
        j++;
        char c = *j ? *j++ : 0;
        switch (c) {
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            for (int k = 0; k < 4 && *j; k++) {
                int h = hexval(*j++);
                cp = cp * 16 + (unsigned)(h < 0 ? 0 : h);
            }
            if (cp < 0x80) out[o++] = (char)cp;
            else if (cp < 0x800) {
                out[o++] = (char)(0xc0 | (cp >> 6));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else {
                out[o++] = (char)(0xe0 | (cp >> 12));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: out[o++] = c; break;
        }
    }
    out[o] = 0;
}

static bool get_str(const ingot_gguf *g, const char *key, char *out, size_t cap) {
    out[0] = 0;
    int64_t i = ingot_gguf_find_key(g, key);
    if (i < 0 || ingot_gguf_kv_type(g, i) != INGOT_GGUF_STRING) return false;
    char *j = value_json(g, i, 0);
    if (!j) return false;
    json_unquote(j, out, cap);
    free(j);
    return true;
}

static bool is_int_type(ingot_gguf_vtype t) {
    return t == INGOT_GGUF_U8 || t == INGOT_GGUF_I8 || t == INGOT_GGUF_U16 || t == INGOT_GGUF_I16 ||
           t == INGOT_GGUF_U32 || t == INGOT_GGUF_I32 || t == INGOT_GGUF_U64 || t == INGOT_GGUF_I64;
}

static bool get_uint(const ingot_gguf *g, const char *key, uint64_t *out) {
    int64_t i = ingot_gguf_find_key(g, key);
    if (i < 0 || !is_int_type(ingot_gguf_kv_type(g, i))) return false;
    char buf[32];
    ingot_gguf_value_json(g, i, 0, buf, sizeof buf);
    if (buf[0] == '-') return false;
    *out = strtoull(buf, NULL, 10);
    return true;
}

/* ---- formatting ---------------------------------------------------------- */


/* "Q4_K - Medium", "Q8_0 (guessed)", "unknown (77)". */
static void ftype_str(uint64_t ft, char *out, size_t cap) {
    const uint64_t guessed = 1024; /* LLAMA_FTYPE_GUESSED */
    const char *n = ingot_file_type_name((uint32_t)ft & ~guessed);
    if (!n) snprintf(out, cap, "unknown (%" PRIu64 ")", ft);
    else snprintf(out, cap, "%s%s", n, (ft & guessed) ? " (guessed)" : "");
}

/* 260.1K, 6.74B: three or four significant digits. */
static void count_str(uint64_t n, char *out, size_t cap) {
    static const char *unit = "KMBT";
    if (n < 1000) {
        snprintf(out, cap, "%" PRIu64, n);
        return;
    }
    double v = (double)n;
    int u = -1;
    while (v >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    if (v >= 999.95 && u < 3) { /* 999.96K rounds to 1000.0K: say 1.00M */
        v /= 1000;
        u++;
    }
    snprintf(out, cap, v < 100 ? "%.2f%c" : "%.1f%c", v, unit[u]);
}

static void bytes_str(uint64_t n, char *out, size_t cap) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0) snprintf(out, cap, "%" PRIu64 " B", n);
    else snprintf(out, cap, "%.2f %s", v, unit[u]);
}

static const char *type_str(uint32_t type, char *tmp, size_t cap) {
    const char *n = ingot_type_name(type);
    if (n) return n;
    snprintf(tmp, cap, "type %" PRIu32, type);
    return tmp;
}

static void shape_str(const ingot_tensor_info *t, char *out, size_t cap) {
    size_t o = 0;
    o += (size_t)snprintf(out + o, cap - o, "[");
    for (uint32_t d = 0; d < t->n_dims && d < 4 && o < cap; d++)
        o += (size_t)snprintf(out + o, cap - o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (o < cap) snprintf(out + o, cap - o, "]");
}

static const char *vtype_name(ingot_gguf_vtype t) {
    static const char *names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static void json_str(FILE *f, const char *s) { cli_json_str(f, s, strlen(s)); }

/* ---- the summary ----------------------------------------------------------- */

typedef struct field {
    const char *label, *json;
    const char *key_suffix; /* "<arch>" + suffix */
    bool has;
    uint64_t v;
} field;

typedef struct summary {
    char arch[128], name[256], tok_model[64], tok_pre[64], ftype[64];
    bool has_arch, has_name, has_ftype, has_tok_model, has_tok_pre, has_vocab;
    uint64_t ftype_id, n_params, weight_bytes, n_vocab;
    field f[6];
} summary;

static void summarize(const ingot_gguf *g, summary *s) {
    memset(s, 0, sizeof *s);
    s->has_arch = get_str(g, "general.architecture", s->arch, sizeof s->arch);
    s->has_name = get_str(g, "general.name", s->name, sizeof s->name);
    s->has_tok_model = get_str(g, "tokenizer.ggml.model", s->tok_model, sizeof s->tok_model);
    s->has_tok_pre = get_str(g, "tokenizer.ggml.pre", s->tok_pre, sizeof s->tok_pre);
    s->has_ftype = get_uint(g, "general.file_type", &s->ftype_id);
    if (s->has_ftype) ftype_str(s->ftype_id, s->ftype, sizeof s->ftype);
    static const field fields[6] = {
        {"context length", "context_length", ".context_length", false, 0},
        {"embedding size", "embedding_length", ".embedding_length", false, 0},
        {"layers", "block_count", ".block_count", false, 0},
        {"heads", "head_count", ".attention.head_count", false, 0},
        {"KV heads", "head_count_kv", ".attention.head_count_kv", false, 0},
        {"FF size", "feed_forward_length", ".feed_forward_length", false, 0},
    };
    char key[256];
    for (int k = 0; k < 6; k++) {
        s->f[k] = fields[k];
        snprintf(key, sizeof key, "%s%s", s->arch, fields[k].key_suffix);
        s->f[k].has = s->has_arch && get_uint(g, key, &s->f[k].v);
    }
    if (!s->f[4].has && s->f[3].has) { /* llama.cpp's default: no GQA */
        s->f[4].has = true;
        s->f[4].v = s->f[3].v;
    }
    snprintf(key, sizeof key, "%s.vocab_size", s->arch);
    s->has_vocab = s->has_arch && get_uint(g, key, &s->n_vocab);
    if (!s->has_vocab) {
        int64_t i = ingot_gguf_find_key(g, "tokenizer.ggml.tokens");
        if (i >= 0 && ingot_gguf_kv_type(g, i) == INGOT_GGUF_ARRAY) {
            s->n_vocab = ingot_gguf_arr_len(g, i);
            s->has_vocab = true;
        }
    }
    for (int64_t i = 0; i < ingot_gguf_n_tensors(g); i++) {
        ingot_tensor_info t;
        ingot_gguf_tensor(g, i, &t);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t.n_dims && d < 4; d++) n *= (uint64_t)t.ne[d];
        s->n_params += n;
        s->weight_bytes += t.nbytes;
    }
}

/* Up to `max` bytes of s, cut at a UTF-8 character boundary. */
static int clip(const char *s, int max) {
    int n = (int)strlen(s);
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80) max--;
    return max;
}

static int print_text(const char *path, const ingot_gguf *g, const summary *s, size_t max_items) {
    char a[64], b[64];
    printf("file:             %s\n", path);
    printf("GGUF version:     %" PRIu32 "\n", ingot_gguf_version(g));
    bytes_str(ingot_gguf_file_size(g), a, sizeof a);
    printf("file size:        %" PRIu64 " bytes (%s)\n", ingot_gguf_file_size(g), a);
    printf("architecture:     %s\n", s->has_arch ? s->arch : "-");
    printf("name:             %s\n", s->has_name ? s->name : "-");
    count_str(s->n_params, a, sizeof a);
    printf("parameters:       %s (%" PRIu64 ")\n", a, s->n_params);
    if (s->has_ftype) printf("file type:        %s\n", s->ftype);
    else printf("file type:        -\n");
    for (int k = 0; k < 6; k++) {
        if (k == 3 || k == 4) continue;
        char label[32];
        snprintf(label, sizeof label, "%s:", s->f[k].label);
        if (s->f[k].has) printf("%-17s %" PRIu64 "\n", label, s->f[k].v);
        else printf("%-17s -\n", label);
        if (k == 2) {
            if (s->f[3].has) snprintf(a, sizeof a, "%" PRIu64, s->f[3].v);
            else snprintf(a, sizeof a, "-");
            if (s->f[4].has) snprintf(b, sizeof b, "%" PRIu64, s->f[4].v);
            else snprintf(b, sizeof b, "-");
            printf("heads / KV heads: %s / %s\n", a, b);
        }
    }
    if (s->has_vocab) printf("vocab size:       %" PRIu64 "\n", s->n_vocab);
    else printf("vocab size:       -\n");
    printf("tokenizer:        %s\n", s->has_tok_model ? s->tok_model : "-");
    printf("pre-tokenizer:    %s\n", s->has_tok_pre ? s->tok_pre : "-");

    int64_t nt = ingot_gguf_n_tensors(g);
    bytes_str(s->weight_bytes, a, sizeof a);
    printf("\ntensors: %" PRId64 " (%s)\n", nt, a);
    if (nt > 0) {
        int wname = 4, wtype = 4, wshape = 5;
        char tmp[32], shape[128];
        for (int64_t i = 0; i < nt; i++) {
            ingot_tensor_info t;
            ingot_gguf_tensor(g, i, &t);
            int l = (int)strlen(t.name);
            if (l > wname) wname = l < 60 ? l : 60;
            l = (int)strlen(type_str(t.type, tmp, sizeof tmp));
            if (l > wtype) wtype = l;
            shape_str(&t, shape, sizeof shape);
            l = (int)strlen(shape);
            if (l > wshape) wshape = l;
        }
        printf("  %-*s  %-*s  %-*s  %12s\n", wname, "name", wtype, "type", wshape, "shape", "bytes");
        for (int64_t i = 0; i < nt; i++) {
            ingot_tensor_info t;
            ingot_gguf_tensor(g, i, &t);
            shape_str(&t, shape, sizeof shape);
            printf("  %-*s  %-*s  %-*s  %12" PRIu64 "\n", wname, t.name, wtype,
                   type_str(t.type, tmp, sizeof tmp), wshape, shape, t.nbytes);
        }
    }

    int64_t nkv = ingot_gguf_n_kv(g);
    printf("\nmetadata: %" PRId64 " keys\n", nkv);
    int wkey = 3;
    for (int64_t i = 0; i < nkv; i++) {
        int l = (int)strlen(ingot_gguf_key(g, i));
        if (l > wkey) wkey = l < 48 ? l : 48;
    }
    for (int64_t i = 0; i < nkv; i++) {
        char type[48];
        ingot_gguf_vtype vt = ingot_gguf_kv_type(g, i);
        if (vt == INGOT_GGUF_ARRAY)
            snprintf(type, sizeof type, "%s[%" PRIu64 "]", vtype_name(ingot_gguf_arr_type(g, i)),
                     ingot_gguf_arr_len(g, i));
        else snprintf(type, sizeof type, "%s", vtype_name(vt));
        char *v = value_json(g, i, max_items);
        if (!v) return cli_fail("%s: out of memory", path);
        /* One line per key: a chat template can be kilobytes. */
        int shown = max_items ? clip(v, 400) : (int)strlen(v);
        printf("  %-*s  %-14s %.*s%s\n", wkey, ingot_gguf_key(g, i), type, shown, v,
               shown < (int)strlen(v) ? " ..." : "");
        free(v);
    }
    return CLI_OK;
}

static void json_opt_str(const char *k, bool has, const char *v) {
    printf(",\n  \"%s\": ", k);
    if (has) json_str(stdout, v);
    else fputs("null", stdout);
}

static void json_opt_u64(const char *k, bool has, uint64_t v) {
    if (has) printf(",\n  \"%s\": %" PRIu64, k, v);
    else printf(",\n  \"%s\": null", k);
}

static int print_json(const char *path, const ingot_gguf *g, const summary *s, size_t max_items) {
    char a[64];
    printf("{\n  \"file\": ");
    json_str(stdout, path);
    printf(",\n  \"gguf_version\": %" PRIu32, ingot_gguf_version(g));
    printf(",\n  \"file_size\": %" PRIu64, ingot_gguf_file_size(g));
    json_opt_str("architecture", s->has_arch, s->arch);
    json_opt_str("name", s->has_name, s->name);
    printf(",\n  \"n_params\": %" PRIu64, s->n_params);
    count_str(s->n_params, a, sizeof a);
    printf(",\n  \"parameters\": \"%s\"", a);
    json_opt_str("file_type", s->has_ftype, s->ftype);
    json_opt_u64("file_type_id", s->has_ftype, s->ftype_id);
    for (int k = 0; k < 6; k++) json_opt_u64(s->f[k].json, s->f[k].has, s->f[k].v);
    json_opt_u64("vocab_size", s->has_vocab, s->n_vocab);
    json_opt_str("tokenizer_model", s->has_tok_model, s->tok_model);
    json_opt_str("tokenizer_pre", s->has_tok_pre, s->tok_pre);
    printf(",\n  \"weight_bytes\": %" PRIu64, s->weight_bytes);

    int64_t nt = ingot_gguf_n_tensors(g);
    printf(",\n  \"tensors\": [");
    for (int64_t i = 0; i < nt; i++) {
        ingot_tensor_info t;
        ingot_gguf_tensor(g, i, &t);
        char tmp[32];
        printf("%s\n    {\"name\": ", i ? "," : "");
        json_str(stdout, t.name);
        printf(", \"type\": ");
        json_str(stdout, type_str(t.type, tmp, sizeof tmp));
        printf(", \"shape\": [");
        for (uint32_t d = 0; d < t.n_dims && d < 4; d++) printf("%s%" PRId64, d ? ", " : "", t.ne[d]);
        printf("], \"bytes\": %" PRIu64 ", \"offset\": %" PRIu64 "}", t.nbytes, t.offset);
    }
    printf("%s]", nt ? "\n  " : "");

    int64_t nkv = ingot_gguf_n_kv(g);
    printf(",\n  \"metadata\": {");
    for (int64_t i = 0; i < nkv; i++) {
        char *v = value_json(g, i, max_items);
        if (!v) return cli_fail("%s: out of memory", path);
        printf("%s\n    ", i ? "," : "");
        json_str(stdout, ingot_gguf_key(g, i));
        printf(": %s", v);
        free(v);
    }
    printf("%s}\n}\n", nkv ? "\n  " : "");
    return CLI_OK;
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    long max_items = 8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--max-items")) {
            if (i + 1 >= argc) return cli_usage_error("info", "%s needs a value", a);
            if (!cli_parse_int(argv[++i], 0, 1L << 30, &max_items))
                return cli_usage_error("info", "bad --max-items '%s'", argv[i]);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("info", "unknown option '%s'", a);
        } else if (path) {
            return cli_usage_error("info", "more than one file given ('%s' and '%s')", path, a);
        } else {
            path = a;
        }
    }
    if (!path) return cli_usage_error("info", "no model file given");

    ingot_gguf *g = NULL;
    if (ingot_gguf_open(path, &g) != INGOT_OK) return cli_lib_fail();
    summary s;
    summarize(g, &s);
    int rc = json ? print_json(path, g, &s, (size_t)max_items)
                  : print_text(path, g, &s, (size_t)max_items);
    ingot_gguf_close(g);
    if (rc == CLI_OK && (fflush(stdout) != 0 || ferror(stdout)))
        rc = cli_fail("writing the output failed");
    return rc;
}
