/* Pieces shared by the tokenizer's source files (not used outside
 * src/tokenizer/). The algorithms follow llama.cpp's llama-vocab.cpp so that
 * ids agree with it token for token; comments mark where we deviate. */
#ifndef INGOT_TOK_INTERNAL_H
#define INGOT_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* Token attributes, derived from tokenizer.ggml.token_type (same bit values
 * as llama.cpp's llama_token_attr so the rules read the same). */
enum {
    IG_ATTR_UNDEFINED = 0,
    IG_ATTR_UNKNOWN = 1 << 0,
    IG_ATTR_UNUSED = 1 << 1,
    IG_ATTR_NORMAL = 1 << 2,
    IG_ATTR_CONTROL = 1 << 3,
    IG_ATTR_USER_DEFINED = 1 << 4,
    IG_ATTR_BYTE = 1 << 5,
    IG_ATTR_LSTRIP = 1 << 7,
    IG_ATTR_RSTRIP = 1 << 8,
};

typedef enum { IG_VOCAB_SPM, IG_VOCAB_BPE } ig_vocab_type;

/* ---- growable arrays ------------------------------------------------- */

typedef struct ig_ids {
    int32_t *v;
    int64_t n, cap;
    bool failed; /* incomplete result; the thread's error says why */
} ig_ids;

bool ig_ids_grow(ig_ids *a);

static inline void ig_ids_push(ig_ids *a, int32_t id) {
    if (a->n == a->cap && !ig_ids_grow(a)) return;
    a->v[a->n++] = id;
}

/* A piece of text: [off, off + len) of some buffer. `raw`: not valid UTF-8
 * (kept away from the regexes, which only take valid text). */
typedef struct ig_span {
    size_t off, len;
    bool raw;
} ig_span;

typedef struct ig_spans {
    ig_span *v;
    size_t n, cap;
} ig_spans;

bool ig_spans_push(ig_spans *s, size_t off, size_t len, bool raw);

/* ---- hashing ----------------------------------------------------------- */

uint64_t ig_hash(const void *p, size_t n);

/* Open-addressing map from byte strings (stored elsewhere, must outlive the
 * map) to int32 values. */
typedef struct ig_strmap {
    struct ig_strmap_ent {
        const char *key;
        uint32_t len;
        int32_t val; /* -1: empty slot */
    } *ent;
    size_t mask, n;
} ig_strmap;

bool ig_strmap_init(ig_strmap *m, size_t expected);
void ig_strmap_free(ig_strmap *m);
/* -1 when missing. */
int32_t ig_strmap_get(const ig_strmap *m, const char *s, size_t len);
/* Insert unless present; returns the value now stored (the old one when the
 * key was already there), -2 on allocation failure. */
int32_t ig_strmap_put(ig_strmap *m, const char *s, size_t len, int32_t val);

/* ---- UTF-8 ----------------------------------------------------------- */

/* Length of the well-formed UTF-8 character at p (n bytes available):
 * > 0 the character's length; 0 when p[0..n) is a proper prefix of a valid
 * character (more bytes may complete it); -1 when p[0] cannot start a valid
 * character given what follows. Overlongs, surrogates and > U+10FFFF are
 * invalid (the same rules PCRE2 applies). */
int ig_utf8_char(const uint8_t *p, size_t n);

/* Length of the character at p for splitting text into symbols: a valid
 * character, else one byte. (llama.cpp goes by the lead byte alone, so an
 * invalid lead swallows the bytes after it, an escaped space included; on
 * valid UTF-8 the two agree.) */
static inline size_t ig_utf8_sym_len(const char *p, size_t n) {
    if ((uint8_t)*p < 0x80) return 1;
    int l = ig_utf8_char((const uint8_t *)p, n);
    return l > 0 ? (size_t)l : 1;
}

/* ---- pre-tokenizer (regex splitting, pretok.c) ------------------------ */

typedef struct ig_pretok ig_pretok;

#define IG_PRE_MAX_NAMES 14
enum { IG_PRE_IGNORE_MERGES = 1, IG_PRE_ADD_BOS = 2, IG_PRE_NO_BOS = 4 };

/* One of llama.cpp's pre-tokenizer types: the tokenizer.ggml.pre names that
 * select it, its regexes and the vocab defaults it implies. */
typedef struct ig_pretok_def {
    const char *names[IG_PRE_MAX_NAMES];
    const char *const *patterns;
    int n_patterns;
    int flags;
} ig_pretok_def;

/* NULL for a name ingot does not know. */
const ig_pretok_def *ig_pretok_find(const char *name);

/* Compile a list of regexes (llama.cpp syntax, see pretok.c for the \s
 * rewrite). */
ingot_status ig_pretok_new(const char *const *patterns, int n, ig_pretok **out);
void ig_pretok_free(ig_pretok *p);
/* Split text into pieces (appended to out) the way llama.cpp's
 * unicode_regex_split does: each regex in turn splits every piece into its
 * matches and the gaps between them. false (thread error set) on failure. */
bool ig_pretok_split(const ig_pretok *p, const char *text, size_t len, ig_spans *out);

/* ---- byte-level BPE (bpe.c) ------------------------------------------ */

typedef struct ig_bpe ig_bpe;

/* Merges "a b" in rank order; tokens give the vocab. */
ingot_status ig_bpe_new(const char *path, const char *const *tok_text, const uint32_t *tok_len,
                        int32_t n_tok, const ig_strmap *tok_map, const gguf_str *merges,
                        uint64_t n_merges, ig_bpe **out);
void ig_bpe_free(ig_bpe *b);
/* Tokenize one fragment of raw text (no special tokens inside). */
void ig_bpe_tokenize(const ig_vocab *v, const char *text, size_t len, ig_ids *out);

/* GPT-2's map from bytes to printable code points (< 324). */
uint32_t ig_byte_to_cpt(uint8_t b);

/* ---- SentencePiece-style BPE (spm.c) ---------------------------------- */

/* `text` already has spaces escaped as U+2581 (and the prefix space). */
void ig_spm_tokenize(const ig_vocab *v, const char *text, size_t len, ig_ids *out);

/* Pairs of characters that are adjacent in some token (spm.c). */
typedef struct ig_pairset ig_pairset;
ig_pairset *ig_spm_pairs_new(const ig_vocab *v);
void ig_spm_pairs_free(ig_pairset *p);

/* ---- the vocabulary ---------------------------------------------------- */

struct ig_vocab {
    ig_vocab_type type;
    char *model;    /* tokenizer.ggml.model */
    char *pre;      /* pre-tokenizer rules in use */
    int32_t n;
    const char **text; /* token text (NUL-terminated, into `arena`) */
    uint32_t *len;
    float *score;
    uint16_t *attr;
    char *arena;
    ig_strmap map; /* text -> id */

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;

    int32_t *eog; /* sorted */
    int n_eog;
    int32_t *special; /* control / user-defined / unknown, longest first */
    int32_t n_special;

    /* token_to_piece(special = true) for every token */
    char *piece;
    uint64_t *piece_off;
    uint32_t *piece_len;

    int32_t spm_byte[256]; /* SPM byte fallback: <0xNN>, else the byte, else unk */
    ig_pairset *spm_pairs;

    ig_bpe *bpe;
    ig_pretok *pretok;
};


/* A candidate merge of two adjacent symbols for the BPE loops of both
 * tokenizer families. Lower key first (BPE: the merge's rank; SPM: minus
 * the merged piece's score), then the leftmost pair, so equal candidates
 * merge left to right as llama.cpp does. ln/rn are the symbols' lengths
 * when queued: a popped pair whose symbols changed since is stale. */
typedef struct tok_pair {
    double key;
    int32_t left, right, res;
    uint32_t ln, rn;
} tok_pair;

typedef struct tok_heap {
    tok_pair *a;
    size_t n, cap;
    bool oom; /* a push failed: the caller reports out of memory */
} tok_heap;

void tok_heap_push(tok_heap *h, tok_pair p);
tok_pair tok_heap_pop(tok_heap *h); /* h->n must be > 0 */

#endif
