/* SentencePiece-style BPE with scores (tokenizer.ggml.model "llama"), as
 * llama.cpp's llm_tokenizer_spm_session: start from UTF-8 characters and
 * repeatedly merge the adjacent pair whose concatenation is the token with
 * the highest score (leftmost on ties). Characters left over that are not
 * tokens fall back to <0xNN> byte tokens.
 *
 * llama.cpp keeps a reverse-merge map to split symbols that are not tokens;
 * a merge only ever happens when its result is a token, so only unmerged
 * characters can miss and the map is never needed.
 *
 * llama.cpp runs one priority queue over the whole text. Since every merged
 * symbol is a token, no merge can cross a point between two characters that
 * are adjacent in no token; the text is cut at such points (for SentencePiece
 * vocabs: before most word-initial U+2581) and each piece is merged on its
 * own, which gives the same result with small, cache-friendly queues. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "tokenizer/tok_internal.h"

/* ---- which characters are adjacent in some token ----------------------- */

struct ig_pairset {
    struct pair_ent {
        uint64_t chars; /* both characters' bytes, 4 each */
        uint16_t lens;  /* lengths; 0 = empty slot */
    } *e;
    size_t mask;
};

static inline struct pair_ent pair_key(const char *a, size_t la, const char *b, size_t lb) {
    struct pair_ent k = {0, (uint16_t)(la | lb << 8)};
    memcpy(&k.chars, a, la);
    memcpy((char *)&k.chars + 4, b, lb);
    return k;
}

static inline size_t pair_slot(const struct pair_ent *k, size_t mask) {
    uint64_t h = (k->chars ^ ((uint64_t)k->lens << 56)) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & mask;
}

static bool pair_has(const ig_pairset *p, struct pair_ent k) {
    for (size_t i = pair_slot(&k, p->mask);; i = (i + 1) & p->mask) {
        if (!p->e[i].lens) return false;
        if (p->e[i].lens == k.lens && p->e[i].chars == k.chars) return true;
    }
}

static bool pair_add(ig_pairset *p, size_t *n, struct pair_ent k) {
    if ((*n + 1) * 2 > p->mask + 1) {
        ig_pairset old = *p;
        size_t cap = (old.mask + 1) * 2;
        p->e = calloc(cap, sizeof *p->e);
        if (!p->e) {
            *p = old;
            return false;
        }
        p->mask = cap - 1;
        for (size_t i = 0; i <= old.mask; i++)
            if (old.e[i].lens) {
                size_t j = pair_slot(&old.e[i], p->mask);
                while (p->e[j].lens) j = (j + 1) & p->mask;
                p->e[j] = old.e[i];
            }
        free(old.e);
    }
    size_t i = pair_slot(&k, p->mask);
    for (; p->e[i].lens; i = (i + 1) & p->mask)
        if (p->e[i].lens == k.lens && p->e[i].chars == k.chars) return true;
    p->e[i] = k;
    (*n)++;
    return true;
}

ig_pairset *ig_spm_pairs_new(const ig_vocab *v) {
    ig_pairset *p = calloc(1, sizeof *p);
    if (!p || !(p->e = calloc(1024, sizeof *p->e))) {
        free(p);
        return NULL;
    }
    p->mask = 1023;
    size_t n = 0;
    for (int32_t t = 0; t < v->n; t++) {
        const char *s = v->text[t];
        size_t len = v->len[t], prev = 0, prev_len = 0;
        for (size_t off = 0; off < len;) {
            size_t l = ig_utf8_sym_len(s + off, len - off);
            if (off && !pair_add(p, &n, pair_key(s + prev, prev_len, s + off, l))) {
                ig_spm_pairs_free(p);
                return NULL;
            }
            prev = off;
            prev_len = l;
            off += l;
        }
    }
    return p;
}

void ig_spm_pairs_free(ig_pairset *p) {
    if (!p) return;
    free(p->e);
    free(p);
}

typedef struct ssym {
    size_t off;
    int32_t prev, next;
    uint32_t n; /* 0 once merged into its left neighbour */
    int32_t tok;
} ssym;

typedef struct spm_work {
    ssym *sym;
    tok_heap heap;
} spm_work;

static void try_pair(const ig_vocab *v, spm_work *w, const char *text, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const ssym *L = &w->sym[l], *R = &w->sym[r];
    int32_t id = ig_strmap_get(&v->map, text + L->off, L->n + R->n); /* adjacent: contiguous */
    if (id < 0) return;
    tok_heap_push(&w->heap, (tok_pair){-(double)v->score[id], l, r, id, L->n, R->n});
}

static void merge_segment(const ig_vocab *v, spm_work *w, const char *text, int32_t lo,
                          int32_t hi, ig_ids *out) {
    w->heap.n = 0;
    for (int32_t i = lo + 1; i < hi; i++) try_pair(v, w, text, i - 1, i);
    while (w->heap.n && !w->heap.oom) {
        tok_pair g = tok_heap_pop(&w->heap);
        ssym *L = &w->sym[g.left], *R = &w->sym[g.right];
        if (!L->n || !R->n || L->n != g.ln || R->n != g.rn) continue; /* stale */
        L->n += R->n;
        R->n = 0;
        L->tok = g.res;
        L->next = R->next;
        if (R->next >= 0) w->sym[R->next].prev = g.left;
        try_pair(v, w, text, L->prev, g.left);
        try_pair(v, w, text, g.left, L->next);
    }
    for (int32_t i = lo; i >= 0 && !w->heap.oom; i = w->sym[i].next) {
        const ssym *y = &w->sym[i];
        int32_t id = y->tok >= 0 ? y->tok : ig_strmap_get(&v->map, text + y->off, y->n);
        if (id >= 0) {
            ig_ids_push(out, id);
            continue;
        }
        for (uint32_t k = 0; k < y->n; k++) {
            int32_t b = v->spm_byte[(uint8_t)text[y->off + k]];
            if (b >= 0) ig_ids_push(out, b);
        }
    }
}

void ig_spm_tokenize(const ig_vocab *v, const char *text, size_t len, ig_ids *out) {
    if (len == 0) return;
    spm_work w = {0};
    w.sym = len <= INT32_MAX ? malloc(len * sizeof *w.sym) : NULL;
    if (!w.sym) {
        ig_err(INGOT_ERR_NOMEM, "tokenize: out of memory");
        out->failed = true;
        return;
    }
    /* Symbols of one segment link only to each other: prev of the first and
     * next of the last are -1. */
    int32_t n = 0, lo = 0;
    size_t prev_len = 0;
    for (size_t off = 0; off < len && !w.heap.oom;) {
        size_t l = ig_utf8_sym_len(text + off, len - off);
        bool cut = n > 0 && !pair_has(v->spm_pairs, pair_key(text + w.sym[n - 1].off, prev_len,
                                                              text + off, l));
        if (cut) {
            w.sym[n - 1].next = -1;
            merge_segment(v, &w, text, lo, n, out);
            lo = n;
        }
        w.sym[n] = (ssym){off, n > lo ? n - 1 : -1, -1, (uint32_t)l, -1};
        if (n > lo) w.sym[n - 1].next = n;
        prev_len = l;
        off += l;
        n++;
    }
    if (!w.heap.oom && n > lo) merge_segment(v, &w, text, lo, n, out);
    if (w.heap.oom) {
        ig_err(INGOT_ERR_NOMEM, "tokenize: out of memory");
        out->failed = true;
    }
    free(w.sym);
    free(w.heap.a);
}
