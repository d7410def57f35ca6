/* Subcommands whose library parts have not landed yet. */
#include "bon-cmd.h"
#include "msg.h"

static int pending(const char *what)
{
	sr_msg_error("'sr-bon %s' is not available in this build", what);
	return 3;
}

int bon_run_main(int argc, char **argv) { (void)argc; (void)argv; return pending("run"); }
