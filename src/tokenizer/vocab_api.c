/* The public tokenizer functions (ingot.h) over the model's vocabulary, and
 * the streaming decoder. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"
#include "tokenizer/tok_internal.h"

static const ig_vocab *vocab_of(const ingot_model *m) {
    if (m && m->vocab) return m->vocab;
    ig_err(INGOT_ERR_INVALID_ARG, "%s: model has no vocabulary", m && m->path ? m->path : "model");
    return NULL;
}

int32_t ingot_n_vocab(const ingot_model *m) {
    const ig_vocab *v = vocab_of(m);
    return v ? ig_vocab_n(v) : 0;
}

int32_t ingot_token_bos(const ingot_model *m) {
    const ig_vocab *v = vocab_of(m);
    return v ? ig_vocab_bos(v) : -1;
}

int32_t ingot_token_eos(const ingot_model *m) {
    const ig_vocab *v = vocab_of(m);
    return v ? ig_vocab_eos(v) : -1;
}

int32_t ingot_token_eot(const ingot_model *m) {
    const ig_vocab *v = vocab_of(m);
    return v ? ig_vocab_eot(v) : -1;
}

bool ingot_add_bos(const ingot_model *m) {
    const ig_vocab *v = vocab_of(m);
    return v && ig_vocab_add_bos(v);
}

bool ingot_token_is_eog(const ingot_model *m, int32_t id) {
    const ig_vocab *v = vocab_of(m);
    return v && ig_vocab_is_eog(v, id);
}

int64_t ingot_tokenize(const ingot_model *m, const char *text, size_t len, bool add_special,
                       bool parse_special, int32_t *out, int64_t cap) {
    const ig_vocab *v = vocab_of(m);
    return v ? ig_tokenize(v, text, len, add_special, parse_special, out, cap) : -1;
}

int32_t ingot_token_to_piece(const ingot_model *m, int32_t id, bool special, char *buf,
                             int32_t cap) {
    const ig_vocab *v = vocab_of(m);
    return v ? ig_token_to_piece(v, id, special, buf, cap) : -1;
}

const char *ingot_token_text(const ingot_model *m, int32_t id) {
    const ig_vocab *v = vocab_of(m);
    return v ? ig_vocab_text(v, id) : NULL;
}

/* ---- streaming decoder ---------------------------------------------------- */

struct ingot_detok {
    const ig_vocab *v;
    bool special;
    char *buf; /* bytes not handed out yet */
    size_t n, cap;
};

ingot_detok *ingot_detok_new(const ingot_model *m, bool special) {
    const ig_vocab *v = vocab_of(m);
    if (!v) return NULL;
    ingot_detok *d = calloc(1, sizeof *d);
    if (!d) {
        ig_err(INGOT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    d->v = v;
    d->special = special;
    return d;
}

/* Hand out whole characters from the front of the buffer, as many as fit in
 * cap. An incomplete character at the end waits for more bytes (unless
 * flushing); bytes that can never become a valid character go out one by one
 * so that a bad sequence cannot hold the stream up. */
static size_t drain(ingot_detok *d, char *out, size_t cap, bool flush) {
    size_t i = 0;
    while (i < d->n) {
        int l = ig_utf8_char((const uint8_t *)d->buf + i, d->n - i);
        size_t step = l > 0 ? (size_t)l : l < 0 ? 1 : flush ? d->n - i : 0;
        if (!step || i + step > cap) break;
        i += step;
    }
    if (i) {
        memcpy(out, d->buf, i);
        memmove(d->buf, d->buf + i, d->n - i);
        d->n -= i;
    }
    return i;
}

size_t ingot_detok_push(ingot_detok *d, int32_t id, char *out, size_t cap) {
    if (!d) return 0;
    int32_t n = ig_token_to_piece(d->v, id, d->special, NULL, 0);
    if (n < 0) return 0; /* bad id: error set, nothing to add */
    if (d->n + (size_t)n > d->cap) {
        size_t c = d->cap ? d->cap : 64;
        while (c < d->n + (size_t)n) c *= 2;
        char *b = realloc(d->buf, c);
        if (!b) {
            ig_err(INGOT_ERR_NOMEM, "out of memory");
            return drain(d, out, cap, false);
        }
        d->buf = b;
        d->cap = c;
    }
    ig_token_to_piece(d->v, id, d->special, d->buf + d->n, n);
    d->n += (size_t)n;
    return drain(d, out, cap, false);
}

size_t ingot_detok_flush(ingot_detok *d, char *out, size_t cap) {
    return d ? drain(d, out, cap, true) : 0;
}

void ingot_detok_free(ingot_detok *d) {
    if (!d) return;
    free(d->buf);
    free(d);
}
