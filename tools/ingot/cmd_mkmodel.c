/* ingot mkmodel: write a synthetic model (random weights, real tokenizer). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot mkmodel --preset NAME -o FILE [options]\n"
            "\n"
            "  --preset NAME      model shape:\n");
    for (int i = 0;; i++) {
        const char *arch, *desc, *name = ingot_mkmodel_preset(i, &arch, &desc);
        if (!name) break;
        fprintf(f, "                       %-10s %s: %s\n", name, arch, desc);
    }
    fprintf(f,
            "  --arch llama|gpt2  check the preset's architecture (tiny exists for both)\n"
            "  --type TYPE        file type, as for quantize (default F16): %s\n"
            "  -o, --output FILE  where to write the model\n"
            "  --seed S           random seed (default 1234)\n"
            "  --vocab FILE       GGUF file to copy the tokenizer from (default: the bundled\n"
            "                     ggml-vocab-llama-spm.gguf or ggml-vocab-gpt-2.gguf)\n"
            "  -t, --threads N    threads (default: physical cores)\n",
            ingot_ftype_names());
}

/* tests/data/vocab/NAME next to the binary's tree or in the source tree */
static const char *default_vocab(const char *arch) {
    static char path[PATH_MAX];
    const char *file = !strcmp(arch, "gpt2") ? "ggml-vocab-gpt-2.gguf" : "ggml-vocab-llama-spm.gguf";
    char exe[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *rel[] = {"/../tests/data/vocab/", "/tests/data/vocab/", "/../share/ingot/vocab/"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(path, sizeof path, "%s%s%s", exe, rel[i], file);
            if (access(path, R_OK) == 0) return path;
        }
    }
#ifdef INGOT_SOURCE_DIR
    snprintf(path, sizeof path, "%s/tests/data/vocab/%s", INGOT_SOURCE_DIR, file);
    if (access(path, R_OK) == 0) return path;
#endif
    return NULL;
}

int cmd_mkmodel(int argc, char **argv) {
    ingot_mkmodel_params p = ingot_mkmodel_default_params();
    const char *out = NULL;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        }
        if (!v) return cli_usage_error("mkmodel", "%s needs a value (or is unknown)", a);
        i++;
        if (!strcmp(a, "--preset")) p.preset = v;
        else if (!strcmp(a, "--arch")) p.arch = v;
        else if (!strcmp(a, "--type")) p.ftype = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--vocab")) p.vocab = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            p.seed = strtoull(v, &end, 10);
            if (*end || v[0] == '-' || !*v) return cli_usage_error("mkmodel", "bad seed '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int(v, 1, 1024, &threads)) return cli_usage_error("mkmodel", "bad value for -t: '%s'", v);
        } else
            return cli_usage_error("mkmodel", "unknown option '%s'", a);
    }
    if (!p.preset) return cli_usage_error("mkmodel", "no --preset");
    if (!out) return cli_usage_error("mkmodel", "no output file (-o FILE)");
    if (p.ftype && !ingot_ftype_valid(p.ftype))
        return cli_usage_error("mkmodel", "unknown type '%s' (one of: %s)", p.ftype, ingot_ftype_names());
    const char *arch = NULL;
    for (int i = 0;; i++) {
        const char *a, *name = ingot_mkmodel_preset(i, &a, NULL);
        if (!name) return cli_usage_error("mkmodel", "unknown preset '%s'", p.preset);
        if (!strcmp(name, p.preset)) {
            arch = p.arch ? p.arch : a;
            break;
        }
    }
    if (!p.vocab && !(p.vocab = default_vocab(arch)))
        return cli_fail("mkmodel: cannot find the default vocabulary for %s; give --vocab FILE", arch);
    p.n_threads = (int)threads;
    p.progress = cli_progress;
    p.progress_user = (void *)"writing";
    cli_setup_log(false);
    double t0 = cli_now();
    if (ingot_mkmodel(out, &p) != INGOT_OK) return cli_lib_fail();
    struct stat st;
    if (stat(out, &st) == 0)
        fprintf(stderr, "%s: %s %s, %.1f MiB in %.1f s\n", out, p.preset, p.ftype ? p.ftype : "F16",
                st.st_size / 1048576.0, cli_now() - t0);
    return CLI_OK;
}
