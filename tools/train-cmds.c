/*
 * train-cmds.c - the init, eval and generate subcommands of sr-train.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "generate.h"
#include "io.h"
#include "jsonl.h"
#include "msg.h"
#include "opt.h"
#include "record.h"
#include "train.h"
#include "train-cmd.h"

enum {
	OPT_CONFIG = 0x100, OPT_VOCAB_SIZE, OPT_DATA, OPT_SEED, OPT_MAX_RECORDS, OPT_MODEL,
	OPT_TEMPLATE, OPT_SEQ_LEN, OPT_BATCH, OPT_MAX_NEW, OPT_TEMPERATURE, OPT_TOP_P,
	OPT_TOP_K, OPT_SAMPLES, OPT_TOKENIZER,
};

static int report(const struct sr_error *err, int rc)
{
	sr_msg_report(err);
	return sr_exit_status(rc);
}

/* ---------------------------------------------------------------------- */

static const char init_usage[] =
	"Usage: sr-train init --config FILE --vocab-size N --data SHARDS -o DIR [--seed N]\n"
	"       sr-train init --config FILE --tokenizer PATH -o DIR [--seed N]\n"
	"Make a randomly initialised model: FILE is a config.json (fields left out take the\n"
	"Llama defaults), the byte-level BPE tokenizer of N ids is trained on the text of the\n"
	"`messages` in the train shards, with ChatML special tokens and template.\n"
	"\n"
	"  --config FILE        model configuration in the config.json form\n"
	"  --vocab-size N       tokenizer size, special and byte tokens included (>= 259)\n"
	"  --data PATH          shard directory (train-*.jsonl.zst) or one JSONL file\n"
	"  --tokenizer PATH     copy this tokenizer.json (or directory) instead of training one\n"
	"  -o, --output DIR     model directory to write\n"
	"  --seed N             random seed of the weights (default 0)\n"
	"  --max-records N      train the tokenizer on at most N records\n"
	SR_TRAIN_COMMON_HELP;

int sr_train_cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, OPT_CONFIG},
		{"vocab-size", required_argument, NULL, OPT_VOCAB_SIZE},
		{"data", required_argument, NULL, OPT_DATA},
		{"tokenizer", required_argument, NULL, OPT_TOKENIZER},
		{"output", required_argument, NULL, 'o'},
		{"seed", required_argument, NULL, OPT_SEED},
		{"max-records", required_argument, NULL, OPT_MAX_RECORDS},
		SR_TRAIN_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *data = NULL, *out = NULL, *tokenizer = NULL;
	long vocab = 0, max_records = 0;
	uint64_t seed = 0;
	struct sr_model_config cfg;
	struct sr_error err = {0};
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		int common = sr_train_common_option(c, optarg, init_usage, &rc);
		if (common == 2)
			return rc;
		if (common == 1)
			continue;
		switch (c) {
		case OPT_CONFIG: config = optarg; break;
		case OPT_DATA: data = optarg; break;
		case OPT_TOKENIZER: tokenizer = optarg; break;
		case 'o': out = optarg; break;
		case OPT_VOCAB_SIZE:
			if (sr_parse_int(optarg, 259, 10000000, &vocab) != 0)
				return sr_msg_usage("invalid --vocab-size '%s' (expected 259 to 10000000)", optarg);
			break;
		case OPT_SEED:
			if (sr_parse_u64(optarg, 0, &seed) != 0)
				return sr_msg_usage("invalid --seed '%s'", optarg);
			break;
		case OPT_MAX_RECORDS:
			if (sr_parse_int(optarg, 1, 1000000000L, &max_records) != 0)
				return sr_msg_usage("invalid --max-records '%s'", optarg);
			break;
		default: return sr_msg_usage("invalid option");
		}
	}
	if (optind < argc)
		return sr_msg_usage("unexpected argument '%s'", argv[optind]);
	if (!config || !out)
		return sr_msg_usage("init needs --config and -o");
	if (!tokenizer && (!data || !vocab))
		return sr_msg_usage("init needs --vocab-size and --data, or --tokenizer");
	if (tokenizer && (data || vocab))
		return sr_msg_usage("--tokenizer cannot be combined with --vocab-size or --data");
	rc = sr_train_init_model(config, vocab, data, tokenizer, out, seed, max_records, &cfg, &err);
	if (rc)
		return report(&err, rc);
	/* BPE training stops early when no pair of tokens occurs twice more. */
	if (!tokenizer && cfg.vocab_size < vocab)
		sr_msg_warn("the tokenizer has %d ids, fewer than the %ld of --vocab-size, because no "
		            "further pair of tokens occurs twice in the data; give more text to get "
		            "more ids", cfg.vocab_size, vocab);
	sr_msg_notice("wrote '%s': %zu parameters, %d layers, hidden size %d, vocabulary %d",
	              out, sr_model_param_count(&cfg), cfg.num_hidden_layers, cfg.hidden_size,
	              cfg.vocab_size);
	return SR_EXIT_OK;
}

/* ---------------------------------------------------------------------- */

static const char eval_usage[] =
	"Usage: sr-train eval --model DIR --data SHARDS [OPTIONS]\n"
	"Print {\"loss\": mean loss over assistant tokens, \"tokens\": count} for the val\n"
	"shards (the train shards when there are none), without training.\n"
	"\n"
	"  --model DIR          model directory\n"
	"  --data PATH          shard directory or one JSONL file\n"
	"  --template NAME      chatml or llama3 (default: from the tokenizer config)\n"
	"  --seq-len N          tokens per row; longer examples are truncated\n"
	"                       (default 512, or the model's max_position_embeddings if less)\n"
	"  --batch N            rows per forward pass (default 8)\n"
	"  --max-records N      read at most N records\n"
	SR_TRAIN_COMMON_HELP;

int sr_train_cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, OPT_MODEL},
		{"data", required_argument, NULL, OPT_DATA},
		{"template", required_argument, NULL, OPT_TEMPLATE},
		{"seq-len", required_argument, NULL, OPT_SEQ_LEN},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"max-records", required_argument, NULL, OPT_MAX_RECORDS},
		SR_TRAIN_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	const char *model = NULL, *data = NULL, *tmpl = NULL;
	long seq_len = 0, batch = 8, max_records = 0, tokens = 0;
	double loss = 0;
	struct sr_error err = {0};
	int c, rc;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		int common = sr_train_common_option(c, optarg, eval_usage, &rc);
		if (common == 2)
			return rc;
		if (common == 1)
			continue;
		switch (c) {
		case OPT_MODEL: model = optarg; break;
		case OPT_DATA: data = optarg; break;
		case OPT_TEMPLATE: tmpl = optarg; break;
		case OPT_SEQ_LEN:
			if (sr_parse_int(optarg, 2, 1000000, &seq_len) != 0)
				return sr_msg_usage("invalid --seq-len '%s'", optarg);
			break;
		case OPT_BATCH:
			if (sr_parse_int(optarg, 1, 100000, &batch) != 0)
				return sr_msg_usage("invalid --batch '%s'", optarg);
			break;
		case OPT_MAX_RECORDS:
			if (sr_parse_int(optarg, 1, 1000000000L, &max_records) != 0)
				return sr_msg_usage("invalid --max-records '%s'", optarg);
			break;
		default: return sr_msg_usage("invalid option");
		}
	}
	if (optind < argc)
		return sr_msg_usage("unexpected argument '%s'", argv[optind]);
	if (!model || !data)
		return sr_msg_usage("eval needs --model and --data");
	rc = sr_train_eval(model, data, tmpl, (int)seq_len, (int)batch, max_records, &loss, &tokens,
	                   &err);
	if (rc)
		return report(&err, rc);
	json_t *o = json_pack("{s:f, s:I}", "loss", loss, "tokens", (json_int_t)tokens);
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text || printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		free(text);
		sr_msg_error("cannot write to standard output");
		return SR_EXIT_IO;
	}
	free(text);
	return SR_EXIT_OK;
}

/* ---------------------------------------------------------------------- */

static const char generate_usage[] =
	"Usage: sr-train generate --model DIR [OPTIONS] [FILE...]\n"
	"Sample a reply for each input line: a JSON string (the user turn), or an object\n"
	"with `messages` (a final assistant turn is replaced) or `query`. Objects come out\n"
	"with `response` and `finish_reason` added; strings as {\"query\", \"response\",\n"
	"\"finish_reason\"}.\n"
	"\n"
	"  --model DIR          model directory\n"
	"  --template NAME      chatml or llama3 (default: from the tokenizer config)\n"
	"  --max-new-tokens N   tokens per reply at most (default 256)\n"
	"  --temperature X      0 = greedy (default 1)\n"
	"  --top-p X            nucleus sampling mass (default 1 = off)\n"
	"  --top-k N            sample among the N most likely tokens (default 0 = off)\n"
	"  --seed N             sampling seed (default 0)\n"
	"  --samples N          replies per input line, each with \"sample\" set (default 1)\n"
	"  --batch N            prompts decoded together (default 8)\n"
	"  -o, --output FILE    write here instead of standard output\n"
	SR_TRAIN_COMMON_HELP;

/* One input line waiting for its reply. */
struct pending {
	struct sr_record rec;  /* the input object, or empty for a string line */
	char *query;           /* the string of a string line */
	json_t *messages;      /* owned */
	long sample;
	uint64_t seed;
};

static int input_messages(struct pending *p, const struct sr_line *line, struct sr_error *err)
{
	json_t *v = sr_json_parse(line->data, line->len, err);
	if (!v)
		return SR_EDATA;
	if (json_is_string(v)) {
		p->query = strdup(json_string_value(v));
		p->messages = json_pack("[{s:s, s:s}]", "role", "user", "content", p->query);
		sr_record_empty(&p->rec);
		json_decref(v);
		return p->query && p->messages ? 0 : sr_fail(err, SR_ENOMEM, "out of memory");
	}
	json_t *m = json_object_get(v, "messages"), *q = json_object_get(v, "query");
	size_t n = json_array_size(m);
	const char *last_role = json_string_value(json_object_get(json_array_get(m, n ? n - 1 : 0), "role"));
	if (json_is_array(m) && n > 1 && last_role && !strcmp(last_role, "assistant")) {
		/* a training example: the model replies in place of its assistant turn */
		p->messages = json_array();
		for (size_t i = 0; i + 1 < n; i++)
			json_array_append(p->messages, json_array_get(m, i));
	} else if (json_is_array(m)) {
		p->messages = json_incref(m);
	}
	else if (json_is_string(q))
		p->messages = json_pack("[{s:s, s:O}]", "role", "user", "content", q);
	json_decref(v);
	if (!p->messages)
		return sr_fail(err, SR_EDATA, "expected a JSON string or an object with 'messages' or 'query'");
	if (sr_record_parse(&p->rec, line->data, line->len, err) || sr_record_own(&p->rec))
		return SR_EDATA;
	return 0;
}

static int flush_batch(struct sr_generator *g, struct pending *items, size_t n,
                       const struct sr_gen_params *params, long samples, struct sr_output *out,
                       struct sr_error *err)
{
	const json_t **msgs = calloc(n ? n : 1, sizeof *msgs);
	uint64_t *seeds = calloc(n ? n : 1, sizeof *seeds);
	char **texts = calloc(n ? n : 1, sizeof *texts);
	enum sr_gen_finish *finish = calloc(n ? n : 1, sizeof *finish);
	char *buf = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!msgs || !seeds || !texts || !finish)
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < n; i++) {
		msgs[i] = items[i].messages;
		seeds[i] = items[i].seed;
	}
	if (!rc)
		rc = sr_generator_reply(g, msgs, n, params, seeds, texts, finish, err);
	for (size_t i = 0; !rc && i < n; i++) {
		struct pending *p = &items[i];
		if (p->query)
			sr_record_set(&p->rec, "query", json_string(p->query));
		if (samples > 1)
			sr_record_set(&p->rec, "sample", json_integer(p->sample));
		sr_record_set(&p->rec, "response", json_string(texts[i]));
		sr_record_set(&p->rec, "finish_reason",
		              json_string(finish[i] == SR_GEN_STOP ? "stop" : "length"));
		long len = sr_record_serialize(&p->rec, &buf, &cap);
		rc = len < 0 ? sr_fail(err, SR_ENOMEM, "out of memory")
		             : sr_output_write(out, buf, (size_t)len, err);
	}
	for (size_t i = 0; texts && i < n; i++)
		free(texts[i]);
	free(buf);
	free(msgs);
	free(seeds);
	free(texts);
	free(finish);
	return rc;
}

static void pending_release(struct pending *p)
{
	sr_record_release(&p->rec);
	json_decref(p->messages);
	free(p->query);
	memset(p, 0, sizeof *p);
}

/* Read every input, reply in batches of `batch` prompts. */
static int generate_all(struct sr_generator *g, char **files, int nfiles,
                        const struct sr_gen_params *params, long samples, long batch,
                        struct sr_output *out, struct sr_error *err)
{
	struct pending *items = calloc((size_t)batch, sizeof *items);
	size_t n = 0;
	long index = 0;
	int rc = 0;

	if (!items)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	for (int f = 0; !rc && f < (nfiles ? nfiles : 1); f++) {
		struct sr_reader *r = NULL;
		struct sr_line line;
		rc = sr_reader_open(nfiles ? files[f] : "-", 0, &r, err);
		while (!rc && (rc = sr_reader_next(r, &line, err)) > 0) {
			rc = 0;
			for (long s = 0; !rc && s < samples; s++) {
				struct pending *p = &items[n];
				sr_record_init(&p->rec);
				rc = input_messages(p, &line, err);
				if (rc) {
					snprintf(err->file, sizeof err->file, "%s", sr_reader_name(r));
					err->line = line.lineno;
					pending_release(p);
					break;
				}
				p->sample = s;
				p->seed = sr_hash_mix(params->seed, "generate", (uint64_t)(index * samples + s));
				if (++n == (size_t)batch) {
					rc = flush_batch(g, items, n, params, samples, out, err);
					for (size_t i = 0; i < n; i++)
						pending_release(&items[i]);
					n = 0;
				}
			}
			index++;
		}
		sr_reader_free(r);
	}
	if (!rc && n)
		rc = flush_batch(g, items, n, params, samples, out, err);
	for (size_t i = 0; i < n; i++)
		pending_release(&items[i]);
	free(items);
	return rc < 0 ? rc : 0;
}

int sr_train_cmd_generate(int argc, char **argv)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, OPT_MODEL},
		{"template", required_argument, NULL, OPT_TEMPLATE},
		{"max-new-tokens", required_argument, NULL, OPT_MAX_NEW},
		{"temperature", required_argument, NULL, OPT_TEMPERATURE},
		{"top-p", required_argument, NULL, OPT_TOP_P},
		{"top-k", required_argument, NULL, OPT_TOP_K},
		{"seed", required_argument, NULL, OPT_SEED},
		{"samples", required_argument, NULL, OPT_SAMPLES},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"output", required_argument, NULL, 'o'},
		SR_TRAIN_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	const char *model = NULL, *tmpl = NULL, *outpath = NULL;
	struct sr_gen_params params;
	struct sr_generator *g = NULL;
	struct sr_output *out = NULL;
	struct sr_error err = {0};
	long v, samples = 1, batch = 8;
	double d;
	int c, rc;

	sr_gen_params_defaults(&params);
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		int common = sr_train_common_option(c, optarg, generate_usage, &rc);
		if (common == 2)
			return rc;
		if (common == 1)
			continue;
		switch (c) {
		case OPT_MODEL: model = optarg; break;
		case OPT_TEMPLATE: tmpl = optarg; break;
		case 'o': outpath = optarg; break;
		case OPT_MAX_NEW:
			if (sr_parse_int(optarg, 1, 1000000, &v) != 0)
				return sr_msg_usage("invalid --max-new-tokens '%s'", optarg);
			params.max_new_tokens = (int)v;
			break;
		case OPT_TEMPERATURE:
			if (sr_parse_double(optarg, 0, 100, &d) != 0)
				return sr_msg_usage("invalid --temperature '%s' (expected 0 to 100)", optarg);
			params.temperature = d;
			break;
		case OPT_TOP_P:
			if (sr_parse_double(optarg, 0, 1, &d) != 0 || d == 0)
				return sr_msg_usage("invalid --top-p '%s' (expected a number in (0, 1])", optarg);
			params.top_p = d;
			break;
		case OPT_TOP_K:
			if (sr_parse_int(optarg, 0, 100000000, &v) != 0)
				return sr_msg_usage("invalid --top-k '%s'", optarg);
			params.top_k = (int)v;
			break;
		case OPT_SEED:
			if (sr_parse_u64(optarg, 0, &params.seed) != 0)
				return sr_msg_usage("invalid --seed '%s'", optarg);
			break;
		case OPT_SAMPLES:
			if (sr_parse_int(optarg, 1, 1000000, &samples) != 0)
				return sr_msg_usage("invalid --samples '%s'", optarg);
			break;
		case OPT_BATCH:
			if (sr_parse_int(optarg, 1, 4096, &batch) != 0)
				return sr_msg_usage("invalid --batch '%s' (expected 1 to 4096)", optarg);
			break;
		default: return sr_msg_usage("invalid option");
		}
	}
	if (!model)
		return sr_msg_usage("generate needs --model");
	rc = sr_generator_open(model, tmpl, &g, &err);
	if (!rc)
		rc = sr_output_open(outpath, outpath ? SR_OUTPUT_ATOMIC : 0, &out, &err);
	if (!rc)
		rc = generate_all(g, argv + optind, argc - optind, &params, samples, batch, out, &err);
	if (!rc)
		rc = sr_output_commit(out, &err);
	sr_output_free(out);
	sr_generator_free(g);
	if (rc == SR_EPIPE)
		return SR_EXIT_OK;
	return rc ? report(&err, rc) : SR_EXIT_OK;
}
