/* PLACEHOLDER: replaced by the real subcommand. */
#include "cli.h"
int cmd_mkmodel(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("mkmodel: not implemented yet");
}
