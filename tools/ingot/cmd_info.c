/* PLACEHOLDER: replaced by the real subcommand. */
#include "cli.h"
int cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("info: not implemented yet");
}
