/*
 * bench-train.c - time the trainer's step (forward, backward, gradient
 * norm, AdamW update: the library calls sr-train makes for each step)
 * on random tokens, and the machine's single-precision GEMM rate with the
 * same number of threads.
 *
 *   bench-train sgemm M N K REPEATS
 *   bench-train step LAYERS HIDDEN INTERMEDIATE HEADS KV_HEADS VOCAB BATCH SEQ STEPS
 *
 * Each prints one JSON object per timed repeat or step on standard output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model.h"
#include "optim.h"
#include "util.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of all threads of the process so far. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int threads(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
}

/* C (M,N) = A (M,K) B (K,N) with OpenBLAS's own threads, as many as OpenMP
 * would use. */
static int bench_sgemm(int M, int N, int K, int repeats)
{
	float *a = malloc((size_t)M * K * sizeof *a), *b = malloc((size_t)K * N * sizeof *b);
	float *c = malloc((size_t)M * N * sizeof *c);
	if (!a || !b || !c)
		return 1;
	for (size_t i = 0; i < (size_t)M * K; i++)
		a[i] = (float)(i % 7) * 0.1f;
	for (size_t i = 0; i < (size_t)K * N; i++)
		b[i] = (float)(i % 5) * 0.1f;
	openblas_set_num_threads(threads());
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
	for (int r = 0; r < repeats; r++) {
		double t0 = now_s(), c0 = cpu_s();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f,
		            c, N);
		double dt = now_s() - t0, dc = cpu_s() - c0;
		printf("{\"sgemm\":[%d,%d,%d],\"threads\":%d,\"seconds\":%.6f,\"cpu_seconds\":%.6f,"
		       "\"gflops\":%.2f,\"gflops_per_cpu_s\":%.2f}\n", M, N, K, threads(), dt, dc,
		       2.0 * M * N * K / dt / 1e9, 2.0 * M * N * K / dc / 1e9);
	}
	free(a);
	free(b);
	free(c);
	return 0;
}

static int bench_step(int argc, char **argv)
{
	struct sr_model_config cfg;
	struct sr_model *m = NULL;
	struct sr_error err;
	struct sr_adamw opt;
	struct sr_adamw_config acfg;
	struct sr_rng rng;

	if (argc != 11) {
		fprintf(stderr, "usage: bench-train step LAYERS HIDDEN INTERMEDIATE HEADS KV_HEADS "
		        "VOCAB BATCH SEQ STEPS\n");
		return 2;
	}
	sr_model_config_defaults(&cfg);
	cfg.num_hidden_layers = atoi(argv[2]);
	cfg.hidden_size = atoi(argv[3]);
	cfg.intermediate_size = atoi(argv[4]);
	cfg.num_attention_heads = atoi(argv[5]);
	cfg.num_key_value_heads = atoi(argv[6]);
	cfg.vocab_size = atoi(argv[7]);
	cfg.head_dim = cfg.hidden_size / cfg.num_attention_heads;
	int B = atoi(argv[8]), T = atoi(argv[9]), steps = atoi(argv[10]);
	cfg.max_position_embeddings = T;

	if (sr_model_new(&cfg, &m, &err) || sr_model_alloc_grads(m, &err) ||
	    sr_model_reserve(m, B, T, &err)) {
		fprintf(stderr, "bench-train: %s\n", err.message);
		return 1;
	}
	sr_model_init_random(m, 1);
	sr_adamw_config_defaults(&acfg);
	if (sr_adamw_init(&opt, &acfg, m->n_params, &err)) {
		fprintf(stderr, "bench-train: %s\n", err.message);
		return 1;
	}
	int32_t *tok = malloc((size_t)B * T * sizeof *tok), *tgt = malloc((size_t)B * T * sizeof *tgt);
	int32_t *pos = malloc((size_t)B * T * sizeof *pos);
	sr_rng_seed(&rng, 2);
	for (int i = 0; i < B * T; i++) {
		tok[i] = (int32_t)sr_rng_below(&rng, (uint64_t)cfg.vocab_size);
		tgt[i] = (int32_t)sr_rng_below(&rng, (uint64_t)cfg.vocab_size);
		pos[i] = i % T;
	}
	struct sr_batch b = {B, T, tok, tgt, pos};

	/* Matrix-product parameters: all but the input embedding, a lookup. */
	double matmul_params = (double)m->n_params - (double)m->tensors[0].numel;
	/* Attention score and weighted-sum products, forward and backward, as
	 * PaLM counts them: 12 x layers x heads x head size x T per token. */
	double attn = 12.0 * cfg.num_hidden_layers * cfg.num_attention_heads * cfg.head_dim * T;
	double flops_per_token = 6.0 * matmul_params + attn;

	for (int s = 0; s <= steps; s++) { /* step 0 warms up */
		double sum, t0 = now_s(), c0 = cpu_s();
		long n;
		sr_model_zero_grads(m);
		if (sr_model_forward(m, &b, &sum, &n, &err)) {
			fprintf(stderr, "bench-train: %s\n", err.message);
			return 1;
		}
		sr_model_backward(m, &b, (float)(1.0 / n));
		double norm = sr_grad_norm(m->grads, m->n_params);
		sr_adamw_update(&opt, m->params, m->grads, sr_clip_scale(norm, 1.0), 1e-4, m->tensors,
		                m->n_tensors);
		double dt = now_s() - t0, dc = cpu_s() - c0;
		if (s == 0)
			continue;
		printf("{\"params\":%zu,\"layers\":%d,\"hidden\":%d,\"vocab\":%d,\"batch\":%d,"
		       "\"seq\":%d,\"threads\":%d,\"step\":%d,\"seconds\":%.4f,\"cpu_seconds\":%.4f,"
		       "\"tokens_per_s\":%.1f,\"gflops\":%.2f,\"gflops_per_cpu_s\":%.2f,\"loss\":%.4f}\n",
		       m->n_params, cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size, B, T,
		       threads(), s, dt, dc, B * T / dt, flops_per_token * B * T / dt / 1e9,
		       flops_per_token * B * T / dc / 1e9, sum / n);
		fflush(stdout);
	}
	sr_adamw_release(&opt);
	sr_model_free(m);
	free(tok);
	free(tgt);
	free(pos);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "sgemm"))
		return bench_sgemm(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	if (argc > 1 && !strcmp(argv[1], "step"))
		return bench_step(argc, argv);
	fprintf(stderr, "usage: bench-train sgemm M N K REPEATS | step ...\n");
	return 2;
}
