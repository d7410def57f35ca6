/*
 * sr-shard - check shards against their manifest, stream their records back
 * out, or summarise them. Options and wiring only; the format is in
 * lib/shard.c.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "msg.h"
#include "opt.h"
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
	       "                          record count; names the first bad frame of a shard\n"
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

/* A shard file name must be a plain name inside DIR. */
static int check_name(json_t *entry, struct sr_error *err)
{
	const char *file = json_string_value(json_object_get(entry, "file"));

	if (!file || !*file || strchr(file, '/') || strcmp(file, "..") == 0 || strcmp(file, ".") == 0)
		return sr_fail(err, SR_EDATA, "manifest lists an invalid shard name '%s'",
		               file ? file : "(none)");
	return 0;
}

static int verify_dir(const char *dir)
{
	struct sr_error err;
	json_t *m = NULL, *entry;
	size_t i;
	int worst = 0;
	uint64_t records = 0;
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
	json_array_foreach(json_object_get(m, "shards"), i, entry) {
		int rc;
		sr_error_clear(&err);
		rc = check_name(entry, &err);
		shard_path(path, sizeof(path), dir, entry);
		if (rc == 0)
			rc = sr_shard_verify(path, entry, &err);
		if (rc < 0) {
			if (!err.file[0])
				snprintf(err.file, sizeof(err.file), "%.*s", (int)sizeof(err.file) - 1, path);
			sr_msg_report(&err);
			if (worst == 0 || rc == SR_EDATA)
				worst = rc;
			continue;
		}
		records += (uint64_t)json_integer_value(json_object_get(entry, "records"));
		sr_msg_debug("%s: ok", path);
	}
	if (worst == 0)
		sr_msg_notice("%s: %zu shards, %llu records: ok", dir,
		              json_array_size(json_object_get(m, "shards")), (unsigned long long)records);
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
		if ((rc = check_name(entry, err)) < 0)
			break;
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
	sr_output_free(out);
	if (rc < 0 && rc != SR_EPIPE)
		sr_msg_report(&err);
	return rc == SR_EPIPE ? SR_EXIT_OK : sr_exit_status(rc);
}
