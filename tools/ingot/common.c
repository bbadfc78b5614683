/* Helpers shared by the subcommands: errors, number parsing, files, model
 * loading with a progress bar, JSON strings. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ingot: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ingot %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'ingot %s --help')\n", cmd);
    va_end(ap);
    return CLI_USAGE;
}

int cli_lib_fail(void) {
    const char *m = ingot_last_error();
    return cli_fail("%s", m && *m ? m : "unknown error");
}

static bool file_exists(const char *p) { return access(p, R_OK) == 0; }

const char *cli_default_model(void) {
    static char path[PATH_MAX];
    const char *env = getenv("INGOT_MODEL");
    if (env && *env) return env;
    /* Next to the binary (build/ingot -> ../models), then the source tree. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *rel[] = {"/../models/stories260K.gguf", "/models/stories260K.gguf",
                             "/../share/ingot/stories260K.gguf"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(path, sizeof path, "%s%s", exe, rel[i]);
            if (file_exists(path)) return path;
        }
    }
#ifdef INGOT_SOURCE_DIR
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", INGOT_SOURCE_DIR);
    if (file_exists(path)) return path;
#endif
    return NULL;
}

static bool verbose_log;

static void log_to_stderr(ingot_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= INGOT_LOG_WARN || verbose_log) fprintf(stderr, "ingot: %s\n", msg);
}

void cli_setup_log(bool verbose) {
    verbose_log = verbose;
    ingot_set_log(log_to_stderr, NULL);
}

bool cli_progress(float fraction, void *user) {
    const char *label = user ? (const char *)user : "loading";
    static int last = -1;
    if (!isatty(2)) return true;
    int pct = (int)(fraction * 100.0f + 0.5f);
    if (pct == last) return true;
    last = pct;
    int width = 30, filled = pct * width / 100;
    fprintf(stderr, "\r%s [", label);
    for (int i = 0; i < width; i++) fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %3d%%", pct);
    if (pct >= 100) {
        fprintf(stderr, "\r\033[K");
        last = -1;
    }
    fflush(stderr);
    return true;
}

bool cli_parse_int(const char *s, long min, long max, long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double min, double max, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
    }
    if (!buf || ferror(f)) {
        cli_fail("%s: read failed", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

bool cli_parse_kv(const char *s, ingot_kv_type *out) {
    if (!strcmp(s, "f16")) *out = INGOT_KV_F16;
    else if (!strcmp(s, "f32")) *out = INGOT_KV_F32;
    else return false;
    return true;
}

bool cli_parse_backend(const char *s, ingot_backend_kind *out) {
    if (!strcmp(s, "auto")) *out = INGOT_BACKEND_AUTO;
    else if (!strcmp(s, "cpu")) *out = INGOT_BACKEND_CPU;
    else if (!strcmp(s, "cuda")) *out = INGOT_BACKEND_CUDA;
    else if (!strcmp(s, "metal")) *out = INGOT_BACKEND_METAL;
    else return false;
    return true;
}

ingot_model *cli_load_model(const char *path, ingot_backend_kind backend, int n_threads,
                            bool vocab_only) {
    ingot_model_params mp = ingot_model_default_params();
    mp.backend = backend;
    mp.n_threads = n_threads;
    mp.vocab_only = vocab_only;
    mp.progress = cli_progress;
    ingot_model *m = NULL;
    if (ingot_model_load(path, &mp, &m) != INGOT_OK) {
        cli_lib_fail();
        return NULL;
    }
    return m;
}

/* Invalid UTF-8 becomes U+FFFD, so the output always parses. */
void cli_json_str(FILE *f, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s, *e = u + len;
    fputc('"', f);
    while (u < e) {
        unsigned c = *u;
        size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        bool ok = n > 0 && (size_t)(e - u) >= n;
        for (size_t k = 1; ok && k < n; k++) ok = (u[k] & 0xc0) == 0x80;
        if (ok && n == 3) ok = !(c == 0xe0 && u[1] < 0xa0) && !(c == 0xed && u[1] > 0x9f);
        if (ok && n == 4) ok = !(c == 0xf0 && u[1] < 0x90) && !(c == 0xf4 && u[1] > 0x8f);
        if (!ok) {
            fputs("\\ufffd", f);
            u++;
        } else if (n > 1) {
            fwrite(u, 1, n, f);
            u += n;
        } else {
            if (c == '"') fputs("\\\"", f);
            else if (c == '\\') fputs("\\\\", f);
            else if (c == '\n') fputs("\\n", f);
            else if (c == '\t') fputs("\\t", f);
            else if (c == '\r') fputs("\\r", f);
            else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc((int)c, f);
            u++;
        }
    }
    fputc('"', f);
}

int cli_parse_sampling(const char *flag, const char *value, ingot_sampler_params *p) {
    double d;
    long l;
    if (!strcmp(flag, "--temp")) {
        if (!cli_parse_float(value, 0, 100, &d)) return -1;
        p->temp = (float)d;
    } else if (!strcmp(flag, "--top-k")) {
        if (!cli_parse_int(value, 0, 1 << 30, &l)) return -1;
        p->top_k = (int32_t)l;
    } else if (!strcmp(flag, "--top-p")) {
        if (!cli_parse_float(value, 0, 1, &d)) return -1;
        p->top_p = (float)d;
    } else if (!strcmp(flag, "--min-p")) {
        if (!cli_parse_float(value, 0, 1, &d)) return -1;
        p->min_p = (float)d;
    } else if (!strcmp(flag, "--repeat-penalty")) {
        if (!cli_parse_float(value, 0, 100, &d)) return -1;
        p->repeat_penalty = (float)d;
    } else if (!strcmp(flag, "--repeat-last-n")) {
        if (!cli_parse_int(value, 0, 1 << 20, &l)) return -1;
        p->repeat_last_n = (int32_t)l;
    } else if (!strcmp(flag, "--seed")) {
        if (!value || !*value) return -1;
        char *end;
        errno = 0;
        unsigned long long s = strtoull(value, &end, 10);
        if (errno || *end || value[0] == '-') return -1;
        p->seed = s;
    } else {
        return 0;
    }
    return 2;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
