/* PLACEHOLDER: replaced by the real subcommand. */
#include "cli.h"
int cmd_logits(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("logits: not implemented yet");
}
