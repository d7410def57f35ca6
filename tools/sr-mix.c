/*
 * sr-mix - mix kept samples from many sources into train and validation
 * shards with a manifest. Options and wiring only: formats, selection and
 * splitting are in lib/mix.c, the shard format in lib/shard.c.
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mix.h"
#include "msg.h"
#include "opt.h"
#include "run.h"
#include "schema.h"
#include "shard.h"

#define PROG "sr-mix"
#define MAX_QUOTAS 1024

enum {
	OPT_BY = SR_OPT_TOOL_BASE,
	OPT_TAKE, OPT_RATIO, OPT_TOTAL, OPT_REPLACE, OPT_SEED, OPT_VAL, OPT_VAL_FRACTION,
	OPT_FORMAT, OPT_SYSTEM, OPT_SHARD_RECORDS, OPT_SHARD_BYTES, OPT_LEVEL,
	OPT_FRAME_BYTES, OPT_THREADS,
};

static const struct option long_options[] = {
	{"by", required_argument, NULL, OPT_BY},
	{"take", required_argument, NULL, OPT_TAKE},
	{"ratio", required_argument, NULL, OPT_RATIO},
	{"total", required_argument, NULL, OPT_TOTAL},
	{"replace", no_argument, NULL, OPT_REPLACE},
	{"seed", required_argument, NULL, OPT_SEED},
	{"val", required_argument, NULL, OPT_VAL},
	{"val-fraction", required_argument, NULL, OPT_VAL_FRACTION},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"system", required_argument, NULL, OPT_SYSTEM},
	{"shard-records", required_argument, NULL, OPT_SHARD_RECORDS},
	{"shard-bytes", required_argument, NULL, OPT_SHARD_BYTES},
	{"level", required_argument, NULL, OPT_LEVEL},
	{"frame-bytes", required_argument, NULL, OPT_FRAME_BYTES},
	{"threads", required_argument, NULL, OPT_THREADS},
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: %s -o DIR [OPTION]... [FILE]...\n"
	       "Mix sample records into zstd train/val shards and DIR/manifest.json.\n\n"
	       "  -o, --output DIR        output directory (created if missing)\n"
	       "      --format NAME       srg (default), rt, raw, alpaca or alpaca-rt\n"
	       "      --system TEXT       add a system turn with TEXT\n"
	       "      --by FIELD          mix by this field's value (default source)\n"
	       "      --take KEY=N        exactly N records of KEY (train + val)\n"
	       "      --ratio KEY=W       weight W of --total for KEY\n"
	       "      --total N           records in all, with --ratio\n"
	       "      --replace           sample with replacement\n"
	       "      --seed N            shuffle and split seed (default 0)\n"
	       "      --val N             N validation records, whole prompts only\n"
	       "      --val-fraction F    that fraction of the selected records\n"
	       "      --shard-records N   at most N records per shard (default no cap)\n"
	       "      --shard-bytes SIZE  at most SIZE uncompressed bytes per shard (default 256M)\n"
	       "      --frame-bytes SIZE  uncompressed bytes per zstd frame (default 1M)\n"
	       "      --level N           zstd level 1-19 (default 3)\n"
	       "      --threads N         compression threads (default one per CPU)\n"
	       SR_RUN_HELP
	       "\nExit status: 0 success, 1 invalid input data or a source too small,\n"
	       "2 usage error, 3 I/O or system failure.\n", PROG);
}

struct options {
	const char *dir;
	const char *by;
	enum sr_mix_format format;
	const char *format_name;
	const char *system;
	struct sr_mix_quota take[MAX_QUOTAS], ratio[MAX_QUOTAS];
	size_t ntake, nratio;
	struct sr_mix_params mix;
	int have_total, have_val;
	uint64_t shard_records, shard_bytes;
	struct sr_shard_params shard;
};

/* Parse KEY=N (count) or KEY=W (weight) into q. The key points into arg. */
static int parse_quota(char *arg, int weight, struct sr_mix_quota *q, const char *opt)
{
	char *eq = strrchr(arg, '=');

	if (!eq || eq == arg)
		return sr_msg_usage("invalid %s '%s' (expected KEY=%s)", opt, arg, weight ? "WEIGHT" : "COUNT");
	*eq = '\0';
	q->key = arg;
	if (weight) {
		if (sr_parse_double(eq + 1, 0, 1e15, &q->weight) < 0 || q->weight <= 0)
			return sr_msg_usage("invalid weight '%s' for '%s' (expected a number > 0)", eq + 1, arg);
	} else if (sr_parse_u64(eq + 1, 0, &q->count) < 0) {
		return sr_msg_usage("invalid count '%s' for '%s'", eq + 1, arg);
	}
	return 0;
}

static int parse_option(struct options *o, int c, char *arg)
{
	long v;
	uint64_t u;

	switch (c) {
	case 'o': o->dir = arg; return 0;
	case OPT_BY: o->by = arg; return 0;
	case OPT_TAKE:
	case OPT_RATIO:
		if ((c == OPT_TAKE ? o->ntake : o->nratio) == MAX_QUOTAS)
			return sr_msg_usage("too many --take or --ratio options (at most %d)", MAX_QUOTAS);
		if (c == OPT_TAKE)
			return parse_quota(arg, 0, &o->take[o->ntake++], "--take");
		return parse_quota(arg, 1, &o->ratio[o->nratio++], "--ratio");
	case OPT_TOTAL:
		if (sr_parse_u64(arg, 0, &o->mix.total) < 0)
			return sr_msg_usage("invalid --total '%s'", arg);
		o->have_total = 1;
		return 0;
	case OPT_REPLACE: o->mix.replace = 1; return 0;
	case OPT_SEED:
		if (sr_parse_u64(arg, 0, &u) < 0 || u > INT64_MAX)
			return sr_msg_usage("invalid --seed '%s' (expected 0 to 2^63-1)", arg);
		o->mix.seed = u;
		return 0;
	case OPT_VAL:
		if (sr_parse_u64(arg, 0, &o->mix.val) < 0)
			return sr_msg_usage("invalid --val '%s'", arg);
		o->have_val = 1;
		return 0;
	case OPT_VAL_FRACTION:
		if (sr_parse_double(arg, 0, 1, &o->mix.val_fraction) < 0)
			return sr_msg_usage("invalid --val-fraction '%s' (expected 0 to 1)", arg);
		return 0;
	case OPT_FORMAT:
		if (sr_mix_format_parse(arg, &o->format) < 0)
			return sr_msg_usage("invalid --format '%s' (expected srg, rt, raw, alpaca or alpaca-rt)", arg);
		o->format_name = arg;
		return 0;
	case OPT_SYSTEM: o->system = arg; return 0;
	case OPT_SHARD_RECORDS:
		if (sr_parse_u64(arg, 1, &o->shard_records) < 0)
			return sr_msg_usage("invalid --shard-records '%s'", arg);
		return 0;
	case OPT_SHARD_BYTES:
		if (sr_parse_u64(arg, 1, &o->shard_bytes) < 0)
			return sr_msg_usage("invalid --shard-bytes '%s' (expected a size such as 256M)", arg);
		return 0;
	case OPT_FRAME_BYTES:
		if (sr_parse_u64(arg, 1, &u) < 0 || u < 1024 || u > ((uint64_t)1 << 30))
			return sr_msg_usage("invalid --frame-bytes '%s' (expected 1K to 1G)", arg);
		o->shard.frame_bytes = (size_t)u;
		return 0;
	case OPT_LEVEL:
		if (sr_parse_int(arg, 1, 19, &v) < 0)
			return sr_msg_usage("invalid --level '%s' (expected 1 to 19)", arg);
		o->shard.level = (int)v;
		return 0;
	case OPT_THREADS:
		if (sr_parse_int(arg, 1, 64, &v) < 0)
			return sr_msg_usage("invalid --threads '%s' (expected 1 to 64)", arg);
		o->shard.threads = (int)v;
		return 0;
	default:
		return sr_msg_usage("unknown option");
	}
}

static int check_options(const struct options *o)
{
	if (!o->dir)
		return sr_msg_usage("missing -o DIR (the output directory)");
	if (o->ntake && o->nratio)
		return sr_msg_usage("--take and --ratio cannot be combined");
	if (o->nratio && !o->have_total)
		return sr_msg_usage("--ratio needs --total N");
	if (o->have_total && !o->nratio)
		return sr_msg_usage("--total needs --ratio KEY=W");
	if (o->have_val && o->mix.val_fraction >= 0)
		return sr_msg_usage("--val and --val-fraction cannot be combined");
	for (size_t i = 0; i < o->ntake + o->nratio; i++) {
		const struct sr_mix_quota *a = i < o->ntake ? &o->take[i] : &o->ratio[i - o->ntake];
		for (size_t j = 0; j < i; j++) {
			const struct sr_mix_quota *b = j < o->ntake ? &o->take[j] : &o->ratio[j - o->ntake];
			if (strcmp(a->key, b->key) == 0)
				return sr_msg_usage("'%s' is named twice in --take or --ratio", a->key);
		}
	}
	return 0;
}

/* Create dir if needed and remove an old manifest, so that a run killed
 * halfway leaves no manifest that would vouch for a mix of old and new
 * shards. */
static int prepare_dir(const char *dir, struct sr_error *err)
{
	char path[4096];
	struct stat st;

	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		return sr_fail(err, SR_EIO, "cannot create directory '%s': %s", dir, strerror(errno));
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return sr_fail(err, SR_EIO, "'%s' is not a directory", dir);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return sr_fail(err, SR_EIO, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* The value that records are mixed by: a string field's text, or the raw
 * JSON of any other value. NULL when the field is missing. */
static const char *mix_key(struct sr_record *rec, const char *field, struct sr_buf *tmp)
{
	size_t len;
	const char *s = sr_record_get_str(rec, field, &len);
	const char *raw;

	if (s)
		return s;
	raw = sr_record_raw(rec, field, &len);
	if (!raw)
		return NULL;
	sr_buf_reset(tmp);
	return sr_buf_append(tmp, raw, len) < 0 ? NULL : tmp->data;
}

/* Format one record and hand it to the mixer. A record the format cannot
 * use goes through the --on-error policy. */
static int add_record(struct sr_run *run, struct sr_record *rec, const struct options *o,
                      struct sr_mix *mix, struct sr_buf *line, struct sr_buf *tmp,
                      struct sr_error *err)
{
	const char *id = sr_record_get_str(rec, "id", NULL);
	const char *key = mix_key(rec, o->by, tmp);
	json_t *sample = sr_record_get(rec, "sample");
	json_t *g = sr_record_get(rec, "guidelines");
	const char *set = json_string_value(json_object_get(g, "set"));
	const char *version = json_string_value(json_object_get(g, "version"));
	int rc;

	sr_error_clear(err);
	if (!id) {
		sr_fail(err, SR_EDATA, "missing or not a string");
		snprintf(err->field, sizeof(err->field), "id");
		return sr_run_bad_record(run, err);
	}
	if (!key) {
		sr_fail(err, SR_EDATA, "missing (the --by field)");
		snprintf(err->field, sizeof(err->field), "%s", o->by);
		return sr_run_bad_record(run, err);
	}
	if (sample && !json_is_integer(sample)) {
		sr_fail(err, SR_EDATA, "not an integer");
		snprintf(err->field, sizeof(err->field), "sample");
		return sr_run_bad_record(run, err);
	}
	sr_buf_reset(line);
	rc = sr_mix_format_record(rec, o->format, o->system, line, err);
	if (rc == SR_EDATA)
		return sr_run_bad_record(run, err);
	if (rc < 0)
		return rc;
	if (set && version && (rc = sr_mix_note_guidelines(mix, set, version, err)) < 0)
		return rc;
	return sr_mix_add(mix, key, sr_record_get_str(rec, "source", NULL),
	                  sr_record_get_str(rec, "label", NULL), id,
	                  sample ? (int64_t)json_integer_value(sample) : -1,
	                  line->data, line->len, err);
}

/* Remove train-NNNNN.jsonl.zst and val-NNNNN.jsonl.zst files that an
 * earlier run left and this run did not write, and the temporary files
 * (NAME.tmp.PID) of a run that was killed. */
static int remove_stale(const char *dir, json_t *shards, struct sr_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return sr_fail(err, SR_EIO, "cannot read directory '%s': %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		unsigned n;
		char tail[16], path[4096];
		int ours = 0;
		size_t i;
		json_t *e;
		const char *ext;
		if (strncmp(de->d_name, "manifest.json.tmp.", 18) == 0)
			goto remove;
		if (sscanf(de->d_name, "train-%5u.jsonl.zs%1[t]", &n, tail) != 2 &&
		    sscanf(de->d_name, "val-%5u.jsonl.zs%1[t]", &n, tail) != 2)
			continue;
		ext = strstr(de->d_name, ".jsonl.zst");
		if (strncmp(ext, ".jsonl.zst.tmp.", 15) == 0)
			goto remove;
		if (strlen(ext) != 10)
			continue;
		json_array_foreach(shards, i, e)
			if (strcmp(json_string_value(json_object_get(e, "file")), de->d_name) == 0)
				ours = 1;
		if (ours)
			continue;
remove:
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) < 0) {
			rc = sr_fail(err, SR_EIO, "cannot remove '%s': %s", path, strerror(errno));
			break;
		}
		sr_msg_notice("removed '%s', left by an earlier run", path);
	}
	closedir(d);
	return rc;
}

static json_t *quotas_json(const struct sr_mix_quota *q, size_t n, int weight)
{
	json_t *o = json_object();

	/* Byte order of the keys, so the order of the options does not matter. */
	for (size_t done = 0; done < n; done++) {
		const struct sr_mix_quota *best = NULL;
		for (size_t i = 0; i < n; i++)
			if (!json_object_get(o, q[i].key) && (!best || strcmp(q[i].key, best->key) < 0))
				best = &q[i];
		json_object_set_new(o, best->key, weight ? json_real(best->weight) :
		                    json_integer((json_int_t)best->count));
	}
	return o;
}

/* The options that shape the data. The output directory, thread count and
 * verbosity are left out, so two runs that build the same data write the
 * same manifest. */
static json_t *arguments_json(const struct options *o)
{
	json_t *a = json_object();

	json_object_set_new(a, "by", json_string(o->by));
	json_object_set_new(a, "take", o->ntake ? quotas_json(o->take, o->ntake, 0) : json_null());
	json_object_set_new(a, "ratio", o->nratio ? quotas_json(o->ratio, o->nratio, 1) : json_null());
	json_object_set_new(a, "total", o->have_total ? json_integer((json_int_t)o->mix.total) : json_null());
	json_object_set_new(a, "replace", json_boolean(o->mix.replace));
	json_object_set_new(a, "val", o->have_val ? json_integer((json_int_t)o->mix.val) : json_null());
	json_object_set_new(a, "val_fraction", o->mix.val_fraction >= 0 ? json_real(o->mix.val_fraction) : json_null());
	json_object_set_new(a, "system", o->system ? json_string(o->system) : json_null());
	json_object_set_new(a, "shard_records", json_integer((json_int_t)o->shard_records));
	json_object_set_new(a, "shard_bytes", json_integer((json_int_t)o->shard_bytes));
	json_object_set_new(a, "frame_bytes", json_integer((json_int_t)o->shard.frame_bytes));
	json_object_set_new(a, "level", json_integer(o->shard.level));
	return a;
}

/* Inputs by file name without the directory, so the manifest does not
 * depend on where the files lie. Standard input cannot be read twice, so
 * its hash is null. */
static int inputs_json(int nfiles, char **files, json_t **out, struct sr_error *err)
{
	json_t *a = json_array();
	static char *stdin_name[] = {"-"};

	if (nfiles == 0) {
		nfiles = 1;
		files = stdin_name;
	}
	for (int i = 0; i < nfiles; i++) {
		json_t *x = json_object();
		const char *slash = strrchr(files[i], '/');
		uint64_t h;
		char hex[17];
		json_object_set_new(x, "name", json_string(slash ? slash + 1 : files[i]));
		if (strcmp(files[i], "-") == 0) {
			json_object_set_new(x, "xxh64", json_null());
		} else {
			int rc = sr_xxh64_file(files[i], &h, err);
			if (rc < 0) {
				json_decref(x);
				json_decref(a);
				return rc;
			}
			sr_xxh64_hex(h, hex);
			json_object_set_new(x, "xxh64", json_string(hex));
		}
		json_array_append_new(a, x);
	}
	*out = a;
	return 0;
}

static json_t *manifest_json(const struct options *o, struct sr_mix *mix, json_t *inputs,
                             json_t *shards)
{
	json_t *m = json_object();

	json_object_set_new(m, "manifest_version", json_integer(1));
	json_object_set_new(m, "tool", json_string(PROG));
	json_object_set_new(m, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(m, "format", json_string(sr_mix_format_name(o->format)));
	json_object_set_new(m, "seed", json_integer((json_int_t)o->mix.seed));
	json_object_set_new(m, "arguments", arguments_json(o));
	json_object_set_new(m, "guidelines", sr_mix_guidelines_json(mix));
	json_object_set_new(m, "inputs", inputs);
	json_object_set_new(m, "counts", sr_mix_counts_json(mix));
	json_object_set_new(m, "shards", shards);
	return m;
}

/* Select, write the shards and then the manifest. */
static int write_output(struct sr_run *run, const struct options *o, struct sr_mix *mix,
                        int nfiles, char **files, struct sr_error *err)
{
	json_t *shards = json_array(), *inputs = NULL, *manifest = NULL;
	int rc = sr_mix_select(mix, err);

	if (rc == 0)
		rc = sr_mix_write_shards(mix, SR_MIX_TRAIN, o->dir, &o->shard, o->shard_records,
		                         o->shard_bytes, shards, err);
	if (rc == 0)
		rc = sr_mix_write_shards(mix, SR_MIX_VAL, o->dir, &o->shard, o->shard_records,
		                         o->shard_bytes, shards, err);
	if (rc == 0)
		rc = remove_stale(o->dir, shards, err);
	if (rc == 0)
		rc = inputs_json(nfiles, files, &inputs, err);
	if (rc == 0) {
		/* manifest_json steals inputs and shards. */
		manifest = manifest_json(o, mix, inputs, shards);
		shards = NULL;
		rc = sr_manifest_write(o->dir, manifest, err);
	}
	if (rc == 0) {
		run->records_out = sr_mix_count(mix, SR_MIX_TRAIN) + sr_mix_count(mix, SR_MIX_VAL);
		run->rejected = sr_mix_not_selected(mix);
		json_object_set_new(run->stats, "train", json_integer((json_int_t)sr_mix_count(mix, SR_MIX_TRAIN)));
		json_object_set_new(run->stats, "val", json_integer((json_int_t)sr_mix_count(mix, SR_MIX_VAL)));
		json_object_set_new(run->stats, "not_selected", json_integer((json_int_t)sr_mix_not_selected(mix)));
		json_object_set_new(run->stats, "repeats", json_integer((json_int_t)sr_mix_repeats(mix)));
		json_object_set_new(run->stats, "shards",
		                    json_integer((json_int_t)json_array_size(json_object_get(manifest, "shards"))));
	}
	json_decref(shards);
	json_decref(manifest);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct sr_run run;
	struct sr_error err;
	struct sr_record rec;
	struct sr_schema *schema = NULL;
	struct sr_mix *mix = NULL;
	struct sr_buf line = {0}, tmp = {0};
	int c, rc;

	memset(&o, 0, sizeof(o));
	o.by = "source";
	o.format = SR_MIX_SRG;
	o.mix.val_fraction = -1;
	o.shard_bytes = (uint64_t)256 << 20;
	sr_shard_params_init(&o.shard);
	sr_run_init(&run, PROG);
	sr_error_clear(&err);
	while ((c = getopt_long(argc, argv, "o:qvhV", long_options, NULL)) != -1) {
		if (c == 'h') {
			usage();
			return SR_EXIT_OK;
		}
		if (c == 'V') {
			sr_print_version(PROG);
			return SR_EXIT_OK;
		}
		if (c == '?')
			return sr_msg_usage("invalid option");
		if (c != 'o') {
			rc = sr_run_option(&run, c, optarg);
			if (rc < 0)
				return SR_EXIT_USAGE;
			if (rc == 1)
				continue;
		}
		if (parse_option(&o, c, optarg) != 0)
			return SR_EXIT_USAGE;
	}
	if (check_options(&o) != 0)
		return SR_EXIT_USAGE;
	o.mix.take = o.take;
	o.mix.ntake = o.ntake;
	o.mix.ratio = o.ratio;
	o.mix.nratio = o.nratio;
	o.mix.spill_dir = o.dir;
	run.count_rejected = 1;

	rc = prepare_dir(o.dir, &err);
	if (rc == 0 && o.format != SR_MIX_RAW && (rc = sr_schema_load_named("sample", &schema, &err)) == 0)
		run.schema = schema;
	if (rc == 0)
		rc = sr_run_open(&run, argc - optind, argv + optind, &err);
	if (rc == 0)
		rc = sr_mix_new(&o.mix, &mix, &err);
	sr_record_init(&rec);
	while (rc == 0 && (rc = sr_run_next(&run, &rec, &err)) > 0)
		rc = add_record(&run, &rec, &o, mix, &line, &tmp, &err);
	if (rc == 0)
		rc = write_output(&run, &o, mix, argc - optind, argv + optind, &err);
	sr_record_release(&rec);
	sr_buf_release(&line);
	sr_buf_release(&tmp);
	sr_mix_free(mix);
	rc = sr_run_finish(&run, rc, &err);
	rc = sr_run_exit(&run, rc, &err);
	sr_schema_free(schema);
	return rc;
}
