/* Tokenizer: llama.cpp's vocab test vectors, the reference prompts, special
 * tokens, pieces and the streaming decoder. Works on the library directly
 * (gguf_open + ig_vocab_load), so it does not need the model loader. */
#include <dirent.h>
#include <unistd.h>

#include "core/util.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "test.h"
#include "tokenizer/tok_internal.h"
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
    if (b) {
        b[n] = 0;
        *len = (size_t)n;
    }
    return b;
}

static bool exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* The vocab must not depend on the file staying open: close it at once. */
static ingot_status load(const char *path, ig_vocab **v) {
    gguf *g = NULL;
    ingot_status st = gguf_open(path, &g);
    if (st != INGOT_OK) return st;
    st = ig_vocab_load(g, v);
    gguf_close(g);
    return st;
}

static ig_vocab *load_vocab(const char *name) {
    char path[512];
    snprintf(path, sizeof path, TDATA("vocab/ggml-vocab-%s.gguf"), name);
    ig_vocab *v = NULL;
    ingot_status st = load(path, &v);
    CHECK(st == INGOT_OK, "%s: %s", name, ingot_last_error());
    return v;
}

/* ids of text; *n gets the count (array owned by the caller) */
static int32_t *tok(const ig_vocab *v, const char *s, size_t len, bool add_special,
                    bool parse_special, int64_t *n) {
    int64_t need = ig_tokenize(v, s, len, add_special, parse_special, NULL, 0);
    CHECK(need >= 0, "tokenize failed: %s", ingot_last_error());
    if (need < 0) need = 0;
    int32_t *ids = malloc((size_t)(need + 1) * sizeof *ids);
    int64_t got = ig_tokenize(v, s, len, add_special, parse_special, ids, need);
    CHECK(got == need, "second call gave %lld, first %lld", (long long)got, (long long)need);
    *n = need;
    return ids;
}

/* decode as the CLI does: pieces without control tokens, and the space the
 * SPM tokenizer put in front of the text taken off again */
static char *detok_all(const ig_vocab *v, const int32_t *ids, int64_t n, size_t *len) {
    size_t cap = 16, m = 0;
    char *out = malloc(cap);
    bool first = true;
    for (int64_t i = 0; i < n; i++) {
        int32_t k = ig_token_to_piece(v, ids[i], false, NULL, 0);
        CHECK(k >= 0, "piece of %d", ids[i]);
        if (k <= 0) continue;
        while (m + (size_t)k + 1 > cap) cap *= 2;
        out = realloc(out, cap);
        ig_token_to_piece(v, ids[i], false, out + m, k);
        if (first && v->type == IG_VOCAB_SPM && v->add_space_prefix && out[m] == ' ') {
            memmove(out + m, out + m + 1, (size_t)k - 1);
            k--;
        }
        first = false;
        m += (size_t)k;
    }
    out[m] = 0;
    *len = m;
    return out;
}

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n && i < 80; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c < 0x20) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
}

/* ---- llama.cpp's test vectors -------------------------------------------- */

static const char *const required[] = {"llama-spm", "phi-3", "gpt-2", "falcon", "mpt",
                                       "starcoder", "refact", "deepseek-llm", "deepseek-coder"};

static int n_required_done;

static void vectors(const char *name) {
    char gpath[512], ipath[600], opath[600];
    snprintf(gpath, sizeof gpath, TDATA("vocab/ggml-vocab-%s.gguf"), name);
    snprintf(ipath, sizeof ipath, "%s.inp", gpath);
    snprintf(opath, sizeof opath, "%s.out", gpath);
    bool req = false;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) req |= !strcmp(required[i], name);
    if (!exists(gpath)) {
        CHECK(!req, "%s: required vocab file missing", name);
        printf("  %-18s skipped (no vocab file)\n", name);
        return;
    }
    gguf *g = NULL;
    CHECK(gguf_open(gpath, &g) == INGOT_OK, "%s: %s", gpath, ingot_last_error());
    if (!g) return;
    ig_vocab *v = NULL;
    ingot_status st = ig_vocab_load(g, &v);
    const char *model = "?";
    gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (st == INGOT_ERR_UNSUPPORTED) {
        CHECK(!req, "%s: required vocab unsupported", name);
        CHECK(strstr(ingot_last_error(), "not supported") && strstr(ingot_last_error(), model),
              "message: %s", ingot_last_error());
        printf("  %-18s skipped (%s tokenizer not supported)\n", name, model);
        gguf_close(g);
        return;
    }
    gguf_close(g);
    CHECK(st == INGOT_OK, "%s: %s", name, ingot_last_error());
    if (st != INGOT_OK) return;

    size_t ilen = 0, olen = 0;
    char *inp = slurp(ipath, &ilen), *outp = slurp(opath, &olen);
    CHECK(inp && outp, "%s: test vectors missing", name);
    if (!inp || !outp) {
        free(inp);
        free(outp);
        ig_vocab_free(v);
        return;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    int total = 0, pass = 0, rt_pass = 0;
    char *ip = inp, *op = outp;
    for (;;) {
        char *end = strstr(ip, sep);
        if (!end) break;
        char *nl = strchr(op, '\n');
        CHECK(nl != NULL, "%s: fewer expected lines than tests", name);
        if (!nl) break;
        *nl = 0;
        /* expected ids */
        int64_t ne = 0;
        int32_t exp[4096];
        for (char *q = op; *q;) {
            char *e;
            long x = strtol(q, &e, 10);
            if (e == q) break;
            if (ne < 4096) exp[ne++] = (int32_t)x;
            q = e;
        }
        size_t len = (size_t)(end - ip);
        int64_t n = 0;
        int32_t *ids = tok(v, ip, len, false, false, &n);
        bool ok = n == ne && (n == 0 || !memcmp(ids, exp, (size_t)n * sizeof *ids));
        total++;
        pass += ok;
        if (!ok) {
            fprintf(stderr, "%s: '", name);
            print_escaped(ip, len);
            fprintf(stderr, "'\n  want:");
            for (int64_t i = 0; i < ne; i++) fprintf(stderr, " %d", exp[i]);
            fprintf(stderr, "\n  got: ");
            for (int64_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
            fputc('\n', stderr);
        }
        size_t dl;
        char *dec = detok_all(v, ids, n, &dl);
        bool rt = dl == len && !memcmp(dec, ip, len);
        rt_pass += rt;
        if (!rt) {
            fprintf(stderr, "%s: round trip of '", name);
            print_escaped(ip, len);
            fprintf(stderr, "' gave '");
            print_escaped(dec, dl);
            fprintf(stderr, "'\n");
        }
        free(dec);
        free(ids);
        ip = end + sizeof sep - 1;
        op = nl + 1;
    }
    CHECK(total > 0 && pass == total, "%s: %d of %d vectors match", name, pass, total);
    CHECK(rt_pass == total, "%s: %d of %d round trips", name, rt_pass, total);
    printf("  %-18s %d/%d vectors match, %d/%d decode(encode(x)) == x  [%s/%s]\n", name, pass,
           total, rt_pass, total, ig_vocab_model(v), ig_vocab_pre(v));
    n_required_done += req;
    free(inp);
    free(outp);
    ig_vocab_free(v);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void all_vectors(void) {
    printf("vocab test vectors:\n");
    DIR *d = opendir(TDATA("vocab"));
    CHECK(d != NULL, "no tests/data/vocab");
    if (!d) return;
    char *names[64];
    int n = 0;
    struct dirent *e;
    static const char pre[] = "ggml-vocab-", suf[] = ".gguf.inp";
    while ((e = readdir(d)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > sizeof pre + sizeof suf - 2 && !strncmp(e->d_name, pre, sizeof pre - 1) &&
            !strcmp(e->d_name + l - (sizeof suf - 1), suf)) {
            size_t k = l - (sizeof pre - 1) - (sizeof suf - 1);
            names[n] = malloc(k + 1);
            memcpy(names[n], e->d_name + sizeof pre - 1, k);
            names[n][k] = 0;
            n++;
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        vectors(names[i]);
        free(names[i]);
    }
    CHECK(n_required_done == (int)(sizeof required / sizeof required[0]),
          "only %d required vocabs ran", n_required_done);
}

/* ---- reference prompts: tests/data/reference/NAME.json ------------------- */

/* Parse the JSON string starting at the opening quote; returns the byte
 * after the closing quote. */
static const char *json_str(const char *p, char *out, size_t cap, size_t *len) {
    size_t n = 0;
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            c = *++p;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'u': { /* BMP only: enough for these files */
                unsigned cp = (unsigned)strtoul((char[]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
                p += 4;
                if (cp < 0x80) {
                    c = (char)cp;
                } else {
                    char u[3];
                    int k = 0;
                    if (cp < 0x800) {
                        u[k++] = (char)(0xc0 | cp >> 6);
                    } else {
                        u[k++] = (char)(0xe0 | cp >> 12);
                        u[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    }
                    for (int j = 0; j < k && n < cap; j++) out[n++] = u[j];
                    c = (char)(0x80 | (cp & 0x3f));
                }
                break;
            }
            default: break; /* \" \\ \/ */
            }
        }
        if (n < cap) out[n++] = c;
    }
    *len = n;
    return *p ? p + 1 : p;
}

static void reference_prompts(void) {
    static const char *const files[] = {"stories260K", "gpt2-tiny-q8_0", "llama-micro-f16",
                                        "llama-micro-q4_k"};
    printf("reference prompts:\n");
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[512];
        snprintf(path, sizeof path, TDATA("reference/%s.json"), files[f]);
        size_t jl;
        char *js = slurp(path, &jl);
        CHECK(js != NULL, "%s missing", path);
        if (!js) continue;
        char model_file[128];
        size_t ml = 0;
        const char *mf = strstr(js, "\"model_file\": ");
        CHECK(mf != NULL, "%s: no model_file", path);
        if (!mf) {
            free(js);
            continue;
        }
        json_str(mf + 14, model_file, sizeof model_file - 1, &ml);
        model_file[ml] = 0;
        char mpath[512];
        snprintf(mpath, sizeof mpath, TDATA("models/%s"), model_file);
        if (!exists(mpath)) snprintf(mpath, sizeof mpath, INGOT_SOURCE_DIR "/models/%s", model_file);
        ig_vocab *v = NULL;
        ingot_status st = load(mpath, &v);
        CHECK(st == INGOT_OK, "%s: %s", mpath, ingot_last_error());
        if (st != INGOT_OK) {
            free(js);
            continue;
        }
        int total = 0, pass = 0;
        for (const char *p = js; (p = strstr(p, "\"prompt\": \""));) {
            char prompt[4096];
            size_t pl;
            p = json_str(p + 10, prompt, sizeof prompt, &pl);
            const char *t = strstr(p, "\"prompt_tokens\": [");
            if (!t) break;
            t += 18;
            int32_t exp[1024];
            int64_t ne = 0;
            while (*t && *t != ']') {
                char *e;
                long x = strtol(t, &e, 10);
                if (e == t) {
                    t++;
                    continue;
                }
                if (ne < 1024) exp[ne++] = (int32_t)x;
                t = e;
            }
            int64_t n;
            int32_t *ids = tok(v, prompt, pl, true, false, &n);
            bool ok = n == ne && !memcmp(ids, exp, (size_t)n * sizeof *ids);
            CHECK(ok, "%s: prompt '%.40s' (%lld ids, want %lld)", files[f], prompt, (long long)n,
                  (long long)ne);
            total++;
            pass += ok;
            free(ids);
            p = t;
        }
        CHECK(total >= 3, "%s: only %d prompts found", path, total);
        printf("  %-18s %d/%d prompts match (add_bos %s)\n", files[f], pass, total,
               ig_vocab_add_bos(v) ? "true" : "false");
        ig_vocab_free(v);
        free(js);
    }
}

/* ---- special tokens and metadata ----------------------------------------- */

static bool has(const int32_t *ids, int64_t n, int32_t id) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void special_tokens(void) {
    int64_t n;
    int32_t *ids;
    ig_vocab *v = load_vocab("gpt-2");
    if (v) {
        CHECK(ig_vocab_bos(v) == 50256 && ig_vocab_eos(v) == 50256, "gpt-2 bos/eos");
        CHECK(ig_vocab_eot(v) == 50256, "gpt-2 eot found by text: %d", ig_vocab_eot(v));
        CHECK(!ig_vocab_add_bos(v) && !ig_vocab_add_eos(v), "gpt-2 adds nothing");
        CHECK(ig_vocab_is_eog(v, 50256) && !ig_vocab_is_eog(v, 0), "gpt-2 eog");
        CHECK(ig_vocab_is_control(v, 50256), "gpt-2 <|endoftext|> is control");
        ids = tok(v, "a<|endoftext|>b", 15, false, true, &n);
        CHECK(n == 3 && ids[1] == 50256, "gpt-2 parse_special: %lld ids", (long long)n);
        free(ids);
        ids = tok(v, "a<|endoftext|>b", 15, true, false, &n);
        CHECK(n > 3 && !has(ids, n, 50256), "gpt-2 text is not a special token");
        free(ids);
        char buf[32];
        CHECK(ig_token_to_piece(v, 50256, false, buf, sizeof buf) == 0, "control hidden");
        CHECK(ig_token_to_piece(v, 50256, true, buf, sizeof buf) == 13 && !memcmp(buf, "<|endoftext|>", 13),
              "control shown with special");
        CHECK(ig_token_to_piece(v, 50257, true, buf, sizeof buf) == -1, "bad id");
        CHECK(ig_token_to_piece(v, -1, true, buf, sizeof buf) == -1, "negative id");
        /* "Ġworld" -> " world"; a short buffer gets the needed length */
        ids = tok(v, " world", 6, false, false, &n);
        CHECK(n == 1, "' world' is one token");
        if (n == 1) {
            CHECK(ig_token_to_piece(v, ids[0], false, buf, 2) == 6, "needed length");
            CHECK(ig_token_to_piece(v, ids[0], false, buf, 6) == 6 && !memcmp(buf, " world", 6), "piece");
            CHECK(!strcmp(ig_vocab_text(v, ids[0]), "\xc4\xa0world"), "text");
        }
        free(ids);
        /* cap smaller than needed: count returned, cap ids written */
        int32_t two[2] = {-7, -7};
        CHECK(ig_tokenize(v, "Hello world, again", 18, false, false, two, 1) == 4 && two[1] == -7,
              "short buffer");
        CHECK(ig_tokenize(v, "", 0, true, true, NULL, 0) == 0, "empty text");
        CHECK(ig_tokenize(v, NULL, 3, true, true, NULL, 0) == -1, "NULL text");
        /* invalid UTF-8 goes through byte tokens, unchanged */
        ids = tok(v, "a\xff\xc3(b\xe4\xb8", 7, false, false, &n);
        size_t dl;
        char *dec = detok_all(v, ids, n, &dl);
        CHECK(dl == 7 && !memcmp(dec, "a\xff\xc3(b\xe4\xb8", 7), "invalid UTF-8 round trip");
        free(dec);
        free(ids);
        ig_vocab_free(v);
    }

    v = load_vocab("llama-spm");
    if (v) {
        CHECK(ig_vocab_bos(v) == 1 && ig_vocab_eos(v) == 2 && ig_vocab_eot(v) == -1, "spm ids");
        CHECK(ig_vocab_add_bos(v) && !ig_vocab_add_eos(v), "spm adds BOS only");
        ids = tok(v, "<s>Hello", 8, false, true, &n);
        int64_t n2;
        int32_t *ids2 = tok(v, "Hello", 5, false, false, &n2);
        CHECK(n == 1 + n2 && ids[0] == 1 && !memcmp(ids + 1, ids2, (size_t)n2 * sizeof *ids),
              "<s> parsed, the text after it gets the space prefix");
        free(ids);
        ids = tok(v, "<s>Hello", 8, true, false, &n);
        CHECK(n > 2 && ids[0] == 1 && !has(ids + 1, n - 1, 1), "<s> as text");
        free(ids);
        free(ids2);
        ids = tok(v, "", 0, true, false, &n);
        CHECK(n == 1 && ids[0] == 1, "empty text with BOS");
        free(ids);
        /* byte fallback: a character outside the vocab */
        ids = tok(v, "\xf0\x9f\xa6\x99", 4, false, false, &n);
        CHECK(n >= 4 && ids[n - 1] == 3 + 0x99, "byte fallback (%lld ids)", (long long)n);
        free(ids);
        ig_vocab_free(v);
    }

    v = load_vocab("phi-3");
    if (v) {
        CHECK(ig_vocab_eos(v) == 32000 && ig_vocab_is_eog(v, 32000), "phi-3 eos");
        CHECK(ig_vocab_is_eog(v, 32007), "phi-3 <|end|> ends generation");
        /* Phi-3's special tokens eat the whitespace after them */
        ids = tok(v, "<|user|>  hi", 12, false, true, &n);
        int64_t n2;
        int32_t *ids2 = tok(v, "<|user|>hi", 10, false, true, &n2);
        CHECK(n == n2 && !memcmp(ids, ids2, (size_t)n * sizeof *ids) && ids[0] == 32010, "rstrip");
        free(ids);
        free(ids2);
        ig_vocab_free(v);
    }

    v = load_vocab("deepseek-coder");
    if (v) {
        /* user-defined tokens are matched even without parse_special */
        ids = tok(v, "x<|EOT|>y", 9, false, false, &n);
        CHECK(n == 3 && ids[1] == 32021, "user-defined token");
        free(ids);
        CHECK(ig_vocab_eot(v) == 32014 && ig_vocab_is_eog(v, 32014), "deepseek eot by text");
        CHECK(ig_vocab_add_bos(v) && ig_vocab_bos(v) == 32013, "deepseek add_bos from file");
        ig_vocab_free(v);
    }

    char path[512];
    snprintf(path, sizeof path, INGOT_SOURCE_DIR "/models/stories260K.gguf");
    if (load(path, &v) == INGOT_OK) {
        CHECK(ig_vocab_add_bos(v), "SPM without add_bos_token key adds BOS");
        CHECK(!strcmp(ig_vocab_pre(v), "default"), "spm pre");
        ig_vocab_free(v);
    }

    ingot_status st = load(TDATA("vocab/ggml-vocab-bert-bge.gguf"), &v);
    CHECK(st == INGOT_ERR_UNSUPPORTED && v == NULL, "bert unsupported");
    CHECK(strstr(ingot_last_error(), "ggml-vocab-bert-bge.gguf: tokenizer model 'bert' is not supported") != NULL,
          "message: %s", ingot_last_error());
}

/* ---- streaming decoder ----------------------------------------------------- */

/* Push ids one by one; every push must give whole characters only. */
static size_t stream(ingot_detok *d, const int32_t *ids, int n, char *out, size_t *per) {
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        size_t k = ingot_detok_push(d, ids[i], out + m, 64);
        per[i] = k;
        for (size_t j = 0; j < k;) { /* output never splits a character */
            int l = ig_utf8_char((const uint8_t *)out + m + j, k - j);
            CHECK(l != 0, "half a character came out");
            j += l > 0 ? (size_t)l : 1;
        }
        m += k;
    }
    return m;
}

static void streaming(void) {
    ig_vocab *v = load_vocab("llama-spm");
    if (!v) return;
    struct ingot_model m;
    memset(&m, 0, sizeof m);
    m.vocab = v;
    ingot_detok *d = ingot_detok_new(&m, false);
    CHECK(d != NULL, "detok_new");
    if (!d) {
        ig_vocab_free(v);
        return;
    }
    /* "A", U+1F600 (4 bytes), U+4E2D (3 bytes), U+00E9 (2 bytes), each byte a
     * byte token */
    static const char text[] = "A\xf0\x9f\x98\x80\xe4\xb8\xad\xc3\xa9";
    int nb = (int)sizeof text - 1;
    int32_t ids[16];
    for (int i = 0; i < nb; i++) ids[i] = v->spm_byte[(uint8_t)text[i]];
    char out[1024];
    size_t per[16];
    size_t got = stream(d, ids, nb, out, per);
    CHECK(got == (size_t)nb && !memcmp(out, text, (size_t)nb), "bytes reassembled");
    CHECK(per[0] == 1 && per[1] == 0 && per[2] == 0 && per[3] == 0 && per[4] == 4, "emoji once, whole");
    CHECK(per[5] == 0 && per[6] == 0 && per[7] == 3, "CJK once, whole");
    CHECK(per[8] == 0 && per[9] == 2, "e-acute once, whole");
    CHECK(ingot_detok_flush(d, out, 64) == 0, "nothing left");

    /* bytes that cannot become a character are not held back */
    int32_t bad[3] = {v->spm_byte[0xf0], v->spm_byte['A'], v->spm_byte[0xff]};
    got = stream(d, bad, 3, out, per);
    CHECK(per[0] == 0 && per[1] == 2 && per[2] == 1 && got == 3 &&
              !memcmp(out, "\xf0" "A\xff", 3), "invalid bytes emitted");
    /* an incomplete character at the end comes out on flush */
    int32_t tail[2] = {v->spm_byte[0xe4], v->spm_byte[0xb8]};
    got = stream(d, tail, 2, out, per);
    CHECK(got == 0, "incomplete held");
    CHECK(ingot_detok_flush(d, out, 64) == 2 && !memcmp(out, "\xe4\xb8", 2), "flushed");
    /* a buffer too small for a character keeps it for later */
    for (int i = 1; i < 5; i++) got = ingot_detok_push(d, ids[i], out, 2);
    CHECK(got == 0, "4-byte char does not fit in 2");
    CHECK(ingot_detok_flush(d, out, 64) == 4 && !memcmp(out, text + 1, 4), "kept until room");
    /* control tokens are silent unless asked for */
    CHECK(ingot_detok_push(d, 1, out, 64) == 0, "BOS silent");
    ingot_detok_free(d);
    d = ingot_detok_new(&m, true);
    CHECK(ingot_detok_push(d, 1, out, 64) == 3 && !memcmp(out, "<s>", 3), "BOS shown");
    ingot_detok_free(d);
    ig_vocab_free(v);

    /* GPT-2 splits an emoji and CJK across real tokens */
    v = load_vocab("gpt-2");
    if (!v) return;
    m.vocab = v;
    d = ingot_detok_new(&m, false);
    static const char t2[] = "Hi \xf0\x9f\x98\x80\xf0\x9f\x98\x81 \xe4\xb8\xad\xe6\x96\x87!";
    int64_t n;
    int32_t *ids2 = tok(v, t2, sizeof t2 - 1, false, false, &n);
    size_t *per2 = calloc((size_t)n, sizeof *per2);
    char big[256];
    size_t m2 = 0;
    int partial = 0;
    for (int64_t i = 0; i < n; i++) {
        char piece[64];
        int32_t pl = ig_token_to_piece(v, ids2[i], false, piece, sizeof piece);
        size_t k = ingot_detok_push(d, ids2[i], big + m2, 64);
        for (size_t j = 0; j < k;) {
            int l = ig_utf8_char((const uint8_t *)big + m2 + j, k - j);
            CHECK(l > 0, "gpt-2 stream: half or bad character");
            j += l > 0 ? (size_t)l : 1;
        }
        partial += k != (size_t)pl;
        m2 += k;
    }
    m2 += ingot_detok_flush(d, big + m2, 64);
    CHECK(partial > 0, "test text does split characters across tokens");
    CHECK(m2 == sizeof t2 - 1 && !memcmp(big, t2, m2), "gpt-2 stream reassembled");
    free(per2);
    free(ids2);
    ingot_detok_free(d);
    ig_vocab_free(v);
}

/* decode(encode(x)) == x for random text. Any bytes for GPT-2 and SPM; the
 * other byte-level vocabs lack (or map oddly) some bytes that valid UTF-8
 * never has, or ASCII control bytes (falcon), so they get valid text. */
static void random_round_trips(void) {
    static const char *const names[] = {"gpt-2", "llama-spm", "mpt", "deepseek-llm", "falcon"};
    static const bool any_bytes[] = {true, true, false, false, false};
    static const char *const atoms[] = {" ", "  ", "\n", "\t", "the", "Hello", "'s", "123",
                                        "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xc3\xa9", "\xe3\x80\x80",
                                        "...", "\r\n", "\xc2\x85", "x\xcc\x81"};
    printf("random round trips:\n");
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        ig_vocab *v = load_vocab(names[f]);
        if (!v) continue;
        unsigned seed = 12345;
        int ok = 0, total = 300;
        for (int it = 0; it < total; it++) {
            char buf[512];
            size_t n = 0;
            int k = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
            for (int j = 0; j < k; j++) {
                unsigned r = (seed = seed * 1103515245u + 12345u) >> 16;
                if (any_bytes[f] && r % 4 == 0) {
                    buf[n++] = (char)(r >> 3); /* any byte */
                } else {
                    const char *a = atoms[(r >> 3) % (sizeof atoms / sizeof atoms[0])];
                    memcpy(buf + n, a, strlen(a));
                    n += strlen(a);
                }
            }
            int64_t nt;
            int32_t *ids = tok(v, buf, n, false, false, &nt);
            size_t dl;
            char *dec = detok_all(v, ids, nt, &dl);
            bool same = dl == n && !memcmp(dec, buf, n);
            ok += same;
            if (!same) {
                fprintf(stderr, "%s: round trip of '", names[f]);
                print_escaped(buf, n);
                fprintf(stderr, "' gave '");
                print_escaped(dec, dl);
                fprintf(stderr, "'\n");
            }
            free(dec);
            free(ids);
        }
        CHECK(ok == total, "%s: %d of %d random round trips", names[f], ok, total);
        printf("  %-18s %d/%d\n", names[f], ok, total);
        ig_vocab_free(v);
    }
}

/* Strings from a file, or a path, with control bytes in them still give a
 * one-line error (the vocab fuzzer found a tokenizer model "g\nt2"). */
static void hostile_strings(void) {
    char path[] = "/tmp/ingot-test-tok-XXXXXX";
    if (!test_tmpfile(path)) return;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "g\nt2'\x01");
    CHECK(gguf_writer_write(w, path) == INGOT_OK, "write %s: %s", path, ingot_last_error());
    gguf_writer_free(w);
    ig_vocab *v = NULL;
    ingot_status st = load(path, &v);
    const char *e = ingot_last_error();
    CHECK(st == INGOT_ERR_UNSUPPORTED && !v, "model g\\nt2 refused (%d)", (int)st);
    CHECK(!strchr(e, '\n') && !strchr(e, 1) && strstr(e, "'g\\x0at2\\x27\\x01'"), "one line, escaped: %s", e);
    if (v) ig_vocab_free(v);
    unlink(path);
    ig_err(INGOT_ERR_FORMAT, "%s: bad", "dir\nname\r\x7f");
    CHECK(!strcmp(ingot_last_error(), "dir?name??: bad"), "ig_err keeps one line: %s", ingot_last_error());
}

int main(void) {
    hostile_strings();
    all_vectors();
    random_round_trips();
    reference_prompts();
    special_tokens();
    streaming();
    return test_done();
}
