/* Chat history in memory and as JSON. The reader accepts exactly one shape
 * (see chat_history.h) and treats the file as untrusted: strict UTF-8,
 * every escape including surrogate pairs, no duplicate or unknown keys. */
#include "chat_history.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

void chat_history_init(chat_history *h) { memset(h, 0, sizeof *h); }

void chat_history_clear(chat_history *h) {
    for (size_t i = 0; i < h->n; i++) {
        free((char *)h->msgs[i].role);
        free((char *)h->msgs[i].content);
    }
    h->n = 0;
}

void chat_history_free(chat_history *h) {
    chat_history_clear(h);
    free(h->msgs);
    free(h->system);
    chat_history_init(h);
}

bool chat_history_add(chat_history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        ingot_chat_msg *m = realloc(h->msgs, cap * sizeof *m);
        if (!m) return false;
        h->msgs = m;
        h->cap = cap;
    }
    char *r = dup_str(role), *c = dup_str(content);
    if (!r || !c) {
        free(r);
        free(c);
        return false;
    }
    h->msgs[h->n].role = r;
    h->msgs[h->n].content = c;
    h->n++;
    return true;
}

void chat_history_remove(chat_history *h, size_t i, size_t k) {
    if (i >= h->n) return;
    if (k > h->n - i) k = h->n - i;
    for (size_t j = i; j < i + k; j++) {
        free((char *)h->msgs[j].role);
        free((char *)h->msgs[j].content);
    }
    memmove(h->msgs + i, h->msgs + i + k, (h->n - i - k) * sizeof *h->msgs);
    h->n -= k;
}

bool chat_history_set_system(chat_history *h, const char *system) {
    char *s = NULL;
    if (system && !(s = dup_str(system))) return false;
    free(h->system);
    h->system = s;
    return true;
}

ingot_chat_msg *chat_history_view(const chat_history *h, size_t *n) {
    size_t k = h->n + (h->system ? 1 : 0);
    *n = 0;
    if (!k) return NULL;
    ingot_chat_msg *v = malloc(k * sizeof *v);
    if (!v) return NULL;
    size_t j = 0;
    if (h->system) v[j++] = (ingot_chat_msg){"system", h->system};
    for (size_t i = 0; i < h->n; i++) v[j++] = h->msgs[i];
    *n = k;
    return v;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) k = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) k = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) k = 4, cp = c & 0x07;
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

/* Invalid UTF-8 (a reply cut inside a character) becomes U+FFFD so that the
 * file stays valid JSON and loads back. */
static void sb_json_str(sbuf *b, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    sb_puts(b, "\"");
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        char esc[8];
        switch (c) {
        case '"': sb_puts(b, "\\\""); i++; continue;
        case '\\': sb_puts(b, "\\\\"); i++; continue;
        case '\n': sb_puts(b, "\\n"); i++; continue;
        case '\r': sb_puts(b, "\\r"); i++; continue;
        case '\t': sb_puts(b, "\\t"); i++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_puts(b, esc);
            i++;
            continue;
        }
        size_t k = utf8_len(s + i, n - i);
        if (k == 0) {
            sb_puts(b, "\xef\xbf\xbd");
            i++;
        } else {
            sb_put(b, (const char *)s + i, k);
            i += k;
        }
    }
    sb_puts(b, "\"");
}

char *chat_history_to_json(const chat_history *h, size_t *len) {
    sbuf b = {0};
    sb_puts(&b, "{\n  \"system\": ");
    if (h->system) sb_json_str(&b, h->system);
    else sb_puts(&b, "null");
    sb_puts(&b, ",\n  \"messages\": [");
    for (size_t i = 0; i < h->n; i++) {
        sb_puts(&b, i ? ",\n    {\"role\": " : "\n    {\"role\": ");
        sb_json_str(&b, h->msgs[i].role);
        sb_puts(&b, ", \"content\": ");
        sb_json_str(&b, h->msgs[i].content);
        sb_puts(&b, "}");
    }
    sb_puts(&b, h->n ? "\n  ]\n}\n" : "]\n}\n");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len) *len = b.len;
    return b.p;
}

/* ---- reader ------------------------------------------------------------- */

typedef struct jp {
    const char *start, *p, *end;
    char *err;
    size_t errcap;
    bool failed;
} jp;

static bool jfail(jp *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jfail(jp *j, const char *fmt, ...) {
    if (j->failed) return false;
    j->failed = true;
    int line = 1;
    for (const char *q = j->start; q < j->p && q < j->end; q++) line += *q == '\n';
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->errcap) snprintf(j->err, j->errcap, "line %d: %s", line, msg);
    return false;
}

static void jws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jexpect(jp *j, char c) {
    jws(j);
    if (j->p >= j->end || *j->p != c) return jfail(j, "expected '%c'", c);
    j->p++;
    return true;
}

/* Peek the next non-space character (0 at the end). */
static char jpeek(jp *j) {
    jws(j);
    return j->p < j->end ? *j->p : 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_u4(jp *j, uint32_t *out) {
    if (j->end - j->p < 4) return jfail(j, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return jfail(j, "bad \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    j->p += 4;
    *out = v;
    return true;
}

static void put_utf8(sbuf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    else
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    sb_put(b, u, n);
}

/* A JSON string into a new malloc'd C string. NUL characters (\u0000) are
 * refused: everything downstream is C strings. */
static char *jstring(jp *j) {
    if (!jexpect(j, '"')) return NULL;
    sbuf b = {0};
    sb_put(&b, "", 0);
    while (!j->failed) {
        if (j->p >= j->end) {
            jfail(j, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20) {
            jfail(j, "control character in string");
            break;
        }
        if (c != '\\') {
            size_t k = utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
            if (!k) {
                jfail(j, "invalid UTF-8");
                break;
            }
            sb_put(&b, j->p, k);
            j->p += k;
            continue;
        }
        j->p++;
        if (j->p >= j->end) {
            jfail(j, "unterminated string");
            break;
        }
        char e = *j->p++;
        switch (e) {
        case '"': sb_puts(&b, "\""); break;
        case '\\': sb_puts(&b, "\\"); break;
        case '/': sb_puts(&b, "/"); break;
        case 'b': sb_puts(&b, "\b"); break;
        case 'f': sb_puts(&b, "\f"); break;
        case 'n': sb_puts(&b, "\n"); break;
        case 'r': sb_puts(&b, "\r"); break;
        case 't': sb_puts(&b, "\t"); break;
        case 'u': {
            uint32_t cp, lo;
            if (!read_u4(j, &cp)) break;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                jfail(j, "unpaired low surrogate");
                break;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    jfail(j, "unpaired high surrogate");
                    break;
                }
                j->p += 2;
                if (!read_u4(j, &lo)) break;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    jfail(j, "unpaired high surrogate");
                    break;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                jfail(j, "\\u0000 is not supported");
                break;
            }
            put_utf8(&b, cp);
            break;
        }
        default: jfail(j, "bad escape '\\%c'", e); break;
        }
    }
    if (!j->failed && b.oom) jfail(j, "out of memory");
    if (j->failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static bool jliteral(jp *j, const char *lit) {
    size_t n = strlen(lit);
    jws(j);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n)) return false;
    j->p += n;
    return true;
}

static bool jmessage(jp *j, chat_history *h) {
    char *role = NULL, *content = NULL;
    if (!jexpect(j, '{')) return false;
    if (jpeek(j) != '}') {
        do {
            char *key = jstring(j);
            if (!key) break;
            char **slot = !strcmp(key, "role") ? &role : !strcmp(key, "content") ? &content : NULL;
            if (!slot) jfail(j, "unknown key \"%.40s\" in a message", key);
            else if (*slot) jfail(j, "duplicate key \"%s\"", key);
            free(key);
            if (j->failed || !jexpect(j, ':')) break;
            *slot = jstring(j);
        } while (!j->failed && jpeek(j) == ',' && (j->p++, true));
    }
    if (!j->failed) jexpect(j, '}');
    if (!j->failed && (!role || !content))
        jfail(j, "a message needs \"role\" and \"content\"");
    if (!j->failed && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system"))
        jfail(j, "unknown role \"%.40s\"", role);
    if (!j->failed && !chat_history_add(h, role, content)) jfail(j, "out of memory");
    free(role);
    free(content);
    return !j->failed;
}

bool chat_history_from_json(const char *text, size_t len, chat_history *out, char *err,
                            size_t errcap) {
    jp j = {text, text, text + len, err, errcap, false};
    chat_history h;
    chat_history_init(&h);
    bool seen_system = false, seen_messages = false;
    if (errcap) err[0] = 0;
    if (!jexpect(&j, '{')) goto fail;
    if (jpeek(&j) != '}') {
        do {
            char *key = jstring(&j);
            if (!key) goto fail;
            if (!strcmp(key, "system")) {
                free(key);
                if (seen_system) { jfail(&j, "duplicate key \"system\""); goto fail; }
                seen_system = true;
                if (!jexpect(&j, ':')) goto fail;
                if (jliteral(&j, "null")) continue;
                if (!(h.system = jstring(&j))) goto fail;
            } else if (!strcmp(key, "messages")) {
                free(key);
                if (seen_messages) { jfail(&j, "duplicate key \"messages\""); goto fail; }
                seen_messages = true;
                if (!jexpect(&j, ':') || !jexpect(&j, '[')) goto fail;
                if (jpeek(&j) == ']') {
                    j.p++;
                    continue;
                }
                do {
                    if (!jmessage(&j, &h)) goto fail;
                } while (jpeek(&j) == ',' && (j.p++, true));
                if (!jexpect(&j, ']')) goto fail;
            } else {
                jfail(&j, "unknown key \"%.40s\"", key);
                free(key);
                goto fail;
            }
        } while (jpeek(&j) == ',' && (j.p++, true));
    }
    if (!jexpect(&j, '}')) goto fail;
    if (jpeek(&j) != 0) {
        jfail(&j, "trailing data after the object");
        goto fail;
    }
    if (!seen_messages) {
        jfail(&j, "missing \"messages\"");
        goto fail;
    }
    chat_history_free(out);
    *out = h;
    return true;
fail:
    if (!j.failed) jfail(&j, "malformed");
    chat_history_free(&h);
    return false;
}

bool chat_history_save(const chat_history *h, const char *path, char *err, size_t errcap) {
    size_t len;
    char *text = chat_history_to_json(h, &len);
    if (!text) {
        snprintf(err, errcap, "%s: out of memory", path);
        return false;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        free(text);
        return false;
    }
    bool ok = fwrite(text, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    free(text);
    if (!ok) snprintf(err, errcap, "%s: write failed", path);
    return ok;
}

bool chat_history_load(const char *path, chat_history *out, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    bool ok = buf != NULL;
    while (ok) {
        if (n == cap) {
            /* A history file is text a person typed or a model wrote:
             * anything past 256 MiB is not one. */
            if (cap >= ((size_t)256 << 20)) {
                snprintf(err, errcap, "%s: file too large", path);
                ok = false;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                ok = false;
                snprintf(err, errcap, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, errcap, "%s: read failed", path);
                ok = false;
            }
            break;
        }
    }
    fclose(f);
    if (ok) {
        char msg[224];
        ok = chat_history_from_json(buf, n, out, msg, sizeof msg);
        if (!ok) snprintf(err, errcap, "%s: %s", path, msg);
    }
    free(buf);
    return ok;
}
