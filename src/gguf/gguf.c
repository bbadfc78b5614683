/* GGUF reader.
 *
 * The input is untrusted. Every length and count is checked against the
 * bytes that remain before it is used, and the metadata is parsed twice:
 * a first pass validates everything without allocating, so that what the
 * second pass allocates is proportional to what the file really contains,
 * never to what a header or array length claims. Nesting is bounded, and
 * nothing outside the buffer is ever read. Strings are copied
 * (NUL-terminated) into an arena freed in one go by gguf_close(). */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "quant/quant.h"

/* Smallest encodings, used to reject counts before allocating for them. */
#define MIN_KV_BYTES 13      /* key length (8) + type (4) + 1-byte value   */
#define MIN_TINFO_BYTES 32   /* name length + n_dims + one dim + type + offset */
#define MIN_STR_BYTES 8
#define MIN_ARR_BYTES 12     /* element type + length */
#define HEADER_BYTES 24

/* ---- arena ------------------------------------------------------------ */

typedef struct ablock {
    struct ablock *next;
    size_t used, cap;
} ablock;

#define ABLOCK_HDR ((sizeof(ablock) + 15) & ~(size_t)15)
#define ABLOCK_MIN ((size_t)64 << 10)

static void *arena_alloc(void **arena, size_t n, size_t align) {
    ablock *b = *arena;
    if (b) {
        size_t at = (b->used + align - 1) & ~(align - 1);
        if (at <= b->cap && b->cap - at >= n) {
            b->used = at + n;
            return (char *)b + ABLOCK_HDR + at;
        }
    }
    /* Grow geometrically so a file with millions of strings costs few mallocs. */
    size_t cap = b ? b->cap * 2 : ABLOCK_MIN;
    if (cap > ((size_t)64 << 20)) cap = (size_t)64 << 20;
    if (cap < n) cap = n;
    if (cap > SIZE_MAX - ABLOCK_HDR) return NULL;
    ablock *nb = malloc(ABLOCK_HDR + cap);
    if (!nb) return NULL;
    nb->cap = cap;
    nb->used = n;
    if (b && b->cap - b->used > cap - n) {
        /* The old block still has more room: keep filling it first. */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        *arena = nb;
    }
    return (char *)nb + ABLOCK_HDR;
}

static void arena_free(void *arena) {
    ablock *b = arena;
    while (b) {
        ablock *next = b->next;
        free(b);
        b = next;
    }
}

/* ---- little-endian loads ------------------------------------------------ */

static inline uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ld64(const uint8_t *p) { return ld32(p) | ((uint64_t)ld32(p + 4) << 32); }

size_t gguf_scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

const char *gguf_vtype_name(uint32_t t) {
    static const char *names[] = {"u8",  "i8",  "u16",    "i16",   "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Decode one packed scalar into a value (integers widened, floats to double). */
static void load_scalar(gguf_value *v, uint32_t t, const uint8_t *p) {
    v->type = t;
    switch (t) {
    case GGUF_U8: v->u64 = p[0]; break;
    case GGUF_I8: v->i64 = (int8_t)p[0]; break;
    case GGUF_U16: v->u64 = ld16(p); break;
    case GGUF_I16: v->i64 = (int16_t)ld16(p); break;
    case GGUF_U32: v->u64 = ld32(p); break;
    case GGUF_I32: v->i64 = (int32_t)ld32(p); break;
    case GGUF_U64: v->u64 = ld64(p); break;
    case GGUF_I64: v->i64 = (int64_t)ld64(p); break;
    case GGUF_BOOL: v->b = p[0] != 0; break;
    case GGUF_F32: {
        uint32_t bits = ld32(p);
        float f;
        memcpy(&f, &bits, 4);
        v->f64 = f;
        break;
    }
    case GGUF_F64: {
        uint64_t bits = ld64(p);
        memcpy(&v->f64, &bits, 8);
        break;
    }
    }
}

/* ---- hash index over keys / tensor names -------------------------------- */

static uint64_t hash_bytes(const char *s, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static bool index_init(void **arena, gguf_index *ix, int64_t n) {
    uint64_t cap = 8;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    ix->slot = arena_alloc(arena, cap * sizeof(int64_t), 8);
    if (!ix->slot) return false;
    memset(ix->slot, 0, cap * sizeof(int64_t));
    ix->mask = cap - 1;
    return true;
}

/* Insert entry `idx` unless its name is taken: returns -1 on success, else
 * the index that already has it. Entries are structs of `stride` bytes whose
 * first member is the gguf_str name (gguf_kv, gguf_tensor). */
_Static_assert(offsetof(gguf_kv, key) == 0, "index needs the name first");
_Static_assert(offsetof(gguf_tensor, name) == 0, "index needs the name first");

static int64_t index_insert(gguf_index *ix, const char *base, size_t stride, int64_t idx) {
    const gguf_str *s = (const gguf_str *)(base + stride * (size_t)idx);
    uint64_t h = hash_bytes(s->s, s->len) & ix->mask;
    for (;; h = (h + 1) & ix->mask) {
        int64_t e = ix->slot[h];
        if (!e) {
            ix->slot[h] = idx + 1;
            return -1;
        }
        const gguf_str *o = (const gguf_str *)(base + stride * (size_t)(e - 1));
        if (o->len == s->len && !memcmp(o->s, s->s, s->len)) return e - 1;
    }
}

static int64_t index_find(const gguf_index *ix, const char *base, size_t stride, const char *key) {
    if (!ix->slot || !key) return -1;
    uint64_t len = strlen(key);
    uint64_t h = hash_bytes(key, len) & ix->mask;
    for (;; h = (h + 1) & ix->mask) {
        int64_t e = ix->slot[h];
        if (!e) return -1;
        const gguf_str *o = (const gguf_str *)(base + stride * (size_t)(e - 1));
        if (o->len == len && !memcmp(o->s, key, len)) return e - 1;
    }
}

/* ---- parser ------------------------------------------------------------- */

typedef struct parser {
    const uint8_t *b;
    uint64_t size, pos;
    const char *name;
    gguf *g;
    /* First pass: validate only, allocate nothing, so that allocations are
     * sized by what the file really holds rather than by what it claims. */
    bool dry;
    char where[256]; /* "key #3 'general.name' at offset 120" */
} parser;

static ingot_status perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ingot_status perr(parser *p, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->where[0]) return ig_err(INGOT_ERR_FORMAT, "%s: %s: %s", p->name, p->where, msg);
    return ig_err(INGOT_ERR_FORMAT, "%s: %s", p->name, msg);
}

static ingot_status nomem(parser *p) {
    return ig_err(INGOT_ERR_NOMEM, "%s: out of memory while parsing", p->name);
}

static inline uint64_t left(const parser *p) { return p->size - p->pos; }

typedef unsigned long long ull;

/* `elem` >= 0: the problem is in that array element ("element 5 at offset
 * 400: ..."); -1: p->where already says where. */
static ingot_status elem_err(parser *p, int64_t elem, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ingot_status elem_err(parser *p, int64_t elem, uint64_t at, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (elem >= 0) return perr(p, "element %lld at offset %llu: %s", (long long)elem, (ull)at, msg);
    return perr(p, "%s", msg);
}

#define past_end(p, elem, at, fmt, ...) \
    elem_err(p, elem, at, fmt " runs past end of file (size %llu)", __VA_ARGS__, (ull)(p)->size)

static ingot_status rd_u32(parser *p, uint32_t *v, int64_t elem, const char *field) {
    if (left(p) < 4) return past_end(p, elem, p->pos, "%s", field);
    *v = ld32(p->b + p->pos);
    p->pos += 4;
    return INGOT_OK;
}

static ingot_status rd_u64(parser *p, uint64_t *v, int64_t elem, const char *field) {
    if (left(p) < 8) return past_end(p, elem, p->pos, "%s", field);
    *v = ld64(p->b + p->pos);
    p->pos += 8;
    return INGOT_OK;
}

static ingot_status rd_str(parser *p, gguf_str *out, int64_t elem) {
    uint64_t at = p->pos, len = 0;
    ingot_status st = rd_u64(p, &len, elem, "string length");
    if (st) return st;
    if (len > left(p)) return past_end(p, elem, at, "string length %llu", (ull)len);
    if (p->dry) { /* not NUL-terminated: only good for messages */
        out->s = (const char *)p->b + p->pos;
        out->len = len;
        p->pos += len;
        return INGOT_OK;
    }
    char *s = arena_alloc(&p->g->arena, (size_t)len + 1, 1);
    if (!s) return nomem(p);
    memcpy(s, p->b + p->pos, (size_t)len);
    s[len] = 0;
    p->pos += len;
    out->s = s;
    out->len = len;
    return INGOT_OK;
}

#define GGUF_MAX_DEPTH 8

/* Body of an array (element type and length, then the elements). `depth` is
 * the nesting level of this array: 1 for an array that is a kv's value. */
static ingot_status rd_array(parser *p, gguf_value *v, int depth, int64_t elem) {
    uint64_t at = p->pos;
    if (depth > GGUF_MAX_DEPTH)
        return elem_err(p, elem, at, "arrays nested deeper than %d levels", GGUF_MAX_DEPTH);
    uint32_t et = 0;
    uint64_t n = 0;
    ingot_status st = rd_u32(p, &et, elem, "array element type");
    if (!st) st = rd_u64(p, &n, elem, "array length");
    if (st) return st;
    v->type = GGUF_ARRAY;
    v->arr.type = et;
    v->arr.n = n;
    v->arr.raw = NULL;
    v->arr.strs = NULL;
    v->arr.vals = NULL;
    size_t es = gguf_scalar_size(et);
    uint64_t min = es ? es : et == GGUF_STRING ? MIN_STR_BYTES : et == GGUF_ARRAY ? MIN_ARR_BYTES : 0;
    if (!min) return elem_err(p, elem, at, "unknown array element type %u", et);
    if (n > left(p) / min)
        return past_end(p, elem, at, "array length %llu (%s elements)", (ull)n, gguf_vtype_name(et));
    if (es) {
        v->arr.raw = p->b + p->pos;
        p->pos += n * es;
        return INGOT_OK;
    }
    if (et == GGUF_STRING) {
        gguf_str scratch, *strs = NULL;
        if (!p->dry) {
            strs = arena_alloc(&p->g->arena, (size_t)n * sizeof *strs, 8);
            if (!strs && n) return nomem(p);
            v->arr.strs = strs;
        }
        for (uint64_t i = 0; i < n; i++)
            if ((st = rd_str(p, strs ? &strs[i] : &scratch, (int64_t)i))) return st;
        return INGOT_OK;
    }
    gguf_value scratch, *vals = NULL;
    if (!p->dry) {
        vals = arena_alloc(&p->g->arena, (size_t)n * sizeof *vals, 8);
        if (!vals && n) return nomem(p);
        v->arr.vals = vals;
    }
    for (uint64_t i = 0; i < n; i++)
        if ((st = rd_array(p, vals ? &vals[i] : &scratch, depth + 1, (int64_t)i))) return st;
    return INGOT_OK;
}

static ingot_status rd_value(parser *p, gguf_value *v, uint32_t type) {
    size_t es = gguf_scalar_size(type);
    if (es) {
        if (left(p) < es) return past_end(p, -1, p->pos, "%s value", gguf_vtype_name(type));
        load_scalar(v, type, p->b + p->pos);
        p->pos += es;
        return INGOT_OK;
    }
    if (type == GGUF_STRING) {
        v->type = GGUF_STRING;
        return rd_str(p, &v->str, -1);
    }
    if (type == GGUF_ARRAY) return rd_array(p, v, 1, -1);
    return perr(p, "unknown value type %u", type);
}

static ingot_status parse_header(parser *p) {
    gguf *g = p->g;
    if (p->size < 4)
        return perr(p, "not a GGUF file: %llu bytes, header runs past end of file", (ull)p->size);
    if (memcmp(p->b, "GGUF", 4)) {
        char shown[40];
        ig_show(shown, sizeof shown, (const char *)p->b, 4);
        return perr(p, "bad magic '%s' (not a GGUF file)", shown);
    }
    if (p->size < 8) return perr(p, "header runs past end of file (size %llu)", (ull)p->size);
    g->version = ld32(p->b + 4);
    if (g->version == 1)
        return perr(p, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (g->version != 2 && g->version != 3) {
        uint32_t sw = __builtin_bswap32(g->version);
        if (sw == 2 || sw == 3)
            return perr(p, "big-endian GGUF file (version %u) is not supported", sw);
        return perr(p, "unsupported GGUF version %u (only versions 2 and 3)", g->version);
    }
    if (p->size < HEADER_BYTES)
        return perr(p, "header runs past end of file (size %llu, header needs %d bytes)",
                    (ull)p->size, HEADER_BYTES);
    uint64_t nt = ld64(p->b + 8), nkv = ld64(p->b + 16);
    p->pos = HEADER_BYTES;
    uint64_t rest = left(p);
    if (nkv > rest / MIN_KV_BYTES)
        return perr(p, "header: %llu key/value pairs cannot fit in the %llu bytes that follow "
                    "(truncated or corrupt file)", (ull)nkv, (ull)rest);
    if (nt > rest / MIN_TINFO_BYTES || nkv * MIN_KV_BYTES + nt * MIN_TINFO_BYTES > rest)
        return perr(p, "header: %llu tensor infos cannot fit in the %llu bytes that follow "
                    "(truncated or corrupt file)", (ull)nt, (ull)rest);
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    return INGOT_OK;
}

static ingot_status parse_kvs(parser *p) {
    gguf *g = p->g;
    gguf_kv scratch;
    if (!p->dry) {
        g->kv = arena_alloc(&g->arena, (size_t)g->n_kv * sizeof *g->kv, 8);
        if (!g->kv && g->n_kv) return nomem(p);
        if (!index_init(&g->arena, &g->kv_index, g->n_kv)) return nomem(p);
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = p->dry ? &scratch : &g->kv[i];
        uint64_t at = p->pos;
        snprintf(p->where, sizeof p->where, "key #%lld at offset %llu", (long long)i, (ull)at);
        ingot_status st = rd_str(p, &kv->key, -1);
        if (st) return st;
        char shown[168];
        ig_show(shown, sizeof shown, kv->key.s, kv->key.len);
        snprintf(p->where, sizeof p->where, "key #%lld '%s' at offset %llu", (long long)i, shown,
                 (ull)at);
        if (!p->dry) {
            int64_t dup = index_insert(&g->kv_index, (const char *)g->kv, sizeof *kv, i);
            if (dup >= 0) return perr(p, "duplicate key (also key #%lld)", (long long)dup);
        }
        uint32_t type = 0;
        if ((st = rd_u32(p, &type, -1, "value type"))) return st;
        if ((st = rd_value(p, &kv->val, type))) return st;
    }
    p->where[0] = 0;
    return INGOT_OK;
}

static ingot_status parse_alignment(parser *p) {
    gguf *g = p->g;
    g->alignment = 32;
    int64_t i = gguf_find(g, "general.alignment");
    if (i < 0) return INGOT_OK;
    const gguf_value *v = &g->kv[i].val;
    snprintf(p->where, sizeof p->where, "key #%lld 'general.alignment'", (long long)i);
    uint64_t a;
    switch (v->type) {
    case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64: a = v->u64; break;
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
        if (v->i64 <= 0) return perr(p, "alignment %lld is not a power of two", (long long)v->i64);
        a = (uint64_t)v->i64;
        break;
    default: return perr(p, "has type %s, expected an unsigned integer", gguf_vtype_name(v->type));
    }
    if (a == 0 || (a & (a - 1))) return perr(p, "alignment %llu is not a power of two", (ull)a);
    g->alignment = a;
    p->where[0] = 0;
    return INGOT_OK;
}

static ingot_status parse_tensor_infos(parser *p) {
    gguf *g = p->g;
    gguf_tensor scratch;
    if (!p->dry) {
        g->tensors = arena_alloc(&g->arena, (size_t)g->n_tensors * sizeof *g->tensors, 8);
        if (!g->tensors && g->n_tensors) return nomem(p);
        if (!index_init(&g->arena, &g->tensor_index, g->n_tensors)) return nomem(p);
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = p->dry ? &scratch : &g->tensors[i];
        uint64_t at = p->pos;
        snprintf(p->where, sizeof p->where, "tensor #%lld at offset %llu", (long long)i, (ull)at);
        ingot_status st = rd_str(p, &t->name, -1);
        if (st) return st;
        char shown[168];
        ig_show(shown, sizeof shown, t->name.s, t->name.len);
        snprintf(p->where, sizeof p->where, "tensor #%lld '%s' at offset %llu", (long long)i,
                 shown, (ull)at);
        if (!p->dry) {
            int64_t dup = index_insert(&g->tensor_index, (const char *)g->tensors, sizeof *t, i);
            if (dup >= 0)
                return perr(p, "duplicate tensor name (also tensor #%lld)", (long long)dup);
        }
        if ((st = rd_u32(p, &t->n_dims, -1, "n_dims"))) return st;
        if (t->n_dims < 1 || t->n_dims > 4) return perr(p, "n_dims %u is not in 1..4", t->n_dims);
        uint64_t nel = 1;
        for (uint32_t d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims) continue;
            uint64_t ne = 0;
            if ((st = rd_u64(p, &ne, -1, "dimension"))) return st;
            if (ne > INT64_MAX) return perr(p, "dimension %u is negative (%lld)", d, (long long)ne);
            if (ne == 0) return perr(p, "dimension %u is 0", d);
            if (!ig_mul_ok(nel, ne, &nel) || nel > INT64_MAX)
                return perr(p, "element count overflows (dimension %u is %llu)", d, (ull)ne);
            t->ne[d] = (int64_t)ne;
        }
        if ((st = rd_u32(p, &t->type, -1, "type"))) return st;
        const ig_type_traits *tr = ig_type_traits_get(t->type);
        if (!tr || tr->blck <= 0 || tr->type_size == 0)
            return perr(p, "unknown tensor type id %u", t->type);
        if (t->ne[0] % tr->blck)
            return perr(p, "row length %lld is not a multiple of the block size %lld of type %s",
                        (long long)t->ne[0], (long long)tr->blck, tr->name ? tr->name : "?");
        uint64_t nb = (uint64_t)(t->ne[0] / tr->blck);
        if (!ig_mul_ok(nb, tr->type_size, &nb) || !ig_mul_ok(nb, (uint64_t)t->ne[1], &nb) ||
            !ig_mul_ok(nb, (uint64_t)t->ne[2], &nb) || !ig_mul_ok(nb, (uint64_t)t->ne[3], &nb))
            return perr(p, "byte size overflows (%lld elements of type %s)", (long long)nel,
                        tr->name ? tr->name : "?");
        t->nbytes = nb;
        if ((st = rd_u64(p, &t->offset, -1, "data offset"))) return st;
    }
    p->where[0] = 0;
    return INGOT_OK;
}

typedef struct span {
    uint64_t start, end;
    int64_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static ingot_status check_tensor_data(parser *p) {
    gguf *g = p->g;
    /* The data section starts at the next multiple of the alignment. With no
     * tensors the padding may be missing (vocab-only files end right there). */
    uint64_t a = g->alignment, end = p->pos;
    if (end > UINT64_MAX - (a - 1)) return perr(p, "data section offset overflows");
    g->data_offset = (end + a - 1) & ~(a - 1);
    if (g->n_tensors == 0) return INGOT_OK;
    span *sp = malloc((size_t)g->n_tensors * sizeof *sp);
    if (!sp) return nomem(p);
    ingot_status st = INGOT_OK;
    bool sorted = true;
    char shown[168];
    for (int64_t i = 0; i < g->n_tensors && !st; i++) {
        gguf_tensor *t = &g->tensors[i];
        ig_show(shown, sizeof shown, t->name.s, t->name.len);
        snprintf(p->where, sizeof p->where, "tensor '%s'", shown);
        uint64_t s, e;
        if (t->offset % a)
            st = perr(p, "data offset %llu is not a multiple of the alignment %llu",
                      (ull)t->offset, (ull)a);
        else if (!ig_add_ok(g->data_offset, t->offset, &s) || !ig_add_ok(s, t->nbytes, &e))
            st = perr(p, "data offset %llu + %llu bytes runs past end of file (size %llu)",
                      (ull)t->offset, (ull)t->nbytes, (ull)p->size);
        else if (e > p->size)
            st = perr(p, "data [%llu, %llu) runs past end of file (size %llu)", (ull)s, (ull)e,
                      (ull)p->size);
        else {
            t->data = p->b + s;
            sp[i] = (span){s, e, i};
            if (i && s < sp[i - 1].start) sorted = false;
        }
    }
    if (!st) {
        if (!sorted) qsort(sp, (size_t)g->n_tensors, sizeof *sp, span_cmp);
        for (int64_t k = 1; k < g->n_tensors; k++) {
            if (sp[k].start >= sp[k - 1].end) continue;
            const gguf_tensor *t = &g->tensors[sp[k].idx], *o = &g->tensors[sp[k - 1].idx];
            /* Name the later tensor in file order, the other one in the text. */
            if (sp[k].idx < sp[k - 1].idx) {
                const gguf_tensor *tmp = t;
                t = o;
                o = tmp;
            }
            char oshown[168];
            ig_show(shown, sizeof shown, t->name.s, t->name.len);
            ig_show(oshown, sizeof oshown, o->name.s, o->name.len);
            snprintf(p->where, sizeof p->where, "tensor '%s'", shown);
            st = perr(p, "data [%llu, %llu) overlaps tensor '%s' [%llu, %llu)",
                      (ull)(g->data_offset + t->offset), (ull)(g->data_offset + t->offset + t->nbytes),
                      oshown, (ull)(g->data_offset + o->offset),
                      (ull)(g->data_offset + o->offset + o->nbytes));
            break;
        }
    }
    free(sp);
    p->where[0] = 0;
    return st;
}

ingot_status gguf_parse(const void *buf, size_t size, const char *name, gguf **out) {
    *out = NULL;
    if (!name) name = "<buffer>";
    if (!buf && size) return ig_err(INGOT_ERR_INVALID_ARG, "%s: NULL buffer", name);
    gguf *g = calloc(1, sizeof *g);
    if (!g) return ig_err(INGOT_ERR_NOMEM, "%s: out of memory", name);
    parser p = {.b = buf, .size = size, .pos = 0, .name = name, .g = g};
    size_t nl = strlen(name);
    char *path = arena_alloc(&g->arena, nl + 1, 1);
    ingot_status st = INGOT_OK;
    if (!path) st = nomem(&p);
    else {
        memcpy(path, name, nl + 1);
        g->path = path;
        g->buf = buf;
        g->size = size;
    }
    if (!st) st = parse_header(&p);
    p.dry = true;
    if (!st) st = parse_kvs(&p);
    if (!st) st = parse_tensor_infos(&p);
    p.dry = false;
    p.pos = HEADER_BYTES;
    if (!st) st = parse_kvs(&p);
    if (!st) st = parse_alignment(&p);
    if (!st) st = parse_tensor_infos(&p);
    if (!st) st = check_tensor_data(&p);
    if (st) {
        gguf_close(g);
        return st;
    }
    *out = g;
    return INGOT_OK;
}

ingot_status gguf_open(const char *path, gguf **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ig_err(INGOT_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ig_err(INGOT_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return ig_err(INGOT_ERR_IO, "%s: is a directory", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ig_err(INGOT_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size == 0) {
        close(fd);
        return ig_err(INGOT_ERR_FORMAT, "%s: empty file (not a GGUF file)", path);
    }
    if (size > SIZE_MAX) {
        close(fd);
        return ig_err(INGOT_ERR_IO, "%s: file too large to map", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return ig_err(INGOT_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    gguf *g;
    ingot_status st = gguf_parse(map, (size_t)size, path, &g);
    if (st) {
        munmap(map, (size_t)size);
        return st;
    }
    g->mapping = map;
    g->map_size = size;
    *out = g;
    return INGOT_OK;
}

void gguf_close(gguf *g) {
    if (!g) return;
    if (g->mapping) munmap(g->mapping, (size_t)g->map_size);
    arena_free(g->arena);
    free(g);
}

/* ---- lookups and typed getters ------------------------------------------ */

int64_t gguf_find(const gguf *g, const char *key) {
    if (!g) return -1;
    return index_find(&g->kv_index, (const char *)g->kv, sizeof(gguf_kv), key);
}

const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name) {
    if (!g) return NULL;
    int64_t i = index_find(&g->tensor_index, (const char *)g->tensors,
                           sizeof(gguf_tensor), name);
    return i < 0 ? NULL : &g->tensors[i];
}

const gguf_value *gguf_get_val(const gguf *g, const char *key) {
    int64_t i = gguf_find(g, key);
    return i < 0 ? NULL : &g->kv[i].val;
}

static bool is_unsigned(uint32_t t) {
    return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64;
}
static bool is_signed(uint32_t t) {
    return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64;
}

bool gguf_get_u32(const gguf *g, const char *key, uint32_t *out) {
    const gguf_value *v = gguf_get_val(g, key);
    if (!v) return false;
    if (is_unsigned(v->type) && v->u64 <= UINT32_MAX) *out = (uint32_t)v->u64;
    else if (is_signed(v->type) && v->i64 >= 0 && v->i64 <= (int64_t)UINT32_MAX)
        *out = (uint32_t)v->i64;
    else return false;
    return true;
}

bool gguf_get_i32(const gguf *g, const char *key, int32_t *out) {
    const gguf_value *v = gguf_get_val(g, key);
    if (!v) return false;
    if (is_unsigned(v->type) && v->u64 <= INT32_MAX) *out = (int32_t)v->u64;
    else if (is_signed(v->type) && v->i64 >= INT32_MIN && v->i64 <= INT32_MAX)
        *out = (int32_t)v->i64;
    else return false;
    return true;
}

bool gguf_get_f32(const gguf *g, const char *key, float *out) {
    const gguf_value *v = gguf_get_val(g, key);
    if (!v || (v->type != GGUF_F32 && v->type != GGUF_F64)) return false;
    *out = (float)v->f64;
    return true;
}

bool gguf_get_bool(const gguf *g, const char *key, bool *out) {
    const gguf_value *v = gguf_get_val(g, key);
    if (!v || v->type != GGUF_BOOL) return false;
    *out = v->b;
    return true;
}

bool gguf_get_str(const gguf *g, const char *key, const char **out) {
    const gguf_value *v = gguf_get_val(g, key);
    if (!v || v->type != GGUF_STRING) return false;
    *out = v->str.s;
    return true;
}

bool gguf_get_arr(const gguf *g, const char *key, uint32_t *elem_type, uint64_t *n) {
    const gguf_value *v = gguf_get_val(g, key);
    if (!v || v->type != GGUF_ARRAY) return false;
    if (elem_type) *elem_type = v->arr.type;
    if (n) *n = v->arr.n;
    return true;
}

static bool arr_elem(const gguf_value *v, uint64_t i, gguf_value *e) {
    if (!v || v->type != GGUF_ARRAY || i >= v->arr.n || !gguf_scalar_size(v->arr.type)) return false;
    load_scalar(e, v->arr.type, (const uint8_t *)v->arr.raw + i * gguf_scalar_size(v->arr.type));
    return true;
}

float gguf_arr_f32(const gguf_value *v, uint64_t i) {
    gguf_value e;
    if (!arr_elem(v, i, &e)) return 0.0f;
    if (e.type == GGUF_F32 || e.type == GGUF_F64) return (float)e.f64;
    if (e.type == GGUF_BOOL) return e.b;
    return is_signed(e.type) ? (float)e.i64 : (float)e.u64;
}

int64_t gguf_arr_i64(const gguf_value *v, uint64_t i) {
    gguf_value e;
    if (!arr_elem(v, i, &e)) return 0;
    if (e.type == GGUF_F32 || e.type == GGUF_F64) return 0;
    if (e.type == GGUF_BOOL) return e.b;
    return is_signed(e.type) ? e.i64 : (int64_t)e.u64;
}
