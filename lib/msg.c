/* msg.c - diagnostics on standard error, one line each, program name first. */
#include <stdarg.h>
#include <stdio.h>
#include "msg.h"

int sr_msg_verbosity = 1;
static const char *progname = "srkit";

void sr_msg_init(const char *name)
{
	const char *slash;
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
