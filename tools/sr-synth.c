/* sr-synth - turn prompt records into teacher samples: n reasoning samples
 * per prompt from an OpenAI-compatible endpoint or the built-in teacher. */
#define _GNU_SOURCE  /* memmem */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "guideset.h"
#include "io.h"
#include "msg.h"
#include "opt.h"
#include "record.h"
#include "run.h"
#include "schema.h"
#include "teacher.h"
#include "util.h"

/* Bytes of input lines and completions held for in-order output at which
 * reading pauses, whatever --window is. */
#define WINDOW_BYTES ((size_t)256 << 20)

enum {
	OPT_ENDPOINT = SR_OPT_TOOL_BASE,
	OPT_MODEL,
	OPT_API_KEY_ENV,
	OPT_TEMPERATURE,
	OPT_TOP_P,
	OPT_MAX_TOKENS,
	OPT_SEED,
	OPT_CONCURRENCY,
	OPT_RPM,
	OPT_TPM,
	OPT_TIMEOUT,
	OPT_MAX_RETRIES,
	OPT_RETRY_DELAY,
	OPT_NO_N,
	OPT_CACHE,
	OPT_NO_CACHE,
	OPT_FAILED,
	OPT_TEACHER,
	OPT_WINDOW,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
};

static const struct option long_options[] = {
	{"endpoint", required_argument, NULL, OPT_ENDPOINT},
	{"model", required_argument, NULL, OPT_MODEL},
	{"api-key-env", required_argument, NULL, OPT_API_KEY_ENV},
	{"samples", required_argument, NULL, 'n'},
	{"temperature", required_argument, NULL, OPT_TEMPERATURE},
	{"top-p", required_argument, NULL, OPT_TOP_P},
	{"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	{"rpm", required_argument, NULL, OPT_RPM},
	{"tpm", required_argument, NULL, OPT_TPM},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
	{"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
	{"no-n", no_argument, NULL, OPT_NO_N},
	{"cache", required_argument, NULL, OPT_CACHE},
	{"no-cache", no_argument, NULL, OPT_NO_CACHE},
	{"failed", required_argument, NULL, OPT_FAILED},
	{"teacher", required_argument, NULL, OPT_TEACHER},
	{"guidelines", required_argument, NULL, 'g'},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"progress", no_argument, NULL, OPT_PROGRESS},
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: sr-synth [OPTION]... [FILE]...\n"
	       "Add teacher samples to prompt records: one output record per sample, in\n"
	       "input order, with sample, teacher, completion, reasoning and answer.\n"
	       "\n"
	       "Teacher:\n"
	       "      --endpoint URL      base URL ending in /v1 (env SR_ENDPOINT, OPENAI_BASE_URL)\n"
	       "      --model NAME        model name sent to the endpoint (env SR_MODEL)\n"
	       "      --api-key-env VAR   environment variable holding the API key\n"
	       "                          (default OPENAI_API_KEY)\n"
	       "      --teacher KIND      endpoint or builtin (default: endpoint if one is set)\n"
	       "  -g, --guidelines FILE   guideline set for the built-in teacher and the tags\n"
	       "Sampling:\n"
	       "  -n, --samples N         samples per prompt (default 1)\n"
	       "      --temperature T     sampling temperature (endpoint's default if unset)\n"
	       "      --top-p P           nucleus sampling mass\n"
	       "      --max-tokens N      completion token limit per sample\n"
	       "      --seed N            base of each request's seed (with the record id)\n"
	       "      --no-n              one request per sample instead of the n parameter\n"
	       "Load and failures:\n"
	       "      --concurrency N     requests in flight (default 16)\n"
	       "      --rpm N             requests per minute (default unlimited)\n"
	       "      --tpm N             tokens per minute (default unlimited)\n"
	       "      --timeout SECONDS   limit for one attempt (default 600)\n"
	       "      --max-retries N     retries after the first attempt (default 8)\n"
	       "      --retry-delay SECONDS  first backoff, doubled per retry up to 60 s\n"
	       "                          (default 1; a Retry-After header wins)\n"
	       "      --cache FILE        response cache (default: one file per endpoint and\n"
	       "                          model under $XDG_CACHE_HOME/srkit)\n"
	       "      --no-cache          keep no cache (a rerun sends everything again)\n"
	       "      --failed FILE       write requests that failed, with their error\n"
	       "      --window N          prompts held for in-order output (default 1024)\n"
	       "      --progress, --no-progress  force the progress line on or off\n"
	       SR_RUN_HELP
	       "\nExit status: 0 success, 1 invalid input, 2 usage error, 3 I/O or endpoint\n"
	       "failure, including any request written to --failed.\n");
}

struct opts {
	struct sr_client_config cfg;
	int samples;
	double temperature, top_p;
	long max_tokens;
	uint64_t seed;
	int has_temperature, has_top_p, has_seed;
	int no_cache;
	const char *failed_path;
	const char *teacher;
	const char *guidelines;
	long window;
	int progress;  /* -1 = when standard error is a terminal */
};

/* Messages from the client of each level printed before the rest are only
 * counted (the summary line and --failed have them all); -v prints all. */
#define LOG_REPEAT_MAX 20

static void log_from_client(void *user, int level, const char *message)
{
	static unsigned long printed[3];
	int limit = sr_msg_verbosity < 2 && level != SR_CLIENT_LOG_DEBUG;

	if (level < 0 || level > 2)
		level = SR_CLIENT_LOG_WARN;
	if (limit && printed[level] > LOG_REPEAT_MAX)
		return;
	if (limit && printed[level] == LOG_REPEAT_MAX) {
		printed[level]++;
		if (level == SR_CLIENT_LOG_WARN)
			sr_msg_warn("more warnings from the endpoint are not shown; see the summary "
			            "and --failed (or use -v)");
		else
			sr_msg_notice("more retries are not shown; see the summary (or use -v)");
		return;
	}
	printed[level]++;
	if (level == SR_CLIENT_LOG_WARN)
		sr_msg_warn("%s", message);
	else if (level == SR_CLIENT_LOG_NOTICE)
		sr_msg_notice("%s", message);
	else
		sr_msg_debug("%s", message);
}

/* Parse a number option; -1 after printing the usage error. */
static int parse_number(const char *name, const char *arg, double min, double max, double *out)
{
	if (sr_parse_double(arg, min, max, out) < 0) {
		sr_msg_usage("invalid --%s '%s' (expected a number from %g to %g)", name, arg, min, max);
		return -1;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct sr_run *run, struct opts *o)
{
	int c, rc;
	long v;
	double d;

	while ((c = getopt_long(argc, argv, "n:g:o:qvhV", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage();
			return 1;
		case 'V':
			sr_print_version("sr-synth");
			return 1;
		case OPT_ENDPOINT:
			o->cfg.endpoint = optarg;
			break;
		case OPT_MODEL:
			o->cfg.model = optarg;
			break;
		case OPT_API_KEY_ENV:
			if (!optarg[0])
				return sr_msg_usage("--api-key-env needs a variable name");
			o->cfg.api_key_env = optarg;
			break;
		case 'n':
			if (sr_parse_int(optarg, 1, 100000, &v) < 0)
				return sr_msg_usage("invalid --samples '%s' (expected 1 to 100000)", optarg);
			o->samples = (int)v;
			break;
		case OPT_TEMPERATURE:
			if (parse_number("temperature", optarg, 0, 100, &o->temperature) < 0)
				return SR_EXIT_USAGE;
			o->has_temperature = 1;
			break;
		case OPT_TOP_P:
			if (parse_number("top-p", optarg, 0, 1, &o->top_p) < 0)
				return SR_EXIT_USAGE;
			o->has_top_p = 1;
			break;
		case OPT_MAX_TOKENS:
			if (sr_parse_int(optarg, 1, 100000000, &o->max_tokens) < 0)
				return sr_msg_usage("invalid --max-tokens '%s' (expected a positive integer)",
				                    optarg);
			break;
		case OPT_SEED:
			if (sr_parse_u64(optarg, 0, &o->seed) < 0)
				return sr_msg_usage("invalid --seed '%s' (expected a non-negative integer)",
				                    optarg);
			o->has_seed = 1;
			break;
		case OPT_CONCURRENCY:
			if (sr_parse_int(optarg, 1, 65536, &v) < 0)
				return sr_msg_usage("invalid --concurrency '%s' (expected 1 to 65536)", optarg);
			o->cfg.concurrency = (int)v;
			break;
		case OPT_RPM:
			if (parse_number("rpm", optarg, 0, 1e9, &o->cfg.rpm) < 0)
				return SR_EXIT_USAGE;
			break;
		case OPT_TPM:
			if (parse_number("tpm", optarg, 0, 1e12, &o->cfg.tpm) < 0)
				return SR_EXIT_USAGE;
			break;
		case OPT_TIMEOUT:
			if (parse_number("timeout", optarg, 0.001, 1e6, &d) < 0)
				return SR_EXIT_USAGE;
			o->cfg.timeout = d;
			break;
		case OPT_MAX_RETRIES:
			if (sr_parse_int(optarg, 0, 1000, &v) < 0)
				return sr_msg_usage("invalid --max-retries '%s' (expected 0 to 1000)", optarg);
			o->cfg.max_retries = (int)v;
			break;
		case OPT_RETRY_DELAY:
			if (parse_number("retry-delay", optarg, 0, 3600, &o->cfg.backoff_base) < 0)
				return SR_EXIT_USAGE;
			break;
		case OPT_NO_N:
			o->cfg.use_n = 0;
			break;
		case OPT_CACHE:
			if (!optarg[0])
				return sr_msg_usage("--cache needs a file name (use --no-cache for none)");
			o->cfg.cache_path = optarg;
			break;
		case OPT_NO_CACHE:
			o->no_cache = 1;
			break;
		case OPT_FAILED:
			o->failed_path = optarg;
			break;
		case OPT_TEACHER:
			if (strcmp(optarg, "endpoint") != 0 && strcmp(optarg, "builtin") != 0)
				return sr_msg_usage("invalid --teacher '%s' (expected endpoint or builtin)",
				                    optarg);
			o->teacher = optarg;
			break;
		case 'g':
			o->guidelines = optarg;
			break;
		case OPT_WINDOW:
			if (sr_parse_int(optarg, 1, 100000000, &o->window) < 0)
				return sr_msg_usage("invalid --window '%s' (expected a positive integer)",
				                    optarg);
			break;
		case OPT_PROGRESS:
			o->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			o->progress = 0;
			break;
		default:
			rc = sr_run_option(run, c, optarg);
			if (rc < 0)
				return SR_EXIT_USAGE;
			if (rc == 0)
				return sr_msg_usage("unknown option");
		}
	}
	if (o->no_cache && o->cfg.cache_path)
		return sr_msg_usage("--cache and --no-cache exclude each other");
	if (o->no_cache)
		o->cfg.cache_path = "";
	if (!o->cfg.endpoint)
		o->cfg.endpoint = getenv("SR_ENDPOINT");
	if (!o->cfg.endpoint || !o->cfg.endpoint[0])
		o->cfg.endpoint = getenv("OPENAI_BASE_URL");
	if (o->cfg.endpoint && !o->cfg.endpoint[0])
		o->cfg.endpoint = NULL;
	if (!o->cfg.model)
		o->cfg.model = getenv("SR_MODEL");
	if (!o->teacher) {
		if (!o->cfg.endpoint) {
			sr_msg_notice("no endpoint configured (--endpoint, SR_ENDPOINT, OPENAI_BASE_URL): "
			              "using the built-in rule-based teacher");
			o->teacher = "builtin";
		} else {
			o->teacher = "endpoint";
		}
	}
	if (strcmp(o->teacher, "endpoint") == 0) {
		if (!o->cfg.endpoint)
			return sr_msg_usage("--teacher endpoint needs --endpoint URL (or SR_ENDPOINT)");
		if (!o->cfg.model || !o->cfg.model[0])
			return sr_msg_usage("no model given: use --model NAME or set SR_MODEL");
	}
	if (o->window == 0) {
		o->window = 4L * o->cfg.concurrency;
		if (o->window < 1024)
			o->window = 1024;
	}
	return 0;
}

/* ---- in-order output ---- */

struct slot {
	struct sr_record rec;  /* the input record, indexed, with its own copy of the line */
	size_t len;
	int done;
	struct sr_client_result *res;
	size_t result_bytes;  /* completion bytes in res */
	size_t *held_bytes;   /* the synth's count of bytes held, updated on completion */
};

struct synth {
	struct opts *o;
	struct sr_run *run;
	struct sr_client *client;
	struct sr_teacher *teacher;
	struct sr_guideset_cache *sets;
	struct sr_output *failed;
	json_t *params;  /* sampling parameters for the teacher member */
	char *params_text;  /* the same, serialised, for request bodies */
	struct sr_buf body;

	struct slot *ring;
	size_t cap, head, count;  /* a ring of cap slots, count in use from head */
	size_t bytes;             /* input bytes held in the ring */

	uint64_t samples_failed;
	uint64_t records_done;
	uint64_t total;           /* input records counted up front, 0 if unknown */
	double started, last_progress;
	int progress_shown;
	char *buf;
	size_t bufcap;
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_done(struct sr_client *c, struct sr_client_result *res, void *user)
{
	struct slot *s = user;

	s->res = res;
	s->done = 1;
	for (int i = 0; i < res->n; i++)
		s->result_bytes += res->samples[i].len;
	*s->held_bytes += s->result_bytes;
}

/* Milliseconds from a latency in seconds, rounded the way the cache stores
 * it so that a live sample and its cached copy give the same number. */
static json_int_t latency_ms(double seconds)
{
	return (json_int_t)llround(round(seconds * 1e6) / 1e6 * 1000);
}

/* Problems found when splitting, as the `format` member: names of the
 * split flags and "truncated" for finish_reason "length". */
static json_t *format_problems(int flags, const char *finish_reason)
{
	json_t *a = json_array();

	if (flags & SR_SPLIT_NO_OPEN)
		json_array_append_new(a, json_string("no_open_tag"));
	if (flags & SR_SPLIT_NO_CLOSE)
		json_array_append_new(a, json_string("no_close_tag"));
	if (flags & SR_SPLIT_EXTRA_TAGS)
		json_array_append_new(a, json_string("extra_tags"));
	if (flags & SR_SPLIT_EMPTY_ANSWER)
		json_array_append_new(a, json_string("empty_answer"));
	if (flags & SR_SPLIT_TEXT_BEFORE)
		json_array_append_new(a, json_string("text_before_open_tag"));
	if (finish_reason && strcmp(finish_reason, "length") == 0)
		json_array_append_new(a, json_string("truncated"));
	return a;
}

/* The reasoning tags: the record's, else the set's given with -g, else <think>. */
static void record_tags(struct sr_record *rec, const char **open, const char **close)
{
	json_t *tags = json_object_get(sr_record_get(rec, "guidelines"), "tags");
	const char *o = json_string_value(json_object_get(tags, "open"));
	const char *c = json_string_value(json_object_get(tags, "close"));

	*open = o && o[0] ? o : "<think>";
	*close = c && c[0] ? c : "</think>";
}

/* Return whether the record's request is the refusal_only variant of its
 * set (sr-guide --refusal-only), which requests no visible reasoning. */
static int refusal_only(struct sr_record *rec)
{
	json_t *guidelines = sr_record_get(rec, "guidelines");
	const char *variant = json_string_value(json_object_get(guidelines, "variant"));

	return variant && strcmp(variant, "refusal_only") == 0;
}

/* The completion text: the content, with separately returned reasoning
 * put back between the tags when the content lacks them. */
static char *completion_text(const struct sr_client_sample *s, const char *open,
                             const char *close, size_t *len)
{
	struct sr_buf b = {0};

	if (s->reasoning_content && s->reasoning_len > 0 && !memmem(s->text, s->len, open,
	                                                            strlen(open))) {
		sr_buf_printf(&b, "%s\n", open);
		sr_buf_append(&b, s->reasoning_content, s->reasoning_len);
		sr_buf_printf(&b, "\n%s\n\n", close);
		sr_buf_append(&b, s->text, s->len);
	} else {
		sr_buf_append(&b, s->text, s->len);
	}
	*len = b.len;
	return b.data ? b.data : strdup("");
}

static int write_failed(struct synth *sy, struct sr_record *rec, int sample,
                        const struct sr_client_error *e, struct sr_error *err)
{
	int rc;

	sy->samples_failed++;
	sy->run->failed++;
	if (!sy->failed)
		return 0;
	json_t *error = json_pack("{s:s,s:s,s:I,s:i}", "kind", e->kind, "message", e->message,
	                          "status", (json_int_t)e->status, "attempts", e->attempts);
	sr_record_set(rec, "sample", json_integer(sample));
	sr_record_set(rec, "error", error);
	long n = sr_record_serialize(rec, &sy->buf, &sy->bufcap);
	if (n < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	if ((rc = sr_output_write(sy->failed, sy->buf, (size_t)n, err)) < 0)
		return rc;
	sr_record_del(rec, "error");
	return 0;
}

static int emit_sample(struct synth *sy, struct sr_record *rec, int i, json_t *teacher,
                       const char *text, size_t len, const char *finish_reason,
                       struct sr_error *err)
{
	const char *open, *close, *reasoning, *answer;
	size_t rlen, alen;

	record_tags(rec, &open, &close);
	int flags = sr_split_completion(text, len, open, close, &reasoning, &rlen, &answer, &alen);
	/* A refusal_only request expects the answer alone, so a completion
	 * without any tags is correct there, not a format problem. */
	if (refusal_only(rec) && (flags & (SR_SPLIT_NO_OPEN | SR_SPLIT_NO_CLOSE)) ==
	    (SR_SPLIT_NO_OPEN | SR_SPLIT_NO_CLOSE))
		flags &= ~(SR_SPLIT_NO_OPEN | SR_SPLIT_NO_CLOSE);
	/* Nothing to answer with, whatever the tags: an empty content, or a
	 * null one, which the client reads as empty. */
	if (!answer || alen == 0)
		flags |= SR_SPLIT_EMPTY_ANSWER;
	sr_record_set(rec, "sample", json_integer(i));
	sr_record_set(rec, "teacher", teacher);
	sr_record_set(rec, "completion", json_stringn(text, len));
	sr_record_set(rec, "reasoning", json_stringn(reasoning ? reasoning : "", reasoning ? rlen : 0));
	sr_record_set(rec, "answer", json_stringn(answer ? answer : "", answer ? alen : 0));
	json_t *problems = format_problems(flags, finish_reason);
	if (json_array_size(problems) > 0)
		sr_record_set(rec, "format", problems);
	else {
		json_decref(problems);
		sr_record_del(rec, "format");
	}
	return sr_run_emit(sy->run, rec, err);
}

static json_t *endpoint_teacher(struct synth *sy, const struct sr_client_sample *s)
{
	json_t *t = json_object();
	json_object_set_new(t, "model", json_string(sy->o->cfg.model));
	json_object_set_new(t, "endpoint", json_string(sr_client_host(sy->client)));
	json_object_set(t, "params", sy->params);
	json_object_set_new(t, "seed", s->seed >= 0 ? json_integer(s->seed) : json_null());
	json_object_set_new(t, "finish_reason",
	                    s->finish_reason ? json_string(s->finish_reason) : json_null());
	json_t *usage = json_object();
	if (s->prompt_tokens >= 0)
		json_object_set_new(usage, "prompt_tokens", json_integer(s->prompt_tokens));
	if (s->completion_tokens >= 0)
		json_object_set_new(usage, "completion_tokens", json_integer(s->completion_tokens));
	if (s->choices > 1)
		json_object_set_new(usage, "shared_by", json_integer(s->choices));
	json_object_set_new(t, "usage", usage);
	json_object_set_new(t, "latency_ms", json_integer(latency_ms(s->latency)));
	return t;
}

/* Write the samples (and failures) of the slot at the head of the ring. */
static int emit_slot(struct synth *sy, struct slot *s, struct sr_error *err)
{
	struct sr_record *rec = &s->rec;
	const char *open, *close;
	int rc = 0;

	record_tags(rec, &open, &close);
	for (int i = 0; i < s->res->n && rc == 0; i++) {
		struct sr_client_sample *smp = &s->res->samples[i];
		if (!smp->text) {
			rc = write_failed(sy, rec, i, &smp->error, err);
			continue;
		}
		size_t len;
		char *text = completion_text(smp, open, close, &len);
		rc = emit_sample(sy, rec, i, endpoint_teacher(sy, smp), text, len, smp->finish_reason,
		                 err);
		free(text);
	}
	return rc;
}

static void slot_release(struct slot *s)
{
	sr_client_result_free(s->res);
	sr_record_release(&s->rec);
	memset(s, 0, sizeof *s);
}

/* Free the values parsed from a record's bytes (the schema check parses
 * the whole record), keeping its index of the members. A record waiting
 * in the ring then holds little more than its line, and emitting it does
 * not need to parse the line again. */
static void drop_parsed_values(struct sr_record *rec)
{
	for (size_t i = 0; i < rec->n; i++) {
		struct sr_member *m = &rec->m[i];
		if (m->raw && m->value) {
			json_decref(m->value);
			m->value = NULL;
		}
	}
}

static int emit_ready(struct synth *sy, struct sr_error *err)
{
	int rc;

	while (sy->count > 0 && sy->ring[sy->head].done) {
		struct slot *s = &sy->ring[sy->head];
		if ((rc = emit_slot(sy, s, err)) < 0)
			return rc;
		sy->bytes -= s->len + s->result_bytes;
		slot_release(s);
		sy->head = (sy->head + 1) % sy->cap;
		sy->count--;
		sy->records_done++;
	}
	return 0;
}

/* ---- progress ---- */

/* Non-blank lines in the input files, for the progress line's total and
 * ETA. Returns 0 when it cannot tell: standard input, a pipe or a
 * zstd-compressed file, whose lines are only known once read. */
static uint64_t count_input_lines(int nfiles, char **files)
{
	uint64_t total = 0;
	char buf[1 << 16];

	if (nfiles == 0)
		return 0;
	for (int i = 0; i < nfiles; i++) {
		struct stat st;
		if (strcmp(files[i], "-") == 0 || stat(files[i], &st) < 0 || !S_ISREG(st.st_mode))
			return 0;
		FILE *f = fopen(files[i], "rb");
		if (!f)
			return 0;
		size_t n;
		int first = 1, blank = 1;
		while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
			if (first && n >= 4 && (unsigned char)buf[0] == 0x28 &&
			    (unsigned char)buf[1] == 0xb5 && (unsigned char)buf[2] == 0x2f &&
			    (unsigned char)buf[3] == 0xfd) {
				fclose(f);
				return 0;
			}
			first = 0;
			for (size_t k = 0; k < n; k++) {
				if (buf[k] == '\n') {
					total += !blank;
					blank = 1;
				} else if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r') {
					blank = 0;
				}
			}
		}
		total += !blank;
		fclose(f);
	}
	return total;
}

static void show_progress(struct synth *sy, int final)
{
	double now = now_mono();
	if (!final && now - sy->last_progress < 0.5)
		return;
	sy->last_progress = now;

	struct sr_client_stats st = {0};
	if (sy->client)
		sr_client_get_stats(sy->client, &st);
	double elapsed = now - sy->started;
	uint64_t done = sy->records_done;
	uint64_t total = sy->total > sy->run->records_in ? sy->total : sy->run->records_in;
	double rate = elapsed > 0 ? (double)done / elapsed : 0;
	char eta[32] = "";
	if (rate > 0 && total > done) {
		long secs = (long)((double)(total - done) / rate);
		snprintf(eta, sizeof eta, ", ETA %ld:%02ld:%02ld", secs / 3600, secs / 60 % 60, secs % 60);
	}
	fprintf(stderr, "\r%s: %llu/%llu prompts, %.1f/s%s, %llu retries, %llu failed, %d in flight ",
	        sr_msg_progname(), (unsigned long long)done, (unsigned long long)total, rate, eta,
	        (unsigned long long)st.retries, (unsigned long long)sy->samples_failed, st.in_flight);
	sy->progress_shown = 1;
	if (final)
		fputc('\n', stderr);
}

static void print_summary(struct synth *sy)
{
	struct sr_client_stats st = {0};

	if (sr_msg_verbosity < 1)
		return;
	if (sy->client)
		sr_client_get_stats(sy->client, &st);
	double elapsed = now_mono() - sy->started;
	if (sy->client)
		sr_msg_notice("%llu prompts, %llu samples written, %llu failed; %llu requests "
		              "(%llu retries, %llu rate-limited), %llu samples from the cache, "
		              "%llu+%llu tokens, %.1f s",
		              (unsigned long long)sy->records_done,
		              (unsigned long long)sy->run->records_out,
		              (unsigned long long)sy->samples_failed,
		              (unsigned long long)st.http_requests, (unsigned long long)st.retries,
		              (unsigned long long)st.rate_limited, (unsigned long long)st.cache_hits,
		              (unsigned long long)st.prompt_tokens,
		              (unsigned long long)st.completion_tokens, elapsed);
	else
		sr_msg_notice("%llu prompts, %llu samples written, %llu failed (built-in teacher)",
		              (unsigned long long)sy->records_done,
		              (unsigned long long)sy->run->records_out,
		              (unsigned long long)sy->samples_failed);
}

/* ---- reading and submitting ---- */

/* The request body for a record: its `request` object followed by the
 * sampling parameters, without "seed" (sent apart by the client). The
 * record's bytes are spliced when they can be, because serialising a
 * request with a long system prompt again costs more than the rest of
 * the work on it. */
static int request_body(struct synth *sy, struct sr_record *rec, struct sr_buf *body,
                        struct sr_error *err)
{
	json_t *request = sr_record_get(rec, "request");
	size_t rawlen = 0;
	const char *raw = sr_record_raw(rec, "request", &rawlen);
	const char *k;
	json_t *v;
	int clash = 0;

	sr_buf_reset(body);
	if (!json_is_object(request) || !json_is_array(json_object_get(request, "messages"))) {
		sr_fail(err, SR_EDATA, "member 'request' is not an object with a 'messages' array");
		snprintf(err->field, sizeof err->field, "request");
		return SR_EDATA;
	}
	json_object_foreach(request, k, v)
		if (strcmp(k, "model") == 0 || strcmp(k, "n") == 0 || strcmp(k, "seed") == 0 ||
		    json_object_get(sy->params, k))
			clash = 1;
	if (raw && !clash && rawlen >= 2 && raw[0] == '{') {
		sr_buf_append(body, raw, rawlen - 1);  /* without the closing brace */
		size_t plen = strlen(sy->params_text);
		if (plen > 2) {
			sr_buf_puts(body, ",");
			sr_buf_append(body, sy->params_text + 1, plen - 1);
		} else {
			sr_buf_puts(body, "}");
		}
		return body->data ? 0 : sr_fail(err, SR_ENOMEM, "out of memory");
	}
	/* The request sets what sr-synth sets: ours win. */
	json_t *copy = json_copy(request);
	json_object_del(copy, "model");
	json_object_del(copy, "n");
	json_object_del(copy, "seed");
	json_object_update(copy, sy->params);
	char *text = sr_json_dumps(copy);
	json_decref(copy);
	if (!text || sr_buf_puts(body, text) < 0) {
		free(text);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	free(text);
	return 0;
}

/* Read one record and submit it. Returns 1 when a record was taken, 0 at
 * the end of input, or a negative code. */
static int take_record(struct synth *sy, struct sr_record *rec, struct sr_error *err)
{
	int rc = sr_run_next(sy->run, rec, err);
	if (rc <= 0)
		return rc;

	if (request_body(sy, rec, &sy->body, err) < 0) {
		err->line = sr_run_lineno(sy->run);
		snprintf(err->file, sizeof err->file, "%s", sr_run_file(sy->run));
		return sr_run_bad_record(sy->run, err) < 0 ? err->code : 1;
	}
	const char *id = sr_record_get_str(rec, "id", NULL);
	int64_t seed = -1;
	if (sy->o->has_seed)
		seed = (int64_t)(sr_hash_mix(sy->o->seed, id ? id : "", 0) & 0x7fffffff);
	size_t pos = (sy->head + sy->count) % sy->cap;
	struct slot *s = &sy->ring[pos];
	/* The slot takes the record over and copies the line it borrows. */
	s->rec = *rec;
	sr_record_init(rec);
	if (sr_record_own(&s->rec) < 0) {
		slot_release(s);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	s->len = s->rec.len;
	s->held_bytes = &sy->bytes;
	struct sr_client_request req = {
		.name = id ? id : "?",
		.body = sy->body.data,
		.body_len = sy->body.len,
		.seed = seed,
		.max_tokens = sy->o->max_tokens,
		.n = sy->o->samples,
	};
	rc = sr_client_submit_request(sy->client, &req, on_done, s, err);
	if (rc < 0) {
		slot_release(s);
		return rc;
	}
	drop_parsed_values(&s->rec);  /* after the submit: id points into a value */
	sy->count++;
	sy->bytes += s->len;
	return 1;
}

/* The first SIGINT or SIGTERM asks for an orderly stop: requests in flight
 * are abandoned and listed as aborted, the samples done are committed. A
 * second one ends the process at once (the cache keeps what was done). */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = sig;
	signal(sig, SIG_DFL);
}

static void catch_interrupts(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_interrupt;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int run_endpoint(struct synth *sy, struct sr_error *err)
{
	struct sr_record rec;
	int rc = 0, eof = 0, fatal = 0;

	sr_record_init(&rec);
	sy->cap = (size_t)sy->o->window;
	sy->ring = calloc(sy->cap, sizeof *sy->ring);
	if (!sy->ring)
		return sr_fail(err, SR_ENOMEM, "out of memory");

	while (!eof || sy->count > 0) {
		while (!eof && !fatal && sy->count < sy->cap && sy->bytes < WINDOW_BYTES) {
			rc = take_record(sy, &rec, err);
			if (rc < 0)
				goto out;
			if (rc == 0)
				eof = 1;
		}
		if (fatal)
			eof = 1;
		if ((rc = emit_ready(sy, err)) < 0)
			goto out;
		if (sy->count == 0)
			continue;
		if (interrupted && !fatal) {
			fatal = sr_fail(err, SR_EENDPOINT, "interrupted by %s: %zu unfinished prompt(s) "
			                "listed as aborted; a rerun sends them again",
			                interrupted == SIGINT ? "SIGINT" : "SIGTERM", sy->count);
			sr_client_stop(sy->client);
		}
		struct sr_error cerr;
		int prc = sr_client_run(sy->client, 250, &cerr);
		if (prc < 0 && !fatal) {
			/* The client stopped (401 or cache failure): everything pending
			 * completes as aborted and goes to --failed; read no more. */
			fatal = prc;
			*err = cerr;
		}
		if (sy->o->progress)
			show_progress(sy, 0);
	}
	rc = fatal;
out:
	sr_record_release(&rec);
	return rc;
}

/* ---- built-in teacher ---- */

/* Counts of the records the built-in teacher cannot answer, by cause. The
 * first record of each cause gets a warning, and report_unanswered() prints
 * the totals at the end. */
#define CAUSES_MAX 8

struct causes {
	char message[CAUSES_MAX][256];
	unsigned long count[CAUSES_MAX];
	int n;
	unsigned long other;  /* records of causes beyond CAUSES_MAX */
};

static void note_unanswered(struct causes *c, struct sr_run *run, struct sr_record *rec,
                            const char *message)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (strncmp(c->message[i], message, sizeof c->message[i] - 1) == 0)
			break;
	if (i == c->n && c->n == CAUSES_MAX) {
		c->other++;
		return;
	}
	if (i == c->n) {
		snprintf(c->message[i], sizeof c->message[i], "%s", message);
		c->n++;
	}
	if (c->count[i]++ == 0 || sr_msg_verbosity >= 2)
		sr_msg_warn("%s:%ld: record '%s': %s", sr_run_file(run), sr_run_lineno(run),
		            sr_record_get_str(rec, "id", NULL) ?: "?", message);
}

static void report_unanswered(const struct causes *c, const char *failed_path)
{
	for (int i = 0; i < c->n; i++)
		if (c->count[i] > 1 && sr_msg_verbosity < 2)
			sr_msg_warn("%lu records in all could not be answered%s because: %s",
			            c->count[i], failed_path ? " (listed in --failed)" : "",
			            c->message[i]);
	if (c->other > 0)
		sr_msg_warn("%lu more records could not be answered for other reasons", c->other);
}

static int run_builtin(struct synth *sy, struct sr_error *err)
{
	struct sr_record rec;
	struct causes unanswered = {0};
	int rc;

	sr_record_init(&rec);
	while ((rc = sr_run_next(sy->run, &rec, err)) > 0) {
		for (int i = 0; i < sy->o->samples && rc >= 0; i++) {
			char *text = NULL;
			size_t len = 0;
			struct sr_error terr;
			sr_error_clear(&terr);
			rc = sr_teacher_complete(sy->teacher, &rec, i, &text, &len, &terr);
			if (rc == 1) {
				struct sr_client_error e = {0};
				snprintf(e.kind, sizeof e.kind, "builtin");
				snprintf(e.message, sizeof e.message, "%s", terr.message);
				if (i == 0)
					note_unanswered(&unanswered, sy->run, &rec, terr.message);
				rc = write_failed(sy, &rec, i, &e, err);
				continue;
			}
			if (rc < 0) {
				/* The record's guideline set is missing or of another version. */
				*err = terr;
				if (!err->file[0]) {
					snprintf(err->file, sizeof err->file, "%s", sr_run_file(sy->run));
					err->line = sr_run_lineno(sy->run);
				}
				rc = rc == SR_EDATA ? sr_run_bad_record(sy->run, err) : rc;
				if (rc == 0)
					i = sy->o->samples;  /* skipped: no samples for this record */
				continue;
			}
			json_t *teacher = json_pack("{s:s,s:s,s:s}", "model", "builtin", "endpoint", "builtin",
			                            "finish_reason", "stop");
			rc = emit_sample(sy, &rec, i, teacher, text, len, "stop", err);
			free(text);
		}
		sy->records_done++;
		if (rc < 0)
			break;
		if (sy->o->progress)
			show_progress(sy, 0);
	}
	if (rc != SR_EPIPE)
		report_unanswered(&unanswered, sy->o->failed_path);
	sr_record_release(&rec);
	return rc;
}

/* Convert the stats counts to samples, so that records_in = records_out +
 * skipped + failed holds for any -n. Each prompt read counts as n samples,
 * and the raw prompt counts go to prompts_in and prompts_skipped. */
static void count_in_samples(struct sr_run *run, int samples)
{
	json_t *prompts = json_pack("{s:I,s:I}", "prompts_in", (json_int_t)run->records_in,
	                            "prompts_skipped", (json_int_t)run->skipped);

	if (run->stats) {
		json_object_update(run->stats, prompts);
		json_decref(prompts);
	} else {
		run->stats = prompts;
	}
	run->records_in *= (uint64_t)samples;
	run->skipped *= (uint64_t)samples;
}

int main(int argc, char **argv)
{
	struct sr_run run;
	struct sr_error err;
	struct opts o = {.samples = 1, .progress = -1};
	struct synth sy = {0};
	struct sr_schema *schema = NULL;
	int rc;

	sr_msg_init("sr-synth");
	sr_run_init(&run, "sr-synth");
	sr_error_clear(&err);
	sr_client_config_init(&o.cfg);
	o.cfg.log = log_from_client;
	/* parse_options: 0 to go on, 1 after --help or --version, else an exit status. */
	if ((rc = parse_options(argc, argv, &run, &o)) != 0) {
		sr_run_release(&run);
		return rc == 1 ? SR_EXIT_OK : SR_EXIT_USAGE;
	}
	if (o.progress < 0)
		o.progress = isatty(STDERR_FILENO) && sr_msg_verbosity >= 1;
	if (o.progress)
		sy.total = count_input_lines(argc - optind, argv + optind);
	sy.o = &o;
	sy.run = &run;
	sy.started = now_mono();
	run.count_failed = 1;

	if ((rc = sr_schema_load_named("prompt", &schema, &err)) < 0)
		return sr_run_exit(&run, rc, &err);
	run.schema = schema;
	sy.params = json_object();
	if (o.has_temperature)
		json_object_set_new(sy.params, "temperature", json_real(o.temperature));
	if (o.has_top_p)
		json_object_set_new(sy.params, "top_p", json_real(o.top_p));
	if (o.max_tokens > 0)
		json_object_set_new(sy.params, "max_tokens", json_integer(o.max_tokens));
	if (!(sy.params_text = sr_json_dumps(sy.params))) {
		rc = sr_fail(&err, SR_ENOMEM, "out of memory");
		goto done;
	}

	if ((rc = sr_run_open(&run, argc - optind, argv + optind, &err)) < 0)
		goto done;
	if (o.failed_path &&
	    (rc = sr_output_open(o.failed_path, SR_OUTPUT_ATOMIC, &sy.failed, &err)) < 0)
		goto done;

	if (strcmp(o.teacher, "builtin") == 0) {
		if ((rc = sr_teacher_new(o.guidelines, &sy.teacher, &err)) < 0)
			goto done;
		rc = run_builtin(&sy, &err);
	} else {
		if ((rc = sr_client_new(&o.cfg, &sy.client, &err)) < 0) {
			if (!o.cfg.cache_path && (rc == SR_EIO || rc == SR_ENOTFOUND)) {
				size_t len = strlen(err.message);
				snprintf(err.message + len, sizeof err.message - len,
				         " (choose a cache with --cache FILE, or use --no-cache)");
			}
			goto done;
		}
		if (sr_client_cache_path(sy.client))
			sr_msg_debug("cache: %s", sr_client_cache_path(sy.client));
		catch_interrupts();
		rc = run_endpoint(&sy, &err);
	}
	if (sy.progress_shown)
		show_progress(&sy, 1);

	/* An endpoint that stopped the run (a 401) still leaves complete
	 * samples and failures behind: commit them like a normal end, then
	 * report the error. Other errors leave the output uncommitted. */
	struct sr_error stop_err;
	int stopped = rc == SR_EENDPOINT;
	if (stopped) {
		stop_err = err;
		rc = 0;
	}
	if (sy.failed && rc >= 0) {
		int r = sr_output_commit(sy.failed, &err);
		if (r < 0)
			rc = r;
	}

	struct sr_client_stats st = {0};
	if (sy.client)
		sr_client_get_stats(sy.client, &st);
	json_t *extra = json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I}", "teacher", o.teacher,
	                      "samples_per_record", o.samples,
	                      "requests", (json_int_t)st.http_requests,
	                      "retries", (json_int_t)st.retries,
	                      "rate_limited", (json_int_t)st.rate_limited,
	                      "cache_hits", (json_int_t)st.cache_hits,
	                      "prompt_tokens", (json_int_t)st.prompt_tokens,
	                      "completion_tokens", (json_int_t)st.completion_tokens);
	if (run.stats) {
		json_object_update(run.stats, extra);
		json_decref(extra);
	} else {
		run.stats = extra;
	}
	if (rc != SR_EPIPE)
		print_summary(&sy);
	count_in_samples(&run, o.samples);
	rc = sr_run_finish(&run, rc, &err);
	if (rc >= 0 && stopped) {
		err = stop_err;
		rc = SR_EENDPOINT;
	} else if (rc >= 0 && sy.samples_failed > 0) {
		rc = sr_fail(&err, SR_EENDPOINT, "%llu sample(s) failed%s%s%s",
		             (unsigned long long)sy.samples_failed,
		             o.failed_path ? " and were written to '" : "; use --failed FILE to keep them",
		             o.failed_path ? o.failed_path : "", o.failed_path ? "'" : "");
	}
	goto out;
done:
	count_in_samples(&run, o.samples);
	rc = sr_run_finish(&run, rc, &err);
out:
	sr_client_free(sy.client);
	sr_teacher_free(sy.teacher);
	sr_output_free(sy.failed);
	json_decref(sy.params);
	free(sy.params_text);
	sr_buf_release(&sy.body);
	sr_schema_free(schema);
	free(sy.ring);
	free(sy.buf);
	return sr_run_exit(&run, rc, &err);
}
