/* The vocabulary: loading tokenizer.ggml.* from a GGUF file, special tokens,
 * tokenizing (special-token partition + SPM or BPE per text fragment) and
 * token -> bytes. Defaults and special cases follow llama.cpp's
 * llama-vocab.cpp (llama_vocab::impl::load / tokenize / token_to_piece). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "tokenizer/tok_internal.h"

/* Texts by which llama.cpp recognizes end-of-turn / end-of-generation and
 * fill-in-the-middle tokens when the file does not name them. The first text
 * of a list found in the vocab wins (llama.cpp takes whichever its hash map
 * yields first; vocabs rarely hold two of them). */
static const char *const EOT_TEXTS[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<EOT>", "_<EOT>",
                                        "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                        NULL};
static const char *const EOM_TEXTS[] = {"<|eom_id|>", NULL};
static const char *const EOG_TEXTS[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", NULL};
static const char *const FIM_PRE[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                                      "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>",
                                      "\xe2\x96\x81<PRE>", NULL};
static const char *const FIM_SUF[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                                      "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>",
                                      "\xe2\x96\x81<SUF>", NULL};
static const char *const FIM_MID[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                                      "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>",
                                      "\xe2\x96\x81<MID>", NULL};
static const char *const FIM_PAD[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", NULL};
static const char *const FIM_REP[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                      "<reponame>", NULL};
static const char *const FIM_SEP[] = {"<|file_sep|>", NULL};

static int32_t find_text(const ig_vocab *v, const char *s) {
    return ig_strmap_get(&v->map, s, strlen(s));
}

/* A token found by its text is control, whatever the file says. */
static void force_control(ig_vocab *v, int32_t id) {
    if (!(v->attr[id] & IG_ATTR_CONTROL)) {
        ig_log(INGOT_LOG_WARN, "token %d '%s' looks like a control token but is not typed so; "
               "treating it as one", id, v->text[id]);
        v->attr[id] |= IG_ATTR_CONTROL;
    }
}

static void detect(ig_vocab *v, int32_t *id, const char *const *texts) {
    if (*id >= 0) return;
    for (int i = 0; texts[i]; i++) {
        int32_t t = find_text(v, texts[i]);
        if (t >= 0) {
            *id = t;
            force_control(v, t);
            return;
        }
    }
}

static void add_eog(ig_vocab *v, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    int32_t *e = realloc(v->eog, (size_t)(v->n_eog + 1) * sizeof *e);
    if (!e) return; /* best effort: only end-of-generation detection suffers */
    v->eog = e;
    int i = v->n_eog++;
    while (i > 0 && v->eog[i - 1] > id) {
        v->eog[i] = v->eog[i - 1];
        i--;
    }
    v->eog[i] = id;
}

typedef struct len_id {
    uint32_t len;
    int32_t id;
} len_id;

/* longest first; by id among equals, so the order does not depend on qsort */
static int by_len_desc(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* <0xNN> -> NN, else -1 */
static int byte_token_value(const char *t, uint32_t len) {
    if (len != 6 || memcmp(t, "<0x", 3) || t[5] != '>') return -1;
    int h = hexval(t[3]), l = hexval(t[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/* The bytes token `id` stands for, special tokens included (llama.cpp's
 * token_to_piece with special = true). Writes at most 4 * len bytes. */
static uint32_t make_piece(const ig_vocab *v, int32_t id, const int16_t *cpt_byte, char *dst) {
    const char *t = v->text[id];
    uint32_t len = v->len[id], n = 0;
    uint16_t a = v->attr[id];
    if (a & (IG_ATTR_UNKNOWN | IG_ATTR_CONTROL | IG_ATTR_USER_DEFINED)) {
        memcpy(dst, t, len);
        return len;
    }
    if (a & IG_ATTR_NORMAL) {
        if (v->type == IG_VOCAB_SPM) { /* U+2581 is a space */
            for (uint32_t i = 0; i < len;) {
                if (i + 3 <= len && !memcmp(t + i, "\xe2\x96\x81", 3)) {
                    dst[n++] = ' ';
                    i += 3;
                } else {
                    dst[n++] = t[i++];
                }
            }
            return n;
        }
        /* byte-level: each code point stands for one byte; a code point
         * outside the map is copied as is (llama.cpp writes a marker) */
        for (uint32_t i = 0; i < len;) {
            int l = ig_utf8_char((const uint8_t *)t + i, len - i);
            if (l <= 0) {
                dst[n++] = t[i++];
                continue;
            }
            uint32_t cp;
            const uint8_t *u = (const uint8_t *)t + i;
            if (l == 1) cp = u[0];
            else if (l == 2) cp = ((u[0] & 0x1fu) << 6) | (u[1] & 0x3fu);
            else cp = 0x110000; /* beyond the map */
            if (cp < 324 && cpt_byte[cp] >= 0) {
                dst[n++] = (char)cpt_byte[cp];
            } else {
                memcpy(dst + n, t + i, (size_t)l);
                n += (uint32_t)l;
            }
            i += (uint32_t)l;
        }
        return n;
    }
    if (a & IG_ATTR_BYTE) {
        int b = byte_token_value(t, len);
        if (b >= 0) dst[n++] = (char)b;
        return n;
    }
    return 0; /* unused / undefined tokens render as nothing */
}

static ingot_status build_pieces(ig_vocab *v, const char *path) {
    int16_t cpt_byte[324];
    for (int i = 0; i < 324; i++) cpt_byte[i] = -1;
    for (unsigned b = 0; b < 256; b++) cpt_byte[ig_byte_to_cpt((uint8_t)b)] = (int16_t)b;
    uint64_t total = 0;
    for (int32_t i = 0; i < v->n; i++) total += v->len[i];
    /* decoding never grows a token (a code point gives at most its bytes) */
    v->piece = malloc(total + 1);
    v->piece_off = malloc((size_t)v->n * sizeof *v->piece_off);
    v->piece_len = malloc((size_t)v->n * sizeof *v->piece_len);
    if (!v->piece || !v->piece_off || !v->piece_len)
        return ig_err(INGOT_ERR_NOMEM, "%s: out of memory", path);
    uint64_t off = 0;
    for (int32_t i = 0; i < v->n; i++) {
        v->piece_off[i] = off;
        v->piece_len[i] = make_piece(v, i, cpt_byte, v->piece + off);
        off += v->piece_len[i];
    }
    return INGOT_OK;
}

static const gguf_value *get_arr(const gguf *g, const char *key, bool *bad) {
    const gguf_value *val = gguf_get_val(g, key);
    if (val && val->type != GGUF_ARRAY) *bad = true;
    return val && val->type == GGUF_ARRAY ? val : NULL;
}

static bool is_int_type(uint32_t t) {
    return t == GGUF_U8 || t == GGUF_I8 || t == GGUF_U16 || t == GGUF_I16 || t == GGUF_U32 ||
           t == GGUF_I32 || t == GGUF_U64 || t == GGUF_I64;
}

ingot_status ig_vocab_load(const gguf *g, ig_vocab **out) {
    *out = NULL;
    const char *path = g->path ? g->path : "(gguf)";
    const char *model = NULL;
    if (!gguf_get_str(g, "tokenizer.ggml.model", &model)) {
        if (gguf_find(g, "tokenizer.ggml.model") >= 0)
            return ig_err(INGOT_ERR_FORMAT, "%s: tokenizer.ggml.model is not a string", path);
        return ig_err(INGOT_ERR_FORMAT, "%s: no tokenizer (tokenizer.ggml.model missing)", path);
    }
    ig_vocab_type type;
    if (!strcmp(model, "llama")) type = IG_VOCAB_SPM;
    else if (!strcmp(model, "gpt2")) type = IG_VOCAB_BPE;
    else {
        char shown[168];
        ig_show(shown, sizeof shown, model, strlen(model));
        return ig_err(INGOT_ERR_UNSUPPORTED, "%s: tokenizer model '%s' is not supported", path, shown);
    }

    bool bad = false;
    const gguf_value *tv = get_arr(g, "tokenizer.ggml.tokens", &bad);
    if (!tv || tv->arr.type != GGUF_STRING)
        return ig_err(INGOT_ERR_FORMAT, "%s: tokenizer.ggml.tokens missing or not a string array", path);
    uint64_t n = tv->arr.n;
    if (n == 0 || n >= INT32_MAX)
        return ig_err(INGOT_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", path,
                      (unsigned long long)n);
    const gguf_value *sv = get_arr(g, "tokenizer.ggml.scores", &bad);
    if (bad || (sv && ((sv->arr.type != GGUF_F32 && sv->arr.type != GGUF_I32) || sv->arr.n < n)))
        return ig_err(INGOT_ERR_FORMAT, "%s: bad tokenizer.ggml.scores", path);
    const gguf_value *yv = get_arr(g, "tokenizer.ggml.token_type", &bad);
    if (bad || (yv && (!is_int_type(yv->arr.type) || yv->arr.n < n)))
        return ig_err(INGOT_ERR_FORMAT, "%s: bad tokenizer.ggml.token_type", path);
    const gguf_value *mv = NULL;
    if (type == IG_VOCAB_BPE) {
        mv = get_arr(g, "tokenizer.ggml.merges", &bad);
        if (!mv || mv->arr.type != GGUF_STRING)
            return ig_err(INGOT_ERR_FORMAT, "%s: tokenizer.ggml.merges missing or not a string array",
                          path);
    }

    ig_vocab *v = calloc(1, sizeof *v);
    if (!v) return ig_err(INGOT_ERR_NOMEM, "%s: out of memory", path);
    ingot_status st = INGOT_ERR_NOMEM;
    v->type = type;
    v->n = (int32_t)n;
    v->model = dup_str(model);
    v->text = malloc(n * sizeof *v->text);
    v->len = malloc(n * sizeof *v->len);
    v->score = malloc(n * sizeof *v->score);
    v->attr = malloc(n * sizeof *v->attr);
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (tv->arr.strs[i].len > UINT32_MAX) {
            st = ig_err(INGOT_ERR_FORMAT, "%s: token %llu is too long", path, (unsigned long long)i);
            goto fail;
        }
        bytes += (tv->arr.strs[i].len ? tv->arr.strs[i].len : 24) + 1;
    }
    v->arena = malloc(bytes);
    if (!v->model || !v->text || !v->len || !v->score || !v->attr || !v->arena ||
        !ig_strmap_init(&v->map, n))
        goto nomem;

    char *cur = v->arena;
    int32_t n_dup = 0;
    for (int32_t i = 0; i < v->n; i++) {
        const gguf_str *s = &tv->arr.strs[i];
        size_t len = (size_t)s->len;
        if (len == 0) { /* as llama.cpp: an empty text could match anywhere */
            ig_log(INGOT_LOG_WARN, "%s: empty token at index %d", path, i);
            len = (size_t)snprintf(cur, 24, "[EMPTY_%d]", i);
        } else {
            memcpy(cur, s->s, len);
        }
        cur[len] = 0;
        v->text[i] = cur;
        v->len[i] = (uint32_t)len;
        cur += len + 1;
        int32_t got = ig_strmap_put(&v->map, v->text[i], len, i);
        if (got == -2) goto nomem;
        n_dup += got != i; /* the first id of a repeated text is the one found */
        v->score[i] = sv ? gguf_arr_f32(sv, (uint64_t)i) : 0.0f;
        uint16_t a = IG_ATTR_NORMAL;
        if (yv) {
            switch (gguf_arr_i64(yv, (uint64_t)i)) {
            case 1: a = IG_ATTR_NORMAL; break;
            case 2: a = IG_ATTR_UNKNOWN; break;
            case 3: a = IG_ATTR_CONTROL; break;
            case 4: a = IG_ATTR_USER_DEFINED; break;
            case 5: a = IG_ATTR_UNUSED; break;
            case 6: a = IG_ATTR_BYTE; break;
            default: a = IG_ATTR_UNDEFINED; break;
            }
        }
        v->attr[i] = a;
    }
    if (n_dup) ig_log(INGOT_LOG_WARN, "%s: %d tokens repeat an earlier token's text", path, n_dup);

    /* defaults by tokenizer type, then what the file says */
    v->eot = v->eom = v->sep = v->pad = v->mask = -1;
    v->fim_pre = v->fim_suf = v->fim_mid = v->fim_pad = v->fim_rep = v->fim_sep = -1;
    const char *pre = NULL;
    gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    if (type == IG_VOCAB_SPM) {
        v->bos = 1;
        v->eos = 2;
        v->unk = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
        v->pre = dup_str(pre ? pre : "default");
    } else {
        v->bos = v->eos = 11; /* llama.cpp's (odd) BPE default */
        v->unk = -1;
        const ig_pretok_def *def = pre ? ig_pretok_find(pre) : NULL;
        if (!def) {
            /* llama.cpp refuses an unknown name and uses its "default" rules
             * for a missing one; GPT-2's rules are the better guess */
            if (pre) {
                char shown[168];
                ig_show(shown, sizeof shown, pre, strlen(pre));
                ig_log(INGOT_LOG_WARN, "%s: unknown pre-tokenizer '%s', using GPT-2's rules", path, shown);
            } else
                ig_log(INGOT_LOG_WARN, "%s: no tokenizer.ggml.pre, using GPT-2's rules", path);
            def = ig_pretok_find("gpt-2");
            pre = "gpt-2";
        }
        v->pre = dup_str(pre);
        v->ignore_merges = def->flags & IG_PRE_IGNORE_MERGES;
        if (def->flags & IG_PRE_ADD_BOS) v->add_bos = true;
        if (def->flags & IG_PRE_NO_BOS) v->bos = -1;
        if ((st = ig_pretok_new(def->patterns, def->n_patterns, &v->pretok)) != INGOT_OK) goto fail;
        st = INGOT_ERR_NOMEM;
    }
    if (!v->pre) goto nomem;
    bool b;
    if (gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) v->add_space_prefix = b;

    static const struct {
        const char *key;
        size_t field;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(ig_vocab, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(ig_vocab, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(ig_vocab, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(ig_vocab, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(ig_vocab, unk)},
        {"tokenizer.ggml.seperator_token_id", offsetof(ig_vocab, sep)},
        {"tokenizer.ggml.padding_token_id", offsetof(ig_vocab, pad)},
        {"tokenizer.ggml.mask_token_id", offsetof(ig_vocab, mask)},
        {"tokenizer.ggml.fim_pre_token_id", offsetof(ig_vocab, fim_pre)},
        {"tokenizer.ggml.fim_suf_token_id", offsetof(ig_vocab, fim_suf)},
        {"tokenizer.ggml.fim_mid_token_id", offsetof(ig_vocab, fim_mid)},
        {"tokenizer.ggml.fim_pad_token_id", offsetof(ig_vocab, fim_pad)},
        {"tokenizer.ggml.fim_rep_token_id", offsetof(ig_vocab, fim_rep)},
        {"tokenizer.ggml.fim_sep_token_id", offsetof(ig_vocab, fim_sep)},
        {"tokenizer.ggml.prefix_token_id", offsetof(ig_vocab, fim_pre)},
        {"tokenizer.ggml.suffix_token_id", offsetof(ig_vocab, fim_suf)},
        {"tokenizer.ggml.middle_token_id", offsetof(ig_vocab, fim_mid)},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int32_t *id = (int32_t *)((char *)v + ids[i].field);
        if (*id >= v->n) *id = -1; /* a default the vocab is too small for */
        uint32_t val;
        if (!gguf_get_u32(g, ids[i].key, &val)) continue;
        if (val < (uint32_t)v->n) *id = (int32_t)val;
        else if (val != UINT32_MAX) /* ~0 is a common "none" */
            ig_log(INGOT_LOG_WARN, "%s: %s = %u is out of the vocab, ignored", path, ids[i].key, val);
    }
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) v->add_bos = b;
    if (gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) v->add_eos = b;
    if (v->add_bos && v->bos < 0) {
        ig_log(INGOT_LOG_WARN, "%s: add_bos_token is set but there is no BOS token", path);
        v->add_bos = false;
    }
    if (v->add_eos && v->eos < 0) {
        ig_log(INGOT_LOG_WARN, "%s: add_eos_token is set but there is no EOS token", path);
        v->add_eos = false;
    }

    detect(v, &v->eot, EOT_TEXTS);
    detect(v, &v->eom, EOM_TEXTS);
    detect(v, &v->fim_pre, FIM_PRE);
    detect(v, &v->fim_suf, FIM_SUF);
    detect(v, &v->fim_mid, FIM_MID);
    detect(v, &v->fim_pad, FIM_PAD);
    detect(v, &v->fim_rep, FIM_REP);
    detect(v, &v->fim_sep, FIM_SEP);
    add_eog(v, v->fim_pad);
    add_eog(v, v->fim_rep);
    add_eog(v, v->fim_sep);
    for (int i = 0; EOG_TEXTS[i]; i++) {
        int32_t t = find_text(v, EOG_TEXTS[i]);
        if (t < 0) continue;
        add_eog(v, t);
        force_control(v, t);
    }
    add_eog(v, v->eos);
    add_eog(v, v->eot);
    add_eog(v, v->eom);

    /* Tokens matched in the text before the tokenizer runs, longest first. */
    v->special = malloc((size_t)v->n * sizeof *v->special);
    len_id *order = malloc((size_t)v->n * sizeof *order);
    if (!v->special || !order) {
        free(order);
        goto nomem;
    }
    for (int32_t i = 0; i < v->n; i++)
        if (v->attr[i] & (IG_ATTR_CONTROL | IG_ATTR_USER_DEFINED | IG_ATTR_UNKNOWN))
            order[v->n_special++] = (len_id){v->len[i], i};
    qsort(order, (size_t)v->n_special, sizeof *order, by_len_desc);
    for (int32_t i = 0; i < v->n_special; i++) v->special[i] = order[i].id;
    free(order);

    /* llama.cpp: Phi-3's special tokens swallow the whitespace after them */
    const char *name = NULL;
    if (gguf_get_str(g, "general.name", &name)) {
        char low[64];
        size_t k = 0;
        for (; name[k] && k < sizeof low - 1; k++) low[k] = (char)tolower((unsigned char)name[k]);
        low[k] = 0;
        if (strstr(low, "phi-3") || strstr(low, "phi3")) {
            for (int32_t i = 0; i < v->n_special; i++) v->attr[v->special[i]] |= IG_ATTR_RSTRIP;
            int32_t t = find_text(v, "</s>");
            if (t >= 0) v->attr[t] |= IG_ATTR_RSTRIP;
            static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
            for (int i = 0; i < 3; i++)
                if ((t = find_text(v, keep[i])) >= 0) v->attr[t] &= (uint16_t)~IG_ATTR_RSTRIP;
        }
    }

    if ((st = build_pieces(v, path)) != INGOT_OK) goto fail;
    st = INGOT_ERR_NOMEM;

    if (type == IG_VOCAB_SPM) {
        for (int c = 0; c < 256; c++) {
            char buf[7];
            snprintf(buf, sizeof buf, "<0x%02X>", c);
            int32_t t = find_text(v, buf);
            if (t < 0) { /* llama.cpp: the byte itself as a token */
                char one = (char)c;
                t = ig_strmap_get(&v->map, &one, 1);
            }
            v->spm_byte[c] = t >= 0 ? t : v->unk;
        }
        if (!(v->spm_pairs = ig_spm_pairs_new(v))) goto nomem;
    } else {
        st = ig_bpe_new(path, v->text, v->len, v->n, &v->map, mv->arr.strs, mv->arr.n, &v->bpe);
        if (st != INGOT_OK) goto fail;
    }
    *out = v;
    return INGOT_OK;
nomem:
    st = ig_err(INGOT_ERR_NOMEM, "%s: out of memory loading the vocabulary", path);
fail:
    ig_vocab_free(v);
    return st;
}

void ig_vocab_free(ig_vocab *v) {
    if (!v) return;
    free(v->model);
    free(v->pre);
    free(v->text);
    free(v->len);
    free(v->score);
    free(v->attr);
    free(v->arena);
    ig_strmap_free(&v->map);
    free(v->eog);
    free(v->special);
    free(v->piece);
    free(v->piece_off);
    free(v->piece_len);
    ig_spm_pairs_free(v->spm_pairs);
    ig_bpe_free(v->bpe);
    ig_pretok_free(v->pretok);
    free(v);
}

int32_t ig_vocab_n(const ig_vocab *v) { return v->n; }
const char *ig_vocab_model(const ig_vocab *v) { return v->model; }
const char *ig_vocab_pre(const ig_vocab *v) { return v->pre; }
int32_t ig_vocab_bos(const ig_vocab *v) { return v->bos; }
int32_t ig_vocab_eos(const ig_vocab *v) { return v->eos; }
int32_t ig_vocab_eot(const ig_vocab *v) { return v->eot; }
bool ig_vocab_add_bos(const ig_vocab *v) { return v->add_bos; }
bool ig_vocab_add_eos(const ig_vocab *v) { return v->add_eos; }

bool ig_vocab_is_eog(const ig_vocab *v, int32_t id) {
    int lo = 0, hi = v->n_eog;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v->eog[mid] == id) return true;
        if (v->eog[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

bool ig_vocab_is_control(const ig_vocab *v, int32_t id) {
    return id >= 0 && id < v->n && (v->attr[id] & IG_ATTR_CONTROL);
}

const char *ig_vocab_text(const ig_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? v->text[id] : NULL;
}

/* ---- tokenizing ---------------------------------------------------------- */

typedef struct frag {
    size_t off, len;
    int32_t tok; /* -1: text */
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static bool frag_push(frags *f, size_t off, size_t len, int32_t tok) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *p = realloc(f->v, cap * sizeof *p);
        if (!p) return false;
        f->v = p;
        f->cap = cap;
    }
    f->v[f->n++] = (frag){off, len, tok};
    return true;
}

/* Cut special tokens out of the text as llama.cpp's tokenizer_st_partition:
 * each special token in turn (longest first) takes its leftmost
 * non-overlapping occurrences in what is still text. Control and unknown
 * tokens only when parse_special; user-defined ones always (as Hugging Face
 * treats added tokens). */
static bool partition(const ig_vocab *v, const char *text, size_t len, bool parse_special,
                      frags *out) {
    frags a = {0}, b = {0};
    if (len && !frag_push(&a, 0, len, -1)) return false;
    /* Which bytes and byte pairs occur at all: most special tokens can be
     * ruled out without searching. */
    uint8_t seen1[256] = {0}, seen2[65536 / 8];
    bool have_seen = false;
    bool ok = true;
    for (int32_t s = 0; ok && s < v->n_special && len; s++) {
        int32_t id = v->special[s];
        uint16_t attr = v->attr[id];
        if (!parse_special && (attr & (IG_ATTR_CONTROL | IG_ATTR_UNKNOWN))) continue;
        const char *t = v->text[id];
        size_t tl = v->len[id];
        if (!have_seen) {
            memset(seen2, 0, sizeof seen2);
            for (size_t i = 0; i < len; i++) {
                uint8_t c = (uint8_t)text[i];
                seen1[c] = 1;
                if (i + 1 < len) {
                    unsigned p = (unsigned)c << 8 | (uint8_t)text[i + 1];
                    seen2[p >> 3] |= (uint8_t)(1u << (p & 7));
                }
            }
            have_seen = true;
        }
        if (tl == 1) {
            if (!seen1[(uint8_t)t[0]]) continue;
        } else {
            unsigned p = (unsigned)(uint8_t)t[0] << 8 | (uint8_t)t[1];
            if (!(seen2[p >> 3] & (1u << (p & 7)))) continue;
        }
        b.n = 0;
        for (size_t k = 0; ok && k < a.n; k++) {
            frag f = a.v[k];
            if (f.tok >= 0) {
                ok = frag_push(&b, f.off, f.len, f.tok);
                continue;
            }
            size_t base = f.off, blen = f.len;
            while (ok && blen >= tl) {
                const char *m = memmem(text + base, blen, t, tl);
                if (!m) break;
                size_t at = (size_t)(m - text), end = base + blen;
                size_t ll = at - base;
                if (attr & IG_ATTR_LSTRIP)
                    while (ll > 0 && isspace((unsigned char)text[base + ll - 1])) ll--;
                if (ll) ok = frag_push(&b, base, ll, -1);
                ok = ok && frag_push(&b, 0, 0, id);
                base = at + tl;
                blen = end - base;
                if (attr & IG_ATTR_RSTRIP)
                    while (blen > 0 && isspace((unsigned char)text[base])) {
                        base++;
                        blen--;
                    }
            }
            if (ok && blen) ok = frag_push(&b, base, blen, -1);
        }
        frags tmp = a;
        a = b;
        b = tmp;
    }
    free(b.v);
    if (!ok) {
        free(a.v);
        return false;
    }
    *out = a;
    return true;
}

int64_t ig_tokenize(const ig_vocab *v, const char *text, size_t len, bool add_special,
                    bool parse_special, int32_t *out, int64_t cap) {
    if (!v || (!text && len) || cap < 0 || (!out && cap > 0)) {
        ig_err(INGOT_ERR_INVALID_ARG, "tokenize: invalid argument");
        return -1;
    }
    frags fr = {0};
    if (!partition(v, text, len, parse_special, &fr)) {
        ig_err(INGOT_ERR_NOMEM, "tokenize: out of memory");
        return -1;
    }
    ig_ids ids = {0};
    char *esc = NULL;
    if (add_special && v->add_bos) ig_ids_push(&ids, v->bos);
    if (v->type == IG_VOCAB_SPM) {
        /* a space goes before the first text and before text that follows a
         * special token; spaces become U+2581 */
        bool prev_special = true;
        size_t longest = 0;
        for (size_t i = 0; i < fr.n; i++)
            if (fr.v[i].tok < 0 && fr.v[i].len > longest) longest = fr.v[i].len;
        esc = longest ? malloc(3 * longest + 3) : NULL;
        if (longest && !esc) {
            ig_err(INGOT_ERR_NOMEM, "tokenize: out of memory");
            ids.failed = true;
        }
        for (size_t i = 0; i < fr.n && !ids.failed; i++) {
            const frag *f = &fr.v[i];
            if (f->tok >= 0) {
                ig_ids_push(&ids, f->tok);
                prev_special = true;
                continue;
            }
            size_t m = 0;
            if (v->add_space_prefix && prev_special) {
                memcpy(esc, "\xe2\x96\x81", 3);
                m = 3;
            }
            for (size_t k = 0; k < f->len; k++) {
                char c = text[f->off + k];
                if (c == ' ') {
                    memcpy(esc + m, "\xe2\x96\x81", 3);
                    m += 3;
                } else {
                    esc[m++] = c;
                }
            }
            ig_spm_tokenize(v, esc, m, &ids);
            prev_special = false;
        }
    } else {
        for (size_t i = 0; i < fr.n && !ids.failed; i++) {
            if (fr.v[i].tok >= 0) ig_ids_push(&ids, fr.v[i].tok);
            else ig_bpe_tokenize(v, text + fr.v[i].off, fr.v[i].len, &ids);
        }
    }
    if (add_special && v->add_eos) ig_ids_push(&ids, v->eos);
    free(esc);
    free(fr.v);
    if (ids.failed) {
        free(ids.v);
        return -1;
    }
    int64_t n = ids.n;
    if (n && cap) memcpy(out, ids.v, (size_t)(n < cap ? n : cap) * sizeof *out);
    free(ids.v);
    return n;
}

int32_t ig_token_to_piece(const ig_vocab *v, int32_t id, bool special, char *buf, int32_t cap) {
    if (!v || id < 0 || id >= v->n) {
        ig_err(INGOT_ERR_INVALID_ARG, "token id %d is out of range", (int)id);
        return -1;
    }
    if (!special && (v->attr[id] & (IG_ATTR_UNKNOWN | IG_ATTR_CONTROL))) return 0;
    uint32_t n = v->piece_len[id];
    if (buf && cap >= 0 && n <= (uint32_t)cap) memcpy(buf, v->piece + v->piece_off[id], n);
    return (int32_t)n;
}
