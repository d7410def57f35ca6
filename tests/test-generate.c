/*
 * test-generate.c - sampling (greedy, temperature, top-k, top-p, seeds)
 * and batched generation with the key/value cache against the full
 * forward pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "model.h"
#include "util.h"
#include "t.h"

static void test_sample_rules(void)
{
	const float base[5] = {1.0f, 3.0f, 2.0f, -1.0f, 2.9f};
	float l[5];
	struct sr_gen_params p;
	struct sr_rng rng;

	sr_gen_params_defaults(&p);
	sr_rng_seed(&rng, 1);
	p.temperature = 0.0;
	memcpy(l, base, sizeof l);
	CHECK_INT(sr_gen_sample(l, 5, &p, &rng), 1);

	/* top-k 1 and a tiny top-p keep only the most likely token */
	p.temperature = 1.0;
	p.top_k = 1;
	for (int i = 0; i < 20; i++) {
		memcpy(l, base, sizeof l);
		CHECK_INT(sr_gen_sample(l, 5, &p, &rng), 1);
	}
	p.top_k = 0;
	p.top_p = 0.01;
	for (int i = 0; i < 20; i++) {
		memcpy(l, base, sizeof l);
		CHECK_INT(sr_gen_sample(l, 5, &p, &rng), 1);
	}

	/* top-k 2 draws only from the two most likely tokens, both of them */
	p.top_p = 1.0;
	p.top_k = 2;
	int seen[5] = {0};
	for (int i = 0; i < 400; i++) {
		memcpy(l, base, sizeof l);
		seen[sr_gen_sample(l, 5, &p, &rng)]++;
	}
	CHECK(seen[1] > 0);
	CHECK(seen[4] > 0);
	CHECK_INT(seen[0] + seen[2] + seen[3], 0);
}

/* Plain temperature sampling follows the softmax: frequencies of 20000
 * draws within 0.02 of the probabilities, with and without top-p 0.999. */
static void test_sample_distribution(void)
{
	const float base[4] = {0.0f, 1.0f, 2.0f, 0.5f};
	struct sr_gen_params p;
	struct sr_rng rng;
	double expect[4], z = 0.0;
	float l[4];

	sr_gen_params_defaults(&p);
	p.temperature = 2.0;
	for (int i = 0; i < 4; i++)
		z += exp(base[i] / p.temperature);
	for (int i = 0; i < 4; i++)
		expect[i] = exp(base[i] / p.temperature) / z;
	for (int variant = 0; variant < 2; variant++) {
		int count[4] = {0};
		p.top_p = variant ? 0.999 : 1.0;
		sr_rng_seed(&rng, 42);
		for (int i = 0; i < 20000; i++) {
			memcpy(l, base, sizeof l);
			count[sr_gen_sample(l, 4, &p, &rng)]++;
		}
		for (int i = 0; i < 4; i++) {
			double f = count[i] / 20000.0;
			if (fabs(f - expect[i]) > 0.02)
				fprintf(stderr, "token %d: frequency %.4f, probability %.4f\n", i, f, expect[i]);
			CHECK(fabs(f - expect[i]) <= 0.02);
		}
	}
}

static struct sr_model *tiny_model(void)
{
	struct sr_model_config c;
	struct sr_model *m = NULL;
	struct sr_error err;

	sr_model_config_defaults(&c);
	c.vocab_size = 29;
	c.hidden_size = 16;
	c.intermediate_size = 24;
	c.num_hidden_layers = 2;
	c.num_attention_heads = 4;
	c.num_key_value_heads = 2;
	c.head_dim = 4;
	c.max_position_embeddings = 24;
	c.initializer_range = 0.5;
	if (sr_model_new(&c, &m, &err) != 0)
		return NULL;
	sr_model_init_random(m, 3);
	return m;
}

/* Greedy generation picks, at every step, the argmax of a full forward
 * pass over the prompt and what was generated so far. */
static void test_greedy_matches_forward(void)
{
	struct sr_model *m = tiny_model();
	struct sr_gen_params p;
	struct sr_gen_result res[3];
	struct sr_error err;
	const int32_t p0[] = {1, 2, 3}, p1[] = {5}, p2[] = {7, 8, 9, 10, 11};
	const int32_t *prompts[3] = {p0, p1, p2};
	const size_t lens[3] = {3, 1, 5};

	CHECK(m != NULL);
	if (!m)
		return;
	sr_gen_params_defaults(&p);
	p.temperature = 0.0;
	p.max_new_tokens = 6;
	CHECK_INT(sr_generate(m, prompts, lens, 3, &p, NULL, res, &err), 0);
	for (int s = 0; s < 3; s++) {
		int32_t seq[32], pos[32];
		size_t n = lens[s];
		CHECK_INT(res[s].len, 6);
		CHECK_INT(res[s].finish, SR_GEN_LENGTH);
		memcpy(seq, prompts[s], n * sizeof *seq);
		for (size_t g = 0; g < res[s].len; g++) {
			struct sr_batch b = {1, (int)n, seq, NULL, pos};
			for (size_t i = 0; i < n; i++)
				pos[i] = (int32_t)i;
			CHECK_INT(sr_model_forward(m, &b, NULL, NULL, &err), 0);
			const float *last = m->logits + (n - 1) * (size_t)m->cfg.vocab_size;
			int32_t best = 0;
			for (int v = 1; v < m->cfg.vocab_size; v++)
				if (last[v] > last[best])
					best = v;
			CHECK_INT(res[s].ids[g], best);
			seq[n++] = res[s].ids[g];
		}
		sr_gen_result_release(&res[s]);
	}

	/* a stop id ends the reply without being part of it */
	int32_t stop = 0;
	CHECK_INT(sr_generate(m, prompts, lens, 1, &p, NULL, res, &err), 0);
	stop = res[0].ids[2];
	sr_gen_result_release(&res[0]);
	p.stop_ids = &stop;
	p.n_stop = 1;
	CHECK_INT(sr_generate(m, prompts, lens, 1, &p, NULL, res, &err), 0);
	CHECK_INT(res[0].finish, SR_GEN_STOP);
	CHECK(res[0].len <= 2);
	sr_gen_result_release(&res[0]);

	/* The context runs out: 24 positions and a prompt of 5 leave 19 to
	 * feed back, and the token sampled at the last position is output
	 * without being fed, so 20 come out. */
	p.n_stop = 0;
	p.max_new_tokens = 30;
	CHECK_INT(sr_generate(m, &prompts[2], &lens[2], 1, &p, NULL, res, &err), 0);
	CHECK_INT(res[0].len, 24 - 5 + 1);
	CHECK_INT(res[0].finish, SR_GEN_LENGTH);
	sr_gen_result_release(&res[0]);
	sr_model_free(m);
}

/* Sampling with per-prompt seeds gives the same replies alone or batched. */
static void test_seeds_batch_independent(void)
{
	struct sr_model *m = tiny_model();
	struct sr_gen_params p;
	struct sr_gen_result all[2], one;
	struct sr_error err;
	const int32_t p0[] = {4, 4, 2}, p1[] = {9, 1};
	const int32_t *prompts[2] = {p0, p1};
	const size_t lens[2] = {3, 2};
	const uint64_t seeds[2] = {11, 12};

	if (!m)
		return;
	sr_gen_params_defaults(&p);
	p.max_new_tokens = 8;
	p.top_p = 0.9;
	CHECK_INT(sr_generate(m, prompts, lens, 2, &p, seeds, all, &err), 0);
	for (int s = 0; s < 2; s++) {
		CHECK_INT(sr_generate(m, &prompts[s], &lens[s], 1, &p, &seeds[s], &one, &err), 0);
		CHECK_MEM(one.ids, one.len * sizeof(int32_t), all[s].ids, all[s].len * sizeof(int32_t));
		sr_gen_result_release(&one);
		sr_gen_result_release(&all[s]);
	}
	size_t too_long = 24;
	const int32_t big[24] = {0};
	const int32_t *bp = big;
	CHECK_INT(sr_generate(m, &bp, &too_long, 1, &p, NULL, &one, &err), SR_EUSAGE);
	sr_model_free(m);
}

int main(void)
{
	test_sample_rules();
	test_sample_distribution();
	test_greedy_matches_forward();
	test_seeds_batch_independent();
	return t_result();
}
