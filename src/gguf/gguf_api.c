/* Public ingot_gguf_* API: a thin veneer over the internal reader (the
 * public handle is a cast gguf *), plus JSON rendering of values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"
#include "gguf/gguf.h"

/* ---- JSON rendering ------------------------------------------------------ */

/* snprintf-like sink: counts everything, stores what fits (NUL kept free). */
typedef struct jout {
    char *buf;
    size_t cap, n;
} jout;

static void jput(jout *j, const char *s, size_t len) {
    if (j->n < j->cap) {
        size_t room = j->cap - 1 - j->n;
        memcpy(j->buf + j->n, s, len < room ? len : room);
    }
    j->n += len;
}

static void jputs(jout *j, const char *s) { jput(j, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static size_t utf8_len(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    if (left < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return n;
}

/* JSON needs valid Unicode: bytes that are not UTF-8 become U+FFFD. */
static void jstr(jout *j, const char *s, uint64_t len) {
    const unsigned char *u = (const unsigned char *)s;
    jput(j, "\"", 1);
    uint64_t run = 0; /* start of the pending run of plain bytes */
    for (uint64_t i = 0; i < len;) {
        unsigned c = u[i];
        const char *esc = NULL;
        char tmp[8];
        size_t adv = 1;
        if (c >= 0x80) {
            adv = utf8_len(u + i, (size_t)(len - i));
            if (adv) {
                i += adv;
                continue;
            }
            esc = "\\ufffd";
            adv = 1;
        } else if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        }
        if (esc) {
            jput(j, s + run, (size_t)(i - run));
            jputs(j, esc);
            run = i + adv;
        }
        i += adv;
    }
    jput(j, s + run, (size_t)(len - run));
    jput(j, "\"", 1);
}

/* Shortest text that reads back as the same float / double. */
static void jfloat(jout *j, double v, bool single) {
    if (!isfinite(v)) {
        jputs(j, "null"); /* JSON has no NaN or infinity */
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        double back = strtod(tmp, NULL);
        if (single ? (float)back == (float)v : back == v) break;
    }
    for (char *c = tmp; *c; c++)
        if (*c == ',') *c = '.'; /* a caller's LC_NUMERIC must not break JSON */
    /* %g writes 10000 as "1e+04"; spell out integers below 1e21 (as
     * JavaScript does) using the same shortest digits, zero-padded. */
    char *e = strchr(tmp, 'e');
    if (e && e[1] == '+') {
        int exp = atoi(e + 2);
        if (exp < 21) {
            char out[40];
            size_t o = 0, nd = 0;
            for (char *c = tmp; c < e; c++) {
                if (*c == '-') out[o++] = '-';
                else if (*c >= '0' && *c <= '9') out[o++] = *c, nd++;
            }
            while (nd < (size_t)exp + 1) out[o++] = '0', nd++;
            out[o] = 0;
            jputs(j, out);
            return;
        }
    }
    jputs(j, tmp);
}

static void jscalar(jout *j, const gguf_value *v) {
    char tmp[32];
    switch (v->type) {
    case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64:
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v->u64);
        jputs(j, tmp);
        break;
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v->i64);
        jputs(j, tmp);
        break;
    case GGUF_F32: jfloat(j, v->f64, true); break;
    case GGUF_F64: jfloat(j, v->f64, false); break;
    case GGUF_BOOL: jputs(j, v->b ? "true" : "false"); break;
    default: jputs(j, "null"); break;
    }
}

static void load_elem(const gguf_value *a, uint64_t i, gguf_value *e) {
    const uint8_t *p = a->arr.raw;
    memset(e, 0, sizeof *e);
    e->type = a->arr.type;
    switch (a->arr.type) {
    case GGUF_U8: e->u64 = p[i]; break;
    case GGUF_I8: e->i64 = (int8_t)p[i]; break;
    case GGUF_BOOL: e->b = p[i] != 0; break;
    case GGUF_U16: case GGUF_I16: {
        uint16_t x = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        if (a->arr.type == GGUF_U16) e->u64 = x;
        else e->i64 = (int16_t)x;
        break;
    }
    case GGUF_U32: case GGUF_I32: case GGUF_F32: {
        const uint8_t *q = p + 4 * i;
        uint32_t x = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) |
                     ((uint32_t)q[3] << 24);
        if (a->arr.type == GGUF_U32) e->u64 = x;
        else if (a->arr.type == GGUF_I32) e->i64 = (int32_t)x;
        else {
            float f;
            memcpy(&f, &x, 4);
            e->f64 = f;
        }
        break;
    }
    case GGUF_U64: case GGUF_I64: case GGUF_F64: {
        const uint8_t *q = p + 8 * i;
        uint64_t x = 0;
        for (int k = 7; k >= 0; k--) x = (x << 8) | q[k];
        if (a->arr.type == GGUF_F64) memcpy(&e->f64, &x, 8);
        else e->u64 = x; /* same bits for the signed case */
        break;
    }
    }
}

static void jvalue(jout *j, const gguf_value *v, size_t max_items) {
    if (v->type == GGUF_STRING) {
        jstr(j, v->str.s, v->str.len);
        return;
    }
    if (v->type != GGUF_ARRAY) {
        jscalar(j, v);
        return;
    }
    uint64_t n = v->arr.n, shown = n;
    if (max_items && shown > max_items) shown = max_items;
    jput(j, "[", 1);
    for (uint64_t i = 0; i < shown; i++) {
        if (i) jput(j, ", ", 2);
        if (v->arr.type == GGUF_STRING) {
            jstr(j, v->arr.strs[i].s, v->arr.strs[i].len);
        } else if (v->arr.type == GGUF_ARRAY) {
            jvalue(j, &v->arr.vals[i], max_items);
        } else {
            gguf_value e;
            load_elem(v, i, &e);
            jscalar(j, &e);
        }
    }
    if (shown < n) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%s\"... (%llu total)\"", shown ? ", " : "",
                 (unsigned long long)n);
        jputs(j, tmp);
    }
    jput(j, "]", 1);
}

size_t gguf_value_json(const gguf_value *v, size_t max_items, char *buf, size_t cap) {
    jout j = {buf, buf ? cap : 0, 0};
    if (v) jvalue(&j, v, max_items);
    if (j.cap) j.buf[j.n < j.cap ? j.n : j.cap - 1] = 0;
    return j.n;
}

/* ---- public API ---------------------------------------------------------- */

static const gguf_kv *kv_at(const ingot_gguf *pg, int64_t i) {
    const gguf *g = gguf_internal(pg);
    if (!g || i < 0 || i >= g->n_kv) return NULL;
    return &g->kv[i];
}

ingot_status ingot_gguf_open(const char *path, ingot_gguf **out) {
    if (!out) return ig_err(INGOT_ERR_INVALID_ARG, "ingot_gguf_open: NULL out");
    *out = NULL;
    if (!path) return ig_err(INGOT_ERR_INVALID_ARG, "ingot_gguf_open: NULL path");
    gguf *g;
    ingot_status st = gguf_open(path, &g);
    if (st == INGOT_OK) *out = gguf_public(g);
    return st;
}

void ingot_gguf_close(ingot_gguf *g) { gguf_close((gguf *)g); }

uint32_t ingot_gguf_version(const ingot_gguf *g) { return g ? gguf_internal(g)->version : 0; }

uint64_t ingot_gguf_file_size(const ingot_gguf *g) { return g ? gguf_internal(g)->size : 0; }

int64_t ingot_gguf_n_kv(const ingot_gguf *g) { return g ? gguf_internal(g)->n_kv : 0; }

const char *ingot_gguf_key(const ingot_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->key.s : NULL;
}

ingot_gguf_vtype ingot_gguf_kv_type(const ingot_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? (ingot_gguf_vtype)kv->val.type : (ingot_gguf_vtype)0;
}

/* For a value that is not an array: its own type and length 0. */
ingot_gguf_vtype ingot_gguf_arr_type(const ingot_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv) return (ingot_gguf_vtype)0;
    return (ingot_gguf_vtype)(kv->val.type == GGUF_ARRAY ? kv->val.arr.type : kv->val.type);
}

uint64_t ingot_gguf_arr_len(const ingot_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->val.type == GGUF_ARRAY ? kv->val.arr.n : 0;
}

/* max_items 0 means no limit. Returns the length without the NUL, like
 * snprintf; a bad index renders as "". */
size_t ingot_gguf_value_json(const ingot_gguf *g, int64_t i, size_t max_items, char *buf,
                             size_t cap) {
    const gguf_kv *kv = kv_at(g, i);
    return gguf_value_json(kv ? &kv->val : NULL, max_items, buf, cap);
}

int64_t ingot_gguf_find_key(const ingot_gguf *g, const char *key) {
    return gguf_find(gguf_internal(g), key);
}

int64_t ingot_gguf_n_tensors(const ingot_gguf *g) { return g ? gguf_internal(g)->n_tensors : 0; }

void ingot_gguf_tensor(const ingot_gguf *pg, int64_t i, ingot_tensor_info *out) {
    const gguf *g = gguf_internal(pg);
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!g || i < 0 || i >= g->n_tensors) return;
    const gguf_tensor *t = &g->tensors[i];
    out->name = t->name.s;
    out->type = t->type;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->offset = t->offset;
    out->nbytes = t->nbytes;
}
