/*
 * gen-speed.c - tokens per second of sampling from the trainer's model,
 * with the key/value cache (sr_generate) and without it (a full forward
 * pass over the whole prefix for every new token, as a naive sampler
 * would do). The model is a randomly initialised Llama-family model of the
 * given size; speed does not depend on the weights' values.
 *
 * Usage: gen-speed HIDDEN LAYERS VOCAB BATCH PROMPT_LEN NEW_TOKENS RUNS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generate.h"
#include "model.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Generate new_tokens per row by re-running the full prefix each step. */
static int generate_uncached(struct sr_model *m, int B, int prompt_len, int new_tokens,
                             const struct sr_gen_params *gp, struct sr_error *err)
{
	int T = prompt_len + new_tokens, V = m->cfg.vocab_size;
	int32_t *tok = malloc((size_t)B * T * sizeof *tok), *pos = malloc((size_t)B * T * sizeof *pos);
	int32_t *cur = malloc((size_t)B * T * sizeof *cur), *cpos = malloc((size_t)B * T * sizeof *cpos);
	struct sr_rng rng;
	int rc = 0;
	sr_rng_seed(&rng, 1);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < prompt_len; t++)
			tok[b * T + t] = (int32_t)((b * 31 + t * 7) % V);
	for (int len = prompt_len; len < T && rc == 0; len++) {
		/* (B,len) view of the sequences so far */
		for (int b = 0; b < B; b++)
			for (int t = 0; t < len; t++) {
				cur[b * len + t] = tok[b * T + t];
				cpos[b * len + t] = t;
			}
		struct sr_batch batch = { B, len, cur, NULL, cpos };
		if ((rc = sr_model_reserve(m, B, len, err)) < 0 ||
		    (rc = sr_model_forward(m, &batch, NULL, NULL, err)) < 0)
			break;
		for (int b = 0; b < B; b++)
			tok[b * T + len] = sr_gen_sample(m->logits + ((size_t)b * len + len - 1) * V, V, gp, &rng);
	}
	(void)pos;
	free(tok);
	free(pos);
	free(cur);
	free(cpos);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: gen-speed HIDDEN LAYERS VOCAB BATCH PROMPT_LEN NEW_TOKENS RUNS\n");
		return 2;
	}
	int hidden = atoi(argv[1]), layers = atoi(argv[2]), vocab = atoi(argv[3]);
	int B = atoi(argv[4]), prompt_len = atoi(argv[5]), new_tokens = atoi(argv[6]), runs = atoi(argv[7]);
	struct sr_model_config cfg;
	struct sr_model *m;
	struct sr_error err;

	sr_model_config_defaults(&cfg);
	cfg.hidden_size = hidden;
	cfg.intermediate_size = hidden * 4;
	cfg.num_hidden_layers = layers;
	cfg.num_attention_heads = hidden / 64 > 0 ? hidden / 64 : 1;
	cfg.num_key_value_heads = cfg.num_attention_heads;
	cfg.head_dim = hidden / cfg.num_attention_heads;
	cfg.vocab_size = vocab;
	cfg.max_position_embeddings = prompt_len + new_tokens + 1;
	if (sr_model_new(&cfg, &m, &err) < 0) {
		fprintf(stderr, "gen-speed: %s\n", err.message);
		return 1;
	}
	sr_model_init_random(m, 1);

	struct sr_gen_params gp;
	sr_gen_params_defaults(&gp);
	gp.max_new_tokens = new_tokens;
	gp.temperature = 1.0;
	int32_t **prompts = malloc((size_t)B * sizeof *prompts);
	size_t *lens = malloc((size_t)B * sizeof *lens);
	for (int b = 0; b < B; b++) {
		prompts[b] = malloc((size_t)prompt_len * sizeof **prompts);
		for (int t = 0; t < prompt_len; t++)
			prompts[b][t] = (int32_t)((b * 31 + t * 7) % vocab);
		lens[b] = (size_t)prompt_len;
	}
	struct sr_gen_result *res = calloc((size_t)B, sizeof *res);
	double *cached = malloc((size_t)runs * sizeof *cached), *uncached = malloc((size_t)runs * sizeof *uncached);
	for (int r = 0; r < runs; r++) {
		double t0 = now();
		if (sr_generate(m, (const int32_t *const *)prompts, lens, (size_t)B, &gp, NULL, res, &err) < 0) {
			fprintf(stderr, "gen-speed: %s\n", err.message);
			return 1;
		}
		double t1 = now();
		size_t produced = 0;
		for (int b = 0; b < B; b++) {
			produced += res[b].len;
			sr_gen_result_release(&res[b]);
		}
		cached[r] = (double)produced / (t1 - t0);
		t0 = now();
		if (generate_uncached(m, B, prompt_len, new_tokens, &gp, &err) < 0) {
			fprintf(stderr, "gen-speed: %s\n", err.message);
			return 1;
		}
		t1 = now();
		uncached[r] = (double)B * new_tokens / (t1 - t0);
	}
	qsort(cached, (size_t)runs, sizeof *cached, cmp_double);
	qsort(uncached, (size_t)runs, sizeof *uncached, cmp_double);
	printf("params %zu, batch %d, prompt %d, new tokens %d: with KV cache %.1f tokens/s, "
	       "without %.1f tokens/s (median of %d), ratio %.1f\n",
	       m->n_params, B, prompt_len, new_tokens, cached[runs / 2], uncached[runs / 2], runs,
	       cached[runs / 2] / uncached[runs / 2]);
	for (int b = 0; b < B; b++)
		free(prompts[b]);
	free(prompts);
	free(lens);
	free(res);
	free(cached);
	free(uncached);
	sr_model_free(m);
	return 0;
}
