/* run.c - the record loop every tool shares: inputs, bad-input policy,
 * output, quarantine and --stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "run.h"
#include "msg.h"
#include "opt.h"
#include "schema.h"

#define WARN_LIMIT 20

static int warned;

void sr_run_init(struct sr_run *run, const char *prog)
{
	memset(run, 0, sizeof *run);
	run->prog = prog;
	run->on_error = SR_ON_ERROR_FAIL;
	run->max_line = SR_LINE_MAX_DEFAULT;
	run->stats = json_object();
	sr_msg_init(prog);
}

int sr_run_option(struct sr_run *run, int opt, const char *arg)
{
	uint64_t v;
	switch (opt) {
	case SR_OPT_ON_ERROR:
		if (strcmp(arg, "fail") == 0)
			run->on_error = SR_ON_ERROR_FAIL;
		else if (strcmp(arg, "skip") == 0)
			run->on_error = SR_ON_ERROR_SKIP;
		else if (strcmp(arg, "quarantine") == 0)
			run->on_error = SR_ON_ERROR_QUARANTINE;
		else {
			sr_msg_usage("invalid --on-error value '%s' (expected fail, skip or quarantine)", arg);
			return SR_EUSAGE;
		}
		return 1;
	case SR_OPT_QUARANTINE:
		run->quarantine_path = arg;
		return 1;
	case SR_OPT_STATS:
		run->stats_path = arg;
		return 1;
	case SR_OPT_MAX_LINE:
		if (sr_parse_u64(arg, 1, &v) < 0 || v == 0 || v > ((uint64_t)1 << 40)) {
			sr_msg_usage("invalid --max-line value '%s' (expected a size such as 64M)", arg);
			return SR_EUSAGE;
		}
		run->max_line = (size_t)v;
		return 1;
	case 'o':
		run->output_path = arg;
		return 1;
	case 'q':
		sr_msg_verbosity = 0;
		return 1;
	case 'v':
		sr_msg_verbosity = 2;
		return 1;
	default:
		return 0;
	}
}

int sr_run_open_output(struct sr_run *run, struct sr_error *err)
{
	int rc;
	if (run->on_error == SR_ON_ERROR_QUARANTINE && !run->quarantine_path)
		return sr_fail(err, SR_EUSAGE, "--on-error=quarantine needs --quarantine FILE");
	if (run->quarantine_path && run->on_error != SR_ON_ERROR_QUARANTINE)
		return sr_fail(err, SR_EUSAGE, "--quarantine needs --on-error=quarantine");
	if (!run->out) {
		int flags = run->output_path && strcmp(run->output_path, "-") != 0 ? SR_OUTPUT_ATOMIC : 0;
		if ((rc = sr_output_open(run->output_path, flags, &run->out, err)) < 0)
			return rc;
	}
	if (run->quarantine_path && !run->quarantine &&
	    (rc = sr_output_open(run->quarantine_path, SR_OUTPUT_ATOMIC, &run->quarantine, err)) < 0)
		return rc;
	return 0;
}

int sr_run_open(struct sr_run *run, int nfiles, char **files, struct sr_error *err)
{
	static char *stdin_name[] = { "-" };
	if (nfiles <= 0) {
		run->files = stdin_name;
		run->nfiles = 1;
	} else {
		run->files = files;
		run->nfiles = nfiles;
	}
	run->fileidx = 0;
	return sr_run_open_output(run, err);
}

const char *sr_run_file(const struct sr_run *run)
{
	return run->reader ? sr_reader_name(run->reader) :
	       (run->fileidx > 0 && run->fileidx <= run->nfiles ? run->files[run->fileidx - 1] : "-");
}

long sr_run_lineno(const struct sr_run *run)
{
	return run->line.lineno;
}

static void locate(struct sr_run *run, struct sr_error *err)
{
	if (!err->file[0])
		snprintf(err->file, sizeof err->file, "%s", sr_run_file(run));
	if (err->line == 0)
		err->line = run->line.lineno;
}

int sr_run_bad_line(struct sr_run *run, const char *line, size_t len, struct sr_error *err)
{
	int rc;
	locate(run, err);
	if (err->code == 0)
		err->code = SR_EDATA;
	if (run->on_error == SR_ON_ERROR_FAIL)
		return err->code;
	if (run->on_error == SR_ON_ERROR_QUARANTINE) {
		struct sr_error werr;
		sr_error_clear(&werr);
		/* line is NULL for an over-long line already written by the sink. */
		if ((line && (rc = sr_output_write(run->quarantine, line, len, &werr)) < 0) ||
		    (rc = sr_output_write(run->quarantine, "\n", 1, &werr)) < 0) {
			*err = werr;
			return rc;
		}
	}
	run->skipped++;
	if (warned < WARN_LIMIT) {
		sr_msg_report_warn(err);
		if (++warned == WARN_LIMIT)
			sr_msg_warn("further bad-line warnings suppressed; see the skipped count");
	}
	sr_error_clear(err);
	return 0;
}

int sr_run_bad_record(struct sr_run *run, struct sr_error *err)
{
	return sr_run_bad_line(run, run->line.data, run->line.len, err);
}

static int quarantine_sink(void *ctx, const char *bytes, size_t len)
{
	struct sr_run *run = ctx;
	return sr_output_write(run->quarantine, bytes, len, NULL);
}

int sr_run_next(struct sr_run *run, struct sr_record *rec, struct sr_error *err)
{
	int rc;
	for (;;) {
		if (!run->reader) {
			if (run->fileidx >= run->nfiles)
				return 0;
			const char *path = run->files[run->fileidx++];
			if ((rc = sr_reader_open(path, run->max_line, &run->reader, err)) < 0)
				return rc;
			if (run->on_error == SR_ON_ERROR_QUARANTINE)
				sr_reader_skip_long_lines(run->reader, quarantine_sink, run);
			else if (run->on_error == SR_ON_ERROR_SKIP)
				sr_reader_skip_long_lines(run->reader, NULL, NULL);
		}
		rc = sr_reader_next(run->reader, &run->line, err);
		if (rc == SR_ETOOBIG) {
			/* An over-long line is one bad record: counted, and under
			 * skip or quarantine passed over (its bytes already went to
			 * the quarantine file through the sink). */
			run->records_in++;
			if (run->on_error == SR_ON_ERROR_FAIL)
				return rc;
			if ((rc = sr_run_bad_line(run, NULL, 0, err)) < 0)
				return rc;
			continue;
		}
		if (rc < 0)
			return rc;
		if (rc == 0) {
			run->blank_lines += (uint64_t)sr_reader_blank_lines(run->reader);
			sr_reader_free(run->reader);
			run->reader = NULL;
			continue;
		}
		run->records_in++;
		sr_error_clear(err);
		rc = sr_record_parse(rec, run->line.data, run->line.len, err);
		if (rc == 0 && run->schema)
			rc = sr_schema_validate_record(run->schema, rec, err);
		if (rc == 0) {
			rec->file = sr_reader_name(run->reader);
			rec->lineno = run->line.lineno;
			return 1;
		}
		if (rc == SR_ENOMEM)
			return rc;
		if ((rc = sr_run_bad_line(run, run->line.data, run->line.len, err)) < 0)
			return rc;
	}
}

int sr_run_emit(struct sr_run *run, struct sr_record *rec, struct sr_error *err)
{
	long n = sr_record_serialize(rec, &run->buf, &run->bufcap);
	int rc;
	if (n < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	if ((rc = sr_output_write(run->out, run->buf, (size_t)n, err)) < 0)
		return rc;
	run->records_out++;
	return 0;
}

int sr_run_emit_raw(struct sr_run *run, const char *buf, size_t len, uint64_t records, struct sr_error *err)
{
	int rc = sr_output_write(run->out, buf, len, err);
	if (rc < 0)
		return rc;
	run->records_out += records;
	return 0;
}

struct sr_output *sr_run_output(struct sr_run *run)
{
	return run->out;
}

json_t *sr_run_stats_json(const struct sr_run *run)
{
	json_t *o = json_object();
	const char *k;
	json_t *v;
	if (!o)
		return NULL;
	json_object_set_new(o, "tool", json_string(run->prog));
	json_object_set_new(o, "records_in", json_integer((json_int_t)run->records_in));
	json_object_set_new(o, "records_out", json_integer((json_int_t)run->records_out));
	json_object_set_new(o, "skipped", json_integer((json_int_t)run->skipped));
	json_object_set_new(o, "rejected", json_integer((json_int_t)run->rejected));
	json_object_set_new(o, "duplicates", json_integer((json_int_t)run->duplicates));
	json_object_set_new(o, "failed", json_integer((json_int_t)run->failed));
	json_object_set_new(o, "blank_lines", json_integer((json_int_t)run->blank_lines));
	if (run->stats)
		json_object_foreach(run->stats, k, v)
			json_object_set(o, k, v);
	return o;
}

static int write_stats(struct sr_run *run, struct sr_error *err)
{
	struct sr_output *o;
	json_t *s;
	char *text;
	int rc;

	if (!run->stats_path)
		return 0;
	if (!(s = sr_run_stats_json(run)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	text = json_dumps(s, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	json_decref(s);
	if (!text)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	if ((rc = sr_output_open(run->stats_path, SR_OUTPUT_ATOMIC, &o, err)) == 0) {
		if ((rc = sr_output_write(o, text, strlen(text), err)) == 0 &&
		    (rc = sr_output_write(o, "\n", 1, err)) == 0)
			rc = sr_output_commit(o, err);
		sr_output_free(o);
	}
	free(text);
	return rc;
}

int sr_run_finish(struct sr_run *run, int rc, struct sr_error *err)
{
	struct sr_error e2;
	int r;

	if (run->reader) {
		run->blank_lines += (uint64_t)sr_reader_blank_lines(run->reader);
		sr_reader_free(run->reader);
		run->reader = NULL;
	}
	sr_error_clear(&e2);
	if (rc >= 0 && run->out && (r = sr_output_commit(run->out, err)) < 0)
		rc = r;
	/* A stream behaves the same however much was buffered: records
	 * written before a fatal error reach standard output (as with jq),
	 * while a file output (-o) is not committed and stays absent. */
	if (rc < 0 && rc != SR_EPIPE && run->out &&
	    (!run->output_path || strcmp(run->output_path, "-") == 0))
		sr_output_flush(run->out, &e2);
	if (rc >= 0 && run->quarantine && (r = sr_output_commit(run->quarantine, err)) < 0)
		rc = r;
	/* A closed output pipe (`| head`) ends the run early and quietly; the
	 * stats say so, because the record in flight and the unread input are
	 * then in none of the counts. */
	if (rc == SR_EPIPE && run->stats)
		json_object_set_new(run->stats, "output_closed", json_true());
	/* Stats are written even after a failure, so a run can be diagnosed. */
	if ((r = write_stats(run, rc < 0 ? &e2 : err)) < 0 && rc >= 0)
		rc = r;
	return rc;
}

int sr_run_exit(struct sr_run *run, int rc, struct sr_error *err)
{
	if (rc < 0 && rc != SR_EPIPE) {
		if (err->code == 0)
			err->code = rc;
		sr_msg_report(err);
	}
	if (run->skipped > 0)
		sr_msg_notice("%llu bad input line(s) skipped", (unsigned long long)run->skipped);
	sr_run_release(run);
	return sr_exit_status(rc < 0 ? rc : 0);
}

void sr_run_release(struct sr_run *run)
{
	sr_reader_free(run->reader);
	run->reader = NULL;
	sr_output_free(run->out);
	run->out = NULL;
	sr_output_free(run->quarantine);
	run->quarantine = NULL;
	json_decref(run->stats);
	run->stats = NULL;
	free(run->buf);
	run->buf = NULL;
}
