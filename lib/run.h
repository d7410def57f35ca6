/*
 * run.h - what every record tool shares: reading records from the files on
 * the command line (or stdin) under the bad-input policy, writing records to
 * stdout or -o FILE, and the --stats counts.
 *
 * A tool's loop is:
 *
 *   struct sr_run run; sr_run_init(&run, "sr-foo");
 *   ... getopt: sr_run_option(&run, opt, optarg) for the common options ...
 *   sr_run_open(&run, argc - optind, argv + optind, &err);
 *   while ((rc = sr_run_next(&run, &rec, &err)) > 0) {
 *       ... change rec ...
 *       sr_run_emit(&run, &rec, &err);       // counts records_out
 *   }
 *   rc = sr_run_finish(&run, rc, &err);     // commit output, write stats
 *   return sr_run_exit(&run, rc, &err);     // prints the error, maps exit code
 *
 * Counts: records_in counts every non-blank input line; a line that fails
 * parsing or schema validation is either fatal (--on-error=fail, the
 * default), counted in `skipped` (skip), or written raw to the quarantine
 * file and counted in `skipped` (quarantine). Tools add `rejected`,
 * `duplicates` and `failed` themselves via the counters below, and any
 * tool-specific numbers into run.stats (a jansson object they own keys in).
 */
#ifndef SR_RUN_H
#define SR_RUN_H

#include <stdint.h>
#include <getopt.h>
#include <jansson.h>
#include "sr.h"
#include "io.h"
#include "jsonl.h"
#include "record.h"

struct sr_schema;

enum sr_on_error { SR_ON_ERROR_FAIL, SR_ON_ERROR_SKIP, SR_ON_ERROR_QUARANTINE };

struct sr_run {
	const char *prog;
	enum sr_on_error on_error;
	const char *quarantine_path;
	const char *stats_path;
	const char *output_path;     /* NULL or "-" = stdout */
	size_t max_line;
	const struct sr_schema *schema; /* validate each input record (borrowed) */

	uint64_t records_in, records_out, skipped, rejected, duplicates, failed;
	uint64_t blank_lines;
	int count_rejected, count_duplicates, count_failed; /* include in stats */
	json_t *stats;               /* extra tool-specific stats (owned) */

	/* internal */
	char **files; int nfiles, fileidx;
	struct sr_reader *reader;
	struct sr_output *out, *quarantine;
	char *buf; size_t bufcap;
	struct sr_line line;
};

/* Long options every record tool accepts; append SR_RUN_LONG_OPTIONS to a
 * tool's struct option table. Values start at 0x1000. */
enum {
	SR_OPT_ON_ERROR = 0x1000,
	SR_OPT_QUARANTINE,
	SR_OPT_STATS,
	SR_OPT_MAX_LINE,
	SR_OPT_HELP,
	SR_OPT_VERSION,
	SR_OPT_QUIET,
	SR_OPT_VERBOSE,
	SR_OPT_TOOL_BASE = 0x1100, /* tools number their own options from here */
};
#define SR_RUN_LONG_OPTIONS \
	{"on-error", required_argument, NULL, SR_OPT_ON_ERROR}, \
	{"quarantine", required_argument, NULL, SR_OPT_QUARANTINE}, \
	{"stats", required_argument, NULL, SR_OPT_STATS}, \
	{"max-line", required_argument, NULL, SR_OPT_MAX_LINE}, \
	{"output", required_argument, NULL, 'o'}, \
	{"quiet", no_argument, NULL, 'q'}, \
	{"verbose", no_argument, NULL, 'v'}, \
	{"help", no_argument, NULL, 'h'}, \
	{"version", no_argument, NULL, 'V'}

/* Help lines for the common options, for a tool's --help. */
#define SR_RUN_HELP \
"  -o, --output FILE       write records to FILE (atomically) instead of stdout\n" \
"      --on-error=MODE     bad input lines: fail (default), skip, quarantine\n" \
"      --quarantine FILE   with --on-error=quarantine: write bad lines here\n" \
"      --stats FILE        write counts as one JSON object to FILE\n" \
"      --max-line SIZE     longest accepted input line (default 1G; K/M/G)\n" \
"  -q, --quiet             only errors on stderr;  -v, --verbose  more detail\n" \
"  -h, --help              show this help;  -V, --version  show the version\n"

void sr_run_init(struct sr_run *run, const char *prog);
/* Handle a common option. Returns 1 if handled, 0 if not common, or a
 * negative code for a bad value (message already printed). The tool itself
 * handles -h/--help and -V/--version (this returns 0 for them). */
int sr_run_option(struct sr_run *run, int opt, const char *arg);
/* Check option combinations and open inputs (files; none = stdin), output
 * and quarantine. */
int sr_run_open(struct sr_run *run, int nfiles, char **files, struct sr_error *err);
/* Open only the output and quarantine (for tools whose inputs are not JSONL). */
int sr_run_open_output(struct sr_run *run, struct sr_error *err);
/* Next good record: 1 = rec filled (borrowing the line buffer until the
 * next call), 0 = end of all inputs, <0 fatal error in err. Bad lines are
 * handled by the policy inside. */
int sr_run_next(struct sr_run *run, struct sr_record *rec, struct sr_error *err);
/* Apply the bad-input policy to the current line (for errors a tool finds
 * itself, such as a missing field): returns 0 when the line was skipped or
 * quarantined (and warned about), or err->code to stop. */
int sr_run_bad_record(struct sr_run *run, struct sr_error *err);
/* Apply the policy to a raw line the tool read itself. */
int sr_run_bad_line(struct sr_run *run, const char *line, size_t len, struct sr_error *err);
/* Serialise rec to the output and count it. */
int sr_run_emit(struct sr_run *run, struct sr_record *rec, struct sr_error *err);
/* Write raw bytes (one or more complete lines) and count `records` records. */
int sr_run_emit_raw(struct sr_run *run, const char *buf, size_t len, uint64_t records, struct sr_error *err);
struct sr_output *sr_run_output(struct sr_run *run);
const char *sr_run_file(const struct sr_run *run);   /* current input name */
long sr_run_lineno(const struct sr_run *run);        /* current line number */
/* Commit output and quarantine and write --stats. Pass in the loop's final
 * code; returns the code to exit with (the first failure wins). */
int sr_run_finish(struct sr_run *run, int rc, struct sr_error *err);
/* Build the stats object (new reference): counts plus run->stats members. */
json_t *sr_run_stats_json(const struct sr_run *run);
/* Report err unless rc is 0 or SR_EPIPE, free everything, return the exit status. */
int sr_run_exit(struct sr_run *run, int rc, struct sr_error *err);
void sr_run_release(struct sr_run *run);

#endif
