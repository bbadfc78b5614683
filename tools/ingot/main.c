/* ingot — command line entry point: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "interactive chat with the model's template"},
    {"bench", cmd_bench, "measure prompt and generation speed"},
    {"perplexity", cmd_perplexity, "perplexity of a text file"},
    {"info", cmd_info, "show a GGUF file's metadata and tensors"},
    {"tokenize", cmd_tokenize, "text to token ids"},
    {"detokenize", cmd_detokenize, "token ids to text"},
    {"logits", cmd_logits, "print the top logits as JSON"},
    {"quantize", cmd_quantize, "convert a model to another tensor type"},
    {"mkmodel", cmd_mkmodel, "write a synthetic model with random weights"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ingot <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'ingot <command> --help' shows a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("ingot %s\n", INGOT_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ingot: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
