#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static _Thread_local char last_error[512];
static ingot_log_fn log_fn;
static void *log_user;

ingot_status ig_err(ingot_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
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
