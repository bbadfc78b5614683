/* PLACEHOLDER: replaced by the real subcommand. */
#include "cli.h"
int cmd_chat(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("chat: not implemented yet");
}
