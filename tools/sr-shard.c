/*
 * sr-shard - check shards against their manifest, stream their records back
 * out, or summarise them. Options and wiring only; the format is in
 * lib/shard.c.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "msg.h"
#include "opt.h"
#include "record.h"
#include "shard.h"

#define PROG "sr-shard"

enum { OPT_SPLIT = 0x1100 };

static const struct option long_options[] = {
	{"split", required_argument, NULL, OPT_SPLIT},
	{"output", required_argument, NULL, 'o'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: %s verify DIR...\n"
	       "       %s cat [--split train|val] [-o FILE] DIR...\n"
	       "       %s stats [-o FILE] DIR...\n"
	       "Check, read or summarise the shards that sr-mix wrote to DIR.\n\n"
	       "  verify                  check every shard against DIR/manifest.json: size,\n"
	       "                          xxh64, and each frame's offset, size, checksum and\n"
	       "                          record count; names the first bad frame of a shard;\n"
	       "                          checks the manifest's counts against the records and\n"
	       "                          reports train-* and val-* files it does not list\n"
	       "  cat                     write the records of every shard in manifest order\n"
	       "  stats                   print a JSON summary of the manifest\n"
	       "      --split NAME        with cat: only the train or the val shards\n"
	       "  -o, --output FILE       with cat and stats: write to FILE instead of stdout\n"
	       "  -q, --quiet             only errors on stderr;  -v, --verbose  more detail\n"
	       "  -h, --help              show this help;  -V, --version  show the version\n"
	       "\nExit status: 0 success, 1 a shard or manifest does not match or is\n"
	       "damaged, 2 usage error, 3 I/O or system failure.\n", PROG, PROG, PROG);
}

static void shard_path(char *buf, size_t cap, const char *dir, json_t *entry)
{
	snprintf(buf, cap, "%s/%s", dir, json_string_value(json_object_get(entry, "file")));
}

/* Check that a shard file name is a plain name inside DIR that starts with
 * the split the manifest gives it (train-NNNNN or val-NNNNN). */
static int check_name(json_t *entry, struct sr_error *err)
{
	const char *file = json_string_value(json_object_get(entry, "file"));
	const char *split = json_string_value(json_object_get(entry, "split"));
	size_t n;

	if (!file || !*file || strchr(file, '/') || strcmp(file, "..") == 0 || strcmp(file, ".") == 0)
		return sr_fail(err, SR_EDATA, "manifest lists an invalid shard name '%s'",
		               file ? file : "(none)");
	n = split ? strlen(split) : 0;
	if (!split || strncmp(file, split, n) != 0 || file[n] != '-')
		return sr_fail(err, SR_EDATA, "lists shard '%s' with split '%s', "
		               "which its name does not match", file, split ? split : "(none)");
	return 0;
}

static const char *const split_names[] = {"train", "val"};

/* Records per split, per source and per label, counted from the shards in
 * the shape of the manifest's counts. */
struct tally {
	int split;      /* of the shard being read: 0 train, 1 val */
	uint64_t n[2];
	json_t *sources; /* name -> {"train": N, "val": N} */
	json_t *labels;
	struct sr_record rec;
};

static int bump(json_t *table, const char *name, int split)
{
	json_t *c = json_object_get(table, name), *v;

	if (!c) {
		c = json_pack("{s:I,s:I}", "train", (json_int_t)0, "val", (json_int_t)0);
		/* json_object_set_new steals c, also when it fails. */
		if (!c || json_object_set_new(table, name, c) < 0)
			return SR_ENOMEM;
	}
	v = json_object_get(c, split_names[split]);
	return json_integer_set(v, json_integer_value(v) + 1) < 0 ? SR_ENOMEM : 0;
}

/* Count the records of one verified frame. sr-mix counts a record whose
 * source or label is missing or not a string under "", and so does this. */
static int tally_frame(void *ctx, const char *data, size_t len, size_t k,
                       const struct sr_shard_frame *frame, struct sr_error *err)
{
	struct tally *t = ctx;
	const char *p = data, *end = data + len;
	uint64_t line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *source, *label;
		struct sr_error perr;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		sr_error_clear(&perr);
		line++;
		if (sr_record_parse(&t->rec, p, n, &perr) < 0)
			return sr_fail(err, SR_EDATA, "frame %zu at byte offset %" PRIu64 ": record %" PRIu64
			               " of the frame is not a valid record: %s",
			               k, frame->offset, line, perr.message);
		source = sr_record_get_str(&t->rec, "source", NULL);
		label = sr_record_get_str(&t->rec, "label", NULL);
		if (bump(t->sources, source ? source : "", t->split) < 0 ||
		    bump(t->labels, label ? label : "", t->split) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		t->n[t->split]++;
		p += n + 1;
	}
	return 0;
}

static void pointer_field(struct sr_error *err, const char *table, const char *name, const char *split)
{
	size_t n = (size_t)snprintf(err->field, sizeof(err->field), "/counts/%s/", table);

	/* JSON Pointer escapes: ~ as ~0, / as ~1. */
	for (const char *c = name; *c && n + 3 < sizeof(err->field); c++) {
		if (*c == '~' || *c == '/') {
			err->field[n++] = '~';
			err->field[n++] = *c == '~' ? '0' : '1';
		} else {
			err->field[n++] = *c;
		}
	}
	err->field[n] = '\0';
	if (split)
		snprintf(err->field + n, sizeof(err->field) - n, "/%s", split);
}

/* Compare one table of the manifest's counts (sources or labels) with what
 * the shards hold; report every difference. Returns the number found. */
static int compare_table(const char *mpath, const char *table, const char *what, json_t *want,
                         json_t *got)
{
	struct sr_error err;
	const char *name;
	json_t *w, *g;
	int bad = 0;

	json_object_foreach(want, name, w) {
		g = json_object_get(got, name);
		for (int s = 0; s < 2; s++) {
			json_int_t a = json_integer_value(json_object_get(w, split_names[s]));
			json_int_t b = g ? json_integer_value(json_object_get(g, split_names[s])) : 0;
			if (a == b)
				continue;
			sr_error_clear(&err);
			snprintf(err.file, sizeof(err.file), "%.*s", (int)sizeof(err.file) - 1, mpath);
			pointer_field(&err, table, name, split_names[s]);
			sr_fail(&err, SR_EDATA, "the manifest says %" JSON_INTEGER_FORMAT ", but the %s "
			        "shards hold %" JSON_INTEGER_FORMAT " records with %s '%s'",
			        a, split_names[s], b, what, name);
			sr_msg_report(&err);
			bad++;
		}
	}
	json_object_foreach(got, name, g) {
		if (json_object_get(want, name))
			continue;
		sr_error_clear(&err);
		snprintf(err.file, sizeof(err.file), "%.*s", (int)sizeof(err.file) - 1, mpath);
		pointer_field(&err, table, name, NULL);
		sr_fail(&err, SR_EDATA, "not in the manifest, but the shards hold %" JSON_INTEGER_FORMAT " train and %"
		        JSON_INTEGER_FORMAT " val records with %s '%s'",
		        json_integer_value(json_object_get(g, "train")),
		        json_integer_value(json_object_get(g, "val")), what, name);
		sr_msg_report(&err);
		bad++;
	}
	return bad;
}

/* Cross-check the manifest's counts with the records read from the shards:
 * the split totals, each source and each label, and the sum of the
 * selected counts in counts.keys. Returns the number of differences. */
static int compare_counts(const char *dir, json_t *m, const struct tally *t)
{
	json_t *counts = json_object_get(m, "counts"), *keys, *k;
	struct sr_error err;
	char mpath[4096];
	const char *name;
	json_int_t selected = 0;
	int bad = 0;

	snprintf(mpath, sizeof(mpath), "%s/manifest.json", dir);
	for (int s = 0; s < 2; s++) {
		json_int_t want = json_integer_value(json_object_get(counts, split_names[s]));
		if ((uint64_t)want == t->n[s])
			continue;
		sr_error_clear(&err);
		snprintf(err.file, sizeof(err.file), "%.*s", (int)sizeof(err.file) - 1, mpath);
		snprintf(err.field, sizeof(err.field), "/counts/%s", split_names[s]);
		sr_fail(&err, SR_EDATA, "the manifest says %" JSON_INTEGER_FORMAT ", but the %s shards "
		        "hold %" PRIu64 " records", want, split_names[s], t->n[s]);
		sr_msg_report(&err);
		bad++;
	}
	bad += compare_table(mpath, "sources", "source", json_object_get(counts, "sources"), t->sources);
	bad += compare_table(mpath, "labels", "label", json_object_get(counts, "labels"), t->labels);
	keys = json_object_get(counts, "keys");
	json_object_foreach(keys, name, k)
		selected += json_integer_value(json_object_get(k, "selected"));
	if (json_object_size(keys) > 0 && (uint64_t)selected != t->n[0] + t->n[1]) {
		sr_error_clear(&err);
		snprintf(err.file, sizeof(err.file), "%.*s", (int)sizeof(err.file) - 1, mpath);
		snprintf(err.field, sizeof(err.field), "/counts/keys");
		sr_fail(&err, SR_EDATA, "the selected counts add up to %" JSON_INTEGER_FORMAT ", but the "
		        "shards hold %" PRIu64 " records", selected, t->n[0] + t->n[1]);
		sr_msg_report(&err);
		bad++;
	}
	return bad;
}

/* Report every train-* and val-* file in dir that is not in listed (an
 * object with the manifest's file names as keys): a consumer that globs
 * for shards would read it. Returns the number found, or SR_EIO. */
static int find_unlisted(const char *dir, json_t *listed)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int bad = 0;

	if (!d) {
		sr_msg_error("cannot read directory '%s': %s", dir, strerror(errno));
		return SR_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "train-", 6) != 0 && strncmp(de->d_name, "val-", 4) != 0)
			continue;
		if (json_object_get(listed, de->d_name))
			continue;
		sr_msg_error("%s/%s: not listed in the manifest (a stray file, or a leftover of "
		             "another run)", dir, de->d_name);
		bad++;
	}
	closedir(d);
	return bad;
}

static void keep_worst(int *worst, int rc)
{
	if (rc < 0 && (*worst == 0 || rc == SR_EDATA))
		*worst = rc;
}

static int verify_dir(const char *dir)
{
	struct sr_error err;
	struct tally t = {0};
	json_t *m = NULL, *shards, *entry, *listed = json_object();
	size_t i;
	int worst = 0, n;
	char path[4096];

	sr_error_clear(&err);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		sr_msg_error("'%s' not found: '%s' holds no finished sr-mix output", path, dir);
		return SR_EDATA;
	}
	if (sr_manifest_read(dir, &m, &err) < 0) {
		sr_msg_report(&err);
		return err.code;
	}
	shards = json_object_get(m, "shards");
	t.sources = json_object();
	t.labels = json_object();
	sr_record_init(&t.rec);
	if (!t.sources || !t.labels || !listed) {
		sr_msg_error("out of memory");
		worst = SR_ENOMEM;
		goto done;
	}
	json_array_foreach(shards, i, entry) {
		const char *file = json_string_value(json_object_get(entry, "file"));
		int rc;
		sr_error_clear(&err);
		rc = check_name(entry, &err);
		if (rc == 0 && json_object_get(listed, file))
			rc = sr_fail(&err, SR_EDATA, "lists shard '%s' twice", file);
		/* Listed even when invalid, so it is not reported as unlisted too. */
		if (file && json_object_set_new(listed, file, json_true()) < 0 && rc == 0)
			rc = sr_fail(&err, SR_ENOMEM, "out of memory");
		if (rc < 0) {
			snprintf(path, sizeof(path), "%s/manifest.json", dir);
			snprintf(err.file, sizeof(err.file), "%.*s", (int)sizeof(err.file) - 1, path);
		}
		shard_path(path, sizeof(path), dir, entry);
		if (rc == 0) {
			t.split = strcmp(json_string_value(json_object_get(entry, "split")), "val") == 0;
			rc = sr_shard_verify_each(path, entry, tally_frame, &t, &err);
		}
		if (rc < 0) {
			if (!err.file[0])
				snprintf(err.file, sizeof(err.file), "%.*s", (int)sizeof(err.file) - 1, path);
			sr_msg_report(&err);
			keep_worst(&worst, rc);
			continue;
		}
		sr_msg_debug("%s: ok", path);
	}
	n = find_unlisted(dir, listed);
	if (n > 0)
		n = SR_EDATA;
	keep_worst(&worst, n);
	/* Counts are only comparable when every shard could be read. */
	if (worst == 0 && compare_counts(dir, m, &t) > 0)
		worst = SR_EDATA;
	if (worst == 0)
		sr_msg_notice("%s: %zu shards, %llu records: ok", dir, json_array_size(shards),
		              (unsigned long long)(t.n[0] + t.n[1]));
done:
	sr_record_release(&t.rec);
	json_decref(t.sources);
	json_decref(t.labels);
	json_decref(listed);
	json_decref(m);
	return worst;
}

static int cat_dir(const char *dir, const char *split, struct sr_output *out, struct sr_error *err)
{
	json_t *m = NULL, *entry;
	size_t i;
	int rc = sr_manifest_read(dir, &m, err);

	if (rc < 0)
		return rc;
	json_array_foreach(json_object_get(m, "shards"), i, entry) {
		struct sr_shard_reader *r = NULL;
		const char *data;
		size_t len;
		char path[4096];
		if (split && strcmp(json_string_value(json_object_get(entry, "split")), split) != 0)
			continue;
		if ((rc = check_name(entry, err)) < 0) {
			if (err)
				snprintf(err->file, sizeof(err->file), "%.*s/manifest.json",
				         (int)sizeof(err->file) - 16, dir);
			break;
		}
		shard_path(path, sizeof(path), dir, entry);
		rc = sr_shard_reader_open(path, &r, err);
		while (rc == 0 && (rc = sr_shard_reader_next(r, &data, &len, NULL, err)) > 0)
			rc = sr_output_write(out, data, len, err);
		sr_shard_reader_free(r);
		if (rc < 0) {
			if (err && !err->file[0])
				snprintf(err->file, sizeof(err->file), "%.*s", (int)sizeof(err->file) - 1, path);
			break;
		}
	}
	json_decref(m);
	return rc;
}

/* Sum a manifest into {"dir", "shards", "records", "train", "val", "bytes",
 * "raw_bytes", "ratio", "frames", "format", "seed", "sources", "labels"}. */
static int stats_dir(const char *dir, struct sr_output *out, struct sr_error *err)
{
	json_t *m = NULL, *entry, *s, *counts;
	uint64_t records = 0, bytes = 0, raw = 0, frames = 0;
	size_t i;
	char *text;
	int rc = sr_manifest_read(dir, &m, err);

	if (rc < 0)
		return rc;
	json_array_foreach(json_object_get(m, "shards"), i, entry) {
		records += (uint64_t)json_integer_value(json_object_get(entry, "records"));
		bytes += (uint64_t)json_integer_value(json_object_get(entry, "bytes"));
		raw += (uint64_t)json_integer_value(json_object_get(entry, "raw_bytes"));
		frames += json_array_size(json_object_get(entry, "frames"));
	}
	counts = json_object_get(m, "counts");
	s = json_object();
	json_object_set_new(s, "dir", json_string(dir));
	json_object_set(s, "format", json_object_get(m, "format"));
	json_object_set(s, "seed", json_object_get(m, "seed"));
	json_object_set_new(s, "shards", json_integer((json_int_t)json_array_size(json_object_get(m, "shards"))));
	json_object_set_new(s, "frames", json_integer((json_int_t)frames));
	json_object_set_new(s, "records", json_integer((json_int_t)records));
	json_object_set(s, "train", json_object_get(counts, "train"));
	json_object_set(s, "val", json_object_get(counts, "val"));
	json_object_set_new(s, "bytes", json_integer((json_int_t)bytes));
	json_object_set_new(s, "raw_bytes", json_integer((json_int_t)raw));
	json_object_set_new(s, "ratio", json_real(bytes ? (double)raw / (double)bytes : 0.0));
	json_object_set(s, "sources", json_object_get(counts, "sources"));
	json_object_set(s, "labels", json_object_get(counts, "labels"));
	json_object_set(s, "guidelines", json_object_get(m, "guidelines"));
	text = json_dumps(s, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
	rc = text ? sr_output_write(out, text, strlen(text), err) : sr_fail(err, SR_ENOMEM, "out of memory");
	if (rc == 0)
		rc = sr_output_write(out, "\n", 1, err);
	free(text);
	json_decref(s);
	json_decref(m);
	return rc;
}

int main(int argc, char **argv)
{
	const char *split = NULL, *output = NULL, *cmd;
	struct sr_output *out = NULL;
	struct sr_error err;
	int c, rc = 0;

	sr_msg_init(PROG);
	sr_error_clear(&err);
	while ((c = getopt_long(argc, argv, "o:qvhV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_SPLIT:
			if (strcmp(optarg, "train") != 0 && strcmp(optarg, "val") != 0)
				return sr_msg_usage("invalid --split '%s' (expected train or val)", optarg);
			split = optarg;
			break;
		case 'o': output = optarg; break;
		case 'q': sr_msg_verbosity = 0; break;
		case 'v': sr_msg_verbosity = 2; break;
		case 'h': usage(); return SR_EXIT_OK;
		case 'V': sr_print_version(PROG); return SR_EXIT_OK;
		default: return sr_msg_usage("invalid option");
		}
	}
	if (optind >= argc)
		return sr_msg_usage("missing command (verify, cat or stats)");
	cmd = argv[optind++];
	if (strcmp(cmd, "verify") != 0 && strcmp(cmd, "cat") != 0 && strcmp(cmd, "stats") != 0)
		return sr_msg_usage("unknown command '%s' (expected verify, cat or stats)", cmd);
	if (optind >= argc)
		return sr_msg_usage("missing DIR");
	if (split && strcmp(cmd, "cat") != 0)
		return sr_msg_usage("--split works with cat only");
	if (output && strcmp(cmd, "verify") == 0)
		return sr_msg_usage("-o works with cat and stats only");

	if (strcmp(cmd, "verify") == 0) {
		int worst = 0;
		for (int i = optind; i < argc; i++) {
			rc = verify_dir(argv[i]);
			if (rc < 0 && (worst == 0 || rc == SR_EDATA))
				worst = rc;
		}
		return sr_exit_status(worst);
	}
	rc = sr_output_open(output, output && strcmp(output, "-") != 0 ? SR_OUTPUT_ATOMIC : 0, &out, &err);
	for (int i = optind; rc == 0 && i < argc; i++)
		rc = strcmp(cmd, "cat") == 0 ? cat_dir(argv[i], split, out, &err) :
		     stats_dir(argv[i], out, &err);
	if (rc == 0)
		rc = sr_output_commit(out, &err);
	else if (rc != SR_EPIPE && out && (!output || strcmp(output, "-") == 0))
		/* The records before damage reach standard output, as the man
		 * page promises; an -o file is not committed. */
		sr_output_flush(out, NULL);
	sr_output_free(out);
	if (rc < 0 && rc != SR_EPIPE)
		sr_msg_report(&err);
	return rc == SR_EPIPE ? SR_EXIT_OK : sr_exit_status(rc);
}
