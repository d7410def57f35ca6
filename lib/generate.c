/* generate.c - batched sampling with a key/value cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "generate.h"
#include "tokenizer.h"

/* Rows per prefill call: prompts are fed in groups of about this many
 * tokens so that the scratch buffers stay small. */
#define PREFILL_ROWS 512

void sr_gen_params_defaults(struct sr_gen_params *p)
{
	memset(p, 0, sizeof *p);
	p->max_new_tokens = 256;
	p->temperature = 1.0;
	p->top_p = 1.0;
}

void sr_gen_result_release(struct sr_gen_result *r)
{
	free(r->ids);
	memset(r, 0, sizeof *r);
}

struct scored {
	float logit;
	int32_t id;
};

/* Descending by logit, ties by id, so the order is fully determined. */
static int cmp_scored(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit > y->logit ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int32_t sr_gen_sample(float *logits, int V, const struct sr_gen_params *p, struct sr_rng *rng)
{
	if (p->temperature <= 0.0) {
		int32_t best = 0;
		for (int i = 1; i < V; i++)
			if (logits[i] > logits[best])
				best = i;
		return best;
	}

	if (p->top_k <= 0 && !(p->top_p > 0.0 && p->top_p < 1.0)) {
		/* plain temperature sampling needs no sorting */
		float maxv = logits[0];
		double sum = 0.0, acc = 0.0;
		for (int i = 1; i < V; i++)
			if (logits[i] > maxv)
				maxv = logits[i];
		for (int i = 0; i < V; i++) {
			logits[i] = (float)exp(((double)logits[i] - maxv) / p->temperature);
			sum += logits[i];
		}
		double u = sr_rng_double(rng) * sum;
		for (int i = 0; i < V; i++) {
			acc += logits[i];
			if (u < acc)
				return i;
		}
		return V - 1;
	}

	struct scored *s = malloc((size_t)V * sizeof *s);
	if (!s) /* fall back to greedy rather than fail mid-batch */
		return sr_gen_sample(logits, V, &(struct sr_gen_params){.temperature = 0}, rng);
	for (int i = 0; i < V; i++) {
		s[i].logit = logits[i];
		s[i].id = i;
	}
	qsort(s, (size_t)V, sizeof *s, cmp_scored);
	int keep = p->top_k > 0 && p->top_k < V ? p->top_k : V;

	/* softmax over the kept tokens at the temperature, in double */
	double sum = 0.0, *prob = malloc((size_t)keep * sizeof *prob);
	if (!prob) {
		int32_t id = s[0].id;
		free(s);
		return id;
	}
	for (int i = 0; i < keep; i++) {
		prob[i] = exp(((double)s[i].logit - s[0].logit) / p->temperature);
		sum += prob[i];
	}
	if (p->top_p > 0.0 && p->top_p < 1.0) {
		double cum = 0.0;
		int n = 0;
		while (n < keep) {
			cum += prob[n++] / sum;
			if (cum >= p->top_p)
				break;
		}
		keep = n;
		sum = 0.0;
		for (int i = 0; i < keep; i++)
			sum += prob[i];
	}
	double u = sr_rng_double(rng) * sum, acc = 0.0;
	int32_t id = s[keep - 1].id;
	for (int i = 0; i < keep; i++) {
		acc += prob[i];
		if (u < acc) {
			id = s[i].id;
			break;
		}
	}
	free(prob);
	free(s);
	return id;
}

static int is_stop(const struct sr_gen_params *p, int32_t id)
{
	for (size_t i = 0; i < p->n_stop; i++)
		if (p->stop_ids[i] == id)
			return 1;
	return 0;
}

static int push_id(struct sr_gen_result *r, int32_t id, size_t cap)
{
	if (!r->ids) {
		r->ids = malloc((cap ? cap : 1) * sizeof *r->ids);
		if (!r->ids)
			return SR_ENOMEM;
	}
	r->ids[r->len++] = id;
	return 0;
}

/* State of one prompt being generated. */
struct gen_seq {
	int32_t last;     /* token to feed next */
	int pos;          /* its position */
	int done;
	struct sr_rng rng;
};

/* Take the sampled token of sequence i: record it or finish. */
static int accept_token(struct gen_seq *sq, struct sr_gen_result *r, int32_t id,
                        const struct sr_gen_params *p, int max_len, int cap)
{
	if (is_stop(p, id)) {
		sq->done = 1;
		r->finish = SR_GEN_STOP;
		return 0;
	}
	if (push_id(r, id, (size_t)cap))
		return SR_ENOMEM;
	sq->last = id;
	sq->pos++;
	if ((int)r->len >= p->max_new_tokens || sq->pos >= max_len) {
		sq->done = 1;
		r->finish = SR_GEN_LENGTH;
	}
	return 0;
}

static int prefill(struct sr_model *m, struct sr_kv_cache *cache, const int32_t *const *prompts,
                   const size_t *lens, size_t n, struct gen_seq *sq, struct sr_gen_result *out,
                   const struct sr_gen_params *p, int max_len, struct sr_error *err)
{
	int V = m->cfg.vocab_size;
	size_t i = 0;
	int rc = 0;

	while (!rc && i < n) {
		size_t j = i, rows = 0;
		while (j < n && (j == i || rows + lens[j] <= PREFILL_ROWS))
			rows += lens[j++];
		int32_t *tok = malloc(rows * sizeof *tok), *seq = malloc(rows * sizeof *seq);
		int32_t *pos = malloc(rows * sizeof *pos);
		uint8_t *want = calloc(rows, 1);
		float *logits = malloc((j - i) * (size_t)V * sizeof *logits);
		if (!tok || !seq || !pos || !want || !logits) {
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
		} else {
			size_t r = 0;
			for (size_t s = i; s < j; s++) {
				for (size_t t = 0; t < lens[s]; t++, r++) {
					tok[r] = prompts[s][t];
					seq[r] = (int32_t)s;
					pos[r] = (int32_t)t;
				}
				want[r - 1] = 1;
			}
			rc = sr_model_forward_cached(m, cache, tok, seq, pos, (int)rows, want, logits, err);
			for (size_t s = i; !rc && s < j; s++) {
				int32_t id = sr_gen_sample(logits + (s - i) * V, V, p, &sq[s].rng);
				sq[s].pos = (int)lens[s] - 1;
				rc = accept_token(&sq[s], &out[s], id, p, max_len, p->max_new_tokens);
				if (rc)
					sr_fail(err, rc, "out of memory");
			}
		}
		free(tok);
		free(seq);
		free(pos);
		free(want);
		free(logits);
		i = j;
	}
	return rc;
}

int sr_generate(struct sr_model *m, const int32_t *const *prompts, const size_t *prompt_lens,
                size_t n, const struct sr_gen_params *params, const uint64_t *seeds,
                struct sr_gen_result *out, struct sr_error *err)
{
	struct sr_kv_cache cache = {0};
	struct gen_seq *sq = NULL;
	int V = m->cfg.vocab_size, max_len = 0, rc = 0;
	int32_t *tok = NULL, *seq = NULL, *pos = NULL;
	uint8_t *want = NULL;
	float *logits = NULL;

	memset(out, 0, n * sizeof *out);
	if (n == 0)
		return 0;
	if (params->max_new_tokens < 1)
		return sr_fail(err, SR_EUSAGE, "max_new_tokens must be at least 1");
	for (size_t i = 0; i < n; i++) {
		if (prompt_lens[i] < 1)
			return sr_fail(err, SR_EUSAGE, "prompt %zu is empty", i);
		if (prompt_lens[i] >= (size_t)m->cfg.max_position_embeddings)
			return sr_fail(err, SR_EUSAGE,
			               "prompt %zu has %zu tokens, leaving no room in the model's %d positions",
			               i, prompt_lens[i], m->cfg.max_position_embeddings);
		long need = (long)prompt_lens[i] + params->max_new_tokens;
		if (need > max_len)
			max_len = need > m->cfg.max_position_embeddings ? m->cfg.max_position_embeddings
			                                                 : (int)need;
	}
	rc = sr_kv_cache_init(&cache, &m->cfg, (int)n, max_len, err);
	if (rc)
		return rc;
	sq = calloc(n, sizeof *sq);
	tok = malloc(n * sizeof *tok);
	seq = malloc(n * sizeof *seq);
	pos = malloc(n * sizeof *pos);
	want = malloc(n);
	logits = malloc(n * (size_t)V * sizeof *logits);
	if (!sq || !tok || !seq || !pos || !want || !logits) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		sr_rng_seed(&sq[i].rng, seeds ? seeds[i] : sr_hash_mix(params->seed, "generate", i));

	rc = prefill(m, &cache, prompts, prompt_lens, n, sq, out, params, max_len, err);
	while (!rc) {
		int R = 0;
		for (size_t i = 0; i < n; i++) {
			if (sq[i].done)
				continue;
			tok[R] = sq[i].last;
			seq[R] = (int32_t)i;
			pos[R] = sq[i].pos;
			want[R] = 1;
			R++;
		}
		if (R == 0)
			break;
		rc = sr_model_forward_cached(m, &cache, tok, seq, pos, R, want, logits, err);
		for (int r = 0; !rc && r < R; r++) {
			size_t i = (size_t)seq[r];
			int32_t id = sr_gen_sample(logits + (size_t)r * V, V, params, &sq[i].rng);
			rc = accept_token(&sq[i], &out[i], id, params, max_len, params->max_new_tokens);
			if (rc)
				sr_fail(err, rc, "out of memory");
		}
	}
done:
	if (rc)
		for (size_t i = 0; i < n; i++)
			sr_gen_result_release(&out[i]);
	sr_kv_cache_release(&cache);
	free(sq);
	free(tok);
	free(seq);
	free(pos);
	free(want);
	free(logits);
	return rc;
}

/* ---------------------------------------------------------------------- */

struct sr_generator {
	struct sr_model *model;
	struct sr_tokenizer *tok;
	struct sr_chat *chat;
};

int sr_generator_open(const char *dir, const char *template_name, struct sr_generator **out,
                      struct sr_error *err)
{
	struct sr_generator *g = calloc(1, sizeof *g);
	int rc;

	*out = NULL;
	if (!g)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	rc = sr_tokenizer_load(dir, &g->tok, err);
	rc = rc ? rc : sr_chat_new(g->tok, template_name, &g->chat, err);
	rc = rc ? rc : sr_model_load(dir, &g->model, err);
	if (!rc && (int)sr_tokenizer_vocab_size(g->tok) > g->model->cfg.vocab_size)
		rc = sr_fail(err, SR_EDATA, "the tokenizer has %zu ids but the model only %d",
		             sr_tokenizer_vocab_size(g->tok), g->model->cfg.vocab_size);
	if (rc) {
		sr_generator_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void sr_generator_free(struct sr_generator *g)
{
	if (!g)
		return;
	sr_model_free(g->model);
	sr_chat_free(g->chat);
	sr_tokenizer_free(g->tok);
	free(g);
}

struct sr_model *sr_generator_model(struct sr_generator *g)
{
	return g->model;
}

const struct sr_tokenizer *sr_generator_tokenizer(const struct sr_generator *g)
{
	return g->tok;
}

const struct sr_chat *sr_generator_chat(const struct sr_generator *g)
{
	return g->chat;
}

int sr_generator_reply(struct sr_generator *g, const json_t *const *messages, size_t n,
                       const struct sr_gen_params *params, const uint64_t *seeds, char **texts,
                       enum sr_gen_finish *finish, struct sr_error *err)
{
	struct sr_chat_seq *seqs = calloc(n ? n : 1, sizeof *seqs);
	const int32_t **prompts = calloc(n ? n : 1, sizeof *prompts);
	size_t *lens = calloc(n ? n : 1, sizeof *lens);
	struct sr_gen_result *res = calloc(n ? n : 1, sizeof *res);
	struct sr_gen_params p = *params;
	size_t n_chat_stop, i;
	const int32_t *chat_stop = sr_chat_stop_ids(g->chat, &n_chat_stop);
	int32_t *stop = malloc((n_chat_stop + params->n_stop + 1) * sizeof *stop);
	int rc = 0;

	if (!seqs || !prompts || !lens || !res || !stop) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++)
		texts[i] = NULL;
	memcpy(stop, chat_stop, n_chat_stop * sizeof *stop);
	if (params->n_stop)
		memcpy(stop + n_chat_stop, params->stop_ids, params->n_stop * sizeof *stop);
	p.stop_ids = stop;
	p.n_stop = n_chat_stop + params->n_stop;
	for (i = 0; !rc && i < n; i++) {
		rc = sr_chat_encode_prompt(g->chat, messages[i], &seqs[i], err);
		prompts[i] = seqs[i].ids;
		lens[i] = seqs[i].len;
	}
	rc = rc ? rc : sr_generate(g->model, prompts, lens, n, &p, seeds, res, err);
	for (i = 0; !rc && i < n; i++) {
		struct sr_buf b = {0};
		rc = sr_tokenizer_decode(g->tok, res[i].ids, res[i].len, SR_DECODE_SKIP_SPECIAL, &b, err);
		texts[i] = b.data ? b.data : strdup("");
		if (!rc && !texts[i])
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
		if (finish)
			finish[i] = res[i].finish;
	}
	if (rc)
		for (size_t j = 0; j < n; j++) {
			free(texts[j]);
			texts[j] = NULL;
		}
done:
	for (i = 0; seqs && i < n; i++)
		sr_chat_seq_release(&seqs[i]);
	for (i = 0; res && i < n; i++)
		sr_gen_result_release(&res[i]);
	free(seqs);
	free(prompts);
	free(lens);
	free(res);
	free(stop);
	return rc;
}
