/* optim.c - AdamW, gradient clipping and the learning-rate schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"

void sr_adamw_config_defaults(struct sr_adamw_config *cfg)
{
	cfg->beta1 = 0.9;
	cfg->beta2 = 0.95;
	cfg->eps = 1e-8;
	cfg->weight_decay = 0.1;
}

int sr_adamw_init(struct sr_adamw *opt, const struct sr_adamw_config *cfg, size_t n,
                  struct sr_error *err)
{
	memset(opt, 0, sizeof *opt);
	opt->cfg = *cfg;
	opt->n = n;
	opt->m = calloc(n, sizeof *opt->m);
	opt->v = calloc(n, sizeof *opt->v);
	if (!opt->m || !opt->v) {
		sr_adamw_release(opt);
		return sr_fail(err, SR_ENOMEM, "out of memory allocating optimizer state (%zu bytes)",
		               2 * n * sizeof(float));
	}
	return 0;
}

void sr_adamw_release(struct sr_adamw *opt)
{
	free(opt->m);
	free(opt->v);
	opt->m = opt->v = NULL;
}

/* Update n consecutive parameters; decay is 0 or the weight decay. */
static void update_span(const struct sr_adamw *opt, float *p, const float *g, float *m, float *v,
                        size_t n, float grad_scale, float lr, float decay, float bc1, float bc2)
{
	float b1 = (float)opt->cfg.beta1, b2 = (float)opt->cfg.beta2, eps = (float)opt->cfg.eps;

#pragma omp parallel for schedule(static) if (n >= 65536)
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * grad_scale;
		m[i] = b1 * m[i] + (1.0f - b1) * gi;
		v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
		float mhat = m[i] / bc1, vhat = v[i] / bc2;
		p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + decay * p[i]);
	}
}

void sr_adamw_update(struct sr_adamw *opt, float *params, const float *grads, double grad_scale,
                     double lr, const struct sr_tensor_info *tensors, int n_tensors)
{
	opt->step++;
	float bc1 = (float)(1.0 - pow(opt->cfg.beta1, (double)opt->step));
	float bc2 = (float)(1.0 - pow(opt->cfg.beta2, (double)opt->step));

	for (int i = 0; i < n_tensors; i++) {
		const struct sr_tensor_info *t = &tensors[i];
		float decay = t->ndim == 2 ? (float)opt->cfg.weight_decay : 0.0f;
		update_span(opt, params + t->offset, grads + t->offset, opt->m + t->offset,
		            opt->v + t->offset, t->numel, (float)grad_scale, (float)lr, decay, bc1, bc2);
	}
}

double sr_grad_norm(const float *grads, size_t n)
{
	enum { CHUNK = 1 << 16 };
	size_t chunks = (n + CHUNK - 1) / CHUNK;
	double *part = malloc((chunks ? chunks : 1) * sizeof *part);
	double sum = 0.0;

	if (!part) { /* fall back to one serial pass */
		for (size_t i = 0; i < n; i++)
			sum += (double)grads[i] * grads[i];
		return sqrt(sum);
	}
#pragma omp parallel for schedule(static) if (chunks > 1)
	for (size_t c = 0; c < chunks; c++) {
		size_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
		double s = 0.0;
		for (size_t i = c * CHUNK; i < end; i++)
			s += (double)grads[i] * grads[i];
		part[c] = s;
	}
	for (size_t c = 0; c < chunks; c++)
		sum += part[c];
	free(part);
	return sqrt(sum);
}

double sr_clip_scale(double norm, double max_norm)
{
	if (max_norm <= 0 || norm <= max_norm)
		return 1.0;
	return max_norm / norm;
}

double sr_lr_cosine(long step, long warmup, long total, double lr, double min_lr)
{
	if (step < warmup)
		return lr * (double)(step + 1) / (double)warmup;
	if (total - warmup <= 1)
		return lr;
	double progress = (double)(step - warmup) / (double)(total - warmup - 1);
	if (progress > 1.0)
		progress = 1.0;
	return min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(M_PI * progress));
}
