/* Pre-tokenizers: split text into words with a list of regexes before
 * byte-level BPE, as llama.cpp's unicode_regex_split does.
 *
 * llama.cpp runs these regexes through hand-written matchers (GPT-2 and
 * Llama 3 patterns) or std::regex over a "collapsed" text where every
 * non-ASCII character stands for its Unicode category. Both amount to
 * ordinary Unicode regex semantics with \p{L} \p{N} \p{P} as in the Unicode
 * tables and \s = the White_Space property, so PCRE2 (UTF + UCP) gives the
 * same splits. Two differences are handled here:
 *  - PCRE2's \s also matches U+180E (whitespace in old Unicode versions);
 *    llama.cpp's does not. \s and \S are rewritten to an explicit class.
 *  - In llama.cpp's std::wregex path (patterns with explicit non-ASCII
 *    ranges, no \p{..}) non-ASCII whitespace is replaced by U+000B before
 *    matching, so such ranges never match it; ours exclude it by hand (see
 *    the deepseek patterns).
 * Invalid UTF-8 never reaches PCRE2: each invalid byte becomes a piece of
 * its own (llama.cpp would turn it into U+FFFD; we keep the byte, lossless). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "tokenizer/tok_internal.h"

#define PRETOK_MAX 8

struct ig_pretok {
    int n;
    pcre2_code *re[PRETOK_MAX];
};

/* White_Space as llama.cpp's unicode tables have it, for use inside [...]. */
#define WS_CLASS \
    "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

static char *rewrite_ws(const char *pat) {
    size_t n = strlen(pat);
    char *out = malloc(n * (sizeof WS_CLASS + 4) + 1);
    if (!out) return NULL;
    size_t o = 0;
    bool in_class = false;
#define PUT(s)                          \
    do {                                \
        size_t l_ = strlen(s);          \
        memcpy(out + o, s, l_);         \
        o += l_;                        \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[++i];
            if (d == 's') {
                PUT(in_class ? WS_CLASS : "[" WS_CLASS "]");
            } else if (d == 'S' && !in_class) {
                PUT("[^" WS_CLASS "]");
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out[o++] = c;
            if (i + 1 < n && pat[i + 1] == '^') out[o++] = pat[++i];
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        out[o++] = c;
    }
#undef PUT
    out[o] = 0;
    return out;
}

ingot_status ig_pretok_new(const char *const *patterns, int n, ig_pretok **out) {
    *out = NULL;
    if (n < 1 || n > PRETOK_MAX) return ig_err(INGOT_ERR_INTERNAL, "bad pre-tokenizer size %d", n);
    ig_pretok *p = calloc(1, sizeof *p);
    if (!p) return ig_err(INGOT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        char *pat = rewrite_ws(patterns[i]);
        if (!pat) {
            ig_pretok_free(p);
            return ig_err(INGOT_ERR_NOMEM, "out of memory");
        }
        int errc;
        PCRE2_SIZE erroff;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &errc,
                                       &erroff, NULL);
        free(pat);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(errc, msg, sizeof msg);
            ig_pretok_free(p);
            return ig_err(INGOT_ERR_INTERNAL, "pre-tokenizer regex %d: %s at %zu", i,
                          (const char *)msg, (size_t)erroff);
        }
        /* JIT is an optimisation only: without it the interpreter runs. */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        p->re[p->n++] = re;
    }
    *out = p;
    return INGOT_OK;
}

void ig_pretok_free(ig_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
    free(p);
}

static int match_at(const pcre2_code *re, const char *s, size_t len, size_t pos,
                    pcre2_match_data *md) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
    /* Long runs can exhaust the small default JIT stack; the interpreter
     * keeps its backtracking state on the heap. */
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                         NULL);
    return rc;
}

static bool split_one(const pcre2_code *re, const char *text, const ig_span *sp, ig_spans *out,
                      pcre2_match_data *md, int *rcp) {
    const char *s = text + sp->off;
    size_t len = sp->len, pos = 0, prev = 0;
    while (pos < len) {
        int rc = match_at(re, s, len, pos, md);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            *rcp = rc;
            return false;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > prev && !ig_spans_push(out, sp->off + prev, ms - prev, false)) return false;
        if (me == ms) { /* empty match: nothing to keep; step over one character */
            prev = ms;
            int l = ig_utf8_char((const uint8_t *)s + ms, len - ms);
            pos = ms + (l > 0 ? (size_t)l : 1);
            continue;
        }
        if (!ig_spans_push(out, sp->off + ms, me - ms, false)) return false;
        prev = pos = me;
    }
    if (prev < len && !ig_spans_push(out, sp->off + prev, len - prev, false)) return false;
    return true;
}

bool ig_pretok_split(const ig_pretok *p, const char *text, size_t len, ig_spans *out) {
    ig_spans a = {0}, b = {0};
    bool ok = true;
    int rc = 0; /* a PCRE2 error, else failures are allocations */
    /* Valid runs and single invalid bytes. */
    size_t i = 0, run = 0;
    while (i < len && ok) {
        int l = ig_utf8_char((const uint8_t *)text + i, len - i);
        if (l > 0) {
            i += (size_t)l;
            continue;
        }
        if (i > run) ok = ig_spans_push(&a, run, i - run, false);
        ok = ok && ig_spans_push(&a, i, 1, true);
        run = ++i;
    }
    if (ok && len > run) ok = ig_spans_push(&a, run, len - run, false);

    pcre2_match_data *md = ok ? pcre2_match_data_create(16, NULL) : NULL;
    ok = ok && md;
    for (int r = 0; ok && r < p->n; r++) {
        b.n = 0;
        for (size_t k = 0; ok && k < a.n; k++) {
            if (a.v[k].raw) ok = ig_spans_push(&b, a.v[k].off, a.v[k].len, true);
            else ok = split_one(p->re[r], text, &a.v[k], &b, md, &rc);
        }
        ig_spans t = a;
        a = b;
        b = t;
    }
    for (size_t k = 0; ok && k < a.n; k++) ok = ig_spans_push(out, a.v[k].off, a.v[k].len, a.v[k].raw);
    pcre2_match_data_free(md);
    free(a.v);
    free(b.v);
    if (!ok && rc) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(rc, msg, sizeof msg);
        ig_err(INGOT_ERR_INTERNAL, "tokenize: pre-tokenizer regex failed: %s", (const char *)msg);
    } else if (!ok) {
        ig_err(INGOT_ERR_NOMEM, "tokenize: out of memory");
    }
    return ok;
}

/* ---- the pre-tokenizers llama.cpp knows, by tokenizer.ggml.pre ---------- */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                      \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                   \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK ideographs, U+0800..U+4E00 and Hangul, minus the whitespace inside
 * that range (see the file comment). */
#define RE_CJK                                                                             \
    "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}\\x{202a}-" \
    "\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+"
/* The explicit letter ranges of DeepSeek LLM's tokenizer.json. */
#define RE_DS_LETTERS                                                                          \
    "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}"            \
    "\\x{1c4}-\\x{293}\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}"          \
    "\\x{37f}\\x{386}\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-"          \
    "\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}"              \
    "\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}\\x{1d6b}-"        \
    "\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}"         \
    "\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}"          \
    "\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}"          \
    "\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-"        \
    "\\x{1ffc}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}"          \
    "\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}"         \
    "\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}"         \
    "\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}\\x{a680}-\\x{a69b}\\x{a722}-"         \
    "\\x{a76f}\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}\\x{fb00}-\\x{fb06}"         \
    "\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}\\x{104b0}-"    \
    "\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{118a0}-"         \
    "\\x{118df}\\x{1e900}-\\x{1e943}]+"
/* U+3000 left out of the last range: llama.cpp never matches it there. */
#define RE_DS_PUNCT \
    "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3001}-\\x{3002}]+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{ff0c}\\x{3001}\\x{964}\\x{6d4}\\x{60c})]+"
#define RE_UPPER_LOWER                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" RE_CONTRACTIONS \
    "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" RE_CONTRACTIONS "?"

static const char *const P_DEFAULT[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+",
                                        "[0-9][0-9][0-9]"};
static const char *const P_GPT2[] = {RE_GPT2};
static const char *const P_LLAMA3[] = {RE_LLAMA3};
static const char *const P_QWEN2[] = {RE_QWEN2};
static const char *const P_FALCON[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"};
static const char *const P_STARCODER[] = {"\\p{N}", RE_GPT2};
static const char *const P_DS_LLM[] = {"[\r\n]", RE_DS_LETTERS, RE_DS_PUNCT, "\\s+$", RE_CJK,
                                       "\\p{N}+"};
static const char *const P_DS_CODER[] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"};
static const char *const P_PORO[] = {RE_PORO};
static const char *const P_VIKING[] = {RE_PORO, "\\p{N}"};
static const char *const P_TEKKEN[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?"
    "((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
static const char *const P_GPT4O[] = {RE_UPPER_LOWER
                                      "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+"
                                      "|\\s+(?!\\S)|\\s+"};
static const char *const P_CHAMELEON[] = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                                          "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]",
                                          RE_GPT2};

#define DEF(p) p, (int)(sizeof p / sizeof p[0])

static const ig_pretok_def defs[] = {
    {{"default"}, DEF(P_DEFAULT), 0},
    {{"gpt-2", "phi-2", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de",
      "jina-v2-code", "gigachat", "roberta-bpe", "mpt", "olmo", "jais"},
     DEF(P_GPT2), 0},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}, DEF(P_LLAMA3),
     IG_PRE_IGNORE_MERGES | IG_PRE_ADD_BOS},
    {{"dbrx", "smaug-bpe"}, DEF(P_LLAMA3), 0},
    {{"chatglm-bpe", "glm4"}, DEF(P_LLAMA3), IG_PRE_NO_BOS},
    {{"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"}, DEF(P_QWEN2), 0},
    {{"deepseek-llm"}, DEF(P_DS_LLM), 0},
    {{"deepseek-coder"}, DEF(P_DS_CODER), 0},
    {{"falcon"}, DEF(P_FALCON), 0},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     DEF(P_STARCODER), 0},
    {{"poro-chat", "bloom", "gpt3-finnish"}, DEF(P_PORO), 0},
    {{"viking"}, DEF(P_VIKING), 0},
    {{"tekken"}, DEF(P_TEKKEN), IG_PRE_IGNORE_MERGES | IG_PRE_ADD_BOS},
    {{"gpt-4o", "llama4"}, DEF(P_GPT4O), 0},
    {{"chameleon"}, DEF(P_CHAMELEON), IG_PRE_ADD_BOS},
};

const ig_pretok_def *ig_pretok_find(const char *name) {
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        for (int k = 0; k < IG_PRE_MAX_NAMES && defs[i].names[k]; k++)
            if (!strcmp(defs[i].names[k], name)) return &defs[i];
    return NULL;
}
