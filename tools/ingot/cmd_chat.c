/* ingot chat: an interactive conversation with the model's chat template.
 *
 * Each turn renders the whole conversation with the template, tokenizes it,
 * and keeps the part of the KV cache that still matches (the common token
 * prefix with what the context holds); only the rest is evaluated. Re-rendering
 * rather than appending keeps the tokens exactly what the template produces
 * (a reply the model generated may tokenize differently once it is followed by
 * the end-of-turn text), at the price of re-evaluating a few tokens. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "chat_history.h"
#include "cli.h"

#ifdef INGOT_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

/* Text that ends an assistant turn, per template family. Generation stops on
 * any end-of-generation token; this catches the end of a turn when the vocab
 * has no such token (a template forced onto another model) and, for "plain",
 * the model starting to write the user's next line. */
static const struct {
    const char *name, *stop;
} families[] = {
    {"plain", "\nUser:"},          {"chatml", "<|im_end|>"},
    {"llama2", "</s>"},            {"llama3", "<|eot_id|>"},
    {"mistral", "</s>"},           {"mistral-v1", "</s>"},
    {"mistral-v3", "</s>"},        {"mistral-v3-tekken", "</s>"},
    {"mistral-v7", "</s>"},        {"zephyr", "</s>"},
    {"phi3", "<|end|>"},           {"gemma", "<end_of_turn>"},
};

static const char *family_stop(const char *name) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (!strcmp(families[i].name, name)) return families[i].stop;
    return NULL;
}

static volatile sig_atomic_t g_sigint;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_sigint(int sig) {
    (void)sig;
    g_sigint = 1;
}

typedef struct chat {
    ingot_model *m;
    ingot_context *ctx;
    ingot_sampler *smp;
    ingot_sampler_params sp;
    const char *tmpl;
    const char *stop;      /* end-of-turn text */
    int32_t stop_tok;      /* the same as one token, -1 if the vocab has none */
    long n_predict;        /* < 0: until end of turn or a full context */
    chat_history h;
    int32_t *toks;         /* what the KV cache holds (== ingot_context_pos) */
    size_t n_toks, cap_toks;
    /* last turn, for /stats */
    long last_prompt_new, last_reply;
    double last_prompt_s, last_gen_s;
} chat;

static void print_usage(FILE *f) {
    fprintf(f,
            "usage: ingot chat [-m MODEL] [options]\n"
            "\n"
            "Interactive chat using the model's chat template.\n"
            "\n"
            "options:\n"
            "  -m, --model PATH       model file (default: the bundled stories260K)\n"
            "  --system TEXT          system prompt\n"
            "  -c, --ctx N            context size in tokens (default: the model's, max 4096)\n"
            "  -n, --n-predict N      max tokens per reply (default -1: until end of turn)\n"
            "  -t, --threads N        CPU threads (default: physical cores)\n"
            "  --temp X               temperature (0: greedy)\n"
            "  --top-k N, --top-p X, --min-p X, --repeat-penalty X, --seed N\n"
            "  --backend B            auto, cpu, cuda or metal\n"
            "  --template NAME        chatml, llama2, llama3, mistral, mistral-v1, mistral-v3,\n"
            "                         mistral-v3-tekken, mistral-v7, zephyr, phi3, gemma, plain\n"
            "  -h, --help             this help\n"
            "\n"
            "Type /help in the chat for its commands. Ctrl-C stops a reply; Ctrl-C twice\n"
            "at the prompt, Ctrl-D or /exit quits.\n");
}

static void print_repl_help(void) {
    printf("commands:\n"
           "  /help                 this list\n"
           "  /exit, /quit          leave (also Ctrl-D)\n"
           "  /clear                forget the conversation (keeps the system prompt)\n"
           "  /system [TEXT]        show or set the system prompt\n"
           "  /save FILE            save the conversation as JSON\n"
           "  /load FILE            load a conversation saved with /save\n"
           "  /stats                context use and speed of the last reply\n"
           "  /set NAME VALUE       temp, top-k, top-p, min-p, repeat-penalty or seed\n");
}

/* ---- buffers -------------------------------------------------------------- */

static char *render(chat *c, size_t *len) {
    size_t n;
    ingot_chat_msg *v = chat_history_view(&c->h, &n);
    size_t cap = 4096;
    char *buf = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *nb = realloc(buf, cap);
        if (!nb) break;
        buf = nb;
        int64_t need = ingot_chat_apply(c->m, c->tmpl, v, n, true, buf, cap);
        if (need < 0) break;
        if ((uint64_t)need < cap) {
            free(v);
            *len = (size_t)need;
            return buf;
        }
        cap = (size_t)need + 1;
    }
    free(v);
    free(buf);
    return NULL;
}

static int32_t *tokenize(const ingot_model *m, const char *text, size_t len, bool add_special,
                         int64_t *n_out) {
    int64_t cap = (int64_t)len + 16;
    int32_t *t = malloc((size_t)cap * sizeof *t);
    if (!t) return NULL;
    int64_t n = ingot_tokenize(m, text, len, add_special, true, t, cap);
    if (n > cap) {
        int32_t *nt = realloc(t, (size_t)n * sizeof *t);
        if (!nt) {
            free(t);
            return NULL;
        }
        t = nt;
        n = ingot_tokenize(m, text, len, add_special, true, t, n);
    }
    if (n < 0) {
        free(t);
        return NULL;
    }
    *n_out = n;
    return t;
}

/* The mirror is allocated with room for a full context up front, and the
 * context never holds more, so pushing cannot fail. */
static void toks_push(chat *c, int32_t id) {
    if (c->n_toks < c->cap_toks) c->toks[c->n_toks++] = id;
}

/* ---- the sampler ---------------------------------------------------------- */

static bool rebuild_sampler(chat *c) {
    ingot_sampler *s = ingot_sampler_new(&c->sp);
    if (!s) return false;
    ingot_sampler_free(c->smp);
    c->smp = s;
    return true;
}

/* ---- one turn ------------------------------------------------------------- */

/* Evaluate toks[from..n) and pick the first reply token. */
static ingot_status eval_prompt(chat *c, const int32_t *toks, size_t from, size_t n,
                                bool greedy, int32_t *first) {
    const size_t chunk = 512;
    for (size_t i = from; i < n;) {
        size_t k = n - i < chunk ? n - i : chunk;
        bool last = i + k == n;
        ingot_status st;
        if (last && greedy) st = ingot_decode_greedy(c->ctx, toks + i, (int32_t)k, first);
        else if (last) st = ingot_decode_sample(c->ctx, toks + i, (int32_t)k, c->smp, first);
        else st = ingot_decode(c->ctx, toks + i, (int32_t)k, false);
        if (st != INGOT_OK) return st;
        for (size_t j = 0; j < k; j++) toks_push(c, toks[i + j]);
        i += k;
    }
    return INGOT_OK;
}

/* Bytes at the end of s[0..n) that could be the start of the stop text: they
 * are held back from the screen until the next piece decides. */
static size_t stop_holdback(const char *s, size_t n, const char *stop) {
    size_t sl = strlen(stop);
    for (size_t k = sl - 1 < n ? sl - 1 : n; k > 0; k--)
        if (!memcmp(s + n - k, stop, k)) return k;
    return 0;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static bool sb_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

static void chat_turn(chat *c, const char *user_text) {
    if (!chat_history_add(&c->h, "user", user_text)) {
        cli_fail("out of memory");
        return;
    }
    uint32_t n_ctx = ingot_n_ctx(c->ctx);
    /* Room kept for the reply when deciding whether old turns must go. */
    uint32_t reserve = n_ctx / 4;
    if (c->n_predict >= 0 && (uint32_t)c->n_predict < reserve) reserve = (uint32_t)c->n_predict;
    if (reserve == 0) reserve = 1;

    int32_t *toks = NULL;
    int64_t n = 0;
    int dropped = 0;
    for (;;) {
        size_t len;
        char *text = render(c, &len);
        if (!text) {
            cli_lib_fail();
            chat_history_remove(&c->h, c->h.n - 1, 1);
            return;
        }
        toks = tokenize(c->m, text, len, true, &n);
        free(text);
        if (!toks) {
            cli_lib_fail();
            chat_history_remove(&c->h, c->h.n - 1, 1);
            return;
        }
        if (n == 0) {
            free(toks);
            cli_fail("the conversation rendered to no tokens");
            chat_history_remove(&c->h, c->h.n - 1, 1);
            return;
        }
        if ((uint64_t)n + reserve <= n_ctx) break;
        free(toks);
        toks = NULL;
        if (c->h.n <= 1) {
            cli_fail("message too long: the conversation needs %lld tokens plus %u for the "
                     "reply; the context holds %u (see -c)",
                     (long long)n, reserve, n_ctx);
            chat_history_remove(&c->h, c->h.n - 1, 1);
            return;
        }
        /* Drop the oldest turn: everything before the second user message. */
        size_t k = 1;
        while (k < c->h.n - 1 && strcmp(c->h.msgs[k].role, "user")) k++;
        chat_history_remove(&c->h, 0, k);
        dropped++;
    }
    if (dropped)
        fprintf(stderr, "ingot: context full (%u tokens), dropping oldest turns: %d dropped\n",
                n_ctx, dropped);

    size_t p = 0;
    while (p < c->n_toks && p < (size_t)n && c->toks[p] == toks[p]) p++;
    if (p == (size_t)n) p--; /* the last token must be evaluated to get logits */
    if (p < c->n_toks) {
        if (ingot_context_truncate(c->ctx, (uint32_t)p) != INGOT_OK) {
            cli_lib_fail();
            free(toks);
            return;
        }
        c->n_toks = p;
    }

    /* The penalty window looks at the conversation as the model sees it. */
    ingot_sampler_reset(c->smp);
    for (int64_t i = 0; i < n; i++) ingot_sampler_accept(c->smp, toks[i]);
    bool greedy = ingot_sampler_is_greedy(c->smp);

    g_sigint = 0;
    double t0 = now();
    int32_t id = -1;
    ingot_status st = eval_prompt(c, toks, p, (size_t)n, greedy, &id);
    c->last_prompt_new = n - (int64_t)p;
    c->last_prompt_s = now() - t0;
    free(toks);
    if (st != INGOT_OK) {
        cli_lib_fail();
        /* Keep our token mirror consistent with whatever the context holds. */
        uint32_t pos = ingot_context_pos(c->ctx);
        if (pos < c->n_toks) c->n_toks = pos;
        chat_history_remove(&c->h, c->h.n - 1, 1);
        return;
    }

    ingot_detok *dt = ingot_detok_new(c->m, false);
    sbuf reply = {0};
    sb_add(&reply, "", 0);
    size_t shown = 0;
    long n_gen = 0;
    bool stopped = false, full = false, interrupted = false, started = false;
    t0 = now();
    char piece[256];
    for (;;) {
        if (g_sigint) {
            interrupted = true;
            break;
        }
        if (ingot_token_is_eog(c->m, id) || id == c->stop_tok) break;
        if (c->n_predict >= 0 && n_gen >= c->n_predict) break;
        n_gen++;
        ingot_sampler_accept(c->smp, id);
        size_t k = dt ? ingot_detok_push(dt, id, piece, sizeof piece) : 0;
        size_t before = reply.len;
        sb_add(&reply, piece, k);
        if (c->stop) {
            size_t sl = strlen(c->stop);
            size_t from = before >= sl ? before - sl + 1 : 0;
            char *hit = strstr(reply.p + from, c->stop);
            if (hit) {
                reply.len = (size_t)(hit - reply.p);
                reply.p[reply.len] = 0;
                stopped = true;
                break;
            }
        }
        size_t hold = c->stop ? stop_holdback(reply.p, reply.len, c->stop) : 0;
        /* SentencePiece replies start with the space of "▁word": not shown
         * (the stored reply keeps it, so it re-tokenizes as generated). */
        if (!started) {
            while (shown < reply.len - hold && (reply.p[shown] == ' ' || reply.p[shown] == '\n'))
                shown++;
            started = shown < reply.len - hold;
        }
        if (reply.len - hold > shown) {
            fwrite(reply.p + shown, 1, reply.len - hold - shown, stdout);
            fflush(stdout);
            shown = reply.len - hold;
        }
        if (ingot_context_pos(c->ctx) >= n_ctx) {
            full = true;
            break;
        }
        int32_t cur = id;
        if (greedy) st = ingot_decode_greedy(c->ctx, &cur, 1, &id);
        else st = ingot_decode_sample(c->ctx, &cur, 1, c->smp, &id);
        if (st != INGOT_OK) {
            if (st == INGOT_ERR_CONTEXT_FULL) full = true;
            else cli_lib_fail();
            break;
        }
        toks_push(c, cur);
    }
    if (dt && !stopped) {
        size_t k = ingot_detok_flush(dt, piece, sizeof piece);
        sb_add(&reply, piece, k);
    }
    ingot_detok_free(dt);
    if (!started)
        while (shown < reply.len && (reply.p[shown] == ' ' || reply.p[shown] == '\n')) shown++;
    if (reply.len > shown) fwrite(reply.p + shown, 1, reply.len - shown, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    c->last_gen_s = now() - t0;
    c->last_reply = n_gen;
    if (interrupted) fprintf(stderr, "ingot: reply stopped\n");
    if (full) fprintf(stderr, "ingot: context full, reply cut short\n");
    g_sigint = 0;
    if (!chat_history_add(&c->h, "assistant", reply.p ? reply.p : "")) cli_fail("out of memory");
    free(reply.p);
}

/* ---- reading a line ------------------------------------------------------- */

enum { LINE_OK = 1, LINE_EOF = 0, LINE_INTR = -1 };

#ifdef INGOT_HAVE_READLINE
static char *g_rl_line;
static bool g_rl_done;

static void rl_on_line(char *line) {
    g_rl_line = line;
    g_rl_done = true;
    rl_callback_handler_remove();
}

/* readline's callback interface with our own select() loop: a SIGINT
 * interrupts select() (our handler is installed without SA_RESTART), so the
 * prompt can react to Ctrl-C without readline's own signal handling. */
static int read_line_rl(const char *prompt, char **out) {
    g_rl_line = NULL;
    g_rl_done = false;
    rl_callback_handler_install(prompt, rl_on_line);
    while (!g_rl_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(0, &fds);
        int r = select(1, &fds, NULL, NULL, NULL);
        if (r < 0) {
            if (errno == EINTR && g_sigint) {
                rl_free_line_state();
                rl_replace_line("", 0);
#if defined(RL_VERSION_MAJOR) && RL_VERSION_MAJOR >= 7
                rl_callback_sigcleanup();
#endif
                rl_callback_handler_remove();
                fputc('\n', stdout);
                return LINE_INTR;
            }
            if (errno == EINTR) continue;
            rl_callback_handler_remove();
            return LINE_EOF;
        }
        rl_callback_read_char();
    }
    if (!g_rl_line) return LINE_EOF;
    if (*g_rl_line) add_history(g_rl_line);
    *out = g_rl_line;
    return LINE_OK;
}
#endif

static int read_line_plain(const char *prompt, char **out) {
    if (prompt) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        if (g_sigint) {
            clearerr(stdin);
            fputc('\n', stdout);
            return LINE_INTR;
        }
        return LINE_EOF;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    *out = line;
    return LINE_OK;
}

static int read_line(bool tty, char **out) {
#ifdef INGOT_HAVE_READLINE
    if (tty) return read_line_rl("> ", out);
#endif
    return read_line_plain(tty ? "> " : NULL, out);
}

/* ---- slash commands ------------------------------------------------------- */

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* "/cmd rest": whether line is command `name`, and its argument. */
static bool is_cmd(const char *line, const char *name, const char **arg) {
    size_t n = strlen(name);
    if (strncmp(line, name, n) || (line[n] && line[n] != ' ' && line[n] != '\t')) return false;
    *arg = skip_ws(line + n);
    return true;
}

static void cmd_set(chat *c, const char *arg) {
    char name[32];
    size_t i = 0;
    while (arg[i] && arg[i] != ' ' && arg[i] != '\t' && i < sizeof name - 1) {
        name[i] = arg[i];
        i++;
    }
    name[i] = 0;
    const char *val = skip_ws(arg + i);
    if (!*name || !*val) {
        fprintf(stderr, "usage: /set temp|top-k|top-p|min-p|repeat-penalty|seed VALUE\n");
        return;
    }
    ingot_sampler_params old = c->sp;
    double d;
    long l;
    bool ok = true;
    if (!strcmp(name, "temp")) ok = cli_parse_float(val, 0, 100, &d) && (c->sp.temp = (float)d, 1);
    else if (!strcmp(name, "top-k")) ok = cli_parse_int(val, 0, 1 << 30, &l) && (c->sp.top_k = (int32_t)l, 1);
    else if (!strcmp(name, "top-p")) ok = cli_parse_float(val, 0, 1, &d) && (c->sp.top_p = (float)d, 1);
    else if (!strcmp(name, "min-p")) ok = cli_parse_float(val, 0, 1, &d) && (c->sp.min_p = (float)d, 1);
    else if (!strcmp(name, "repeat-penalty"))
        ok = cli_parse_float(val, 0, 100, &d) && (c->sp.repeat_penalty = (float)d, 1);
    else if (!strcmp(name, "seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(val, &end, 10);
        ok = !errno && *end == 0 && *val != '-';
        if (ok) c->sp.seed = (uint64_t)s;
    } else {
        fprintf(stderr, "ingot: /set: unknown setting '%s' (temp, top-k, top-p, min-p, "
                        "repeat-penalty, seed)\n", name);
        return;
    }
    if (!ok) {
        fprintf(stderr, "ingot: /set %s: bad value '%s'\n", name, val);
        return;
    }
    if (!rebuild_sampler(c)) {
        c->sp = old;
        cli_fail("could not create the sampler");
        return;
    }
    printf("%s = %s\n", name, val);
}

static void cmd_stats(chat *c) {
    printf("context: %u / %u tokens, %zu messages\n", ingot_context_pos(c->ctx),
           ingot_n_ctx(c->ctx), c->h.n);
    printf("last prompt: %ld new tokens evaluated in %.3f s (%.1f t/s)\n", c->last_prompt_new,
           c->last_prompt_s, c->last_prompt_s > 0 ? c->last_prompt_new / c->last_prompt_s : 0.0);
    printf("last reply: %ld tokens in %.3f s (%.1f t/s)\n", c->last_reply, c->last_gen_s,
           c->last_gen_s > 0 ? c->last_reply / c->last_gen_s : 0.0);
}

/* Returns false when the REPL should end. */
static bool handle_command(chat *c, const char *line) {
    const char *arg;
    char err[512];
    if (is_cmd(line, "/exit", &arg) || is_cmd(line, "/quit", &arg)) return false;
    if (is_cmd(line, "/help", &arg)) {
        print_repl_help();
    } else if (is_cmd(line, "/clear", &arg)) {
        chat_history_clear(&c->h);
        /* Not needed for correctness (the next turn keeps only the matching
         * prefix) but /stats should show an empty context. */
        if (ingot_context_truncate(c->ctx, 0) == INGOT_OK) c->n_toks = 0;
        printf("conversation cleared\n");
    } else if (is_cmd(line, "/system", &arg)) {
        if (!*arg) {
            printf("system prompt: %s\n", c->h.system ? c->h.system : "(none)");
        } else if (!chat_history_set_system(&c->h, arg)) {
            cli_fail("out of memory");
        } else {
            printf("system prompt set\n");
        }
    } else if (is_cmd(line, "/save", &arg)) {
        if (!*arg) fprintf(stderr, "usage: /save FILE\n");
        else if (!chat_history_save(&c->h, arg, err, sizeof err)) cli_fail("%s", err);
        else printf("saved %zu messages to %s\n", c->h.n, arg);
    } else if (is_cmd(line, "/load", &arg)) {
        if (!*arg) fprintf(stderr, "usage: /load FILE\n");
        else if (!chat_history_load(arg, &c->h, err, sizeof err)) cli_fail("%s", err);
        else printf("loaded %zu messages from %s\n", c->h.n, arg);
    } else if (is_cmd(line, "/stats", &arg)) {
        cmd_stats(c);
    } else if (is_cmd(line, "/set", &arg)) {
        cmd_set(c, arg);
    } else {
        fprintf(stderr, "ingot: unknown command '%s' (see /help)\n", line);
    }
    return true;
}

/* ---- main ----------------------------------------------------------------- */

int cmd_chat(int argc, char **argv) {
    const char *model_path = NULL, *system = NULL, *tmpl = NULL;
    long n_ctx = 0, n_predict = -1, n_threads = 0;
    ingot_backend_kind backend = INGOT_BACKEND_AUTO;
    ingot_sampler_params sp = ingot_sampler_default_params();

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        long l;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(stdout);
            return CLI_OK;
        }
        if (a[0] != '-') return cli_usage_error("chat", "unexpected argument '%s'", a);
        if (!v) return cli_usage_error("chat", "%s needs a value", a);
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--system")) system = v;
        else if (!strcmp(a, "--template")) tmpl = v;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (!cli_parse_int(v, 0, 1 << 24, &n_ctx))
                return cli_usage_error("chat", "bad context size '%s'", v);
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!cli_parse_int(v, -1, 1 << 24, &n_predict))
                return cli_usage_error("chat", "bad token count '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int(v, 0, 4096, &n_threads))
                return cli_usage_error("chat", "bad thread count '%s'", v);
        } else if (!strcmp(a, "--temp")) {
            if (!cli_parse_float(v, 0, 100, &d)) return cli_usage_error("chat", "bad --temp '%s'", v);
            sp.temp = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            if (!cli_parse_int(v, 0, 1 << 30, &l)) return cli_usage_error("chat", "bad --top-k '%s'", v);
            sp.top_k = (int32_t)l;
        } else if (!strcmp(a, "--top-p")) {
            if (!cli_parse_float(v, 0, 1, &d)) return cli_usage_error("chat", "bad --top-p '%s'", v);
            sp.top_p = (float)d;
        } else if (!strcmp(a, "--min-p")) {
            if (!cli_parse_float(v, 0, 1, &d)) return cli_usage_error("chat", "bad --min-p '%s'", v);
            sp.min_p = (float)d;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (!cli_parse_float(v, 0, 100, &d))
                return cli_usage_error("chat", "bad --repeat-penalty '%s'", v);
            sp.repeat_penalty = (float)d;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || *end || *v == '-' || !*v) return cli_usage_error("chat", "bad --seed '%s'", v);
            sp.seed = (uint64_t)s;
        } else if (!strcmp(a, "--backend")) {
            if (!cli_parse_backend(v, &backend)) return cli_usage_error("chat", "unknown backend '%s'", v);
        } else {
            return cli_usage_error("chat", "unknown option '%s'", a);
        }
    }
    if (tmpl && !family_stop(tmpl))
        return cli_usage_error("chat", "unknown template '%s'", tmpl);
    if (!model_path && !(model_path = cli_default_model()))
        return cli_usage_error("chat", "no model given (-m) and the default model was not found");

    cli_setup_log(false);
    chat c;
    memset(&c, 0, sizeof c);
    chat_history_init(&c.h);
    c.sp = sp;
    c.n_predict = n_predict;
    int rc = CLI_ERR;

    c.m = cli_load_model(model_path, backend, (int)n_threads, false);
    if (!c.m) return CLI_ERR;
    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    if (ingot_context_new(c.m, &cp, &c.ctx) != INGOT_OK) {
        cli_lib_fail();
        goto done;
    }
    c.cap_toks = ingot_n_ctx(c.ctx);
    c.toks = malloc((c.cap_toks ? c.cap_toks : 1) * sizeof *c.toks);
    c.smp = ingot_sampler_new(&c.sp);
    if (!c.toks || !c.smp) {
        cli_fail("out of memory");
        goto done;
    }
    c.tmpl = tmpl ? tmpl : ingot_chat_template_name(c.m);
    c.stop = family_stop(c.tmpl);
    c.stop_tok = -1;
    if (c.stop) {
        int32_t t[2];
        if (ingot_tokenize(c.m, c.stop, strlen(c.stop), false, true, t, 2) == 1) c.stop_tok = t[0];
    }
    if (system && !chat_history_set_system(&c.h, system)) {
        cli_fail("out of memory");
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a Ctrl-C must interrupt a blocked read */
    struct sigaction old_sa;
    sigaction(SIGINT, &sa, &old_sa);

    bool tty = isatty(0) && isatty(1);
#ifdef INGOT_HAVE_READLINE
    if (tty) rl_catch_signals = 0;
#endif
    fprintf(stderr, "ingot chat: %s, template %s, context %u tokens\n", model_path, c.tmpl,
            ingot_n_ctx(c.ctx));
    fprintf(stderr, "/help lists commands; Ctrl-C stops a reply; Ctrl-D or /exit quits\n");

    bool intr_pending = false;
    for (;;) {
        char *line = NULL;
        g_sigint = 0;
        int r = read_line(tty, &line);
        if (r == LINE_INTR) {
            if (intr_pending) break;
            intr_pending = true;
            fprintf(stderr, "(Ctrl-C again to quit)\n");
            continue;
        }
        intr_pending = false;
        if (r == LINE_EOF) {
            if (tty) fputc('\n', stdout);
            break;
        }
        const char *s = skip_ws(line);
        bool go_on = true;
        if (*s == '/') go_on = handle_command(&c, s);
        else if (*s) chat_turn(&c, line);
        free(line);
        if (!go_on) break;
    }
    sigaction(SIGINT, &old_sa, NULL);
    rc = CLI_OK;

done:
    chat_history_free(&c.h);
    free(c.toks);
    ingot_sampler_free(c.smp);
    ingot_context_free(c.ctx);
    ingot_model_free(c.m);
    return rc;
}
