/* PLACEHOLDER: replaced by the real subcommand. */
#include "cli.h"
int cmd_detokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("detokenize: not implemented yet");
}
