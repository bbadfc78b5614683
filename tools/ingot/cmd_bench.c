/* ingot bench: prompt processing and generation speed, llama-bench style,
 * with the generation rate also given as GB/s of weights read and as a
 * fraction of the memory-bandwidth floor (weight bytes per token divided by
 * the backend's measured bandwidth). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot bench -m MODEL [-m MODEL2 ...] [options]\n"
            "\n"
            "  -m, --model FILE   model to test (repeatable)\n"
            "  -p, --n-prompt N   prompt tokens, decoded as one batch (default 512; 0: skip)\n"
            "  -n, --n-gen N      generated tokens, one at a time (default 128; 0: skip)\n"
            "  -r, --repetitions N  runs per test after one warm-up (default 5)\n"
            "  -t, --threads N    CPU threads (default: physical cores)\n"
            "      --backend B    auto | cpu | cuda (default auto)\n"
            "      --json         one JSON object per test instead of the table\n"
            "  -v, --verbose      the library's messages on stderr (device memory taken, ...)\n");
}

typedef struct {
    double mean, sd;
} stat2;

static stat2 stats(const double *v, int n) {
    stat2 s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

/* Weight bytes a decode step reads, and the multiply-adds it does: every
 * matrix, except the embedding table when the output has its own (only one
 * row of it is read); learned positions likewise. */
static void model_costs(const char *path, double *bytes, double *params) {
    *bytes = *params = 0;
    ingot_gguf *g;
    if (ingot_gguf_open(path, &g) != INGOT_OK) return;
    bool has_output = false;
    for (int64_t i = 0; i < ingot_gguf_n_tensors(g); i++) {
        ingot_tensor_info t;
        ingot_gguf_tensor(g, i, &t);
        if (!strcmp(t.name, "output.weight")) has_output = true;
    }
    for (int64_t i = 0; i < ingot_gguf_n_tensors(g); i++) {
        ingot_tensor_info t;
        ingot_gguf_tensor(g, i, &t);
        if ((!strcmp(t.name, "token_embd.weight") && has_output) || !strcmp(t.name, "position_embd.weight"))
            continue;
        *bytes += (double)t.nbytes;
        if (t.n_dims >= 2) *params += (double)t.ne[0] * (double)t.ne[1] * (double)t.ne[2] * (double)t.ne[3];
    }
    ingot_gguf_close(g);
}

static void human(char *buf, size_t cap, double v, const char *const *units, double step) {
    int u = 0;
    while (v >= step && units[u + 1]) {
        v /= step;
        u++;
    }
    snprintf(buf, cap, "%.2f %s", v, units[u]);
}

typedef struct {
    const char *path;
    char label[96], size[32], params[32], backend[64], device[128];
    double bytes_tok, flops_tok, bw;
    size_t gpu_used;  /* device memory in use, the driver's context included */
    size_t gpu_alloc; /* what ingot itself holds on the device */
    double kv_bytes;
} minfo;

static void print_header(void) {
    printf("| %-28s | %10s | %9s | %-10s | %7s | %7s | %18s | %7s | %6s | %9s |\n", "model", "size", "params",
           "backend", "threads", "test", "t/s", "GB/s", "floor", "peak RSS");
    printf("| %.28s | %.9s: | %.8s: | %.10s | %.6s: | %.6s: | %.17s: | %.6s: | %.5s: | %.8s: |\n",
           "------------------------------", "----------", "----------", "----------", "--------", "--------",
           "------------------", "-------", "------", "---------");
}

int cmd_bench(int argc, char **argv) {
    const char *models[32];
    int n_models = 0;
    long n_prompt = 512, n_gen = 128, reps = 5, threads = 0;
    bool json = false, verbose = false;
    ingot_backend_kind backend = INGOT_BACKEND_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
            continue;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
            continue;
        }
        if (!v) return cli_usage_error("bench", "%s needs a value (or is unknown)", a);
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (n_models == 32) return cli_usage_error("bench", "too many models");
            models[n_models++] = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
            if (!cli_parse_int(v, 0, 1 << 16, &n_prompt)) return cli_usage_error("bench", "bad value for -p: '%s'", v);
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            if (!cli_parse_int(v, 0, 1 << 16, &n_gen)) return cli_usage_error("bench", "bad value for -n: '%s'", v);
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            if (!cli_parse_int(v, 1, 1000, &reps)) return cli_usage_error("bench", "bad value for -r: '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("bench", "bad value for -t: '%s'", v);
        } else if (!strcmp(a, "--backend")) {
            if (!cli_parse_backend(v, &backend)) return cli_usage_error("bench", "unknown backend '%s'", v);
        } else {
            return cli_usage_error("bench", "unknown option '%s'", a);
        }
    }
    if (!n_models) {
        const char *d = cli_default_model();
        if (!d) return cli_usage_error("bench", "no model (-m FILE)");
        models[n_models++] = d;
    }
    if (!n_prompt && !n_gen) return cli_usage_error("bench", "nothing to do (-p 0 and -n 0)");
    cli_setup_log(verbose);
    if (!json) print_header();
    fflush(stdout);

    double *runs = malloc((size_t)reps * sizeof(double));
    int32_t *toks = malloc((size_t)(n_prompt > 0 ? n_prompt : 1) * sizeof(int32_t));
    if (!runs || !toks) {
        free(runs);
        free(toks);
        return cli_fail("out of memory");
    }
    int rc = CLI_OK;
    for (int mi = 0; mi < n_models; mi++) {
        minfo mf = {.path = models[mi]};
        ingot_reset_peak_rss();
        ingot_model *m = cli_load_model(mf.path, backend, (int)threads, false);
        if (!m) {
            rc = CLI_ERR;
            continue;
        }
        ingot_model_info info;
        ingot_model_get_info(m, &info);
        model_costs(mf.path, &mf.bytes_tok, &mf.flops_tok);
        mf.flops_tok *= 2;
        static const char *const pu[] = {"", "K", "M", "B", NULL};
        {
            double v = (double)info.n_params;
            int u = 0;
            while (v >= 1000 && pu[u + 1]) v /= 1000, u++;
            snprintf(mf.label, sizeof mf.label, "%s %.*f%s %s", info.arch, v < 10 ? 1 : 0, v, pu[u], info.file_type);
        }
        static const char *const bu[] = {"B", "KiB", "MiB", "GiB", NULL};
        human(mf.size, sizeof mf.size, (double)info.weight_bytes, bu, 1024);
        human(mf.params, sizeof mf.params, (double)info.n_params, pu, 1000);
        snprintf(mf.backend, sizeof mf.backend, "%s", info.backend);
        snprintf(mf.device, sizeof mf.device, "%s", info.device_name);
        const int nth = threads ? (int)threads : 0;
        ingot_context_params cp = ingot_context_default_params();
        uint32_t need = (uint32_t)(n_prompt + n_gen + 1);
        cp.n_ctx = need < info.n_ctx_train || !info.n_ctx_train ? need : info.n_ctx_train;
        cp.n_batch = n_prompt > 0 ? (uint32_t)n_prompt : 1;
        ingot_context *c = NULL;
        if (ingot_context_new(m, &cp, &c) != INGOT_OK) {
            cli_lib_fail();
            ingot_model_free(m);
            rc = CLI_ERR;
            continue;
        }
        srand(1234);
        for (long i = 0; i < n_prompt; i++) toks[i] = (int32_t)(rand() % (int)info.n_vocab);

        double tps[2][2] = {{0}};
        for (int test = 0; test < 2; test++) {
            const long cnt = test == 0 ? n_prompt : n_gen;
            if (cnt <= 0) continue;
            bool ok = true;
            for (int r = -1; r < reps && ok; r++) { /* r = -1: warm-up */
                ingot_context_truncate(c, 0);
                double t0 = cli_now();
                if (test == 0) {
                    ok = ingot_decode(c, toks, (int32_t)cnt, false) == INGOT_OK;
                } else {
                    int32_t id = toks[0] % (int32_t)info.n_vocab;
                    for (long i = 0; i < cnt && ok; i++) ok = ingot_decode_greedy(c, &id, 1, &id) == INGOT_OK;
                }
                double dt = cli_now() - t0;
                if (r >= 0) runs[r] = (double)cnt / dt;
            }
            if (!ok) {
                cli_lib_fail();
                rc = CLI_ERR;
                break;
            }
            stat2 s = stats(runs, (int)reps);
            tps[test][0] = s.mean;
            tps[test][1] = s.sd;
        }
        const uint64_t rss = ingot_peak_rss();
        size_t gfree = 0, gtotal = 0;
        ingot_backend_memory(m, &gfree, &gtotal);
        mf.gpu_used = gtotal ? gtotal - gfree : 0;
        mf.gpu_alloc = ingot_backend_allocated(m);
        mf.kv_bytes = 2.0 * info.n_layer * ingot_n_ctx(c) * info.n_head_kv * (info.n_embd / info.n_head) * 2;
        ingot_context_free(c);
        mf.bw = n_gen > 0 ? ingot_backend_bandwidth(m) : 0;
        ingot_model_free(m);

        for (int test = 0; test < 2; test++) {
            const long cnt = test == 0 ? n_prompt : n_gen;
            if (cnt <= 0 || tps[test][0] <= 0) continue;
            char tname[32], tpsbuf[40], gbs[16] = "-", floor[16] = "-", rssbuf[32];
            snprintf(tname, sizeof tname, "%s%ld", test == 0 ? "pp" : "tg", cnt);
            snprintf(tpsbuf, sizeof tpsbuf, "%.2f ± %.2f", tps[test][0], tps[test][1]);
            const double gb = tps[test][0] * mf.bytes_tok / 1e9;
            if (test == 1) {
                snprintf(gbs, sizeof gbs, "%.1f", gb);
                if (mf.bw > 0) snprintf(floor, sizeof floor, "%.0f%%", 100.0 * gb * 1e9 / mf.bw);
            }
            human(rssbuf, sizeof rssbuf, (double)rss, bu, 1024);
            if (json) {
                printf("{\"model\":");
                cli_json_str(stdout, mf.path, strlen(mf.path));
                printf(",\"label\":");
                cli_json_str(stdout, mf.label, strlen(mf.label));
                printf(",\"size_bytes\":%llu,\"n_params\":%llu,\"backend\":\"%s\",\"device\":",
                       (unsigned long long)info.weight_bytes, (unsigned long long)info.n_params, mf.backend);
                cli_json_str(stdout, mf.device, strlen(mf.device));
                printf(",\"threads\":%d,\"test\":\"%s\",\"n_tokens\":%ld,\"reps\":%ld,\"tps_mean\":%.4f,"
                       "\"tps_sd\":%.4f,\"weight_bytes_per_token\":%.0f,\"flops_per_token\":%.0f",
                       nth, tname, cnt, reps, tps[test][0], tps[test][1], mf.bytes_tok, mf.flops_tok);
                if (test == 1) {
                    printf(",\"weight_gbps\":%.3f", gb);
                    if (mf.bw > 0) printf(",\"bandwidth_gbps\":%.3f,\"floor_fraction\":%.4f", mf.bw / 1e9, gb * 1e9 / mf.bw);
                }
                printf(",\"peak_rss_bytes\":%llu", (unsigned long long)rss);
                if (mf.gpu_used) printf(",\"gpu_mem_used_bytes\":%zu", mf.gpu_used);
                if (mf.gpu_alloc)
                    printf(",\"gpu_mem_ingot_bytes\":%zu,\"kv_bytes\":%.0f", mf.gpu_alloc, mf.kv_bytes);
                printf("}\n");
            } else {
                char be[96];
                if (mf.gpu_alloc)
                    snprintf(be, sizeof be, "%.60s %.1fG", mf.backend, mf.gpu_alloc / 1073741824.0);
                else
                    snprintf(be, sizeof be, "%s", mf.backend);
                char th[16];
                int used = nth;
                const char *tp = strstr(mf.device, " threads)");
                if (!used && tp) { /* the CPU backend names its thread count */
                    while (tp > mf.device && tp[-1] >= '0' && tp[-1] <= '9') tp--;
                    used = atoi(tp);
                }
                if (used) snprintf(th, sizeof th, "%d", used);
                else snprintf(th, sizeof th, "auto");
                printf("| %-28s | %10s | %9s | %-10s | %7s | %7s | %18s | %7s | %6s | %9s |\n", mf.label, mf.size,
                       mf.params, be, th, tname, tpsbuf, gbs, floor, rssbuf);
            }
            fflush(stdout);
        }
        if (!json && mf.gpu_alloc) {
            const double w = (double)info.weight_bytes, kv = mf.kv_bytes, a = (double)mf.gpu_alloc;
            fprintf(stderr,
                    "%s: GPU memory: ingot holds %.2f GiB = weights %.2f + KV %.2f + scratch %.2f GiB "
                    "(%.1f%% over weights + KV); the device has %.2f GiB in use, its context included\n",
                    mf.path, a / 1073741824.0, w / 1073741824.0, kv / 1073741824.0, (a - w - kv) / 1073741824.0,
                    100.0 * (a - w - kv) / (w + kv), mf.gpu_used / 1073741824.0);
        }
        if (!json && mf.bw > 0)
            fprintf(stderr, "%s: %s, measured bandwidth %.1f GB/s, %.0f MB of weights per token\n", mf.path,
                    mf.device, mf.bw / 1e9, mf.bytes_tok / 1e6);
    }
    free(runs);
    free(toks);
    return rc;
}
