/* Shared pieces of the `ingot` command line tool. Every subcommand lives in
 * its own cmd_*.c file and talks to the library only through ingot.h. */
#ifndef INGOT_CLI_H
#define INGOT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "ingot.h"

/* Exit codes used by every subcommand. */
enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);

/* "ingot: <msg>" on stderr, returns CLI_ERR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: "ingot <cmd>: <msg>" + hint, returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report the library's last error ("ingot: FILE: problem"), returns CLI_ERR. */
int cli_lib_fail(void);

/* Path of the bundled default model (stories260K), NULL if not found. */
const char *cli_default_model(void);

/* Route library log messages to stderr as "ingot: msg" (warnings and errors;
 * info too when verbose). */
void cli_setup_log(bool verbose);

/* Progress bar on stderr (only drawn on a terminal); user: a label such as
 * "writing" (NULL: "loading"). */
bool cli_progress(float fraction, void *user);

/* Strict number parsing: false if `s` is not entirely a number in range. */
bool cli_parse_int(const char *s, long min, long max, long *out);
bool cli_parse_float(const char *s, double min, double max, double *out);

/* Read a whole file (binary); NULL + message on failure. */
char *cli_read_file(const char *path, size_t *len);

/* Parse --kv f16|f32. */
bool cli_parse_kv(const char *s, ingot_kv_type *out);

/* Parse --backend NAME. */
bool cli_parse_backend(const char *s, ingot_backend_kind *out);

/* Load a model with the standard progress bar and error reporting. */
ingot_model *cli_load_model(const char *path, ingot_backend_kind backend, int n_threads,
                            bool vocab_only);

/* Sampling flags shared by run and chat: --temp --top-k --top-p --min-p
 * --repeat-penalty --repeat-last-n --seed. Returns how many argv entries it
 * consumed (0: not a sampling flag, -1: bad or missing value). */
int cli_parse_sampling(const char *flag, const char *value, ingot_sampler_params *p);
#define CLI_SAMPLING_HELP                                                              \
    "      --temp T          temperature (default 0.8; 0: greedy)\n"                  \
    "      --top-k K         keep the K most likely tokens (default 40; 0: off)\n"    \
    "      --top-p P         nucleus sampling mass (default 0.95; 1: off)\n"          \
    "      --min-p P         drop tokens below P x the top one (default 0.05; 0: off)\n" \
    "      --repeat-penalty R  penalise recent tokens (default 1.0: off)\n"          \
    "      --repeat-last-n N   tokens the penalty looks back over (default 64)\n"    \
    "      --seed S          random seed (default: from the clock)\n"

/* Seconds on a monotonic clock. */
double cli_now(void);

/* Write a JSON string literal (with quotes) for `len` bytes. */
void cli_json_str(FILE *f, const char *s, size_t len);

#endif
