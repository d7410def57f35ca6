/* jsonl.c - streaming line reader: any line length up to a cap, BOM and CR
 * removed, blank lines skipped and counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonl.h"

#define CHUNK (1u << 18)

struct sr_reader {
	struct sr_input *in;
	size_t max_line;
	char *buf;
	size_t cap;
	size_t start, end;   /* unread bytes are buf[start..end) */
	size_t scanned;      /* bytes from start already known to hold no '\n' */
	int eof;
	long lineno;
	long blank;
	int at_start;        /* before the first line: strip a BOM */
	int skip_long;       /* over-long lines are skipped, not fatal */
	int discarding;      /* inside an over-long line being skipped */
	sr_reader_sink sink;
	void *sink_ctx;
};

void sr_reader_skip_long_lines(struct sr_reader *r, sr_reader_sink sink, void *ctx)
{
	r->skip_long = 1;
	r->sink = sink;
	r->sink_ctx = ctx;
}

static int too_long(struct sr_reader *r, long lineno, struct sr_error *err)
{
	sr_error_clear(err);
	snprintf(err->file, sizeof err->file, "%s", sr_input_name(r->in));
	err->line = lineno;
	return sr_fail(err, SR_ETOOBIG, "line longer than the limit of %zu bytes (see --max-line)",
	               r->max_line);
}

/* Pass bytes of a skipped line to the sink. */
static int sink_bytes(struct sr_reader *r, const char *p, size_t n, struct sr_error *err)
{
	int rc;
	if (!r->sink || n == 0)
		return 0;
	if ((rc = r->sink(r->sink_ctx, p, n)) < 0)
		return sr_fail(err, rc, "cannot write the skipped over-long line %ld", r->lineno + 1);
	return 0;
}

int sr_reader_open(const char *path, size_t max_line, struct sr_reader **out, struct sr_error *err)
{
	struct sr_reader *r = calloc(1, sizeof *r);
	int rc;

	*out = NULL;
	if (!r)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	if ((rc = sr_input_open(path, &r->in, err)) < 0) {
		free(r);
		return rc;
	}
	r->max_line = max_line ? max_line : SR_LINE_MAX_DEFAULT;
	r->cap = CHUNK;
	if (!(r->buf = malloc(r->cap + 1))) {
		sr_reader_free(r);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	r->at_start = 1;
	*out = r;
	return 0;
}

/* Read more input, compacting and growing the buffer as needed. */
static int refill(struct sr_reader *r, struct sr_error *err)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		size_t ncap = r->cap * 2;
		char *nb;
		if (!(nb = realloc(r->buf, ncap + 1)))
			return sr_fail(err, SR_ENOMEM, "out of memory for a line of %zu bytes", r->end);
		r->buf = nb;
		r->cap = ncap;
	}
	ssize_t n = sr_input_read(r->in, r->buf + r->end, r->cap - r->end, err);
	if (n < 0) {
		if (!err->file[0])
			snprintf(err->file, sizeof err->file, "%s", sr_input_name(r->in));
		err->line = r->lineno + 1;
		return (int)n;
	}
	if (n == 0)
		r->eof = 1;
	r->end += (size_t)n;
	return 0;
}

static int is_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

int sr_reader_next(struct sr_reader *r, struct sr_line *line, struct sr_error *err)
{
	for (;;) {
		char *nl = NULL;
		size_t avail = r->end - r->start;
		int rc;

		if (avail > r->scanned)
			nl = memchr(r->buf + r->start + r->scanned, '\n', avail - r->scanned);
		if (r->discarding) {
			/* Inside an over-long line: drop bytes up to its newline. */
			size_t n = nl ? (size_t)(nl - (r->buf + r->start)) : avail;
			if ((rc = sink_bytes(r, r->buf + r->start, n, err)) < 0)
				return rc;
			r->start += n + (nl ? 1 : 0);
			r->scanned = 0;
			if (nl || (r->eof && r->start == r->end)) {
				r->discarding = 0;
				r->lineno++;
				return too_long(r, r->lineno, err);
			}
			if ((rc = refill(r, err)) < 0)
				return rc;
			continue;
		}
		if (!nl) {
			r->scanned = avail;
			if (avail > r->max_line) {
				if (!r->skip_long)
					return too_long(r, r->lineno + 1, err);
				r->discarding = 1;
				continue;
			}
			if (!r->eof) {
				if ((rc = refill(r, err)) < 0)
					return rc;
				continue;
			}
			if (avail == 0)
				return 0;
			nl = r->buf + r->end; /* last line without '\n'; buf has a spare byte */
		}

		char *p = r->buf + r->start;
		size_t len = (size_t)(nl - p);
		size_t consumed = len + (nl < r->buf + r->end ? 1 : 0);
		r->start += consumed;
		r->scanned = 0;
		r->lineno++;
		if (len > r->max_line) {
			if (r->skip_long && (rc = sink_bytes(r, p, len, err)) < 0)
				return rc;
			return too_long(r, r->lineno, err);
		}
		if (r->at_start) {
			r->at_start = 0;
			if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
			    (unsigned char)p[2] == 0xBF) {
				p += 3;
				len -= 3;
			}
		}
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (is_blank(p, len)) {
			r->blank++;
			continue;
		}
		p[len] = '\0';
		line->data = p;
		line->len = len;
		line->lineno = r->lineno;
		return 1;
	}
}

const char *sr_reader_name(const struct sr_reader *r)
{
	return sr_input_name(r->in);
}

long sr_reader_blank_lines(const struct sr_reader *r)
{
	return r->blank;
}

void sr_reader_free(struct sr_reader *r)
{
	if (!r)
		return;
	sr_input_free(r->in);
	free(r->buf);
	free(r);
}
