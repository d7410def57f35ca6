/* msg.c - diagnostics on standard error, one line each, program name first. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "msg.h"

int sr_msg_verbosity = 1;
static const char *progname = "srkit";

/* At exit, flush what the tool printed through stdio (help, version,
 * listings, reports) and turn a failed write into exit status 3, so that
 * `sr-foo --help >/dev/full` does not report success. A closed pipe stays
 * quiet, as everywhere else. */
static void close_stdout(void)
{
	int failed = fflush(stdout) != 0 || ferror(stdout);
	int e = errno;
	if (fclose(stdout) != 0 && !failed) {
		failed = 1;
		e = errno;
	}
	if (failed && e != EPIPE) {
		fprintf(stderr, "%s: error: cannot write 'standard output': %s\n", progname, strerror(e));
		_exit(3);
	}
}

void sr_msg_init(const char *name)
{
	static int registered;
	const char *slash;
	if (!registered) {
		atexit(close_stdout);
		registered = 1;
	}
	if (!name)
		return;
	for (slash = name; *name; name++)
		if (*name == '/')
			slash = name + 1;
	progname = slash;
}

const char *sr_msg_progname(void)
{
	return progname;
}

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
	/* Build the line first so that concurrent writers do not interleave. */
	char line[4096];
	int n = snprintf(line, sizeof line, "%s: %s", progname, kind);
	if (n < 0)
		return;
	if ((size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void sr_msg_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
}

void sr_msg_warn(const char *fmt, ...)
{
	va_list ap;
	if (sr_msg_verbosity < 0)
		return;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void sr_msg_notice(const char *fmt, ...)
{
	va_list ap;
	if (sr_msg_verbosity < 1)
		return;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void sr_msg_debug(const char *fmt, ...)
{
	va_list ap;
	if (sr_msg_verbosity < 2)
		return;
	va_start(ap, fmt);
	vmsg("debug: ", fmt, ap);
	va_end(ap);
}

void sr_msg_report(const struct sr_error *err)
{
	char buf[2048];
	sr_error_format(err, buf, sizeof buf);
	sr_msg_error("%s", buf);
}

void sr_msg_report_warn(const struct sr_error *err)
{
	char buf[2048];
	sr_error_format(err, buf, sizeof buf);
	sr_msg_warn("%s", buf);
}

int sr_msg_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", progname);
	return SR_EXIT_USAGE;
}
