/* GGUF v3 writer.
 *
 * Each key/value is serialized as soon as it is set (so copying a parsed
 * value never keeps pointers into the source file), and setting a key again
 * replaces its value in place: "copy every kv, then override a few" is how
 * quantize uses it. Tensor bytes are only touched in gguf_writer_write(),
 * one tensor at a time, so a model far larger than memory can be streamed
 * through a fill callback. Setter failures are sticky and reported by
 * gguf_writer_write(), which keeps call sites free of error plumbing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "gguf/gguf.h"
#include "quant/quant.h"

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

typedef struct wkv {
    char *key;
    wbuf val; /* type tag + payload, as written */
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    uint64_t nbytes, offset;
    const void *data;
    gguf_fill_fn fill;
    void *user;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
    ingot_status err; /* first setter failure, reported at write time */
    char errmsg[256];
};

static void wfail(gguf_writer *w, ingot_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void wfail(gguf_writer *w, ingot_status s, const char *fmt, ...) {
    if (w->err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
    va_end(ap);
    w->err = s;
}

static void wb_put(wbuf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) { b->oom = true; return; }
            cap *= 2;
        }
        uint8_t *np = realloc(b->p, cap);
        if (!np) { b->oom = true; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void wb_u32(wbuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wb_put(b, x, 4);
}
static void wb_u64(wbuf *b, uint64_t v) {
    wb_u32(b, (uint32_t)v);
    wb_u32(b, (uint32_t)(v >> 32));
}
static void wb_str(wbuf *b, const char *s, uint64_t len) {
    wb_u64(b, len);
    wb_put(b, s, (size_t)len);
}

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = 32;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* The value buffer of `key` emptied for rewriting (NULL on failure). */
static wbuf *slot_for(gguf_writer *w, const char *key) {
    if (!key) {
        wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: NULL key");
        return NULL;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            w->kv[i].val.n = 0;
            w->kv[i].val.oom = false;
            return &w->kv[i].val;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) goto oom;
        w->kv = nk;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) goto oom;
    w->kv[w->n_kv] = (wkv){.key = k};
    return &w->kv[w->n_kv++].val;
oom:
    wfail(w, INGOT_ERR_NOMEM, "gguf writer: out of memory adding key '%s'", key);
    return NULL;
}

static void check_oom(gguf_writer *w, wbuf *b, const char *key) {
    if (b && b->oom) wfail(w, INGOT_ERR_NOMEM, "gguf writer: out of memory setting '%s'", key);
}

void gguf_writer_set_alignment(gguf_writer *w, uint32_t align) {
    if (!align || (align & (align - 1))) {
        wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: alignment %u is not a power of two", align);
        return;
    }
    w->alignment = align;
    /* Readers only use a non-default alignment they are told about. */
    wbuf *b = slot_for(w, "general.alignment");
    if (!b) return;
    wb_u32(b, GGUF_U32);
    wb_u32(b, align);
    check_oom(w, b, "general.alignment");
}

/* Serialize the payload of `v` (no type tag) as GGUF encodes it. Elements of
 * an array carry no tag of their own, hence the split. */
static bool put_payload(wbuf *b, const gguf_value *v, int depth) {
    if (depth > 64) return false;
    switch (v->type) {
    case GGUF_U8: case GGUF_I8: { uint8_t x = (uint8_t)v->u64; wb_put(b, &x, 1); return true; }
    case GGUF_U16: case GGUF_I16: {
        uint16_t x = (uint16_t)v->u64;
        uint8_t y[2] = {(uint8_t)x, (uint8_t)(x >> 8)};
        wb_put(b, y, 2);
        return true;
    }
    case GGUF_U32: case GGUF_I32: wb_u32(b, (uint32_t)v->u64); return true;
    case GGUF_U64: case GGUF_I64: wb_u64(b, v->u64); return true;
    case GGUF_BOOL: { uint8_t x = v->b ? 1 : 0; wb_put(b, &x, 1); return true; }
    case GGUF_F32: {
        float f = (float)v->f64;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        wb_u32(b, bits);
        return true;
    }
    case GGUF_F64: {
        uint64_t bits;
        memcpy(&bits, &v->f64, 8);
        wb_u64(b, bits);
        return true;
    }
    case GGUF_STRING: wb_str(b, v->str.s ? v->str.s : "", v->str.s ? v->str.len : 0); return true;
    case GGUF_ARRAY: {
        uint32_t et = v->arr.type;
        wb_u32(b, et);
        wb_u64(b, v->arr.n);
        size_t es = gguf_scalar_size(et);
        if (es) {
            if (v->arr.n && !v->arr.raw) return false;
            /* Parsed arrays point at packed little-endian file bytes: copy as is. */
            if (v->arr.n > SIZE_MAX / es) return false;
            wb_put(b, v->arr.raw, (size_t)v->arr.n * es);
            return true;
        }
        if (et == GGUF_STRING) {
            if (v->arr.n && !v->arr.strs) return false;
            for (uint64_t i = 0; i < v->arr.n; i++)
                wb_str(b, v->arr.strs[i].s ? v->arr.strs[i].s : "",
                       v->arr.strs[i].s ? v->arr.strs[i].len : 0);
            return true;
        }
        if (et == GGUF_ARRAY) {
            if (v->arr.n && !v->arr.vals) return false;
            for (uint64_t i = 0; i < v->arr.n; i++) {
                if (v->arr.vals[i].type != GGUF_ARRAY) return false;
                if (!put_payload(b, &v->arr.vals[i], depth + 1)) return false;
            }
            return true;
        }
        return false;
    }
    default: return false;
    }
}

static void set_value(gguf_writer *w, const char *key, const gguf_value *v) {
    if (key && !strcmp(key, "general.alignment")) {
        /* Keep the kv and the layout in agreement. */
        uint64_t a = 0;
        if (v->type == GGUF_U8 || v->type == GGUF_U16 || v->type == GGUF_U32 ||
            v->type == GGUF_U64)
            a = v->u64;
        else if ((v->type == GGUF_I8 || v->type == GGUF_I16 || v->type == GGUF_I32 ||
                  v->type == GGUF_I64) && v->i64 > 0)
            a = (uint64_t)v->i64;
        if (a > UINT32_MAX) a = 0;
        gguf_writer_set_alignment(w, (uint32_t)a);
        return;
    }
    wbuf *b = slot_for(w, key);
    if (!b) return;
    wb_u32(b, v->type);
    if (!put_payload(b, v, 0))
        wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: key '%s': malformed %s value", key,
              gguf_vtype_name(v->type));
    check_oom(w, b, key);
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv) {
    set_value(w, kv->key.s, &kv->val);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    gguf_value x = {.type = GGUF_U32, .u64 = v};
    set_value(w, key, &x);
}
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    gguf_value x = {.type = GGUF_I32, .i64 = v};
    set_value(w, key, &x);
}
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    gguf_value x = {.type = GGUF_F32, .f64 = v};
    set_value(w, key, &x);
}
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    gguf_value x = {.type = GGUF_BOOL, .b = v};
    set_value(w, key, &x);
}
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    gguf_value x = {.type = GGUF_STRING, .str = {v ? v : "", v ? strlen(v) : 0}};
    set_value(w, key, &x);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    wbuf *b = slot_for(w, key);
    if (!b) return;
    wb_u32(b, GGUF_ARRAY);
    wb_u32(b, GGUF_STRING);
    wb_u64(b, n);
    for (uint64_t i = 0; i < n; i++) wb_str(b, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
    check_oom(w, b, key);
}

static void set_arr32(gguf_writer *w, const char *key, uint32_t et, const void *v, uint64_t n) {
    wbuf *b = slot_for(w, key);
    if (!b) return;
    wb_u32(b, GGUF_ARRAY);
    wb_u32(b, et);
    wb_u64(b, n);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, (const char *)v + i * 4, 4);
        wb_u32(b, x);
    }
    check_oom(w, b, key);
}

void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n) {
    set_arr32(w, key, GGUF_F32, v, n);
}
void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    set_arr32(w, key, GGUF_I32, v, n);
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, gguf_fill_fn fill, void *user) {
    if (!name || !ne || n_dims < 1 || n_dims > 4) {
        wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims %u is not in 1..4",
              name ? name : "(null)", n_dims);
        return;
    }
    for (size_t i = 0; i < w->n_t; i++) {
        if (!strcmp(w->t[i].name, name)) {
            wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
            return;
        }
    }
    const ig_type_traits *tr = ig_type_traits_get(type);
    if (!tr || tr->blck <= 0) {
        wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: tensor '%s': unknown tensor type id %u",
              name, type);
        return;
    }
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .fill = fill, .user = user};
    uint64_t nbytes = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] <= 0) {
            wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: tensor '%s': dimension %u is %lld",
                  name, d, (long long)t.ne[d]);
            return;
        }
        uint64_t n = d == 0 ? (uint64_t)(t.ne[0] / tr->blck) : (uint64_t)t.ne[d];
        if (!ig_mul_ok(nbytes, n, &nbytes) || (d == 0 && !ig_mul_ok(nbytes, tr->type_size, &nbytes))) {
            wfail(w, INGOT_ERR_INVALID_ARG, "gguf writer: tensor '%s': byte size overflows", name);
            return;
        }
    }
    if (t.ne[0] % tr->blck) {
        wfail(w, INGOT_ERR_INVALID_ARG,
              "gguf writer: tensor '%s': row length %lld is not a multiple of the block size %lld",
              name, (long long)t.ne[0], (long long)tr->blck);
        return;
    }
    t.nbytes = nbytes;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) {
            wfail(w, INGOT_ERR_NOMEM, "gguf writer: out of memory adding tensor '%s'", name);
            return;
        }
        w->t = nt;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name))) {
        wfail(w, INGOT_ERR_NOMEM, "gguf writer: out of memory adding tensor '%s'", name);
        return;
    }
    w->t[w->n_t++] = t;
}

/* ---- output ------------------------------------------------------------ */

typedef struct wout {
    FILE *f;
    const char *path;
    uint64_t pos;
    ingot_status st;
} wout;

static void out_put(wout *o, const void *p, size_t n) {
    if (o->st || !n) return;
    if (fwrite(p, 1, n, o->f) != n)
        o->st = ig_err(INGOT_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    o->pos += n;
}

static void out_pad(wout *o, uint64_t align) {
    static const uint8_t zeros[256];
    uint64_t pad = (align - o->pos % align) % align;
    while (pad && !o->st) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        out_put(o, zeros, n);
        pad -= n;
    }
}

static void out_zeros(wout *o, uint64_t n) {
    static const uint8_t zeros[4096];
    while (n && !o->st) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        out_put(o, zeros, k);
        n -= k;
    }
}

ingot_status gguf_writer_write(gguf_writer *w, const char *path) {
    if (!w || !path) return ig_err(INGOT_ERR_INVALID_ARG, "gguf writer: NULL argument");
    if (w->err) return ig_err(w->err, "%s: %s", path, w->errmsg);
    uint64_t a = w->alignment, off = 0, max_fill = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        if (!ig_add_ok(off, w->t[i].nbytes, &off) || !ig_add_ok(off, a - 1, &off))
            return ig_err(INGOT_ERR_INVALID_ARG, "%s: tensor data too large", path);
        off &= ~(a - 1);
        if (w->t[i].fill && w->t[i].nbytes > max_fill) max_fill = w->t[i].nbytes;
    }
    if (max_fill > SIZE_MAX) return ig_err(INGOT_ERR_NOMEM, "%s: tensor too large", path);

    FILE *f = fopen(path, "wb");
    if (!f) return ig_err(INGOT_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    struct stat sb;
    bool regular = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode);
    setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
    wout o = {.f = f, .path = path};

    wbuf hdr = {0};
    wb_put(&hdr, "GGUF", 4);
    wb_u32(&hdr, 3);
    wb_u64(&hdr, w->n_t);
    wb_u64(&hdr, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        wb_str(&hdr, w->kv[i].key, strlen(w->kv[i].key));
        wb_put(&hdr, w->kv[i].val.p, w->kv[i].val.n);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        wb_str(&hdr, t->name, strlen(t->name));
        wb_u32(&hdr, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) wb_u64(&hdr, (uint64_t)t->ne[d]);
        wb_u32(&hdr, t->type);
        wb_u64(&hdr, t->offset);
    }
    if (hdr.oom) o.st = ig_err(INGOT_ERR_NOMEM, "%s: out of memory building the header", path);
    out_put(&o, hdr.p, hdr.n);
    free(hdr.p);
    if (w->n_t) out_pad(&o, a);

    void *scratch = NULL;
    if (!o.st && max_fill && !(scratch = malloc((size_t)max_fill)))
        o.st = ig_err(INGOT_ERR_NOMEM, "%s: out of memory (%llu-byte tensor buffer)", path,
                      (unsigned long long)max_fill);
    for (size_t i = 0; i < w->n_t && !o.st; i++) {
        const wtensor *t = &w->t[i];
        if (t->fill) {
            ingot_status st = t->fill(t->user, (int64_t)i, scratch, t->nbytes);
            if (st) {
                o.st = st;
                break;
            }
            out_put(&o, scratch, (size_t)t->nbytes);
        } else if (t->data) {
            out_put(&o, t->data, (size_t)t->nbytes);
        } else {
            out_zeros(&o, t->nbytes);
        }
        out_pad(&o, a);
    }
    free(scratch);
    /* Buffered write errors (a full disk) often only show up here. */
    if (fflush(f) != 0 && !o.st)
        o.st = ig_err(INGOT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && !o.st)
        o.st = ig_err(INGOT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    /* Don't leave a truncated model behind (but never unlink a device). */
    if (o.st && regular) unlink(path);
    return o.st;
}
