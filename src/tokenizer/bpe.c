/* Byte-level BPE with ranked merges (tokenizer.ggml.model "gpt2").
 *
 * Each word from the pre-tokenizer is mapped byte by byte to GPT-2's
 * printable code points, then adjacent symbols are merged lowest rank
 * first (leftmost on ties), exactly as llama.cpp's llm_tokenizer_bpe_session.
 *
 * Instead of comparing strings, every string that can appear as a symbol
 * (each token, each side of each merge and each merge result) gets an
 * "intern" id; a merge is then a lookup of the id pair. Tokens keep their
 * token id as intern id, other strings are numbered after them. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "tokenizer/tok_internal.h"

struct ig_bpe {
    ig_strmap intern;
    int32_t n_tok, n_intern, cap_intern;
    int32_t *intern_tok; /* intern id -> token id, -1 when not a token */
    char *buf;           /* text of interned strings that are not tokens */
    struct bpe_merge {
        uint64_t key; /* (left + 1) << 32 | (right + 1); 0 = empty slot */
        int32_t rank, res;
    } *mt;
    size_t mmask;
    int32_t byte_intern[256]; /* intern id of each byte's code point */
    int32_t single_tok[256];  /* token whose text is this one byte (fallback) */
    uint8_t enc[256][2], enc_len[256];
};

/* ---- GPT-2 byte <-> code point map ------------------------------------- */

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

uint32_t ig_byte_to_cpt(uint8_t b) {
    if (byte_is_printable(b)) return b;
    /* the others take 256, 257, ... in byte order */
    uint32_t k = 0;
    for (unsigned c = 0; c < b; c++) k += !byte_is_printable(c);
    return 256 + k;
}


/* ---- construction ------------------------------------------------------ */

static int32_t intern(ig_bpe *b, char **cursor, const char *s, size_t len) {
    int32_t id = ig_strmap_get(&b->intern, s, len);
    if (id >= 0) return id;
    if (b->n_intern == b->cap_intern) {
        int32_t cap = b->cap_intern * 2;
        int32_t *t = realloc(b->intern_tok, (size_t)cap * sizeof *t);
        if (!t) return -2;
        b->intern_tok = t;
        b->cap_intern = cap;
    }
    memmove(*cursor, s, len); /* s may be *cursor itself */
    id = ig_strmap_put(&b->intern, *cursor, len, b->n_intern);
    if (id < 0) return -2;
    *cursor += len;
    b->intern_tok[b->n_intern++] = -1;
    return id;
}

static inline size_t merge_slot(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & mask;
}

ingot_status ig_bpe_new(const char *path, const char *const *tok_text, const uint32_t *tok_len,
                        int32_t n_tok, const ig_strmap *tok_map, const gguf_str *merges,
                        uint64_t n_merges, ig_bpe **out) {
    *out = NULL;
    ig_bpe *b = calloc(1, sizeof *b);
    if (!b) return ig_err(INGOT_ERR_NOMEM, "%s: out of memory", path);
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < n_merges; i++) bytes += 2 * merges[i].len;
    size_t mcap = 16;
    while (mcap < n_merges * 2) mcap *= 2;
    b->n_tok = n_tok;
    b->cap_intern = n_tok + 64;
    b->intern_tok = malloc((size_t)b->cap_intern * sizeof *b->intern_tok);
    b->buf = malloc(bytes + 1);
    b->mt = calloc(mcap, sizeof *b->mt);
    b->mmask = mcap - 1;
    if (!b->intern_tok || !b->buf || !b->mt || !ig_strmap_init(&b->intern, (size_t)n_tok + n_merges))
        goto nomem;
    for (int32_t i = 0; i < n_tok; i++) {
        if (ig_strmap_put(&b->intern, tok_text[i], tok_len[i], i) == -2) goto nomem;
        b->intern_tok[i] = i;
    }
    b->n_intern = n_tok;

    char *cur = b->buf;
    for (uint64_t i = 0; i < n_merges; i++) {
        const char *s = merges[i].s;
        size_t len = (size_t)merges[i].len;
        /* llama.cpp splits at the first space after position 0 */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp) continue;
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        if (lb == 0) continue; /* an empty side never occurs as a symbol */
        int32_t ia = intern(b, &cur, s, la);
        int32_t ib = intern(b, &cur, sp + 1, lb);
        /* the result's text, contiguous: copy both sides after the cursor */
        char *tmp = cur;
        memcpy(tmp, s, la);
        memcpy(tmp + la, sp + 1, lb);
        int32_t ir = ig_strmap_get(&b->intern, tmp, la + lb);
        if (ir < 0) ir = intern(b, &cur, tmp, la + lb); /* copies onto itself: fine */
        if (ia < 0 || ib < 0 || ir < 0) goto nomem;
        uint64_t key = ((uint64_t)(ia + 1) << 32) | (uint64_t)(ib + 1);
        size_t k = merge_slot(key, b->mmask);
        while (b->mt[k].key && b->mt[k].key != key) k = (k + 1) & b->mmask;
        if (!b->mt[k].key) /* the first rank of a repeated pair wins */
            b->mt[k] = (struct bpe_merge){key, (int32_t)i, ir};
    }

    for (unsigned c = 0; c < 256; c++) {
        uint32_t cp = ig_byte_to_cpt((uint8_t)c);
        if (cp < 0x80) {
            b->enc[c][0] = (uint8_t)cp;
            b->enc_len[c] = 1;
        } else {
            b->enc[c][0] = (uint8_t)(0xc0 | (cp >> 6));
            b->enc[c][1] = (uint8_t)(0x80 | (cp & 0x3f));
            b->enc_len[c] = 2;
        }
        b->byte_intern[c] = ig_strmap_get(&b->intern, (const char *)b->enc[c], b->enc_len[c]);
        char one = (char)c;
        b->single_tok[c] = ig_strmap_get(tok_map, &one, 1);
    }
    *out = b;
    return INGOT_OK;
nomem:
    ig_bpe_free(b);
    return ig_err(INGOT_ERR_NOMEM, "%s: out of memory building BPE merges", path);
}

void ig_bpe_free(ig_bpe *b) {
    if (!b) return;
    ig_strmap_free(&b->intern);
    free(b->intern_tok);
    free(b->buf);
    free(b->mt);
    free(b);
}

/* ---- tokenizing ---------------------------------------------------------- */

typedef struct bsym {
    int32_t prev, next, intern;
    uint32_t n; /* bytes of the original word; 0 once merged away */
} bsym;

typedef struct bpe_work {
    bsym *sym;
    tok_heap heap;
    size_t cap_sym;
    char *enc;
    size_t cap_enc;
    bool oom;
} bpe_work;

static void try_merge(const ig_bpe *b, bpe_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    int32_t il = w->sym[l].intern, ir = w->sym[r].intern;
    if (il < 0 || ir < 0) return;
    uint64_t key = ((uint64_t)(il + 1) << 32) | (uint64_t)(ir + 1);
    size_t k = merge_slot(key, b->mmask);
    for (;;) {
        const struct bpe_merge *m = &b->mt[k];
        if (!m->key) return;
        if (m->key == key) {
            tok_heap_push(&w->heap, (tok_pair){m->rank, l, r, m->res, w->sym[l].n, w->sym[r].n});
            return;
        }
        k = (k + 1) & b->mmask;
    }
}

static void bpe_word(const ig_vocab *v, bpe_work *w, const uint8_t *s, size_t n, ig_ids *out) {
    const ig_bpe *b = v->bpe;
    if (n == 0) return;
    if (v->ignore_merges) { /* a word that is a token as a whole is taken as is */
        if (w->cap_enc < 2 * n) {
            char *e = realloc(w->enc, 2 * n);
            if (!e) {
                w->oom = true;
                return;
            }
            w->enc = e;
            w->cap_enc = 2 * n;
        }
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(w->enc + m, b->enc[s[i]], b->enc_len[s[i]]);
            m += b->enc_len[s[i]];
        }
        int32_t id = ig_strmap_get(&v->map, w->enc, m);
        if (id >= 0) {
            ig_ids_push(out, id);
            return;
        }
    }
    if (w->cap_sym < n) {
        bsym *t = realloc(w->sym, n * sizeof *t);
        if (!t) {
            w->oom = true;
            return;
        }
        w->sym = t;
        w->cap_sym = n;
    }
    for (size_t i = 0; i < n; i++)
        w->sym[i] = (bsym){(int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, b->byte_intern[s[i]], 1};
    w->heap.n = 0;
    for (size_t i = 1; i < n; i++) try_merge(b, w, (int32_t)i - 1, (int32_t)i);
    while (w->heap.n && !w->heap.oom) {
        tok_pair g = tok_heap_pop(&w->heap);
        bsym *L = &w->sym[g.left], *R = &w->sym[g.right];
        /* stale: one side has changed since the pair was queued */
        if (L->n != g.ln || R->n != g.rn || !L->n || !R->n) continue;
        L->n += R->n;
        R->n = 0;
        L->intern = g.res;
        L->next = R->next;
        if (R->next >= 0) w->sym[R->next].prev = g.left;
        try_merge(b, w, L->prev, g.left);
        try_merge(b, w, g.left, L->next);
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next) {
        const bsym *y = &w->sym[i];
        int32_t id = y->intern >= 0 ? b->intern_tok[y->intern] : -1;
        if (id >= 0) {
            ig_ids_push(out, id);
            continue;
        }
        /* not in the vocab: llama.cpp looks up each byte of the mapped text
         * as a one-byte token and drops what it cannot find */
        for (uint32_t k = 0; k < y->n; k++) {
            uint8_t c = s[(size_t)i + k];
            for (int j = 0; j < b->enc_len[c]; j++) {
                int32_t t = b->single_tok[b->enc[c][j]];
                if (t >= 0) ig_ids_push(out, t);
            }
        }
    }
}

void ig_bpe_tokenize(const ig_vocab *v, const char *text, size_t len, ig_ids *out) {
    ig_spans sp = {0};
    if (!ig_pretok_split(v->pretok, text, len, &sp)) {
        out->failed = true;
        free(sp.v);
        return;
    }
    bpe_work w = {0};
    for (size_t i = 0; i < sp.n && !w.oom && !w.heap.oom; i++)
        bpe_word(v, &w, (const uint8_t *)text + sp.v[i].off, sp.v[i].len, out);
    if (w.oom || w.heap.oom) {
        ig_err(INGOT_ERR_NOMEM, "tokenize: out of memory");
        out->failed = true;
    }
    free(w.sym);
    free(w.heap.a);
    free(w.enc);
    free(sp.v);
}
