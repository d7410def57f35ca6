/* error.c - error codes, their names and the exit status table. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "sr.h"

int sr_fail(struct sr_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	return code;
}

void sr_error_clear(struct sr_error *err)
{
	if (err)
		memset(err, 0, sizeof *err);
}

void sr_error_format(const struct sr_error *err, char *buf, size_t cap)
{
	size_t n = 0;
	if (cap == 0)
		return;
	buf[0] = '\0';
#define ADD(...) do { if (n < cap) { int k = snprintf(buf + n, cap - n, __VA_ARGS__); \
	if (k > 0) n += (size_t)k; } } while (0)
	if (err->file[0]) {
		ADD("%s:", err->file);
		if (err->line > 0)
			ADD("%ld:", err->line);
		if (err->column > 0)
			ADD("%ld:", err->column);
		ADD(" ");
	}
	if (err->field[0])
		ADD("field '%s': ", err->field);
	ADD("%s", err->message[0] ? err->message : sr_strerror(err->code));
#undef ADD
}

const char *sr_strerror(int code)
{
	switch (code) {
	case SR_OK: return "success";
	case SR_EDATA: return "invalid input data";
	case SR_EUSAGE: return "usage error";
	case SR_EIO: return "input/output error";
	case SR_ENOMEM: return "out of memory";
	case SR_ETOOBIG: return "input exceeds a size limit";
	case SR_EPIPE: return "output pipe closed";
	case SR_EENDPOINT: return "endpoint failure";
	case SR_ENOTFOUND: return "not found";
	case SR_ESCHEMA: return "schema violation";
	default: return "unknown error";
	}
}

int sr_exit_status(int code)
{
	switch (code) {
	case SR_OK:
	case SR_EPIPE:
		return SR_EXIT_OK;
	case SR_EDATA:
	case SR_ETOOBIG:
	case SR_ENOTFOUND:
	case SR_ESCHEMA:
		return SR_EXIT_DATA;
	case SR_EUSAGE:
		return SR_EXIT_USAGE;
	default:
		return SR_EXIT_IO;
	}
}
