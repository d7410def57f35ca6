/* sr-dedup - drop exact and near-duplicate records, explaining each drop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dedup.h"
#include "msg.h"
#include "normalize.h"
#include "opt.h"
#include "record.h"
#include "run.h"
#include "util.h"

#define MAX_KEYS 16
#define MAX_INDEXES 16
/* Records fingerprinted together on the worker threads; the batch also
 * ends early once its lines reach BATCH_BYTES. */
#define BATCH_RECORDS 8192
#define BATCH_BYTES ((size_t)64 << 20)

enum {
	OPT_KEY = SR_OPT_TOOL_BASE,
	OPT_NORMALIZE,
	OPT_NO_NORMALIZE,
	OPT_NEAR,
	OPT_THRESHOLD,
	OPT_NGRAM,
	OPT_SHINGLE,
	OPT_PERMUTATIONS,
	OPT_BANDS,
	OPT_SEED,
	OPT_THREADS,
	OPT_DUPS,
	OPT_SAVE_INDEX,
	OPT_AGAINST,
};

static const struct option long_options[] = {
	{"key", required_argument, NULL, OPT_KEY},
	{"normalize", required_argument, NULL, OPT_NORMALIZE},
	{"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE},
	{"near", no_argument, NULL, OPT_NEAR},
	{"threshold", required_argument, NULL, OPT_THRESHOLD},
	{"ngram", required_argument, NULL, OPT_NGRAM},
	{"shingle", required_argument, NULL, OPT_SHINGLE},
	{"permutations", required_argument, NULL, OPT_PERMUTATIONS},
	{"bands", required_argument, NULL, OPT_BANDS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"dups", required_argument, NULL, OPT_DUPS},
	{"save-index", required_argument, NULL, OPT_SAVE_INDEX},
	{"against", required_argument, NULL, OPT_AGAINST},
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: sr-dedup [OPTION]... [FILE]...\n"
	       "Drop records whose key duplicates that of an earlier record; the first\n"
	       "record of each cluster, in input order, is kept.\n"
	       "\n"
	       "  -k, --key KEY           field name or JSON Pointer (/a/b) to compare; repeat\n"
	       "                          for several (default: query)\n"
	       "      --normalize LIST    steps: nfkc,case,punct,space, all (default) or none\n"
	       "      --no-normalize      compare the key bytes as they are\n"
	       "      --near              near duplicates by MinHash + LSH (default: exact)\n"
	       "      --threshold J       minimum estimated Jaccard similarity (default 0.5)\n"
	       "      --ngram N           n-gram length in words or characters (default 3)\n"
	       "      --shingle KIND      auto (default), word or char n-grams\n"
	       "      --permutations P    MinHash values per record (default 128)\n"
	       "      --bands B           LSH bands, dividing P (default 32)\n"
	       "      --seed N            seed of the MinHash functions (default 0)\n"
	       "      --threads N         fingerprinting threads (default: all processors)\n"
	       "      --dups FILE         write dropped records with duplicate_of, similarity\n"
	       "      --save-index FILE   save the kept records' fingerprints and ids\n"
	       "      --against INDEX     treat the records of a saved index as kept; repeatable\n"
	       SR_RUN_HELP);
}

struct opts {
	const char *keys[MAX_KEYS];
	int nkeys;
	const char *against[MAX_INDEXES];
	int nagainst;
	const char *dups_path;
	const char *save_path;
	int threads;
	int threshold_set, ngram_set, shingle_set, perm_set, bands_set;
	struct sr_dedup_config cfg;
};

static int parse_options(int argc, char **argv, struct sr_run *run, struct opts *o)
{
	int c, rc;
	long v;
	uint64_t u;
	struct sr_error err;

	while ((c = getopt_long(argc, argv, "k:o:qvhV", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage();
			return 1;
		case 'V':
			sr_print_version("sr-dedup");
			return 1;
		case 'k':
		case OPT_KEY:
			if (o->nkeys == MAX_KEYS)
				return sr_msg_usage("at most %d --key options are allowed", MAX_KEYS);
			if (!optarg[0])
				return sr_msg_usage("--key needs a field name or a JSON Pointer");
			o->keys[o->nkeys++] = optarg;
			break;
		case OPT_NORMALIZE:
			if (sr_norm_parse(optarg, &o->cfg.norm, &err) < 0)
				return sr_msg_usage("%s", err.message);
			break;
		case OPT_NO_NORMALIZE:
			o->cfg.norm = 0;
			break;
		case OPT_NEAR:
			o->cfg.near = 1;
			break;
		case OPT_THRESHOLD:
			if (sr_parse_double(optarg, 0, 1, &o->cfg.threshold) < 0)
				return sr_msg_usage("invalid --threshold '%s' (expected a number from 0 to 1)",
				                    optarg);
			o->threshold_set = 1;
			break;
		case OPT_NGRAM:
			if (sr_parse_int(optarg, 1, 64, &v) < 0)
				return sr_msg_usage("invalid --ngram '%s' (expected 1 to 64)", optarg);
			o->cfg.ngram = (int)v;
			o->ngram_set = 1;
			break;
		case OPT_SHINGLE:
			if (strcmp(optarg, "auto") == 0)
				o->cfg.shingle = SR_SHINGLE_AUTO;
			else if (strcmp(optarg, "word") == 0)
				o->cfg.shingle = SR_SHINGLE_WORD;
			else if (strcmp(optarg, "char") == 0)
				o->cfg.shingle = SR_SHINGLE_CHAR;
			else
				return sr_msg_usage("invalid --shingle '%s' (expected auto, word or char)",
				                    optarg);
			o->shingle_set = 1;
			break;
		case OPT_PERMUTATIONS:
			if (sr_parse_int(optarg, 1, 1024, &v) < 0)
				return sr_msg_usage("invalid --permutations '%s' (expected 1 to 1024)", optarg);
			o->cfg.permutations = (int)v;
			o->perm_set = 1;
			break;
		case OPT_BANDS:
			if (sr_parse_int(optarg, 1, 1024, &v) < 0)
				return sr_msg_usage("invalid --bands '%s' (expected 1 to 1024)", optarg);
			o->cfg.bands = (int)v;
			o->bands_set = 1;
			break;
		case OPT_SEED:
			if (sr_parse_u64(optarg, 0, &u) < 0)
				return sr_msg_usage("invalid --seed '%s' (expected a non-negative integer)",
				                    optarg);
			o->cfg.seed = u;
			break;
		case OPT_THREADS:
			if (sr_parse_int(optarg, 0, 1024, &v) < 0)
				return sr_msg_usage("invalid --threads '%s' (expected 0 to 1024, 0 = all)",
				                    optarg);
			o->threads = (int)v;
			break;
		case OPT_DUPS:
			o->dups_path = optarg;
			break;
		case OPT_SAVE_INDEX:
			o->save_path = optarg;
			break;
		case OPT_AGAINST:
			if (o->nagainst == MAX_INDEXES)
				return sr_msg_usage("at most %d --against options are allowed", MAX_INDEXES);
			o->against[o->nagainst++] = optarg;
			break;
		default:
			rc = sr_run_option(run, c, optarg);
			if (rc < 0)
				return SR_EXIT_USAGE;
			if (rc == 0)
				return sr_msg_usage("unknown option");
		}
	}
	if (!o->cfg.near && (o->threshold_set || o->ngram_set || o->shingle_set || o->perm_set ||
	                     o->bands_set))
		return sr_msg_usage("--threshold, --ngram, --shingle, --permutations and --bands need --near");
	if (o->cfg.near && o->cfg.permutations % o->cfg.bands != 0)
		return sr_msg_usage("--bands %d does not divide --permutations %d", o->cfg.bands,
		                    o->cfg.permutations);
	if (o->nkeys == 0)
		o->keys[o->nkeys++] = "query";
	o->cfg.keep_ids = o->dups_path || o->save_path;
	return 0;
}

/* One batch of records waiting for their fingerprints. Offsets point into
 * the arenas, which move as they grow. */
struct batch {
	size_t n;
	struct sr_buf lines;  /* each line with its '\n' */
	struct sr_buf keys;   /* key texts */
	struct sr_buf ids;
	size_t line_off[BATCH_RECORDS + 1], key_off[BATCH_RECORDS + 1], id_off[BATCH_RECORDS + 1];
	const char *texts[BATCH_RECORDS];
	size_t lens[BATCH_RECORDS];
	struct sr_dedup_print fp[BATCH_RECORDS];
};

struct state {
	struct opts *o;
	struct sr_run run;
	struct sr_dedup *index;
	struct sr_output *dups;
	struct sr_record rec;
	char *dupbuf;
	size_t dupcap;
	size_t loaded;          /* kept records that came from --against */
	uint64_t dups_of_index;
};

/* Add the current record's key text and id to the batch. Returns 1 when
 * added, 0 when the record was skipped under the bad-input policy, or a
 * negative code. */
static int batch_add(struct state *st, struct batch *b, struct sr_error *err)
{
	struct opts *o = st->o;
	size_t keylen = b->keys.len, idlen = b->ids.len;
	int rc = 0;

	for (int k = 0; k < o->nkeys && rc == 0; k++) {
		if (k > 0 && sr_buf_append(&b->keys, "\x1f", 1) < 0)
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
		else
			rc = sr_dedup_key_append(&st->rec, o->keys[k], &b->keys, err);
	}
	if (rc == 0 && o->cfg.keep_ids) {
		size_t n;
		const char *id = sr_record_get_str(&st->rec, "id", &n);
		if (!id) {
			rc = sr_fail(err, SR_EDATA, "missing string field (--dups and --save-index name records by id)");
			snprintf(err->field, sizeof err->field, "id");
		} else if (sr_buf_append(&b->ids, id, n) < 0) {
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
		}
	}
	if (rc == SR_EUSAGE || rc == SR_ENOMEM)
		return rc;
	if (rc < 0) {
		b->keys.len = keylen;
		b->ids.len = idlen;
		if (err->code == SR_ENOTFOUND)
			err->code = SR_EDATA;
		rc = sr_run_bad_record(&st->run, err);
		return rc < 0 ? rc : 0;
	}
	if (sr_buf_append(&b->lines, st->rec.line, st->rec.len) < 0 ||
	    sr_buf_append(&b->lines, "\n", 1) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	b->n++;
	b->line_off[b->n] = b->lines.len;
	b->key_off[b->n] = b->keys.len;
	b->id_off[b->n] = b->ids.len;
	return 1;
}

/* Read records until the batch is full. Returns 1 when more input may
 * follow, 0 at the end of input, or a negative code. */
static int batch_fill(struct state *st, struct batch *b, struct sr_error *err)
{
	b->n = 0;
	sr_buf_reset(&b->lines);
	sr_buf_reset(&b->keys);
	sr_buf_reset(&b->ids);
	b->line_off[0] = b->key_off[0] = b->id_off[0] = 0;
	while (b->n < BATCH_RECORDS && b->lines.len < BATCH_BYTES) {
		int rc = sr_run_next(&st->run, &st->rec, err);
		if (rc <= 0)
			return rc;
		rc = batch_add(st, b, err);
		if (rc < 0)
			return rc;
	}
	return 1;
}

static int write_dup(struct state *st, const char *line, size_t len, const char *dup_of,
                     double similarity, struct sr_error *err)
{
	int rc;

	if (!st->dups)
		return 0;
	rc = sr_record_parse(&st->rec, line, len, err);
	if (rc < 0)
		return rc;
	if (sr_record_set(&st->rec, "duplicate_of", json_string(dup_of)) < 0 ||
	    sr_record_set(&st->rec, "similarity", json_real(similarity)) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	long n = sr_record_serialize(&st->rec, &st->dupbuf, &st->dupcap);
	if (n < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	return sr_output_write(st->dups, st->dupbuf, (size_t)n, err);
}

/* Fingerprint the batch, then decide and write its records in input
 * order. */
static int batch_flush(struct state *st, struct batch *b, struct sr_error *err)
{
	for (size_t i = 0; i < b->n; i++) {
		b->texts[i] = b->keys.data + b->key_off[i];
		b->lens[i] = b->key_off[i + 1] - b->key_off[i];
	}
	if (sr_dedup_fingerprint_batch(st->index, b->texts, b->lens, b->n, b->fp, st->o->threads) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");

	for (size_t i = 0; i < b->n; i++) {
		const char *line = b->lines.data + b->line_off[i];
		size_t len = b->line_off[i + 1] - b->line_off[i];
		struct sr_dedup_match m;
		int rc;

		if (b->fp[i].error < 0)
			return sr_fail(err, b->fp[i].error, "cannot fingerprint record %zu of the batch",
			               i);
		rc = sr_dedup_add(st->index, &b->fp[i], b->ids.data ? b->ids.data + b->id_off[i] : "",
		                  b->id_off[i + 1] - b->id_off[i], &m, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			rc = sr_run_emit_raw(&st->run, line, len, 1, err);
		} else {
			st->run.duplicates++;
			if (m.kept < st->loaded)
				st->dups_of_index++;
			rc = write_dup(st, line, len - 1, m.id, m.similarity, err);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int run_dedup(struct state *st, struct sr_error *err)
{
	struct batch *b = calloc(1, sizeof *b);
	int more = 1, rc = 0;

	if (!b)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	while (more > 0) {
		more = batch_fill(st, b, err);
		if (more < 0) {
			rc = more;
			break;
		}
		if ((rc = batch_flush(st, b, err)) < 0)
			break;
	}
	for (size_t i = 0; i < BATCH_RECORDS; i++)
		sr_dedup_print_release(&b->fp[i]);
	sr_buf_release(&b->lines);
	sr_buf_release(&b->keys);
	sr_buf_release(&b->ids);
	free(b);
	return rc;
}

static void add_stats(struct state *st)
{
	char norm[64];
	json_t *s = st->run.stats;

	sr_norm_format(st->o->cfg.norm, norm, sizeof norm);
	json_object_set_new(s, "mode", json_string(st->o->cfg.near ? "near" : "exact"));
	json_object_set_new(s, "normalize", json_string(norm));
	json_object_set_new(s, "distinct", json_integer((json_int_t)(sr_dedup_count(st->index) -
	                                                             st->loaded)));
	json_object_set_new(s, "index_records", json_integer((json_int_t)st->loaded));
	json_object_set_new(s, "duplicates_of_index", json_integer((json_int_t)st->dups_of_index));
	json_object_set_new(s, "index_bytes", json_integer((json_int_t)sr_dedup_memory(st->index)));
}

int main(int argc, char **argv)
{
	struct opts o;
	struct state st;
	struct sr_error err;
	char keyspec[4096] = "";
	int rc;

	memset(&st, 0, sizeof st);
	memset(&o, 0, sizeof o);
	sr_dedup_config_init(&o.cfg);
	st.o = &o;
	sr_run_init(&st.run, "sr-dedup");
	sr_error_clear(&err);
	sr_record_init(&st.rec);

	rc = parse_options(argc, argv, &st.run, &o);
	if (rc != 0) {
		sr_run_release(&st.run);
		return rc == 1 ? SR_EXIT_OK : rc;
	}
	for (int k = 0; k < o.nkeys; k++) {
		size_t used = strlen(keyspec);
		snprintf(keyspec + used, sizeof keyspec - used, "%s%s", k ? "," : "", o.keys[k]);
	}

	rc = sr_dedup_new(&o.cfg, keyspec, &st.index, &err);
	for (int i = 0; rc == 0 && i < o.nagainst; i++)
		rc = sr_dedup_load(st.index, o.against[i], &err);
	st.loaded = st.index ? sr_dedup_count(st.index) : 0;
	if (rc == 0)
		rc = sr_run_open(&st.run, argc - optind, argv + optind, &err);
	st.run.count_duplicates = 1;
	if (rc == 0 && o.dups_path)
		rc = sr_output_open(o.dups_path, strcmp(o.dups_path, "-") ? SR_OUTPUT_ATOMIC : 0,
		                    &st.dups, &err);
	if (rc == 0)
		rc = run_dedup(&st, &err);
	if (rc == 0 && st.dups)
		rc = sr_output_commit(st.dups, &err);
	if (rc == 0 && o.save_path)
		rc = sr_dedup_save(st.index, o.save_path, &err);
	if (st.index)
		add_stats(&st);
	rc = sr_run_finish(&st.run, rc, &err);
	sr_output_free(st.dups);
	sr_dedup_free(st.index);
	sr_record_release(&st.rec);
	free(st.dupbuf);
	return sr_run_exit(&st.run, rc, &err);
}
