/* The README's example: greedy story from the bundled model through the
 * public API. Built by CMake (examples/) and run by tests/cli_example.sh. */
#include <stdio.h>
#include <string.h>
#include "ingot.h"

int main(void) {
    ingot_model *m;
    if (ingot_model_load("models/stories260K.gguf", NULL, &m) != INGOT_OK) {
        fprintf(stderr, "%s\n", ingot_last_error());
        return 1;
    }
    ingot_context *ctx;
    ingot_context_new(m, NULL, &ctx);
    const char *prompt = "Once upon a time";
    int32_t toks[64];
    int64_t n = ingot_tokenize(m, prompt, strlen(prompt), true, false, toks, 64);
    ingot_sampler_params sp = ingot_sampler_default_params();
    sp.temp = 0; /* greedy */
    ingot_sampler *s = ingot_sampler_new(&sp);
    ingot_detok *d = ingot_detok_new(m, false);
    char piece[256];
    int32_t id, n_feed = (int32_t)n;
    const int32_t *feed = toks;
    for (int i = 0; i < 40; i++) {
        /* on a GPU only the sampler's candidates leave the device */
        if (ingot_decode_sample(ctx, feed, n_feed, s, &id) != INGOT_OK || ingot_token_is_eog(m, id)) break;
        ingot_sampler_accept(s, id);
        fwrite(piece, 1, ingot_detok_push(d, id, piece, sizeof piece), stdout);
        feed = &id, n_feed = 1;
    }
    putchar('\n');
    ingot_detok_free(d);
    ingot_sampler_free(s);
    ingot_context_free(ctx);
    ingot_model_free(m);
}
