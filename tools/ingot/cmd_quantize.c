/* ingot quantize: convert a model to another file type, with llama.cpp's
 * per-tensor mixes. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot quantize IN.gguf OUT.gguf TYPE [options]\n"
            "\n"
            "TYPE is one of: %s\n"
            "(Q3_K, Q4_K and Q5_K mean the _M mixes, as in llama-quantize)\n"
            "\n"
            "  -t, --threads N   threads (default: physical cores)\n"
            "      --pure        no per-tensor mix: every weight matrix gets TYPE\n"
            "  -v, --verbose     more messages on stderr\n",
            ingot_ftype_names());
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {0};
    int npos = 0;
    long threads = 0;
    bool pure = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc || !cli_parse_int(argv[i + 1], 1, 1024, &threads))
                return cli_usage_error("quantize", "bad value for %s", a);
            i++;
        } else if (!strcmp(a, "--pure")) {
            pure = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("quantize", "unknown option '%s'", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return cli_usage_error("quantize", "too many arguments");
        }
    }
    if (npos != 3) return cli_usage_error("quantize", "need IN OUT TYPE");
    if (!ingot_ftype_valid(pos[2]))
        return cli_usage_error("quantize", "unknown type '%s' (one of: %s)", pos[2], ingot_ftype_names());
    cli_setup_log(verbose);
    ingot_quantize_params qp = ingot_quantize_default_params();
    qp.n_threads = (int)threads;
    qp.pure = pure;
    qp.progress = cli_progress;
    qp.progress_user = (void *)"quantizing";
    double t0 = cli_now();
    if (ingot_quantize_file(pos[0], pos[1], pos[2], &qp) != INGOT_OK) return cli_lib_fail();
    struct stat a, b;
    if (stat(pos[0], &a) == 0 && stat(pos[1], &b) == 0)
        fprintf(stderr, "%s: %.1f MiB -> %s %.1f MiB in %.1f s\n", pos[1], a.st_size / 1048576.0, pos[2],
                b.st_size / 1048576.0, cli_now() - t0);
    return CLI_OK;
}
