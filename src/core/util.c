#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static _Thread_local char last_error[512];
static ingot_log_fn log_fn;
static void *log_user;

/* Messages are one line whatever a caller formats into them (a path or a
 * string from a file with a newline in it). */
static void one_line(char *m) {
    for (; *m; m++)
        if ((unsigned char)*m < 0x20 || *m == 0x7f) *m = '?';
}

ingot_status ig_err(ingot_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    one_line(last_error);
    return s;
}

void ig_show(char *out, size_t cap, const char *s, size_t len) {
    if (!cap) return;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 40) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o < cap ? o : cap - 1] = 0;
}

void ig_clear_err(void) { last_error[0] = 0; }

const char *ingot_last_error(void) { return last_error; }

void ingot_set_log(ingot_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

void ig_log(ingot_log_level level, const char *fmt, ...) {
    if (!log_fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    one_line(buf);
    log_fn(level, buf, log_user);
}

const char *ingot_status_str(ingot_status s) {
    switch (s) {
    case INGOT_OK: return "ok";
    case INGOT_ERR_IO: return "i/o error";
    case INGOT_ERR_FORMAT: return "malformed file";
    case INGOT_ERR_UNSUPPORTED: return "unsupported";
    case INGOT_ERR_NOMEM: return "out of memory";
    case INGOT_ERR_INVALID_ARG: return "invalid argument";
    case INGOT_ERR_CONTEXT_FULL: return "context full";
    case INGOT_ERR_BACKEND: return "backend error";
    case INGOT_ERR_CANCELLED: return "cancelled";
    case INGOT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

double ig_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
