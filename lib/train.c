/* train.c - training data, the training loop, checkpoints, eval and init. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "bpe_train.h"
#include "chat.h"
#include "io.h"
#include "jsonl.h"
#include "model.h"
#include "record.h"
#include "safetensors.h"
#include "shard.h"
#include "tokenizer.h"
#include "train.h"
#include "util.h"

#define CHECKPOINT_NAME "checkpoint.safetensors"
#define CHECKPOINT_FORMAT "srkit-checkpoint-1"

void sr_train_options_defaults(struct sr_train_options *o)
{
	memset(o, 0, sizeof *o);
	o->epochs = 1.0;
	o->seq_len = 0; /* min(512, max_position_embeddings) */
	o->batch = 8;
	o->grad_accum = 1;
	o->lr = 3e-4;
	o->min_lr = 3e-5;
	o->warmup = -1; /* 5% of the steps */
	o->clip = 1.0;
	sr_adamw_config_defaults(&o->adam);
	o->pack = 1;
}

/* ---------------------------------------------------------------------- */
/* Documents                                                               */

void sr_dataset_release(struct sr_dataset *ds)
{
	free(ds->ids);
	free(ds->mask);
	free(ds->start);
	free(ds->len);
	memset(ds, 0, sizeof *ds);
}

static int dataset_add(struct sr_dataset *ds, const struct sr_chat_seq *seq, int max_len)
{
	size_t len = seq->len;
	long loss = 0;

	if ((long)len > max_len) {
		len = (size_t)max_len;
		ds->truncated++;
	}
	for (size_t j = 1; j < len; j++)
		loss += seq->mask[j];
	if (len < 2 || loss == 0) {
		ds->no_loss++;
		return 0;
	}
	if (ds->n_tokens + len > ds->cap_tokens) {
		size_t cap = ds->cap_tokens ? ds->cap_tokens * 2 : 65536;
		while (cap < ds->n_tokens + len)
			cap *= 2;
		int32_t *ids = realloc(ds->ids, cap * sizeof *ids);
		if (!ids)
			return SR_ENOMEM;
		ds->ids = ids;
		uint8_t *mask = realloc(ds->mask, cap);
		if (!mask)
			return SR_ENOMEM;
		ds->mask = mask;
		ds->cap_tokens = cap;
	}
	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? ds->cap * 2 : 1024;
		size_t *start = realloc(ds->start, cap * sizeof *start);
		if (!start)
			return SR_ENOMEM;
		ds->start = start;
		int *lens = realloc(ds->len, cap * sizeof *lens);
		if (!lens)
			return SR_ENOMEM;
		ds->len = lens;
		ds->cap = cap;
	}
	memcpy(ds->ids + ds->n_tokens, seq->ids, len * sizeof *ds->ids);
	memcpy(ds->mask + ds->n_tokens, seq->mask, len);
	ds->start[ds->n] = ds->n_tokens;
	ds->len[ds->n] = (int)len;
	ds->n++;
	ds->n_tokens += len;
	ds->loss_tokens += loss;
	return 0;
}

/* Encode the records of one file. */
static int dataset_load_file(struct sr_dataset *ds, const char *path, const struct sr_chat *chat,
                             int max_len, long max_records, struct sr_error *err)
{
	struct sr_reader *r = NULL;
	struct sr_chat_seq seq = {0};
	struct sr_line line;
	int rc;

	rc = sr_reader_open(path, 0, &r, err);
	while (!rc && (max_records <= 0 || ds->records < max_records)) {
		rc = sr_reader_next(r, &line, err);
		if (rc <= 0)
			break;
		rc = 0;
		ds->records++;
		json_t *rec = sr_json_parse(line.data, line.len, err);
		json_t *messages = json_object_get(rec, "messages");
		if (!rec || !json_is_object(rec) || !json_is_array(messages)) {
			if (rec)
				sr_fail(err, SR_EDATA, "record has no 'messages' array");
			snprintf(err->field, sizeof err->field, "messages");
			rc = SR_EDATA;
		} else {
			sr_chat_seq_reset(&seq);
			rc = sr_chat_encode(chat, messages, &seq, err);
			if (!rc && dataset_add(ds, &seq, max_len))
				rc = sr_fail(err, SR_ENOMEM, "out of memory reading '%s'", path);
		}
		json_decref(rec);
		if (rc && err) {
			snprintf(err->file, sizeof err->file, "%s", path);
			err->line = line.lineno;
		}
	}
	sr_chat_seq_release(&seq);
	sr_reader_free(r);
	return rc < 0 ? rc : 0;
}

/* List the shard files of split (train or val) in the sr-mix output dir:
 * exactly the ones its manifest names, each verified against the manifest
 * (size, frames, xxh64). A directory without a manifest is not a finished
 * mix (a killed sr-mix leaves none) and is an error. Returns the count
 * and a new NULL-terminated array in *files (free each and the array). */
static int manifest_files(const char *dir, const char *split, char ***files, struct sr_error *err)
{
	json_t *manifest = NULL, *shards, *entry;
	char **list;
	size_t i, n = 0;
	int rc;

	*files = NULL;
	if ((rc = sr_manifest_read(dir, &manifest, err)) < 0) {
		if (rc == SR_EIO || rc == SR_ENOTFOUND)
			return sr_fail(err, SR_EDATA,
			               "'%s' has no readable manifest.json, so it is not a finished "
			               "sr-mix output (a killed sr-mix leaves none); rerun sr-mix",
			               dir);
		return rc;
	}
	shards = json_object_get(manifest, "shards");
	if (!(list = calloc(json_array_size(shards) + 1, sizeof *list))) {
		json_decref(manifest);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	json_array_foreach(shards, i, entry) {
		const char *file = json_string_value(json_object_get(entry, "file"));
		const char *sp = json_string_value(json_object_get(entry, "split"));
		char path[4200];
		if (!file || !sp || strcmp(sp, split) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, file);
		if ((rc = sr_shard_verify(path, entry, err)) < 0 || !(list[n] = strdup(path))) {
			if (rc == 0)
				rc = sr_fail(err, SR_ENOMEM, "out of memory");
			for (size_t k = 0; k < n; k++)
				free(list[k]);
			free(list);
			json_decref(manifest);
			return rc;
		}
		n++;
	}
	json_decref(manifest);
	*files = list;
	return (int)n;
}

static void free_files(char **files)
{
	for (size_t i = 0; files && files[i]; i++)
		free(files[i]);
	free(files);
}

int sr_dataset_load(struct sr_dataset *ds, const char *path, const char *prefix,
                    const struct sr_chat *chat, int max_len, long max_records,
                    struct sr_error *err)
{
	struct stat st;
	int rc = 0, files = 0;

	if (stat(path, &st) != 0)
		return sr_fail(err, errno == ENOENT ? SR_ENOTFOUND : SR_EIO, "cannot open '%s': %s",
		               path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (strcmp(prefix, "train"))
			return 0; /* a single file is training data only */
		rc = dataset_load_file(ds, path, chat, max_len, max_records, err);
		return rc ? rc : 1;
	}
	char **list;
	int n = manifest_files(path, prefix, &list, err);
	if (n < 0)
		return n;
	for (int i = 0; !rc && i < n; i++) {
		rc = dataset_load_file(ds, list[i], chat, max_len, max_records, err);
		files++;
	}
	free_files(list);
	return rc ? rc : files;
}

/* ---------------------------------------------------------------------- */
/* Rows                                                                    */

/* Documents in order, cut into rows: row r is order[first[r] ..
 * first[r+1]). */
struct rows {
	uint32_t *order;   /* (docs) */
	size_t *first;     /* (n + 1) */
	size_t n;
};

static void rows_release(struct rows *r)
{
	free(r->order);
	free(r->first);
	memset(r, 0, sizeof *r);
}

/* Cut ds into rows of T positions: greedily in order when packing, else one
 * document per row. order NULL means the natural order. */
static int rows_build(struct rows *r, const struct sr_dataset *ds, const uint32_t *order, int T,
                      int pack)
{
	size_t fill = 0;

	rows_release(r);
	r->order = malloc((ds->n + 1) * sizeof *r->order);
	r->first = malloc((ds->n + 2) * sizeof *r->first);
	if (!r->order || !r->first)
		return SR_ENOMEM;
	for (size_t i = 0; i < ds->n; i++)
		r->order[i] = order ? order[i] : (uint32_t)i;
	for (size_t i = 0; i < ds->n; i++) {
		size_t positions = (size_t)ds->len[r->order[i]] - 1;
		if (i == 0 || !pack || fill + positions > (size_t)T) {
			r->first[r->n++] = i;
			fill = 0;
		}
		fill += positions;
	}
	r->first[r->n] = ds->n;
	return 0;
}

/* The order of the documents in epoch e: a Fisher-Yates shuffle seeded
 * from the run's seed and e. */
static int epoch_order(uint32_t **out, size_t n, uint64_t seed, long epoch)
{
	struct sr_rng rng;
	uint32_t *o = malloc((n + 1) * sizeof *o);

	if (!o)
		return SR_ENOMEM;
	for (size_t i = 0; i < n; i++)
		o[i] = (uint32_t)i;
	sr_rng_seed(&rng, sr_hash_mix(seed, "epoch", (uint64_t)epoch));
	for (size_t i = n; i > 1; i--) {
		size_t j = sr_rng_below(&rng, i);
		uint32_t t = o[i - 1];
		o[i - 1] = o[j];
		o[j] = t;
	}
	*out = o;
	return 0;
}

/* Write row r into tokens/targets/pos (T each). Returns the number of
 * non-padding positions; *loss gets the positions with a target. */
static long fill_row(const struct sr_dataset *ds, const struct rows *rows, size_t r, int T,
                     int32_t pad, int32_t *tokens, int32_t *targets, int32_t *pos, long *loss)
{
	int t = 0;
	*loss = 0;
	for (size_t i = rows->first[r]; i < rows->first[r + 1]; i++) {
		uint32_t d = rows->order[i];
		const int32_t *ids = ds->ids + ds->start[d];
		const uint8_t *mask = ds->mask + ds->start[d];
		for (int j = 0; j + 1 < ds->len[d] && t < T; j++, t++) {
			tokens[t] = ids[j];
			targets[t] = mask[j + 1] ? ids[j + 1] : -1;
			pos[t] = j;
			*loss += targets[t] >= 0;
		}
	}
	long used = t;
	for (int j = 0; t < T; t++, j++) {
		tokens[t] = pad;
		targets[t] = -1;
		pos[t] = j;
	}
	return used;
}

/* ---------------------------------------------------------------------- */
/* Memory                                                                  */

uint64_t sr_train_memory(const struct sr_model_config *cfg, int batch, int seq_len, int training)
{
	uint64_t p = sr_model_param_count(cfg);
	uint64_t bytes = 4 * p + (uint64_t)sr_model_act_bytes(cfg, batch, seq_len);
	if (training)
		bytes += 12 * p; /* gradients and two AdamW moments */
	return bytes;
}

static uint64_t physical_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* ---------------------------------------------------------------------- */
/* Trainer                                                                 */

struct sr_trainer {
	struct sr_train_options o;
	struct sr_train_plan plan;
	struct sr_tokenizer *tok;
	struct sr_chat *chat;
	struct sr_dataset train, val;
	struct rows val_rows;
	struct sr_model *model;
	struct sr_adamw opt;
	int32_t pad;

	/* data cursor: row `row` of epoch `epoch` is next */
	long epoch;
	size_t row;
	struct rows epoch_rows;

	long step;              /* steps done */
	long tokens_seen;
	int32_t *tokens, *targets, *pos; /* (grad_accum * B, T) */
	char out_dir[4096];
	char log_path[4200];
	struct sr_output *log;
	double elapsed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int mkdir_p(const char *dir, struct sr_error *err)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0777) != 0 && errno != EEXIST)
				return sr_fail(err, SR_EIO, "cannot create directory '%s': %s", buf,
				               strerror(errno));
			*p = '/';
		}
	}
	if (mkdir(buf, 0777) != 0 && errno != EEXIST)
		return sr_fail(err, SR_EIO, "cannot create directory '%s': %s", buf, strerror(errno));
	return 0;
}

static int start_epoch(struct sr_trainer *tr, long epoch)
{
	uint32_t *order = NULL;
	int rc = epoch_order(&order, tr->train.n, tr->o.seed, epoch);
	if (!rc)
		rc = rows_build(&tr->epoch_rows, &tr->train, order, tr->o.seq_len, tr->o.pack);
	free(order);
	tr->epoch = epoch;
	tr->row = 0;
	return rc;
}

/* Load the tokenizer, chat template and both datasets. */
static int load_data(struct sr_trainer *tr, struct sr_error *err)
{
	const struct sr_train_options *o = &tr->o;
	int rc;

	rc = sr_tokenizer_load(o->model_dir, &tr->tok, err);
	if (!rc)
		rc = sr_chat_new(tr->tok, o->template_name, &tr->chat, err);
	if (rc)
		return rc;
	tr->pad = sr_tokenizer_pad_id(tr->tok);
	if (tr->pad < 0)
		tr->pad = sr_tokenizer_eos_id(tr->tok) >= 0 ? sr_tokenizer_eos_id(tr->tok) : 0;
	rc = sr_dataset_load(&tr->train, o->data, "train", tr->chat, o->seq_len + 1,
	                     o->max_records, err);
	if (rc < 0)
		return rc;
	if (tr->train.n == 0)
		return sr_fail(err, SR_EDATA,
		               "no training examples with assistant tokens in '%s' (expected "
		               "train-*.jsonl.zst files of records with a 'messages' array)", o->data);
	rc = sr_dataset_load(&tr->val, o->data, "val", tr->chat, o->seq_len + 1, o->max_records,
	                     err);
	if (rc < 0)
		return rc;
	return rows_build(&tr->val_rows, &tr->val, NULL, o->seq_len, o->pack);
}

static void fill_plan(struct sr_trainer *tr, const struct sr_model_config *cfg)
{
	const struct sr_train_options *o = &tr->o;
	struct sr_train_plan *p = &tr->plan;
	uint32_t *order = NULL;
	struct rows r0 = {0};

	p->seq_len = o->seq_len;
	p->params = sr_model_param_count(cfg);
	p->bytes_params = 4 * (uint64_t)p->params;
	p->bytes_grads = 4 * (uint64_t)p->params;
	p->bytes_optim = 8 * (uint64_t)p->params;
	p->bytes_acts = sr_model_act_bytes(cfg, o->batch, o->seq_len);
	p->bytes_data = (tr->train.n_tokens + tr->val.n_tokens) * 5 +
	                (tr->train.n + tr->val.n) * (sizeof(size_t) * 2 + sizeof(int) + 4) +
	                (uint64_t)o->grad_accum * o->batch * o->seq_len * 12;
	p->bytes_total = p->bytes_params + p->bytes_grads + p->bytes_optim + p->bytes_acts +
	                 p->bytes_data;
	p->bytes_limit = o->max_memory ? o->max_memory : physical_memory();
	p->train_docs = (long)tr->train.n;
	p->val_docs = (long)tr->val.n;
	p->truncated = tr->train.truncated + tr->val.truncated;
	p->no_loss = tr->train.no_loss + tr->val.no_loss;
	p->train_loss_tokens = tr->train.loss_tokens;
	p->template_name = sr_chat_format_name(sr_chat_format_of(tr->chat));
	if (!epoch_order(&order, tr->train.n, o->seed, 0) &&
	    !rows_build(&r0, &tr->train, order, o->seq_len, o->pack))
		p->rows_per_epoch = (long)r0.n;
	free(order);
	rows_release(&r0);
	if (o->steps > 0) {
		p->total_steps = o->steps;
	} else {
		double rows = o->epochs * (double)p->rows_per_epoch;
		long per_step = (long)o->batch * o->grad_accum;
		p->total_steps = (long)ceil(rows / (double)per_step);
		if (p->total_steps < 1)
			p->total_steps = 1;
	}
}

static void human_bytes(uint64_t b, char *buf, size_t cap)
{
	if (b >= (uint64_t)1 << 30)
		snprintf(buf, cap, "%.2f GiB", b / 1073741824.0);
	else if (b >= (uint64_t)1 << 20)
		snprintf(buf, cap, "%.1f MiB", b / 1048576.0);
	else
		snprintf(buf, cap, "%.1f KiB", b / 1024.0);
}

static int save_checkpoint(struct sr_trainer *tr, struct sr_error *err);
static int load_checkpoint(struct sr_trainer *tr, struct sr_error *err);

int sr_trainer_new(const struct sr_train_options *opts, struct sr_train_plan *plan,
                   struct sr_trainer **out, struct sr_error *err)
{
	struct sr_trainer *tr;
	struct sr_model_config cfg;
	char path[4200];
	int rc;

	*out = NULL;
	if (opts->seq_len < 0 || opts->batch < 1 || opts->grad_accum < 1)
		return sr_fail(err, SR_EUSAGE, "--seq-len, --batch and --grad-accum must be positive");
	if (!opts->model_dir || !opts->data || !opts->out_dir)
		return sr_fail(err, SR_EUSAGE, "--model, --data and -o are required");
	tr = calloc(1, sizeof *tr);
	if (!tr)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	tr->o = *opts;
	snprintf(tr->out_dir, sizeof tr->out_dir, "%s", opts->out_dir);
	if (opts->log_path)
		snprintf(tr->log_path, sizeof tr->log_path, "%s", opts->log_path);
	else
		snprintf(tr->log_path, sizeof tr->log_path, "%s/train.jsonl", opts->out_dir);

	sr_model_config_defaults(&cfg);
	snprintf(path, sizeof path, "%s/config.json", opts->model_dir);
	rc = sr_model_config_load(&cfg, path, err);
	if (!rc && tr->o.seq_len == 0)
		tr->o.seq_len = cfg.max_position_embeddings < 512 ? cfg.max_position_embeddings : 512;
	if (!rc && tr->o.seq_len > cfg.max_position_embeddings)
		rc = sr_fail(err, SR_EUSAGE, "--seq-len %d exceeds the model's max_position_embeddings (%d)",
		             tr->o.seq_len, cfg.max_position_embeddings);
	if (!rc)
		rc = load_data(tr, err);
	if (rc)
		goto fail;
	fill_plan(tr, &cfg);
	if (tr->o.warmup < 0)
		tr->o.warmup = tr->plan.total_steps / 20;
	if (plan)
		*plan = tr->plan;
	if (tr->plan.bytes_limit && tr->plan.bytes_total > tr->plan.bytes_limit) {
		char need[64], have[64];
		human_bytes(tr->plan.bytes_total, need, sizeof need);
		human_bytes(tr->plan.bytes_limit, have, sizeof have);
		rc = sr_fail(err, SR_ENOMEM,
		             "training needs %s but only %s is allowed; lower --batch or --seq-len "
		             "(or raise --max-memory)", need, have);
		goto fail;
	}

	rc = sr_model_load(opts->model_dir, &tr->model, err);
	if (!rc && (int)sr_tokenizer_vocab_size(tr->tok) > tr->model->cfg.vocab_size)
		rc = sr_fail(err, SR_EDATA, "the tokenizer has %zu ids but the model only %d",
		             sr_tokenizer_vocab_size(tr->tok), tr->model->cfg.vocab_size);
	if (!rc)
		rc = sr_model_alloc_grads(tr->model, err);
	if (!rc)
		rc = sr_model_reserve(tr->model, tr->o.batch, tr->o.seq_len, err);
	if (!rc)
		rc = sr_adamw_init(&tr->opt, &opts->adam, tr->model->n_params, err);
	if (rc)
		goto fail;
	size_t rows = (size_t)tr->o.grad_accum * tr->o.batch * tr->o.seq_len;
	tr->tokens = malloc(rows * sizeof(int32_t));
	tr->targets = malloc(rows * sizeof(int32_t));
	tr->pos = malloc(rows * sizeof(int32_t));
	if (!tr->tokens || !tr->targets || !tr->pos) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory allocating batches");
		goto fail;
	}
	rc = mkdir_p(tr->out_dir, err);
	if (!rc && opts->resume)
		rc = load_checkpoint(tr, err);
	else if (!rc)
		rc = start_epoch(tr, 0);
	if (rc)
		goto fail;
	tr->plan.start_step = tr->step;
	if (plan)
		*plan = tr->plan;
	*out = tr;
	return 0;
fail:
	sr_trainer_free(tr);
	return rc;
}

void sr_trainer_free(struct sr_trainer *tr)
{
	if (!tr)
		return;
	sr_output_free(tr->log);
	sr_model_free(tr->model);
	sr_adamw_release(&tr->opt);
	rows_release(&tr->epoch_rows);
	rows_release(&tr->val_rows);
	sr_dataset_release(&tr->train);
	sr_dataset_release(&tr->val);
	sr_chat_free(tr->chat);
	sr_tokenizer_free(tr->tok);
	free(tr->tokens);
	free(tr->targets);
	free(tr->pos);
	free(tr);
}

/* Mean validation loss over val_rows, in batches of B rows. */
static int validate(struct sr_model *m, const struct sr_dataset *ds, const struct rows *rows,
                    int B, int T, int32_t pad, double *loss, long *tokens, struct sr_error *err)
{
	int32_t *tok = malloc((size_t)B * T * sizeof *tok);
	int32_t *tgt = malloc((size_t)B * T * sizeof *tgt);
	int32_t *pos = malloc((size_t)B * T * sizeof *pos);
	double sum = 0.0;
	long count = 0;
	int rc = 0;

	if (!tok || !tgt || !pos)
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	for (size_t r = 0; !rc && r < rows->n; r += (size_t)B) {
		int n = rows->n - r < (size_t)B ? (int)(rows->n - r) : B;
		struct sr_batch b = {n, T, tok, tgt, pos};
		double s;
		long c, l;
		for (int i = 0; i < n; i++)
			fill_row(ds, rows, r + (size_t)i, T, pad, tok + (size_t)i * T,
			         tgt + (size_t)i * T, pos + (size_t)i * T, &l);
		rc = sr_model_forward(m, &b, &s, &c, err);
		sum += s;
		count += c;
	}
	free(tok);
	free(tgt);
	free(pos);
	*loss = count ? sum / (double)count : NAN;
	*tokens = count;
	return rc;
}

/* Fill the step's rows from the data cursor; returns non-padding tokens
 * and the number of loss positions in *loss. */
static int next_rows(struct sr_trainer *tr, long *tokens, long *loss)
{
	int T = tr->o.seq_len, R = tr->o.batch * tr->o.grad_accum;
	*tokens = 0;
	*loss = 0;
	for (int i = 0; i < R; i++) {
		long l;
		if (tr->row >= tr->epoch_rows.n) {
			int rc = start_epoch(tr, tr->epoch + 1);
			if (rc)
				return rc;
		}
		*tokens += fill_row(&tr->train, &tr->epoch_rows, tr->row, T, tr->pad,
		                    tr->tokens + (size_t)i * T, tr->targets + (size_t)i * T,
		                    tr->pos + (size_t)i * T, &l);
		*loss += l;
		tr->row++;
	}
	return 0;
}

/* One optimizer step. */
static int train_step(struct sr_trainer *tr, struct sr_train_progress *p, struct sr_error *err)
{
	struct sr_model *m = tr->model;
	int B = tr->o.batch, T = tr->o.seq_len;
	long tokens, loss_tokens;
	double sum = 0.0, t0 = now_s();
	int rc;

	rc = next_rows(tr, &tokens, &loss_tokens);
	if (rc)
		return sr_fail(err, rc, "out of memory preparing a batch");
	sr_model_zero_grads(m);
	for (int a = 0; a < tr->o.grad_accum; a++) {
		size_t off = (size_t)a * B * T;
		struct sr_batch b = {B, T, tr->tokens + off, tr->targets + off, tr->pos + off};
		double s;
		long c;
		rc = sr_model_forward(m, &b, &s, &c, err);
		if (rc)
			return rc;
		sum += s;
		if (loss_tokens > 0)
			sr_model_backward(m, &b, (float)(1.0 / (double)loss_tokens));
	}
	double norm = sr_grad_norm(m->grads, m->n_params);
	double lr = sr_lr_cosine(tr->step, tr->o.warmup, tr->plan.total_steps, tr->o.lr, tr->o.min_lr);
	sr_adamw_update(&tr->opt, m->params, m->grads, sr_clip_scale(norm, tr->o.clip), lr,
	                m->tensors, m->n_tensors);
	tr->step++;
	tr->tokens_seen += tokens;

	double dt = now_s() - t0;
	tr->elapsed += dt;
	memset(p, 0, sizeof *p);
	p->step = tr->step;
	p->total = tr->plan.total_steps;
	p->loss = loss_tokens ? sum / (double)loss_tokens : NAN;
	p->val_loss = NAN;
	p->lr = lr;
	p->grad_norm = norm;
	p->tokens_per_s = dt > 0 ? (double)tokens / dt : 0.0;
	p->tokens = tr->tokens_seen;
	p->elapsed_s = tr->elapsed;
	return 0;
}

/* JSON numbers for the log: NaN and infinities become null. */
static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static int log_step(struct sr_trainer *tr, const struct sr_train_progress *p, struct sr_error *err)
{
	json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:I, s:I}", "step", (json_int_t)p->step,
	                      "loss", real_or_null(p->loss), "lr", real_or_null(p->lr),
	                      "grad_norm", real_or_null(p->grad_norm),
	                      "tokens_per_s", (json_int_t)llround(p->tokens_per_s),
	                      "tokens", (json_int_t)p->tokens);
	char *text;
	int rc;

	if (!isnan(p->val_loss))
		json_object_set_new(o, "val_loss", json_real(p->val_loss));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	rc = sr_output_printf(tr->log, err, "%s\n", text);
	if (!rc)
		rc = sr_output_flush(tr->log, err);
	free(text);
	return rc;
}

/* Keep only the log lines of steps up to `step`, so a resumed run does not
 * repeat the steps an interrupted run did after its last checkpoint. */
static int trim_log(const char *path, long step, struct sr_error *err)
{
	char *data = NULL;
	size_t len;
	struct sr_output *o = NULL;
	int rc;

	if (access(path, F_OK) != 0)
		return 0;
	rc = sr_read_file(path, (size_t)1 << 30, &data, &len, err);
	if (!rc)
		rc = sr_output_open(path, SR_OUTPUT_ATOMIC, &o, err);
	for (char *line = data; !rc && line && *line;) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
		json_t *v = json_loadb(line, n, 0, NULL);
		json_t *s = json_object_get(v, "step");
		if (json_is_integer(s) && json_integer_value(s) <= step)
			rc = sr_output_write(o, line, n, err);
		json_decref(v);
		line += n;
	}
	if (!rc && o)
		rc = sr_output_commit(o, err);
	sr_output_free(o);
	free(data);
	return rc;
}

static int save_final(struct sr_trainer *tr, struct sr_error *err)
{
	int rc = sr_model_save(tr->model, tr->out_dir, tr->o.bf16, err);
	if (!rc)
		rc = sr_tokenizer_save(tr->tok, tr->out_dir, err);
	return rc;
}

int sr_trainer_run(struct sr_trainer *tr, sr_train_progress_fn fn, void *ctx,
                   struct sr_train_progress *summary, struct sr_error *err)
{
	struct sr_train_progress p;
	long total = tr->plan.total_steps, done_here = 0;
	int rc = 0;

	memset(&p, 0, sizeof p);
	p.val_loss = NAN;
	if (tr->step > 0)
		rc = trim_log(tr->log_path, tr->step, err);
	if (!rc)
		rc = sr_output_open(tr->log_path, tr->step > 0 ? SR_OUTPUT_APPEND : 0, &tr->log, err);
	while (!rc && tr->step < total) {
		rc = train_step(tr, &p, err);
		if (rc)
			break;
		done_here++;
		int last = tr->step == total;
		int stop = tr->o.stop_after > 0 && done_here >= tr->o.stop_after;
		if (tr->val.n > 0 && (last || (tr->o.eval_every > 0 && tr->step % tr->o.eval_every == 0)))
			rc = validate(tr->model, &tr->val, &tr->val_rows, tr->o.batch, tr->o.seq_len,
			              tr->pad, &p.val_loss, &p.val_tokens, err);
		if (!rc && (last || stop || (tr->o.save_every > 0 && tr->step % tr->o.save_every == 0))) {
			rc = save_checkpoint(tr, err);
			p.saved = 1;
		}
		if (!rc)
			rc = log_step(tr, &p, err);
		if (fn)
			fn(&p, ctx);
		if (stop)
			break;
	}
	if (!rc)
		rc = save_final(tr, err);
	if (!rc && tr->log)
		rc = sr_output_commit(tr->log, err);
	if (summary)
		*summary = p;
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Checkpoints                                                             */

static int save_checkpoint(struct sr_trainer *tr, struct sr_error *err)
{
	struct sr_model *m = tr->model;
	size_t n = (size_t)m->n_tensors;
	struct sr_st_entry *e = calloc(3 * n, sizeof *e);
	char (*names)[128] = calloc(2 * n, sizeof *names);
	char path[4200], buf[64];
	json_t *meta;
	int rc;

	if (!e || !names) {
		free(e);
		free(names);
		return sr_fail(err, SR_ENOMEM, "out of memory writing a checkpoint");
	}
	for (size_t i = 0; i < n; i++) {
		const struct sr_tensor_info *t = &m->tensors[i];
		for (int k = 0; k < 3; k++) {
			struct sr_st_entry *x = &e[k * n + i];
			x->ndim = t->ndim;
			x->shape[0] = t->shape[0];
			x->shape[1] = t->shape[1];
		}
		e[i].name = t->name;
		e[i].data = m->params + t->offset;
		snprintf(names[i], sizeof names[i], "optimizer.exp_avg.%s", t->name);
		e[n + i].name = names[i];
		e[n + i].data = tr->opt.m + t->offset;
		snprintf(names[n + i], sizeof names[n + i], "optimizer.exp_avg_sq.%s", t->name);
		e[2 * n + i].name = names[n + i];
		e[2 * n + i].data = tr->opt.v + t->offset;
	}
	meta = json_object();
#define META_INT(key, v) do { snprintf(buf, sizeof buf, "%lld", (long long)(v)); \
		json_object_set_new(meta, key, json_string(buf)); } while (0)
	json_object_set_new(meta, "format", json_string(CHECKPOINT_FORMAT));
	META_INT("step", tr->step);
	META_INT("adam_step", tr->opt.step);
	META_INT("epoch", tr->epoch);
	META_INT("row", tr->row);
	META_INT("tokens", tr->tokens_seen);
	META_INT("total_steps", tr->plan.total_steps);
	META_INT("seq_len", tr->o.seq_len);
	META_INT("batch", tr->o.batch);
	META_INT("grad_accum", tr->o.grad_accum);
	META_INT("pack", tr->o.pack);
	META_INT("train_docs", tr->train.n);
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)tr->o.seed);
	json_object_set_new(meta, "seed", json_string(buf));
	snprintf(buf, sizeof buf, "%.17g", tr->elapsed);
	json_object_set_new(meta, "elapsed_s", json_string(buf));
#undef META_INT
	snprintf(path, sizeof path, "%s/%s", tr->out_dir, CHECKPOINT_NAME);
	rc = sr_st_write(path, e, 3 * n, SR_ST_F32, meta, err);
	json_decref(meta);
	free(e);
	free(names);
	return rc;
}

static int meta_long(struct sr_st_reader *r, const char *key, long long *out, struct sr_error *err)
{
	const char *s = sr_st_metadata(r, key);
	char *end;
	if (!s)
		return sr_fail(err, SR_EDATA, "checkpoint metadata lacks '%s'", key);
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return sr_fail(err, SR_EDATA, "checkpoint metadata '%s' is not an integer", key);
	return 0;
}

/* The checkpoint must come from a run with the same data layout. */
static int check_same(struct sr_st_reader *r, const char *key, long long expect, const char *opt,
                      struct sr_error *err)
{
	long long v;
	int rc = meta_long(r, key, &v, err);
	if (!rc && v != expect)
		rc = sr_fail(err, SR_EUSAGE,
		             "the checkpoint was made with %s %lld, not %lld; resume with the same options",
		             opt, v, expect);
	return rc;
}

static int load_checkpoint(struct sr_trainer *tr, struct sr_error *err)
{
	struct sr_model *m = tr->model;
	struct sr_st_reader *r = NULL;
	char path[4200], name[160];
	long long step, adam_step, epoch, row, tokens;
	int rc;

	snprintf(path, sizeof path, "%s/%s", tr->out_dir, CHECKPOINT_NAME);
	rc = sr_st_open(path, &r, err);
	if (rc == SR_ENOTFOUND)
		sr_fail(err, SR_ENOTFOUND, "no checkpoint to resume from: '%s' not found", path);
	if (rc)
		return rc;
	const char *format = sr_st_metadata(r, "format");
	if (!format || strcmp(format, CHECKPOINT_FORMAT))
		rc = sr_fail(err, SR_EDATA, "'%s' is not an srkit checkpoint", path);
	rc = rc ? rc : check_same(r, "seq_len", tr->o.seq_len, "--seq-len", err);
	rc = rc ? rc : check_same(r, "batch", tr->o.batch, "--batch", err);
	rc = rc ? rc : check_same(r, "grad_accum", tr->o.grad_accum, "--grad-accum", err);
	rc = rc ? rc : check_same(r, "pack", tr->o.pack, "--pack/--no-pack", err);
	rc = rc ? rc : check_same(r, "total_steps", tr->plan.total_steps, "a total of steps", err);
	rc = rc ? rc : check_same(r, "train_docs", (long long)tr->train.n, "a document count", err);
	if (!rc) {
		const char *seed = sr_st_metadata(r, "seed");
		char buf[32];
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)tr->o.seed);
		if (!seed || strcmp(seed, buf))
			rc = sr_fail(err, SR_EUSAGE, "the checkpoint was made with --seed %s, not %s",
			             seed ? seed : "?", buf);
	}
	rc = rc ? rc : meta_long(r, "step", &step, err);
	rc = rc ? rc : meta_long(r, "adam_step", &adam_step, err);
	rc = rc ? rc : meta_long(r, "epoch", &epoch, err);
	rc = rc ? rc : meta_long(r, "row", &row, err);
	rc = rc ? rc : meta_long(r, "tokens", &tokens, err);
	for (int i = 0; !rc && i < m->n_tensors; i++) {
		const struct sr_tensor_info *t = &m->tensors[i];
		rc = sr_st_read_f32(r, t->name, m->params + t->offset, t->numel, err);
		snprintf(name, sizeof name, "optimizer.exp_avg.%s", t->name);
		rc = rc ? rc : sr_st_read_f32(r, name, tr->opt.m + t->offset, t->numel, err);
		snprintf(name, sizeof name, "optimizer.exp_avg_sq.%s", t->name);
		rc = rc ? rc : sr_st_read_f32(r, name, tr->opt.v + t->offset, t->numel, err);
	}
	if (!rc) {
		const char *el = sr_st_metadata(r, "elapsed_s");
		tr->elapsed = el ? strtod(el, NULL) : 0.0;
		tr->step = (long)step;
		tr->opt.step = (long)adam_step;
		tr->tokens_seen = (long)tokens;
		rc = start_epoch(tr, (long)epoch);
		tr->row = (size_t)row;
	}
	sr_st_close(r);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Evaluation and init                                                     */

int sr_train_eval(const char *model_dir, const char *data, const char *template_name,
                  int seq_len, int batch, long max_records, double *loss, long *tokens,
                  struct sr_error *err)
{
	struct sr_tokenizer *tok = NULL;
	struct sr_chat *chat = NULL;
	struct sr_model *m = NULL;
	struct sr_dataset ds = {0};
	struct rows rows = {0};
	int rc;

	rc = sr_model_load(model_dir, &m, err);
	if (!rc && seq_len == 0)
		seq_len = m->cfg.max_position_embeddings < 512 ? m->cfg.max_position_embeddings : 512;
	if (!rc && seq_len > m->cfg.max_position_embeddings)
		rc = sr_fail(err, SR_EUSAGE, "--seq-len %d exceeds the model's max_position_embeddings (%d)",
		             seq_len, m->cfg.max_position_embeddings);
	rc = rc ? rc : sr_tokenizer_load(model_dir, &tok, err);
	rc = rc ? rc : sr_chat_new(tok, template_name, &chat, err);
	if (!rc)
		rc = sr_dataset_load(&ds, data, "val", chat, seq_len + 1, max_records, err);
	if (rc >= 0 && ds.n == 0) {
		sr_dataset_release(&ds);
		rc = sr_dataset_load(&ds, data, "train", chat, seq_len + 1, max_records, err);
	}
	if (rc >= 0)
		rc = 0;
	if (!rc && ds.n == 0)
		rc = sr_fail(err, SR_EDATA, "no examples with assistant tokens in '%s'", data);
	rc = rc ? rc : rows_build(&rows, &ds, NULL, seq_len, 1);
	if (!rc) {
		int32_t pad = sr_tokenizer_pad_id(tok);
		rc = validate(m, &ds, &rows, batch, seq_len, pad >= 0 ? pad : 0, loss, tokens, err);
	}
	rows_release(&rows);
	sr_dataset_release(&ds);
	sr_model_free(m);
	sr_chat_free(chat);
	sr_tokenizer_free(tok);
	return rc;
}

/* Feed the message contents of every record in one file to the BPE trainer. */
static int bpe_add_file(struct sr_bpe_trainer *bt, const char *path, long max_records,
                        long *records, struct sr_error *err)
{
	struct sr_reader *r = NULL;
	struct sr_line line;
	int rc = sr_reader_open(path, 0, &r, err);

	while (!rc && (max_records <= 0 || *records < max_records)) {
		rc = sr_reader_next(r, &line, err);
		if (rc <= 0)
			break;
		rc = 0;
		(*records)++;
		json_t *rec = sr_json_parse(line.data, line.len, err);
		json_t *messages = json_object_get(rec, "messages"), *msg;
		size_t i;
		if (!json_is_array(messages)) {
			if (rec)
				sr_fail(err, SR_EDATA, "record has no 'messages' array");
			rc = SR_EDATA;
		}
		json_array_foreach(messages, i, msg) {
			json_t *content = json_object_get(msg, "content");
			if (!rc && json_is_string(content))
				rc = sr_bpe_trainer_add(bt, json_string_value(content),
				                        json_string_length(content), err);
		}
		json_decref(rec);
		if (rc && err) {
			snprintf(err->file, sizeof err->file, "%s", path);
			err->line = line.lineno;
		}
	}
	sr_reader_free(r);
	return rc < 0 ? rc : 0;
}

/* Train a BPE tokenizer on the message contents of the train shards in data. */
static int train_tokenizer(const char *data, long vocab_size, long max_records,
                           struct sr_tokenizer **tok, struct sr_error *err)
{
	struct sr_bpe_options bo;
	struct sr_bpe_trainer *bt = NULL;
	struct stat st;
	long records = 0;
	int rc;

	if (stat(data, &st) != 0)
		return sr_fail(err, errno == ENOENT ? SR_ENOTFOUND : SR_EIO, "cannot open '%s': %s",
		               data, strerror(errno));
	sr_bpe_options_init(&bo, (size_t)vocab_size);
	rc = sr_bpe_trainer_new(&bo, &bt, err);
	if (!rc && S_ISDIR(st.st_mode)) {
		char **list;
		int n = manifest_files(data, "train", &list, err);
		if (n == 0)
			rc = sr_fail(err, SR_ENOTFOUND, "the manifest of '%s' lists no train shards", data);
		else if (n < 0)
			rc = n;
		for (int i = 0; !rc && i < n; i++)
			rc = bpe_add_file(bt, list[i], max_records, &records, err);
		free_files(list);
	} else if (!rc) {
		rc = bpe_add_file(bt, data, max_records, &records, err);
	}
	if (!rc)
		rc = sr_bpe_trainer_finish(bt, tok, err);
	sr_bpe_trainer_free(bt);
	return rc;
}

int sr_train_init_model(const char *config_path, long vocab_size, const char *data,
                        const char *tokenizer_path, const char *out_dir, uint64_t seed,
                        long max_records, struct sr_model_config *cfg_out,
                        struct sr_error *err)
{
	struct sr_model_config cfg;
	struct sr_tokenizer *tok = NULL;
	struct sr_model *m = NULL;
	int rc;

	sr_model_config_defaults(&cfg);
	rc = sr_model_config_load(&cfg, config_path, err);
	if (rc)
		return rc;
	if (tokenizer_path)
		rc = sr_tokenizer_load(tokenizer_path, &tok, err);
	else
		rc = train_tokenizer(data, vocab_size, max_records, &tok, err);
	if (rc)
		return rc;

	cfg.vocab_size = (int)sr_tokenizer_vocab_size(tok);
	cfg.bos_token_id = sr_tokenizer_bos_id(tok);
	cfg.eos_token_id = sr_tokenizer_eos_id(tok);
	rc = mkdir_p(out_dir, err);
	rc = rc ? rc : sr_model_new(&cfg, &m, err);
	if (!rc) {
		sr_model_init_random(m, seed);
		rc = sr_model_save(m, out_dir, 0, err);
	}
	rc = rc ? rc : sr_tokenizer_save(tok, out_dir, err);
	if (!rc && cfg_out)
		*cfg_out = cfg;
	sr_model_free(m);
	sr_tokenizer_free(tok);
	return rc;
}
