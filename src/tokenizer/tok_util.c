/* Small containers and UTF-8 helpers used by the tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "tokenizer/tok_internal.h"

bool ig_ids_grow(ig_ids *a) {
    if (a->failed) return false;
    int64_t cap = a->cap ? a->cap * 2 : 64;
    int32_t *v = realloc(a->v, (size_t)cap * sizeof *v);
    if (!v) {
        ig_err(INGOT_ERR_NOMEM, "tokenize: out of memory");
        a->failed = true;
        return false;
    }
    a->v = v;
    a->cap = cap;
    return true;
}

bool ig_spans_push(ig_spans *s, size_t off, size_t len, bool raw) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        ig_span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (ig_span){off, len, raw};
    return true;
}

uint64_t ig_hash(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, s, 8);
        h = (h ^ k) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) k |= (uint64_t)s[i] << (8 * i);
    h = (h ^ k) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* ---- string map ---------------------------------------------------------- */

static bool strmap_alloc(ig_strmap *m, size_t cap) {
    m->ent = malloc(cap * sizeof *m->ent);
    if (!m->ent) return false;
    for (size_t i = 0; i < cap; i++) m->ent[i].val = -1;
    m->mask = cap - 1;
    m->n = 0;
    return true;
}

bool ig_strmap_init(ig_strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    return strmap_alloc(m, cap);
}

void ig_strmap_free(ig_strmap *m) {
    free(m->ent);
    m->ent = NULL;
    m->mask = m->n = 0;
}

int32_t ig_strmap_get(const ig_strmap *m, const char *s, size_t len) {
    if (!m->ent) return -1;
    size_t i = (size_t)ig_hash(s, len) & m->mask;
    for (;;) {
        const struct ig_strmap_ent *e = &m->ent[i];
        if (e->val < 0) return -1;
        if (e->len == len && memcmp(e->key, s, len) == 0) return e->val;
        i = (i + 1) & m->mask;
    }
}

static void strmap_place(ig_strmap *m, const char *s, uint32_t len, int32_t val) {
    size_t i = (size_t)ig_hash(s, len) & m->mask;
    while (m->ent[i].val >= 0) i = (i + 1) & m->mask;
    m->ent[i] = (struct ig_strmap_ent){s, len, val};
    m->n++;
}

int32_t ig_strmap_put(ig_strmap *m, const char *s, size_t len, int32_t val) {
    int32_t old = ig_strmap_get(m, s, len);
    if (old >= 0) return old;
    if ((m->n + 1) * 2 > m->mask + 1) { /* keep the load under one half */
        ig_strmap old_m = *m;
        if (!strmap_alloc(m, (old_m.mask + 1) * 2)) {
            *m = old_m;
            return -2;
        }
        for (size_t i = 0; i <= old_m.mask; i++)
            if (old_m.ent[i].val >= 0)
                strmap_place(m, old_m.ent[i].key, old_m.ent[i].len, old_m.ent[i].val);
        free(old_m.ent);
    }
    strmap_place(m, s, (uint32_t)len, val);
    return val;
}

/* ---- UTF-8 ----------------------------------------------------------------- */

int ig_utf8_char(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;      /* overlong */
        else if (c == 0xed) hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;      /* overlong */
        else if (c == 0xf4) hi = 0x8f; /* > U+10FFFF */
    } else {
        return -1;
    }
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return 0;
        uint8_t b = p[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return -1;
    }
    return len;
}

/* ---- merge candidates: a binary min-heap ---------------------------------- */

static inline bool pair_before(const tok_pair *a, const tok_pair *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

void tok_heap_push(tok_heap *h, tok_pair g) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        tok_pair *a = realloc(h->a, cap * sizeof *a);
        if (!a) {
            h->oom = true;
            return;
        }
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pair_before(&g, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = g;
}

tok_pair tok_heap_pop(tok_heap *h) {
    tok_pair top = h->a[0], last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&h->a[c + 1], &h->a[c])) c++;
        if (!pair_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n) h->a[i] = last;
    return top;
}
