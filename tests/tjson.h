/* A small JSON reader for tests (reference outputs, CLI --json output).
 * Whole-document DOM; strings keep their escapes decoded for \" \\ \/ \n
 * \t \r \b \f and \uXXXX (BMP + surrogate pairs). Not for untrusted input
 * beyond tests: depth is limited, errors return NULL. */
#ifndef INGOT_TJSON_H
#define INGOT_TJSON_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef enum { TJ_NULL, TJ_BOOL, TJ_NUM, TJ_STR, TJ_ARR, TJ_OBJ } tj_type;

typedef struct tj {
    tj_type t;
    double num;
    char *str;      /* TJ_STR value; key for object members */
    size_t len;     /* string length */
    struct tj *kids; /* array items / object members (key in ->key) */
    char **keys;
    size_t n;
} tj;

static const char *tj_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

static int tj_put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static const char *tj_str(const char *p, char **out, size_t *olen) {
    if (*p != '"') return NULL;
    p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (*p && *p != '"') {
        if (n + 8 > cap) { cap *= 2; s = realloc(s, cap); }
        if (*p == '\\') {
            p++;
            switch (*p) {
            case 'n': s[n++] = '\n'; break;
            case 't': s[n++] = '\t'; break;
            case 'r': s[n++] = '\r'; break;
            case 'b': s[n++] = '\b'; break;
            case 'f': s[n++] = '\f'; break;
            case 'u': {
                unsigned cp = (unsigned)strtoul((char[]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
                p += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
                    unsigned lo = (unsigned)strtoul((char[]){p[3], p[4], p[5], p[6], 0}, NULL, 16);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
                n += (size_t)tj_put_utf8(s + n, cp);
                break;
            }
            default: s[n++] = *p;
            }
            p++;
        } else {
            s[n++] = *p++;
        }
    }
    if (*p != '"') { free(s); return NULL; }
    s[n] = 0;
    *out = s;
    *olen = n;
    return p + 1;
}

static const char *tj_val(const char *p, tj *v, int depth) {
    memset(v, 0, sizeof *v);
    p = tj_ws(p);
    if (depth > 64) return NULL;
    if (*p == '{' || *p == '[') {
        int obj = *p == '{';
        v->t = obj ? TJ_OBJ : TJ_ARR;
        p = tj_ws(p + 1);
        size_t cap = 0;
        if (*p == (obj ? '}' : ']')) return p + 1;
        for (;;) {
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->kids = realloc(v->kids, cap * sizeof *v->kids);
                if (obj) v->keys = realloc(v->keys, cap * sizeof *v->keys);
            }
            if (obj) {
                size_t kl;
                p = tj_str(tj_ws(p), &v->keys[v->n], &kl);
                if (!p) return NULL;
                p = tj_ws(p);
                if (*p != ':') return NULL;
                p++;
            }
            p = tj_val(p, &v->kids[v->n], depth + 1);
            if (!p) return NULL;
            v->n++;
            p = tj_ws(p);
            if (*p == ',') { p++; continue; }
            if (*p == (obj ? '}' : ']')) return p + 1;
            return NULL;
        }
    }
    if (*p == '"') { v->t = TJ_STR; return tj_str(p, &v->str, &v->len); }
    if (!strncmp(p, "true", 4)) { v->t = TJ_BOOL; v->num = 1; return p + 4; }
    if (!strncmp(p, "false", 5)) { v->t = TJ_BOOL; return p + 5; }
    if (!strncmp(p, "null", 4)) { v->t = TJ_NULL; return p + 4; }
    char *end;
    v->t = TJ_NUM;
    v->num = strtod(p, &end);
    return end == p ? NULL : end;
}

/* Parse a document; NULL on error. Free with tj_free. */
static tj *tj_parse(const char *text) {
    tj *v = malloc(sizeof *v);
    const char *e = tj_val(text, v, 0);
    if (!e) { free(v); return NULL; }
    return v;
}

static void tj_free_in(tj *v) {
    for (size_t i = 0; i < v->n; i++) {
        tj_free_in(&v->kids[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->str);
}

static void tj_free(tj *v) {
    if (!v) return;
    tj_free_in(v);
    free(v);
}

static const tj *tj_get(const tj *v, const char *key) {
    if (!v || v->t != TJ_OBJ) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key)) return &v->kids[i];
    return NULL;
}

static const tj *tj_at(const tj *v, size_t i) {
    if (!v || (v->t != TJ_ARR && v->t != TJ_OBJ) || i >= v->n) return NULL;
    return &v->kids[i];
}

static char *tj_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); fclose(f); return NULL; }
    s[n] = 0;
    fclose(f);
    return s;
}

#endif
